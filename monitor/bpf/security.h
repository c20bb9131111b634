/* Part of monitor.bpf.c (included after its maps and helpers): the security calls, watched
 * with their own tracepoints syscalls/sys_enter_<call> and sys_exit_<call>. */
#ifndef BERTH_SECURITY_H
#define BERTH_SECURITY_H

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
#define __NR_sendmsg 46
#define __NR_socket 41
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
	struct berth_event *e = reserve_event(ring_of_cgroup(cg), w);
	if (!e) {
		bpf_map_delete_elem(&pending, &key);
		return 0;
	}
	bpf_probe_read_kernel(e, sizeof(*e), p);
	e->ret = ctx->ret;
	bpf_ringbuf_submit(e, 0);
	bpf_map_delete_elem(&pending, &key);
	return 0;
}

#endif
