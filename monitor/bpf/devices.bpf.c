// SPDX-License-Identifier: GPL-2.0
/* berth's device filter: a BPF_PROG_TYPE_CGROUP_DEVICE program for a container's cgroup v2
 * directory, the v2 form of the v1 devices controller's allow list.
 *
 * One copy is loaded per container with its rules baked into read-only globals (set by the
 * loader before the load, frozen by the kernel): everything is refused but what a rule
 * allows, as in a v1 group whose devices.deny holds "a". A rule matches when the type is the
 * same, each number is the same or BERTH_DEV_ANY, and the access asked for is within the
 * rule's, which is v1's matching. Returning 0 makes the kernel fail the open or mknod with
 * EPERM. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "devices.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 berth_dev_nrules = 0;
const volatile struct berth_dev_rule berth_dev_rules[BERTH_DEV_RULES_MAX] = {};

SEC("cgroup/dev")
int berth_devices(struct bpf_cgroup_dev_ctx *ctx)
{
	__u32 type = ctx->access_type & 0xffff;
	__u32 access = ctx->access_type >> 16;
	__u32 n = berth_dev_nrules;

	for (__u32 i = 0; i < BERTH_DEV_RULES_MAX; i++) {
		if (i >= n)
			break;
		const volatile struct berth_dev_rule *r = &berth_dev_rules[i];
		if (r->type != type)
			continue;
		if (r->major != BERTH_DEV_ANY && r->major != ctx->major)
			continue;
		if (r->minor != BERTH_DEV_ANY && r->minor != ctx->minor)
			continue;
		if ((access & r->access) != access)
			continue;
		return 1;
	}
	return 0;
}
