#!/usr/bin/env bash
# The docker-compat suite: the real docker CLI and docker-py against a berth started here.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/debug/berth ] || cargo build --workspace --quiet
# From a new machine's state (scripts/fresh-host.sh): bpffs and tracefs unmounted, private mounts.
exec scripts/fresh-host.sh python3 docker-compat/compat.py --berth "$PWD/target/debug/berth" "$@"
