#!/usr/bin/env bash
# Runs the CTest suite of a build directory and prints a closing count line.
set -uo pipefail
dir=${1:-build-asan}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$dir" --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" ${CTEST_ARGS:-}
