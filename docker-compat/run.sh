#!/usr/bin/env bash
# The docker-compat suite: the real docker CLI and docker-py against a berth started here.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/debug/berth ] || cargo build --workspace --quiet
exec python3 docker-compat/compat.py --berth "$PWD/target/debug/berth" "$@"
