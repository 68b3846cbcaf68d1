#!/usr/bin/env bash
# Runs every Go fuzz target of the module (each func FuzzXxx(f *testing.F)
# in a _test.go file) for FUZZTIME each, one after the other, and prints
# the executions and findings of each.
#
#   scripts/fuzz.sh [REGEXP]   (only the targets whose "package/FuzzName"
#                               matches REGEXP, e.g. "modules/ca/" or "DNS")
#
# Environment: FUZZTIME (2m; any -fuzztime value: 30s, 10000x),
# FUZZMINIMIZETIME (go test's -fuzzminimizetime, default 60s: how long each
# new input is minimized; short runs spend most of their time there
# otherwise), FUZZ_PARALLEL (fuzz workers per target; default GOMAXPROCS).
#
# No fuzz target needs the Kubernetes API server, so the targets run without
# its binaries (CI unset, KUBEBUILDER_ASSETS unset, BOOTGRAPH_CACHE pointing
# nowhere): kubetest.Main then skips it. It must: every fuzz worker process
# runs the package's TestMain, and a worker busy starting etcd and
# kube-apiserver stalls the coordinator ("gathering baseline coverage"
# forever) and leaves the servers orphaned when it is killed.
#
# A failing input is written by go test to the package's
# testdata/fuzz/<FuzzName>/ directory, where it becomes a seed that the
# ordinary test run replays: commit it with the fix. The script goes on with
# the other targets and exits 1 at the end if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-2m}
filter=${1:-}
flags=()
[ -n "${FUZZ_PARALLEL:-}" ] && flags+=(-parallel "$FUZZ_PARALLEL")
[ -n "${FUZZMINIMIZETIME:-}" ] && flags+=(-fuzzminimizetime "$FUZZMINIMIZETIME")

# "dir FuzzName" for every target, dir relative to the module root.
targets=()
while read -r dir; do
  rel=./${dir#"$PWD"}
  rel=${rel/#.\/\//./}
  for name in $(cat "$dir"/*_test.go 2>/dev/null | sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(f \*testing\.F).*/\1/p'); do
    if [ -z "$filter" ] || [[ "${rel#./}/$name" =~ $filter ]]; then
      targets+=("$rel $name")
    fi
  done
done < <(go list -f '{{.Dir}}' ./...)
if ((${#targets[@]} == 0)); then
  echo "no fuzz target matches ${filter:-anything}" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
summary=()
failed=0
start=$SECONDS
for t in "${targets[@]}"; do
  read -r dir name <<<"$t"
  echo "== $dir $name (-fuzztime $fuzztime)"
  status=ok
  if ! env -u CI -u KUBEBUILDER_ASSETS BOOTGRAPH_CACHE=/nonexistent/bootgraph-fuzz \
    go test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "${flags[@]}" "$dir" >"$log" 2>&1; then
    status=FAIL
    failed=1
    cat "$log"
  fi
  # The last progress line: "fuzz: elapsed: 2m0s, execs: 123456 (1028/sec), new interesting: 12 (total: 40)".
  last=$(grep '^fuzz: elapsed' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/.*execs: \([0-9]*\).*/\1/p' <<<"$last")
  interesting=$(sed -n 's/.*new interesting: \([0-9]*\).*/\1/p' <<<"$last")
  if [ "$status" = FAIL ]; then
    grep -E 'Failing input written to|--- FAIL|fuzz_test.go:[0-9]+:' "$log" | head -n 5 | sed 's/^/   /' || true
  fi
  if [ -z "$execs" ]; then
    # The time went to replaying the corpus (seeds and earlier finds) for
    # baseline coverage; nothing new was tried.
    base=$(grep -o 'gathering baseline coverage: [0-9]*/[0-9]*' "$log" | tail -n 1 | sed 's/.*: //' || true)
    execs="0 (baseline ${base:-?})"
  fi
  summary+=("$(printf '%-4s %-28s %-24s execs %-18s new interesting %s' "$status" "$dir" "$name" "$execs" "${interesting:-0}")")
done
echo "== fuzz summary (-fuzztime $fuzztime each, $((SECONDS - start))s in all)"
printf '%s\n' "${summary[@]}"
exit $failed
