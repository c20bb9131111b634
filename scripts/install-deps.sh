#!/usr/bin/env bash
# Install the Debian packages berth needs to build, run and be tested. Idempotent; needs root.
set -euo pipefail

packages=(
  busybox-static   # the tests' images: a static busybox as a root filesystem
  libseccomp-dev   # seccomp filters (libseccomp crate links it)
  pkg-config
  clang-19         # eBPF programs (monitor)
  libbpf-dev
  bpftool
  iproute2         # ip, tc
  nftables         # nft: each root's firewall table (masquerade, isolation)
  docker-compose   # docker-compose v1 for the compat cases
  curl             # compat cases speak HTTP over the socket
  systemd          # systemd-socket-activate for the activation test
  docker-registry  # registry v2 (distribution 2.8) for the pull and push tests
  docker.io        # a real dockerd: archives must load into it, and the benchmarks compare
  python3          # the compat suite
  gcc              # static probes: the start-latency benchmark's, the SysV IPC tests' (tests/*.c), the compat UDP echo
  libc6-dev        # libc.a for gcc -static (only recommended by gcc)
  apparmor         # apparmor_parser: the default profile's text is checked by it (-Q, no kernel needed)
  util-linux       # nsenter: tc in a container's network namespace (bandwidth limits)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

# The python client the compat suite drives (docker-py 7.1).
if ! python3 -c 'import docker' 2>/dev/null; then
  python3 -m pip install -q 'docker==7.1.*'
fi
# bcrypt, for the htpasswd file of the registry the docker login cases log in to.
if ! python3 -c 'import bcrypt' 2>/dev/null; then
  python3 -m pip install -q 'bcrypt==4.2.*'
fi
# schemathesis, which the compat suite's cases_schema runs against openapi.yaml (issue 20).
if ! python3 -c 'import schemathesis, sys; sys.exit(schemathesis.__version__ != "4.32.5")' 2>/dev/null; then
  python3 -m pip install -q 'schemathesis==4.32.5'
fi
# The docker CLI the compat suite drives: the machine's (28.x) when present, else docker.io's.
command -v docker >/dev/null || { echo "no docker CLI: install docker.io" >&2; exit 1; }

# cargo-fuzz for the fuzz targets (fuzz/, scripts/fuzz.sh), from crates.io; it runs on the
# nightly toolchain, which rustup installs when it is missing.
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
