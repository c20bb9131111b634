#!/usr/bin/env bash
# Build berth's fuzz targets (fuzz/: cargo-fuzz, libFuzzer, on the nightly toolchain) and run
# each for a bounded time from its committed seeds (fuzz/corpus/<target>/) with a fresh random
# seed. Fails when a target crashes, leaks its time or memory, showing the input (base64) and
# the log's end. FUZZ_SECONDS per target (30), FUZZ_TARGETS (all), FUZZ_KEEP=<dir> to keep the
# run's corpora and logs. Built with debug assertions (overflow checks), without a sanitizer:
# the parsers are safe Rust, and the build and runs must fit the suite's budget.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-30}
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: no nightly toolchain; cargo-fuzz needs it (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
flags=(-O -a --sanitizer none)
cargo +nightly fuzz build "${flags[@]}"

targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
work=${FUZZ_KEEP:-$(mktemp -d)}
[ -n "${FUZZ_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
failed=()
for t in $targets; do
  dir="$work/$t"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
  # New inputs go to the run's corpus (the first directory); the seeds are only read.
  if cargo +nightly fuzz run "${flags[@]}" "$t" "$dir/corpus" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -seed="$seed" -timeout=20 -rss_limit_mb=2048 \
    -artifact_prefix="$dir/artifacts/" -print_final_stats=1 >"$dir/log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
    cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1)
    echo "fuzz: $t: ${runs:-?} inputs in ${seconds}s, ${cov:-cov: ?}, no crash (seed $seed)"
  else
    echo "fuzz: $t FAILED (seed $seed); the log's end:" >&2
    # The panic's own words come before its backtrace, which fills the log's end.
    grep -m1 -A4 'panicked at' "$dir/log" >&2 || true
    tail -n 40 "$dir/log" >&2
    for a in "$dir"/artifacts/*; do
      [ -e "$a" ] || continue
      echo "fuzz: $t: the input $(basename "$a"), base64:" >&2
      base64 "$a" | head -c 4096 >&2
      echo >&2
    done
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: crashed: ${failed[*]}" >&2
  exit 1
fi
