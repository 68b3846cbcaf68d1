#!/usr/bin/env bash
# Runs the whole suite (scripts/test.sh, arguments passed on to go test)
# while stress-ng keeps every CPU busy, as on a loaded CI machine, and
# reports how long it took. A test that fails here but not on a quiet
# machine waits on time instead of an event: make it wait on the event.
#
#   scripts/stress.sh [go test flags]   e.g. scripts/stress.sh -run TestFoo
#
# Environment: STRESS_CPUS (CPU hogs; default: one per CPU, nproc),
# STRESS_RUNS (1: run the suite this many times in a row, stopping at the
# first failure). stress-ng comes from scripts/install-test-tools.sh
# (Debian's stress-ng), which test.sh runs anyway.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-tools.sh
cpus=${STRESS_CPUS:-$(nproc)}
runs=${STRESS_RUNS:-1}

stress-ng --cpu "$cpus" --timeout 0 --quiet &
hog=$!
trap 'kill "$hog" 2>/dev/null || true; wait "$hog" 2>/dev/null || true' EXIT

times=()
for run in $(seq "$runs"); do
  start=$SECONDS
  status=0
  ./scripts/test.sh "$@" || status=$?
  took=$((SECONDS - start))
  times+=("run $run: exit $status in ${took}s")
  echo "stress: run $run of $runs: scripts/test.sh exited $status after ${took}s, with stress-ng --cpu $cpus on $(nproc) CPUs"
  [ "$status" -eq 0 ] || break
done
printf 'stress: %s\n' "${times[@]}"
exit "$status"
