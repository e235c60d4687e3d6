#!/usr/bin/env bash
# Runs every built fuzz target for a few seconds on its seed corpus.
# Usage: tools/run-fuzz.sh BUILD_DIR SECONDS
set -euo pipefail
dir=${1:-build-fuzz}; secs=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
fail=0; n=0
for bin in "$dir"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); short=${name#fuzz_}
  work=$(mktemp -d)
  seeds="$root/fuzz/corpus/$short"
  n=$((n+1))
  if "$bin" -max_total_time="$secs" -print_final_stats=0 "$work" ${seeds:+$( [ -d "$seeds" ] && echo "$seeds")} >"$work.log" 2>&1; then
    echo "fuzz $name: ok ($(grep -c . "$work.log" >/dev/null; grep -o 'cov: [0-9]*' "$work.log" | tail -1))"
  else
    echo "fuzz $name: FAILED"; tail -40 "$work.log"; fail=$((fail+1))
  fi
  rm -rf "$work" "$work.log"
done
echo "fuzz: $((n-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
