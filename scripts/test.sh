#!/usr/bin/env bash
# berth's whole test suite: formatting and lints, unit tests, root integration tests against the
# real kernel, and the docker-compat suite with the real docker CLI and docker-py. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
export CARGO_TERM_COLOR=never

echo "== fmt and clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== build"
# The integration tests run the berth and berth-shim binaries.
cargo build --workspace --quiet

echo "== unit and integration tests"
# Root integration tests create namespaces, cgroups and mounts; two at a time on this 2-core box.
# From a new machine's state (scripts/fresh-host.sh: bpffs and tracefs unmounted, private
# mounts), whatever earlier runs left mounted on this one.
scripts/fresh-host.sh cargo test --workspace --quiet -- --test-threads=2

echo "== fuzz (30 s a target)"
# Each parser of untrusted input under libFuzzer, fresh seeds each run (fuzz/, docs/reliability.md).
scripts/fuzz.sh

if [ -x docker-compat/run.sh ]; then
  echo "== docker-compat"
  docker-compat/run.sh
fi
