#!/usr/bin/env bash
# Install what berth needs, build it, install the binaries and make berth answer on its socket:
# where systemd is the init, through the socket units of api/systemd/ (berth.socket starts
# berth.service on the first connection; berth-restore.service starts the containers whose
# restart policy says so at boot); elsewhere (a container, a VM with another init) by
# starting `berth serve` in the background. Says which, and prints the DOCKER_HOST to use.
# Needs root. Settings: BERTH_SOCKET, BERTH_ROOT, BERTH_RUN_ROOT.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --release --workspace --quiet
install -m 0755 target/release/berth target/release/berth-shim /usr/local/bin/
# The manual pages, written from the command line's definition into target/man/, and the shell
# completions, where each shell looks for them.
target/release/berth man target/man >/dev/null
install -d /usr/local/share/man/man1
install -m 0644 target/man/*.1 /usr/local/share/man/man1/
install -d /usr/local/share/bash-completion/completions /usr/local/share/zsh/site-functions \
  /usr/local/share/fish/vendor_completions.d
target/release/berth completion bash >/usr/local/share/bash-completion/completions/berth
target/release/berth completion zsh >/usr/local/share/zsh/site-functions/_berth
target/release/berth completion fish >/usr/local/share/fish/vendor_completions.d/berth.fish

socket=${BERTH_SOCKET:-/run/berth/berth.sock}
log=/var/log/berth.log
answers() {
  curl -sf --unix-socket "$socket" http://localhost/_ping >/dev/null 2>&1
}

# The settings that differ from the units' defaults, as drop-ins (removed when none is set).
systemd_settings() {
  local unit dir
  rm -f /etc/systemd/system/berth.socket.d/setup.conf
  for unit in berth berth-restore; do
    dir=/etc/systemd/system/$unit.service.d
    rm -f "$dir/setup.conf"
    if [ -n "${BERTH_ROOT:-}${BERTH_RUN_ROOT:-}" ]; then
      mkdir -p "$dir"
      {
        echo "[Service]"
        if [ -n "${BERTH_ROOT:-}" ]; then echo "Environment=BERTH_ROOT=$BERTH_ROOT"; fi
        if [ -n "${BERTH_RUN_ROOT:-}" ]; then echo "Environment=BERTH_RUN_ROOT=$BERTH_RUN_ROOT"; fi
      } >"$dir/setup.conf"
    fi
  done
  if [ "$socket" != /run/berth/berth.sock ]; then
    mkdir -p /etc/systemd/system/berth.socket.d
    printf '[Socket]\nListenStream=\nListenStream=%s\n' "$socket" \
      >/etc/systemd/system/berth.socket.d/setup.conf
  fi
}

if [ -d /run/systemd/system ]; then
  install -m 0644 api/systemd/berth.socket api/systemd/berth.service \
    api/systemd/berth-restore.service /etc/systemd/system/
  # The socket unit's SocketGroup: systemd fails the unit when the group does not exist.
  getent group docker >/dev/null || groupadd --system docker
  systemd_settings
  systemctl daemon-reload
  systemctl enable --now berth.socket
  # At every boot; not now (this boot's first berth process restores it anyway).
  systemctl enable berth-restore.service
  echo "berth: socket-activated by systemd (berth.socket; berth-restore.service at boot)"
elif answers; then
  echo "berth: already answers on $socket"
else
  mkdir -p "$(dirname "$log")"
  nohup /usr/local/bin/berth serve --socket "$socket" --idle-timeout 0 \
    >>"$log" 2>&1 </dev/null &
  for _ in $(seq 1 100); do
    answers && break
    sleep 0.05
  done
  echo "berth: started \`berth serve\` in the background (no systemd here; log: $log)"
fi
answers || { echo "berth: nothing answers on $socket" >&2; exit 1; }
echo "export DOCKER_HOST=unix://$socket"
