#!/usr/bin/env bash
# Benchmarks against dockerd in the same run (install docker.io for the dockerd side).
set -euo pipefail
cd "$(dirname "$0")/.."
# From a new machine's state (scripts/fresh-host.sh), so that no figure depends on what the
# machine held before (bpffs mounted by an earlier run made every start 20 times faster).
exec scripts/fresh-host.sh python3 docker-compat/bench.py "$@"
