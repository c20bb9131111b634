#!/usr/bin/env bash
# Runs a command as on a machine nobody prepared: in a mount namespace of its own whose mounts
# are private (as on a host without systemd), with bpffs (/sys/fs/bpf), tracefs and debugfs
# unmounted there. What berth must set up itself (the eBPF monitor's mounts) is then set up
# by berth, whatever earlier runs left mounted on this machine. Nothing outside the namespace
# changes. Used by the docker-compat suite and the benchmarks.
set -euo pipefail
exec unshare --mount --propagation private -- sh -c '
  for m in /sys/fs/bpf /sys/kernel/tracing /sys/kernel/debug; do
    while umount -l "$m" 2>/dev/null; do :; done
  done
  exec "$@"' sh "$@"
