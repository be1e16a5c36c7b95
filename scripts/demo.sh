#!/usr/bin/env bash
# Installs dependencies, builds, and profiles a small demo program: the first
# thing to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh

demo=build/tests/e2e/fx_ratio
out=build/demo.pb.gz
echo "== profiling $demo into $out"
LD_PRELOAD="$PWD/build/libprofpre.so" PROF_OUT="$out" PROF_STATS=1 "$demo"
# Cumulative order: ratio_one, ratio_two and ratio_three hold 1:2:3 of the CPU.
echo "== go tool pprof -top -cum $out"
HOME="${HOME:-/tmp}" go tool pprof -top -cum "$out" 2>&1 | grep -v '^[a-z]*=' | head -24
