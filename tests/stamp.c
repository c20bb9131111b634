/* The benchmark's container program: prints CLOCK_MONOTONIC (not namespaced) at its first
   instruction, so the host can tell how long the start took. */
#include <stdio.h>
#include <time.h>
int main(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    return 0;
}
