/* A UDP echo server for the compat cases (busybox has none): answers every datagram on the
 * port given as argv[1] with "echo:" and the datagram. Built static, bound into a container. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: udp_echo PORT\n");
        return 2;
    }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(argv[1]));
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("udp_echo: bind");
        return 1;
    }
    char buf[1500];
    memcpy(buf, "echo:", 5);
    for (;;) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(s, buf + 5, sizeof buf - 5, 0, (struct sockaddr *)&from, &len);
        if (n >= 0)
            sendto(s, buf, (size_t)n + 5, 0, (struct sockaddr *)&from, len);
    }
}
