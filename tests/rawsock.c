/* rawsock: opens the raw sockets a container with CAP_NET_RAW may open and says what came back,
 * one line each: "raw4 sent" (an ICMP echo request to 127.0.0.1 on an AF_INET SOCK_RAW socket)
 * or "raw4: <error>", "raw6 open" or "raw6: <error>" (AF_INET6 SOCK_RAW, ICMPv6), "packet open"
 * or "packet: <error>" (AF_PACKET SOCK_RAW). Exits 0 when raw4 sent and raw6 opened, else 1. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int raw4(void)
{
	int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (s < 0) {
		printf("raw4: %s\n", strerror(errno));
		return 1;
	}
	struct icmphdr echo = { .type = ICMP_ECHO, .un.echo.id = htons(7) };
	/* The checksum of this header alone: type 8, everything else 0, id 7. */
	echo.checksum = htons(0xffff - 0x0800 - 7);
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (sendto(s, &echo, sizeof(echo), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		printf("raw4 sendto: %s\n", strerror(errno));
		close(s);
		return 1;
	}
	printf("raw4 sent\n");
	close(s);
	return 0;
}

static int open_one(const char *name, int family, int type, int protocol)
{
	int s = socket(family, type, protocol);
	if (s < 0) {
		printf("%s: %s\n", name, strerror(errno));
		return 1;
	}
	printf("%s open\n", name);
	close(s);
	return 0;
}

int main(void)
{
	int bad = raw4();
	bad |= open_one("raw6", AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
	open_one("packet", AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	fflush(stdout);
	return bad;
}
