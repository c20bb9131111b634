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

#define BERTH_MONITOR_ABI 2

#define BERTH_COMM_LEN 16
#define BERTH_FILENAME_LEN 256
#define BERTH_ARGS_LEN 256                 /* a power of 2: the programs mask with it */
#define BERTH_CONTAINER_ID_LEN 64

#define BERTH_MAX_WATCHED 4096
#define BERTH_MAX_COUNTS 65536
#define BERTH_RINGBUF_BYTES (256 * 1024)   /* each container's ring; a power of 2 pages */

#define BERTH_EVENT_EXEC 1

/* Key of the watched map is the cgroup v2 id (__u64); this is its value. */
struct berth_watch {
	__u64 dropped;                          /* events lost because the container's ring was full */
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
struct berth_exec_event {
	__u32 kind;                             /* BERTH_EVENT_EXEC */
	__u32 pid;                              /* thread group id, as the host sees it */
	__u32 tid;
	__u32 args_len;                         /* bytes of args used */
	__u64 cgroup_id;
	__u64 time_ns;                          /* bpf_ktime_get_boot_ns */
	__u32 argc;                             /* argv has this many strings (args may hold fewer) */
	__u32 pad;
	char comm[BERTH_COMM_LEN];
	char filename[BERTH_FILENAME_LEN];
	char args[BERTH_ARGS_LEN];              /* argv, each NUL-terminated, cut at the end */
};

#endif
