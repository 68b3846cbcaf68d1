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

# fuzz_one DIR NAME FUZZTIME runs one target.
fuzz_one() {
  env -u CI -u KUBEBUILDER_ASSETS BOOTGRAPH_CACHE=/nonexistent/bootgraph-fuzz \
    go test -run '^$' -fuzz "^$2\$" -fuzztime "$3" -timeout 10m "${flags[@]}" "$1"
}

# deadline_race LOG is true when the run in LOG failed with nothing but the
# coordinator's own "context deadline exceeded": no input written, no
# message from the target.
deadline_race() {
  ! grep -q 'Failing input written to' "$1" &&
    [ "$(grep -A1 -- '^--- FAIL: ' "$1" | sed -n 2p | sed 's/^[[:space:]]*//')" = 'context deadline exceeded' ] &&
    [ "$(grep -c -- '^--- FAIL: ' "$1")" = 1 ] &&
    [ "$(grep -c '^[[:space:]]*[A-Za-z0-9_]*\.go:[0-9]*:' "$1")" = 0 ]
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
summary=()
failed=0
start=$SECONDS
for t in "${targets[@]}"; do
  read -r dir name <<<"$t"
  echo "== $dir $name (-fuzztime $fuzztime)"
  status=ok
  note=
  if ! fuzz_one "$dir" "$name" "$fuzztime" >"$log" 2>&1; then
    status=FAIL
    if deadline_race "$log"; then
      # Go's fuzz coordinator (go1.26) can fail a target with a bare
      # "context deadline exceeded" as a duration -fuzztime ends, having
      # found nothing (go.dev/issue/75804, fixed in Go 1.27). Not taken on
      # trust: the same number of executions runs again under a count
      # budget, which has no deadline to race; a real finding or a hang
      # fails that run (a hang by go test's -timeout).
      count=$(sed -n 's/.*execs: \([0-9]*\).*/\1/p' <<<"$(grep '^fuzz: elapsed' "$log" | tail -n 1)")
      count=$((${count:-0} < 1000 ? 1000 : count))
      echo "   $name: bare 'context deadline exceeded' at the end of -fuzztime (go.dev/issue/75804); running ${count}x again under a count budget"
      if fuzz_one "$dir" "$name" "${count}x" >"$log" 2>&1; then
        status=ok
        note=" (deadline race, passed ${count}x again)"
      fi
    fi
    if [ "$status" = FAIL ]; then
      failed=1
      cat "$log"
    fi
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
  summary+=("$(printf '%-4s %-28s %-24s execs %-18s new interesting %s%s' "$status" "$dir" "$name" "$execs" "${interesting:-0}" "$note")")
done
echo "== fuzz summary (-fuzztime $fuzztime each, $((SECONDS - start))s in all)"
printf '%s\n' "${summary[@]}"
exit $failed
