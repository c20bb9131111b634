// SPDX-License-Identifier: GPL-2.0
/* berth's monitor: syscall counts and process and security events for the cgroups in
 * `watched`.
 *
 * Every hook first looks its task's cgroup v2 id up in `watched`; a task outside berth's
 * containers costs that one lookup. Raw tracepoints are used (no BTF trampolines needed, and
 * they are the cheapest hook measured here). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "monitor.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BERTH_MAX_WATCHED);
	__type(key, __u64);
	__type(value, struct berth_watch);
} watched SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BERTH_MAX_COUNTS);
	__type(key, struct berth_count_key);
	__type(value, struct berth_count);
} counts SEC(".maps");

/* Each container's own ring buffer, created and drained by its shim, keyed by cgroup id:
 * no reader ever takes another container's events. */
struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, BERTH_RINGBUF_BYTES);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, BERTH_MAX_WATCHED);
	__type(key, __u64);
	__array(values, struct ring);
} rings SEC(".maps");

/* A security call between its sys_enter and sys_exit tracepoints, keyed by pid_tgid: the exit
 * adds the return value and sends it. LRU: a thread killed inside the call leaves an entry
 * that the map forgets by itself. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BERTH_MAX_PENDING);
	__type(key, __u64);
	__type(value, struct berth_event);
} pending SEC(".maps");

/* Paths whose open is an event (/etc/shadow, /proc/kcore, ...), filled by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BERTH_MAX_SENSITIVE);
	__type(key, struct berth_path_key);
	__type(value, __u8);
} sensitive SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BERTH_MAX_WATCHED);
	__type(key, __u64);
	__type(value, struct berth_net);
} netstat SEC(".maps");

/* Policy: system calls that kill their caller, by (cgroup id, nr); set by the shim at start
 * and by POST /containers/{id}/policy while the container runs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BERTH_MAX_DENY);
	__type(key, struct berth_count_key);
	__type(value, __u8);
} deny_calls SEC(".maps");

/* Policy: destinations a container may not connect to (see struct berth_connect_key). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BERTH_MAX_DENY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct berth_connect_key);
	__type(value, __u8);
} deny_connect SEC(".maps");

/* Events dropped while a cgroup was watched, moved here from its watched entry when it is
 * unwatched (by the reader, never by a program), so that they stay readable until forgotten. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BERTH_MAX_WATCHED);
	__type(key, __u64);
	__type(value, __u64);
} lost SEC(".maps");

/* Where an event is built: too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct berth_event);
} scratch SEC(".maps");

static __always_inline struct berth_count *count_slot(__u64 cgroup_id, __u32 nr)
{
	struct berth_count_key key = { .cgroup_id = cgroup_id, .nr = nr };
	struct berth_count *c = bpf_map_lookup_elem(&counts, &key);
	if (c)
		return c;
	struct berth_count zero = {};
	/* Another CPU may insert it first: NOEXIST then look up again either way. */
	bpf_map_update_elem(&counts, &key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&counts, &key);
}

/* A denied call: SIGKILL to the caller (it lands when the call returns: the call itself still
 * happens) and a BERTH_EVENT_KILLED event into the container's ring. */
static __always_inline void kill_caller(struct berth_watch *w, __u64 cg, __u32 nr)
{
	bpf_send_signal(9);
	void *ring = bpf_map_lookup_elem(&rings, &cg);
	struct berth_event *e = ring ? bpf_ringbuf_reserve(ring, sizeof(*e), 0) : NULL;
	if (!e) {
		__sync_fetch_and_add(&w->dropped, 1);
		return;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->kind = BERTH_EVENT_KILLED;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->nr = nr;
	e->cgroup_id = cg;
	e->time_ns = bpf_ktime_get_boot_ns();
	e->ret = 0;
	__builtin_memset(e->arg, 0, sizeof(e->arg));
	e->argc = 0;
	e->args_len = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->filename[0] = 0;
	bpf_ringbuf_submit(e, 0);
}

#define NR_EXECVE 59
#define NR_EXECVEAT 322

/* sys_enter(struct pt_regs *regs, long id): count the call, from the container's first execve
 * on (the runtime's set-up before it is not the container's doing; the execve itself is). */
SEC("raw_tracepoint/sys_enter")
int berth_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 cg = bpf_get_current_cgroup_id();
	struct berth_watch *w = bpf_map_lookup_elem(&watched, &cg);
	if (!w)
		return 0;
	/* ctx->args[1] would be a CO-RE access aya rejects (see the eBPF notes). */
	__u32 nr = (__u32)((const __u64 *)ctx)[1];
	if (!w->started) {
		if (nr != NR_EXECVE && nr != NR_EXECVEAT)
			return 0;
		w->started = 1;
	}
	struct berth_count *c = count_slot(cg, nr);
	if (c)
		__sync_fetch_and_add(&c->calls, 1);
	struct berth_count_key deny = { .cgroup_id = cg, .nr = nr };
	if (bpf_map_lookup_elem(&deny_calls, &deny))
		kill_caller(w, cg, nr);
	return 0;
}

/* sys_exit(struct pt_regs *regs, long ret): count the call as an error when ret is -errno. */
SEC("raw_tracepoint/sys_exit")
int berth_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	long ret = (long)((const __u64 *)ctx)[1];
	if (ret >= 0 || ret < -4095)
		return 0;
	__u64 cg = bpf_get_current_cgroup_id();
	struct berth_watch *w = bpf_map_lookup_elem(&watched, &cg);
	if (!w || !w->started)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)((const __u64 *)ctx)[0];
	__u32 nr = (__u32)BPF_CORE_READ(regs, orig_ax);
	struct berth_count *c = count_slot(cg, nr);
	if (c)
		__sync_fetch_and_add(&c->errors, 1);
	return 0;
}

/* The container's ring when its watch asks for `want`; NULL otherwise. */
static __always_inline void *ring_for(__u64 cg, struct berth_watch **w, __u32 want)
{
	*w = bpf_map_lookup_elem(&watched, &cg);
	if (!*w || !((*w)->events & want) || !(*w)->started)
		return NULL;
	void *ring = bpf_map_lookup_elem(&rings, &cg);
	if (!ring)
		__sync_fetch_and_add(&(*w)->dropped, 1); /* asked for, but nobody reads */
	return ring;
}

static __always_inline void fill_head(struct berth_event *e, __u32 kind, __u64 cg)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->kind = kind;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->nr = 0;
	e->cgroup_id = cg;
	e->time_ns = bpf_ktime_get_boot_ns();
	e->ret = 0;
	e->argc = 0;
	e->args_len = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

/* sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm). */
SEC("raw_tracepoint/sched_process_exec")
int berth_exec(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 cg = bpf_get_current_cgroup_id();
	struct berth_watch *w = bpf_map_lookup_elem(&watched, &cg);
	if (!w)
		return 0;
	/* The container's program: what comes before is the runtime setting it up. */
	if (!w->started)
		w->started = 1;
	void *ring = ring_for(cg, &w, BERTH_WANT_EXEC);
	if (!ring)
		return 0;
	struct berth_event *e = bpf_ringbuf_reserve(ring, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&w->dropped, 1);
		return 0;
	}
	fill_head(e, BERTH_EVENT_EXEC, cg);
	__builtin_memset(e->arg, 0, sizeof(e->arg));
	struct linux_binprm *bprm = (struct linux_binprm *)((const __u64 *)ctx)[2];
	const char *filename = BPF_CORE_READ(bprm, filename);
	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename) < 0)
		e->filename[0] = 0;
	/* argv as the new program sees it, on its fresh stack between arg_start and arg_end
	 * (never the environment, which may hold secrets), cut to BERTH_ARGS_LEN - 1 bytes. */
	e->argc = BPF_CORE_READ(bprm, argc);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	__u32 len = end > start ? end - start : 0;
	if (len > BERTH_ARGS_LEN - 1)
		len = BERTH_ARGS_LEN - 1;
	len &= BERTH_ARGS_LEN - 1;
	if (len == 0 || bpf_probe_read_user(e->args, len, (const void *)start) < 0)
		len = 0;
	e->args_len = len;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* sched_process_fork(struct task_struct *parent, struct task_struct *child), in the parent:
 * a new process (not a new thread), with the child's pid as `ret`. */
SEC("raw_tracepoint/sched_process_fork")
int berth_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *child = (struct task_struct *)((const __u64 *)ctx)[1];
	__u32 child_pid = BPF_CORE_READ(child, pid);
	if (child_pid != (__u32)BPF_CORE_READ(child, tgid))
		return 0; /* a thread */
	__u64 cg = bpf_get_current_cgroup_id();
	struct berth_watch *w;
	void *ring = ring_for(cg, &w, BERTH_WANT_FORK);
	if (!ring)
		return 0;
	struct berth_event *e = bpf_ringbuf_reserve(ring, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&w->dropped, 1);
		return 0;
	}
	fill_head(e, BERTH_EVENT_FORK, cg);
	__builtin_memset(e->arg, 0, sizeof(e->arg));
	e->ret = child_pid;
	e->filename[0] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* sched_process_exit(struct task_struct *p, ...), in the exiting task: a process ends when its
 * leader does (the kernel waits for the other threads before it reports the group). */
SEC("raw_tracepoint/sched_process_exit")
int berth_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if ((__u32)pid_tgid != (__u32)(pid_tgid >> 32))
		return 0; /* a thread that is not the leader */
	__u64 cg = bpf_get_current_cgroup_id();
	struct berth_watch *w;
	void *ring = ring_for(cg, &w, BERTH_WANT_FORK);
	if (!ring)
		return 0;
	struct berth_event *e = bpf_ringbuf_reserve(ring, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&w->dropped, 1);
		return 0;
	}
	fill_head(e, BERTH_EVENT_EXIT, cg);
	__builtin_memset(e->arg, 0, sizeof(e->arg));
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->ret = BPF_CORE_READ(task, exit_code);
	e->filename[0] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* The records of the per-syscall tracepoints (their format files): the call's number, then
 * its arguments; or its return value. */
struct syscall_enter {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

struct syscall_exit {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

/* The caller's process id as its own pid namespace numbers it. */
static __always_inline __u32 ns_tgid(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};
	bpf_probe_read_kernel(&upid, sizeof(upid), &pid->numbers[level & 31]);
	return upid.nr;
}

/* x86_64 system call numbers (vmlinux.h has none). */
#define __NR_open 2
#define __NR_chmod 90
#define __NR_fchmod 91
#define __NR_connect 42
#define __NR_kill 62
#define __NR_ptrace 101
#define __NR_mount 165
#define __NR_umount2 166
#define __NR_init_module 175
#define __NR_tkill 200
#define __NR_tgkill 234
#define __NR_kexec_load 246
#define __NR_openat 257
#define __NR_fchmodat 268
#define __NR_unshare 272
#define __NR_setns 308
#define __NR_finit_module 313
#define __NR_bpf 321
#define __NR_openat2 437
#define __NR_fchmodat2 452

#define S_ISUID 04000
#define S_ISGID 02000
#define AF_INET 2
#define AF_INET6 10

/* The security calls: which ones, and which group each belongs to (0: not watched). */
static __always_inline __u32 group_of(long nr)
{
	switch (nr) {
	case __NR_connect:
		return BERTH_WANT_NET;
	case __NR_ptrace:
	case __NR_mount:
	case __NR_umount2:
	case __NR_setns:
	case __NR_unshare:
	case __NR_bpf:
	case __NR_init_module:
	case __NR_finit_module:
	case __NR_kexec_load:
	case __NR_open:
	case __NR_openat:
	case __NR_openat2:
	case __NR_chmod:
	case __NR_fchmod:
	case __NR_fchmodat:
	case __NR_fchmodat2:
	case __NR_kill:
	case __NR_tkill:
	case __NR_tgkill:
		return BERTH_WANT_SECURITY;
	}
	return 0;
}

/* Is the path the user passed at `upath` one of the sensitive ones? */
static __always_inline int is_sensitive(struct berth_event *e, const char *upath)
{
	struct berth_path_key key = {};
	if (bpf_probe_read_user_str(key.path, sizeof(key.path), upath) <= 0)
		return 0;
	if (!bpf_map_lookup_elem(&sensitive, &key))
		return 0;
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), upath);
	return 1;
}

/* Does the call kill (or signal) a process other than the caller? */
static __always_inline int other_process(long pid)
{
	return pid <= 0 || (__u32)pid != ns_tgid();
}

/* sys_enter_<call> of every security call: keep the arguments until the call returns, when
 * the call is worth an event (a sensitive path, a setuid mode, another process). */
SEC("tracepoint/syscalls/sys_enter")
int berth_sec_enter(struct syscall_enter *ctx)
{
	__u64 cg = bpf_get_current_cgroup_id();
	struct berth_watch *w = bpf_map_lookup_elem(&watched, &cg);
	if (!w)
		return 0;
	long nr = ctx->nr;
	if (!(w->events & group_of(nr)) || !w->started)
		return 0;
	__u32 zero = 0;
	struct berth_event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	fill_head(e, BERTH_EVENT_SYSCALL, cg);
	e->nr = nr;
	/* Not e->arg[i]: a direct read is checked against the smallest record the program is
	 * attached to (kill has two arguments), and the attach fails with EACCES. Past the call's
	 * own arguments the copy holds whatever follows; nothing reads it. */
	if (bpf_probe_read_kernel(e->arg, sizeof(e->arg), ctx->args) < 0)
		return 0;
	e->filename[0] = 0;
	const char *path = 0;
	switch (nr) {
	case __NR_open:
		if (!is_sensitive(e, (const char *)e->arg[0]))
			return 0;
		break;
	case __NR_openat:
	case __NR_openat2:
		if (!is_sensitive(e, (const char *)e->arg[1]))
			return 0;
		break;
	case __NR_chmod:
		if (!(e->arg[1] & (S_ISUID | S_ISGID)))
			return 0;
		path = (const char *)e->arg[0];
		break;
	case __NR_fchmod:
		if (!(e->arg[1] & (S_ISUID | S_ISGID)))
			return 0;
		break;
	case __NR_fchmodat:
	case __NR_fchmodat2:
		if (!(e->arg[2] & (S_ISUID | S_ISGID)))
			return 0;
		path = (const char *)e->arg[1];
		break;
	case __NR_kill:
		if (e->arg[1] == 0 || !other_process((long)e->arg[0]))
			return 0;
		break;
	case __NR_tkill:
		if (e->arg[1] == 0)
			return 0;
		break;
	case __NR_tgkill:
		if (e->arg[2] == 0 || !other_process((long)e->arg[0]))
			return 0;
		break;
	case __NR_mount: {
		path = (const char *)e->arg[1];
		/* source, then the file system type */
		long n = bpf_probe_read_user_str(e->args, 128, (const char *)e->arg[0]);
		if (n < 0) {
			e->args[0] = 0;
			n = 1;
		}
		n &= 127;
		long m = bpf_probe_read_user_str(e->args + n, 64, (const char *)e->arg[2]);
		if (m < 0) {
			e->args[n] = 0;
			m = 1;
		}
		e->args_len = (n + m) & (BERTH_ARGS_LEN - 1);
		break;
	}
	case __NR_umount2:
		path = (const char *)e->arg[0];
		break;
	case __NR_connect: {
		__u32 len = e->arg[2];
		if (len > 28)
			len = 28;
		if (len < 2 || bpf_probe_read_user(e->args, len & 31, (const void *)e->arg[1]) < 0)
			return 0;
		__u16 family = *(__u16 *)e->args;
		if (family != AF_INET && family != AF_INET6)
			return 0;
		e->args_len = len;
		break;
	}
	}
	if (path && bpf_probe_read_user_str(e->filename, sizeof(e->filename), path) < 0)
		e->filename[0] = 0;
	__u64 key = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&pending, &key, e, BPF_ANY);
	return 0;
}

/* sys_exit_<call>: the kept call, with its return value, into the container's ring. */
SEC("tracepoint/syscalls/sys_exit")
int berth_sec_exit(struct syscall_exit *ctx)
{
	__u64 key = bpf_get_current_pid_tgid();
	struct berth_event *p = bpf_map_lookup_elem(&pending, &key);
	if (!p)
		return 0;
	__u64 cg = p->cgroup_id;
	struct berth_watch *w = bpf_map_lookup_elem(&watched, &cg);
	void *ring = bpf_map_lookup_elem(&rings, &cg);
	struct berth_event *e = ring ? bpf_ringbuf_reserve(ring, sizeof(*e), 0) : NULL;
	if (!e) {
		if (w)
			__sync_fetch_and_add(&w->dropped, 1);
		bpf_map_delete_elem(&pending, &key);
		return 0;
	}
	bpf_probe_read_kernel(e, sizeof(*e), p);
	e->ret = ctx->ret;
	bpf_ringbuf_submit(e, 0);
	bpf_map_delete_elem(&pending, &key);
	return 0;
}

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
 * BERTH_EVENT_REFUSED event goes to the container's ring. */
static __always_inline int check_connect(__u64 cg, __u16 port, const __u8 *addr16, void *sockaddr,
					 __u32 salen)
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
	void *ring = bpf_map_lookup_elem(&rings, &cg);
	struct berth_event *e = ring ? bpf_ringbuf_reserve(ring, sizeof(*e), 0) : NULL;
	if (!e) {
		if (w)
			__sync_fetch_and_add(&w->dropped, 1);
		return 0;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->kind = BERTH_EVENT_REFUSED;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->nr = __NR_connect;
	e->cgroup_id = cg;
	e->time_ns = bpf_ktime_get_boot_ns();
	e->ret = -1; /* EPERM */
	__builtin_memset(e->arg, 0, sizeof(e->arg));
	e->argc = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->filename[0] = 0;
	__builtin_memcpy(e->args, sockaddr, 28);
	e->args_len = salen;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("cgroup/connect4")
int berth_connect4(struct bpf_sock_addr *ctx)
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
	return check_connect(cg, port, addr, sa, 16);
}

SEC("cgroup/connect6")
int berth_connect6(struct bpf_sock_addr *ctx)
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
	return check_connect(cg, port, (const __u8 *)ip, sa, 28);
}
