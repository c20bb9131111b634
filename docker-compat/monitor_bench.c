/* The eBPF monitor's benchmark program, static so that it runs in an image of its own:
     loop N          N getppid calls; prints the nanoseconds per call
     copy N          what `dd bs=1 count=N if=/dev/zero of=/dev/null` does: N one-byte reads
                     and writes; prints the nanoseconds per byte (two calls)
     events RATE S   opens /etc/shadow (a security event each) RATE times a second for S
                     seconds; prints how many it made
     sleep S         sleeps S seconds */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "loop")) {
		long n = atol(argv[2]);
		double t = now();
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		printf("%.1f\n", (now() - t) * 1e9 / n);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "copy")) {
		long n = atol(argv[2]);
		int in = open("/dev/zero", O_RDONLY), out = open("/dev/null", O_WRONLY);
		char c;
		if (in < 0 || out < 0)
			return 1;
		double t = now();
		for (long i = 0; i < n; i++)
			if (read(in, &c, 1) != 1 || write(out, &c, 1) != 1)
				return 1;
		printf("%.1f\n", (now() - t) * 1e9 / n);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "events")) {
		long rate = atol(argv[2]), secs = atol(argv[3]), made = 0;
		double start = now();
		while (made < rate * secs) {
			/* ahead of the schedule: wait for it */
			double due = start + (double)made / rate;
			double t = now();
			if (t < due) {
				struct timespec d = { 0, (long)((due - t) * 1e9) };
				nanosleep(&d, NULL);
			}
			for (int i = 0; i < 100; i++, made++) {
				int fd = open("/etc/shadow", O_RDONLY);
				if (fd >= 0)
					close(fd);
			}
		}
		printf("%ld %.2f\n", made, now() - start);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "sleep")) {
		sleep(atoi(argv[2]));
		return 0;
	}
	fprintf(stderr, "usage: loop N | copy N | events RATE SECONDS | sleep S\n");
	return 2;
}
