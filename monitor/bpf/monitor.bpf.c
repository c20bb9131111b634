// SPDX-License-Identifier: GPL-2.0
/* berth's monitor: syscall counts and exec events for the cgroups in `watched`.
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

/* sys_enter(struct pt_regs *regs, long id): count the call. */
SEC("raw_tracepoint/sys_enter")
int berth_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 cg = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&watched, &cg))
		return 0;
	/* ctx->args[1] would be a CO-RE access aya rejects (see the eBPF notes). */
	__u32 nr = (__u32)((const __u64 *)ctx)[1];
	struct berth_count *c = count_slot(cg, nr);
	if (c)
		__sync_fetch_and_add(&c->calls, 1);
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
	if (!bpf_map_lookup_elem(&watched, &cg))
		return 0;
	struct pt_regs *regs = (struct pt_regs *)((const __u64 *)ctx)[0];
	__u32 nr = (__u32)BPF_CORE_READ(regs, orig_ax);
	struct berth_count *c = count_slot(cg, nr);
	if (c)
		__sync_fetch_and_add(&c->errors, 1);
	return 0;
}

/* sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm): an
 * exec event into the container's ring, if it has one; counted as dropped when it is full. */
SEC("raw_tracepoint/sched_process_exec")
int berth_exec(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 cg = bpf_get_current_cgroup_id();
	struct berth_watch *w = bpf_map_lookup_elem(&watched, &cg);
	if (!w)
		return 0;
	void *ring = bpf_map_lookup_elem(&rings, &cg);
	if (!ring)
		return 0; /* nobody asked for this container's events */
	struct berth_exec_event *e = bpf_ringbuf_reserve(ring, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&w->dropped, 1);
		return 0;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->kind = BERTH_EVENT_EXEC;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->cgroup_id = cg;
	e->time_ns = bpf_ktime_get_boot_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	struct linux_binprm *bprm = (struct linux_binprm *)((const __u64 *)ctx)[2];
	const char *filename = BPF_CORE_READ(bprm, filename);
	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename) < 0)
		e->filename[0] = 0;
	/* argv as the new program sees it, on its fresh stack between arg_start and arg_end
	 * (never the environment, which may hold secrets), cut to BERTH_ARGS_LEN - 1 bytes. */
	e->argc = BPF_CORE_READ(bprm, argc);
	e->pad = 0;
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
