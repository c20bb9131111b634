/* build.rs compiles and runs this on the host: it prints monitor.h's constants and layouts as
 * Rust, so the Rust side never restates them by hand. */
#include <linux/types.h>
#include <stddef.h>
#include <stdio.h>
#include "monitor.h"
#include "devices.h"

#define C(name) printf("pub const %s: usize = %lu;\n", #name, (unsigned long)(name))
#define S(t) printf("pub const SIZEOF_%s: usize = %lu;\n", #t, (unsigned long)sizeof(struct t))
#define O(t, f) printf("pub const OFFSETOF_%s_%s: usize = %lu;\n", #t, #f, (unsigned long)offsetof(struct t, f))

int main(void)
{
	C(BERTH_MONITOR_ABI);
	C(BERTH_COMM_LEN);
	C(BERTH_FILENAME_LEN);
	C(BERTH_ARGS_LEN);
	C(BERTH_CONTAINER_ID_LEN);
	C(BERTH_EVENT_EXEC);
	C(BERTH_RINGBUF_BYTES);
	C(BERTH_MAX_RINGS);
	C(BERTH_EVENT_FORK);
	C(BERTH_EVENT_EXIT);
	C(BERTH_EVENT_SYSCALL);
	C(BERTH_WANT_EXEC);
	C(BERTH_WANT_FORK);
	C(BERTH_WANT_SECURITY);
	C(BERTH_WANT_NET);
	C(BERTH_PATH_KEY_LEN);
	S(berth_watch);
	O(berth_watch, events);
	O(berth_watch, container_id);
	S(berth_count_key);
	O(berth_count_key, nr);
	S(berth_count);
	O(berth_count, errors);
	S(berth_event);
	O(berth_event, pid);
	O(berth_event, tid);
	O(berth_event, nr);
	O(berth_event, cgroup_id);
	O(berth_event, time_ns);
	O(berth_event, ret);
	O(berth_event, arg);
	O(berth_event, argc);
	O(berth_event, args_len);
	O(berth_event, comm);
	O(berth_event, filename);
	O(berth_event, args);
	S(berth_path_key);
	S(berth_net);
	C(BERTH_EVENT_KILLED);
	C(BERTH_EVENT_REFUSED);
	S(berth_connect_key);
	O(berth_connect_key, cgroup_id);
	O(berth_connect_key, port);
	O(berth_connect_key, addr);
	O(berth_net, tx_packets);
	C(BERTH_DEV_RULES_MAX);
	C(BERTH_DEV_ANY);
	C(BERTH_DEV_BLOCK);
	C(BERTH_DEV_CHAR);
	C(BERTH_ACC_MKNOD);
	C(BERTH_ACC_READ);
	C(BERTH_ACC_WRITE);
	S(berth_dev_rule);
	O(berth_dev_rule, major);
	O(berth_dev_rule, minor);
	O(berth_dev_rule, access);
	return 0;
}
