/* What the device filter (devices.bpf.c) and its Rust loader (src/devices.rs) share.
 *
 * One definition, like monitor.h: build.rs's layout probe prints these as Rust and
 * src/abi.rs checks its mirror against them. Includes nothing. */
#ifndef BERTH_DEVICES_H
#define BERTH_DEVICES_H

#define BERTH_DEV_RULES_MAX 128            /* allow rules of one container */
#define BERTH_DEV_ANY 0xffffffffu          /* a major or minor of "*" */

/* Device types and access bits, as the kernel passes them in bpf_cgroup_dev_ctx
 * (BPF_DEVCG_DEV_*, BPF_DEVCG_ACC_*). */
#define BERTH_DEV_BLOCK 1
#define BERTH_DEV_CHAR 2
#define BERTH_ACC_MKNOD 1
#define BERTH_ACC_READ 2
#define BERTH_ACC_WRITE 4

/* One allow rule: a device of `type` whose numbers match may be used for `access` (a set of
 * BERTH_ACC_* bits) when the access asked for is within it. */
struct berth_dev_rule {
	__u32 type;
	__u32 major;
	__u32 minor;
	__u32 access;
};

#endif
