#!/usr/bin/env bash
# Load-tests the DNS-over-TLS listener with dnsperf (apt-get install -y
# dnsperf), and a plain miekg/dns DoT server for comparison, on this machine.
#
#   scripts/bench-dot.sh [ours|plain|both]   (default: both)
#
# Environment: PORT (15853), DURATION (10, seconds), CLIENTS (4, TLS
# connections), SWAP (e.g. 1s: swap in a new serving certificate this often;
# ours only), CPUPROFILE (a file: CPU profile of ours), PLAIN_MAX_QUERIES (-1:
# unlimited queries per connection for the plain server; miekg's default,
# 128, closes each connection after 128 queries and dnsperf loses queries),
# DNSPERF_FLAGS (more dnsperf flags, e.g. "-O num-queries-per-conn=1000" to
# reconnect, and so handshake, every 1000 queries).
#
# dnsperf 2.10 does not verify the server's certificate in -m dot, so the
# bench server's self-signed CA needs no setup. Per run it prints dnsperf's
# summary and the server's CPU time per query.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-both}
case $mode in
ours | plain | both) ;;
*) echo "usage: $0 [ours|plain|both]" >&2; exit 2 ;;
esac
port=${PORT:-15853}
duration=${DURATION:-10}
clients=${CLIENTS:-4}

command -v dnsperf >/dev/null || { echo "dnsperf not found: apt-get install -y dnsperf" >&2; exit 1; }

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/dotbench" ./modules/dns/internal/dotbench

# Names the server knows: the plane's own name (A, AAAA, in mixed case too)
# and a contributed SRV record; the plain server answers any query with A.
cat >"$work/queries" <<'Q'
istiod.istio-system.svc A
istiod.istio-system.svc AAAA
xds.istio-system.svc SRV
IStioD.Istio-System.svc A
Q

# cpu_ticks PID: user+system CPU time of PID, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

bench() { # bench NAME DOTBENCH-FLAGS...
  local name=$1; shift
  "$work/dotbench" -port "$port" -dir "$work/ca-$name" "$@" >"$work/$name.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do grep -q '^ready' "$work/$name.log" && break; sleep 0.1; done
  grep -q '^ready' "$work/$name.log" || { cat "$work/$name.log" >&2; exit 1; }

  # shellcheck disable=SC2206 # DNSPERF_FLAGS is split on purpose
  local extra=(${DNSPERF_FLAGS:-})
  echo "== $name: dnsperf -m dot -s 127.0.0.1 -p $port -d QUERIES -l $duration -c $clients ${extra[*]}"
  local before after
  before=$(cpu_ticks "$server_pid")
  dnsperf -m dot -s 127.0.0.1 -p "$port" -d "$work/queries" -l "$duration" -c "$clients" "${extra[@]}" >"$work/$name.perf"
  # The second "Average Latency" is dnsperf's connection (TCP+TLS) latency.
  awk '/Queries (sent|completed|lost)|Response codes|Queries per second|Reconnections/ { print }
    /Average Latency/ { if (n++) sub(/Average Latency \(s\): /, "Connect latency (s): "); print }' "$work/$name.perf"
  after=$(cpu_ticks "$server_pid")
  awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" '/Queries completed/ { q = $3 }
    END { if (q > 0) printf "  Server CPU:           %.2f s, %.2f us per query\n", t / hz, t / hz / q * 1e6 }' "$work/$name.perf"

  kill -INT "$server_pid"
  wait "$server_pid" || true
  server_pid=
  grep -v '^ready' "$work/$name.log" || true
}

if [ "$mode" != plain ]; then
  flags=()
  [ -n "${SWAP:-}" ] && flags+=(-swap "$SWAP")
  [ -n "${CPUPROFILE:-}" ] && flags+=(-cpuprofile "$(realpath -m "$CPUPROFILE")")
  bench ours "${flags[@]}"
fi
if [ "$mode" != ours ]; then
  bench plain -plain -plain-max-queries "${PLAIN_MAX_QUERIES:--1}"
fi
