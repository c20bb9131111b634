/* Part of monitor.bpf.c (included after its maps and helpers): the programs the shim attaches
 * to each watched container's cgroup2 directory. */
#ifndef BERTH_CGROUP_H
#define BERTH_CGROUP_H

/* cgroup_skb ingress and egress, attached to each watched container's cgroup2 directory:
 * bytes and packets of its sockets, by the socket's cgroup. They let every packet through. */
static __always_inline void count_packet(struct __sk_buff *skb, int egress)
{
	__u64 cg = bpf_skb_cgroup_id(skb);
	struct berth_net *n = bpf_map_lookup_elem(&netstat, &cg);
	if (!n) {
		struct berth_net zero = {};
		bpf_map_update_elem(&netstat, &cg, &zero, BPF_NOEXIST);
		n = bpf_map_lookup_elem(&netstat, &cg);
		if (!n)
			return;
	}
	if (egress) {
		__sync_fetch_and_add(&n->tx_bytes, skb->len);
		__sync_fetch_and_add(&n->tx_packets, 1);
	} else {
		__sync_fetch_and_add(&n->rx_bytes, skb->len);
		__sync_fetch_and_add(&n->rx_packets, 1);
	}
}

SEC("cgroup_skb/ingress")
int berth_skb_in(struct __sk_buff *skb)
{
	count_packet(skb, 0);
	return 1;
}

SEC("cgroup_skb/egress")
int berth_skb_out(struct __sk_buff *skb)
{
	count_packet(skb, 1);
	return 1;
}

/* cgroup/connect4 and connect6, attached to each watched container's cgroup2 directory: a
 * connect to a denied destination fails with EPERM before anything is sent (return 0), and a
 * BERTH_EVENT_REFUSED event goes to the container's ring. cgroup/sendmsg4 and sendmsg6 do the
 * same for a UDP datagram sent with an address (sendto, sendmsg, sendmmsg on an unconnected
 * socket: a connected one went through connect4/6), its event numbered as sendmsg. */
static __always_inline int check_connect(__u64 cg, __u16 port, const __u8 *addr16, void *sockaddr,
					 __u32 salen, __u32 nr)
{
	struct berth_connect_key key = {};
	key.prefixlen = 64 + 16 + 128;
	key.cgroup_id = cg;
	key.port = port;
	__builtin_memcpy(key.addr, addr16, 16);
	if (!bpf_map_lookup_elem(&deny_connect, &key)) {
		key.port = 0;
		if (!bpf_map_lookup_elem(&deny_connect, &key))
			return 1;
	}
	struct berth_watch *w = bpf_map_lookup_elem(&watched, &cg);
	struct berth_event *e = reserve_event(ring_of_cgroup(cg), w);
	if (!e)
		return 0;
	fill_head(e, BERTH_EVENT_REFUSED, cg);
	e->nr = nr;
	e->ret = -1; /* EPERM */
	__builtin_memcpy(e->args, sockaddr, 28);
	e->args_len = salen;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline int check4(struct bpf_sock_addr *ctx, __u32 nr)
{
	__u64 cg = bpf_get_current_cgroup_id();
	__u32 ip = ctx->user_ip4;
	__u16 port = (__u16)ctx->user_port;
	__u8 addr[16] = {};
	addr[10] = 0xff;
	addr[11] = 0xff;
	__builtin_memcpy(&addr[12], &ip, 4);
	/* struct sockaddr_in as the caller passed it, for the event */
	__u8 sa[28] = {};
	__u16 family = AF_INET;
	__builtin_memcpy(&sa[0], &family, 2);
	__builtin_memcpy(&sa[2], &port, 2);
	__builtin_memcpy(&sa[4], &ip, 4);
	return check_connect(cg, port, addr, sa, 16, nr);
}

static __always_inline int check6(struct bpf_sock_addr *ctx, __u32 nr)
{
	__u64 cg = bpf_get_current_cgroup_id();
	__u32 ip[4];
	ip[0] = ctx->user_ip6[0];
	ip[1] = ctx->user_ip6[1];
	ip[2] = ctx->user_ip6[2];
	ip[3] = ctx->user_ip6[3];
	__u16 port = (__u16)ctx->user_port;
	__u8 sa[28] = {};
	__u16 family = AF_INET6;
	__builtin_memcpy(&sa[0], &family, 2);
	__builtin_memcpy(&sa[2], &port, 2);
	__builtin_memcpy(&sa[8], ip, 16);
	return check_connect(cg, port, (const __u8 *)ip, sa, 28, nr);
}

SEC("cgroup/connect4")
int berth_connect4(struct bpf_sock_addr *ctx)
{
	return check4(ctx, __NR_connect);
}

SEC("cgroup/connect6")
int berth_connect6(struct bpf_sock_addr *ctx)
{
	return check6(ctx, __NR_connect);
}

SEC("cgroup/sendmsg4")
int berth_sendmsg4(struct bpf_sock_addr *ctx)
{
	return check4(ctx, __NR_sendmsg);
}

SEC("cgroup/sendmsg6")
int berth_sendmsg6(struct bpf_sock_addr *ctx)
{
	return check6(ctx, __NR_sendmsg);
}

/* cgroup/sock_create, attached to each watched container's cgroup2 directory: a container
 * with deny-connect rules (deny_raw) may not open a raw socket (SOCK_RAW writes its own
 * headers and its packets pass no connect or sendmsg check): the socket call fails with EPERM
 * (return 0) and a BERTH_EVENT_REFUSED event numbered as socket carries the family, type and
 * protocol in arg[0..2]. The kernel runs it for AF_INET and AF_INET6 sockets only
 * (inet_create, inet6_create): AF_PACKET sockets never reach it. */
#define BERTH_SOCK_RAW 3
SEC("cgroup/sock_create")
int berth_sock_create(struct bpf_sock *ctx)
{
	if (ctx->type != BERTH_SOCK_RAW)
		return 1;
	__u64 cg = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&deny_raw, &cg))
		return 1;
	struct berth_watch *w = bpf_map_lookup_elem(&watched, &cg);
	struct berth_event *e = reserve_event(ring_of_cgroup(cg), w);
	if (!e)
		return 0;
	fill_head(e, BERTH_EVENT_REFUSED, cg);
	e->nr = __NR_socket;
	e->ret = -1; /* EPERM */
	e->arg[0] = ctx->family;
	e->arg[1] = ctx->type;
	e->arg[2] = ctx->protocol;
	e->argc = 3;
	e->args_len = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

#endif
