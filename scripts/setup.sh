#!/usr/bin/env bash
# Install what berth needs, build it, install the binaries and start `berth serve` on its socket.
# Prints the DOCKER_HOST to use. Needs root. Settings: BERTH_SOCKET, BERTH_ROOT, BERTH_RUN_ROOT.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --release --workspace --quiet
install -m 0755 target/release/berth target/release/berth-shim /usr/local/bin/

socket=${BERTH_SOCKET:-/run/berth/berth.sock}
if [ -S "$socket" ] && curl -sf --unix-socket "$socket" http://localhost/_ping >/dev/null 2>&1; then
  echo "berth already answers on $socket"
else
  mkdir -p /var/log
  nohup /usr/local/bin/berth serve --socket "$socket" --idle-timeout 0 \
    >>/var/log/berth.log 2>&1 </dev/null &
  for _ in $(seq 1 100); do
    curl -sf --unix-socket "$socket" http://localhost/_ping >/dev/null 2>&1 && break
    sleep 0.05
  done
fi
curl -sf --unix-socket "$socket" http://localhost/_ping >/dev/null
echo "export DOCKER_HOST=unix://$socket"
