/* udpsend ADDR PORT MESSAGE: one UDP datagram to an IPv4 address with sendto on an unconnected
 * socket (busybox nc -u, where it exists, connects first, which goes through connect's checks
 * instead). Prints "sent" or "sendto: <error>"; exits 0 or 1.
 * udpsend recv PORT: prints "got <datagram>" for each datagram to 127.0.0.1:PORT, for 2 s. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

static int recv_on(int port)
{
	struct sockaddr_in at = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = { .tv_sec = 2 };
	if (s < 0 || bind(s, (struct sockaddr *)&at, sizeof(at)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		printf("recv %d: %s\n", port, strerror(errno));
		return 1;
	}
	char buf[256];
	ssize_t n;
	while ((n = recv(s, buf, sizeof(buf) - 1, 0)) >= 0) {
		buf[n] = 0;
		printf("got %s\n", buf);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "recv") == 0)
		return recv_on(atoi(argv[2]));
	if (argc != 4) {
		fprintf(stderr, "usage: udpsend ADDR PORT MESSAGE | udpsend recv PORT\n");
		return 2;
	}
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", argv[1]);
		return 2;
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0) {
		printf("socket: %s\n", strerror(errno));
		return 1;
	}
	if (sendto(s, argv[3], strlen(argv[3]), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		printf("sendto: %s\n", strerror(errno));
		return 1;
	}
	printf("sent\n");
	return 0;
}
