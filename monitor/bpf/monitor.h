/* What berth's eBPF programs and their Rust reader share: constants and record layouts.
 *
 * This header is the one definition. It includes nothing: the BPF side includes it after
 * vmlinux.h, build.rs's layout probe after <linux/types.h>, and build.rs turns the probe's
 * output into Rust constants (sizes, offsets, limits) that src/abi.rs checks its #[repr(C)]
 * mirrors against. Change a layout here and bump BERTH_MONITOR_ABI: the pins live under a
 * directory named after it (and a hash of the object), so programs of an older layout are
 * never read with a newer one. */
#ifndef BERTH_MONITOR_H
#define BERTH_MONITOR_H

#define BERTH_MONITOR_ABI 4

#define BERTH_COMM_LEN 16
#define BERTH_FILENAME_LEN 256
#define BERTH_ARGS_LEN 256                 /* a power of 2: the programs mask with it */
#define BERTH_CONTAINER_ID_LEN 64

#define BERTH_MAX_WATCHED 4096
#define BERTH_MAX_COUNTS 65536
#define BERTH_RINGBUF_BYTES (256 * 1024)   /* each container's ring; a power of 2 pages */
#define BERTH_MAX_RINGS 4096               /* slots of the rings pool */
#define BERTH_MAX_PENDING 8192             /* security calls between their enter and exit */
#define BERTH_PATH_KEY_LEN 32              /* sensitive paths are compared on this many bytes */
#define BERTH_MAX_SENSITIVE 64
#define BERTH_MAX_DENY 16384               /* deny rules, all containers together */

/* Kinds of ring-buffer records (berth_event.kind). */
#define BERTH_EVENT_EXEC 1
#define BERTH_EVENT_FORK 2
#define BERTH_EVENT_EXIT 3
#define BERTH_EVENT_SYSCALL 4
#define BERTH_EVENT_KILLED 5               /* a denied syscall: the caller was sent SIGKILL */
#define BERTH_EVENT_REFUSED 6              /* a denied connect: it failed with EPERM */

/* What a container asked for (berth_watch.events): bits. */
#define BERTH_WANT_EXEC 1
#define BERTH_WANT_FORK 2                  /* fork and exit of processes */
#define BERTH_WANT_SECURITY 4              /* ptrace, mount, setns, ... (see monitor.bpf.c) */
#define BERTH_WANT_NET 8                   /* connect */

/* Key of the watched map is the cgroup v2 id (__u64); this is its value. */
struct berth_watch {
	__u64 dropped;                          /* events lost because the container's ring was full */
	__u32 events;                           /* BERTH_WANT_* bits */
	__u32 started;                          /* set by the first exec in the cgroup: events come
						 * from then on, not from the runtime's set-up */
	char container_id[BERTH_CONTAINER_ID_LEN]; /* who asked, for whoever reads the maps */
};

/* Key and value of the per-(cgroup, syscall) counters. */
struct berth_count_key {
	__u64 cgroup_id;
	__u32 nr;
	__u32 pad;
};

struct berth_count {
	__u64 calls;
	__u64 errors;
};

/* One record in the ring buffer. */
struct berth_event {
	__u32 kind;                             /* BERTH_EVENT_* */
	__u32 pid;                              /* thread group id, as the host sees it */
	__u32 tid;
	__u32 nr;                               /* SYSCALL: the system call's number */
	__u64 cgroup_id;
	__u64 time_ns;                          /* bpf_ktime_get_boot_ns */
	__s64 ret;                              /* SYSCALL: its return value; FORK: the child's pid;
						 * EXIT: the exit status (wait(2) encoding) */
	__u64 arg[6];                           /* SYSCALL: its arguments as numbers */
	__u32 argc;                             /* EXEC: argv has this many strings */
	__u32 args_len;                         /* bytes of args used */
	char comm[BERTH_COMM_LEN];
	char filename[BERTH_FILENAME_LEN];      /* EXEC: the program; SYSCALL: its path argument */
	char args[BERTH_ARGS_LEN];              /* EXEC: argv, each NUL-terminated, cut at the end;
						 * mount: source\0fstype\0; connect: the sockaddr */
};

/* The value of the netstat map, keyed by cgroup id: what the container's sockets sent and
 * received (cgroup_skb egress and ingress). */
struct berth_net {
	__u64 rx_bytes;
	__u64 rx_packets;
	__u64 tx_bytes;
	__u64 tx_packets;
};

/* A deny-connect rule's key in the `deny_connect` LPM trie: prefixlen counts the bits of
 * cgroup_id (64), port (16, network order; 0 in a rule means any port, looked up second) and
 * then of addr, an IPv6 address (IPv4 as ::ffff:a.b.c.d, so a v4 rule's prefix is 96 + its
 * length). */
struct berth_connect_key {
	__u32 prefixlen;
	__u64 cgroup_id;
	__u16 port;
	__u8 addr[16];
	__u8 pad[6];
} __attribute__((packed));

/* A sensitive path's key in the `sensitive` map: the path, NUL-padded. */
struct berth_path_key {
	char path[BERTH_PATH_KEY_LEN];
};

#endif
