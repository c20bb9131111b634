/* The cost floor of counting every system call: an empty program on the hook the monitor's
   counting uses (tp_btf sys_exit), for docker-compat/bench.py. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tp_btf/sys_exit")
int nothing(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
