#!/usr/bin/env bash
# Benchmarks against dockerd in the same run (install docker.io for the dockerd side).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 docker-compat/bench.py "$@"
