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

/* The events rings: a pool of ring buffers keyed by slot number, each drained by the shim that
 * holds its slot (see src/lib.rs, Monitor::open_ring), so no reader ever takes another
 * container's events. Slots are reused: the kernel waits for an RCU grace period on every
 * update of a map-in-map (tens of ms), so a container start takes a free ring instead of
 * inserting one. */
struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, BERTH_RINGBUF_BYTES);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, BERTH_MAX_RINGS);
	__type(key, __u32);
	__array(values, struct ring);
} rings SEC(".maps");

/* Which slot of `rings` each watched cgroup's events go to (a plain hash: updated with no
 * grace period). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BERTH_MAX_WATCHED);
	__type(key, __u64);
	__type(value, __u32);
} ring_of SEC(".maps");

/* The ring of cgroup `cg`, or NULL when it has none. */
static __always_inline void *ring_of_cgroup(__u64 cg)
{
	__u32 *slot = bpf_map_lookup_elem(&ring_of, &cg);
	return slot ? bpf_map_lookup_elem(&rings, slot) : NULL;
}

/* Room for one event in `ring` (NULL: none), or NULL with the event counted as dropped in
 * the watch `w` (when there is one). */
static __always_inline struct berth_event *reserve_event(void *ring, struct berth_watch *w)
{
	struct berth_event *e = ring ? bpf_ringbuf_reserve(ring, sizeof(*e), 0) : NULL;
	if (!e && w)
		__sync_fetch_and_add(&w->dropped, 1);
	return e;
}

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

/* Policy: the cgroups with at least one deny-connect rule (value 1), whose raw sockets
 * berth_sock_create refuses: a raw socket writes its own headers and passes no connect or
 * sendmsg check. Set and cleared with the rules. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BERTH_MAX_WATCHED);
	__type(key, __u64);
	__type(value, __u8);
} deny_raw SEC(".maps");

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

/* An event of `kind` from the current task of cgroup `cg`, every field but comm zero. */
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
	__builtin_memset(e->arg, 0, sizeof(e->arg));
	e->argc = 0;
	e->args_len = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->filename[0] = 0;
}

/* A denied call: SIGKILL to the caller (it lands when the call returns: the call itself still
 * happens) and a BERTH_EVENT_KILLED event into the container's ring. */
static __always_inline void kill_caller(struct berth_watch *w, __u64 cg, __u32 nr)
{
	bpf_send_signal(9);
	struct berth_event *e = reserve_event(ring_of_cgroup(cg), w);
	if (!e)
		return;
	fill_head(e, BERTH_EVENT_KILLED, cg);
	e->nr = nr;
	bpf_ringbuf_submit(e, 0);
}

#define NR_RT_SIGRETURN 15

/* sys_exit(struct pt_regs *regs, long ret): counts the call, and as an error when ret is
 * -errno, from the container's first exec on (sched_process_exec sets `started`: the
 * runtime's set-up before it is not the container's doing; the execve itself is counted here,
 * after it). One hook counts both: the hooks' cost is mostly the tracepoint firing for every
 * system call of the machine, so two would cost twice. A BTF tracepoint: regs is a typed
 * pointer read directly, with no helper call. exit and exit_group never return and are not
 * counted; rt_sigreturn reads as orig_ax -1 here (restore_sigcontext clears it). */
SEC("tp_btf/sys_exit")
int berth_sys_exit(__u64 *ctx)
{
	__u64 cg = bpf_get_current_cgroup_id();
	struct berth_watch *w = bpf_map_lookup_elem(&watched, &cg);
	if (!w || !w->started)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	long ret = (long)ctx[1];
	__u32 nr = (__u32)regs->orig_ax;
	if (nr == (__u32)-1)
		nr = NR_RT_SIGRETURN;
	struct berth_count *c = count_slot(cg, nr);
	if (!c)
		return 0;
	__sync_fetch_and_add(&c->calls, 1);
	if (ret < 0 && ret >= -4095)
		__sync_fetch_and_add(&c->errors, 1);
	return 0;
}

/* sys_enter(struct pt_regs *regs, long id): the syscall policy, attached only while some
 * container has deny rules. A denied call gets SIGKILL at its entry, so that a call that
 * would block is interrupted at once. */
SEC("tp_btf/sys_enter")
int berth_sys_enter(__u64 *ctx)
{
	__u64 cg = bpf_get_current_cgroup_id();
	struct berth_watch *w = bpf_map_lookup_elem(&watched, &cg);
	if (!w || !w->started)
		return 0;
	struct berth_count_key deny = { .cgroup_id = cg, .nr = (__u32)ctx[1] };
	if (bpf_map_lookup_elem(&deny_calls, &deny))
		kill_caller(w, cg, deny.nr);
	return 0;
}

/* The container's ring when its watch asks for `want`; NULL otherwise. */
static __always_inline void *ring_for(__u64 cg, struct berth_watch **w, __u32 want)
{
	*w = bpf_map_lookup_elem(&watched, &cg);
	if (!*w || !((*w)->events & want) || !(*w)->started)
		return NULL;
	void *ring = ring_of_cgroup(cg);
	if (!ring)
		__sync_fetch_and_add(&(*w)->dropped, 1); /* asked for, but nobody reads */
	return ring;
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
	struct berth_event *e = reserve_event(ring, w);
	if (!e)
		return 0;
	fill_head(e, BERTH_EVENT_EXEC, cg);
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
	struct berth_event *e = reserve_event(ring, w);
	if (!e)
		return 0;
	fill_head(e, BERTH_EVENT_FORK, cg);
	e->ret = child_pid;
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
	struct berth_event *e = reserve_event(ring, w);
	if (!e)
		return 0;
	fill_head(e, BERTH_EVENT_EXIT, cg);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->ret = BPF_CORE_READ(task, exit_code);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* The security calls' own tracepoints. */
#include "security.h"

/* The programs attached to each container's cgroup2 directory: packets and connect policy. */
#include "cgroup.h"
