#!/usr/bin/env bash
# Profiles the CA's signing path as `bootgraph serve` runs it: the CA,
# serving certificate and secure gRPC parts in one process, called over
# TLS from 8 connections in a child process, so that the profile holds the
# server only (BenchmarkServeCreateCertificate in modules/ca). Prints the
# benchmark's line (CPU per certificate, bare crypto per certificate and
# their ratio, allocations), then the top of the CPU profile and of the
# allocations by count.
#
#   scripts/profile-ca.sh [p256|rsa2048]   (default p256)
#
# Environment: BENCHTIME (go test's -benchtime for the CPU profile, default
# 5s; the allocation profile issues 2000 certificates), TOP (lines of each
# top, default 40), OUT (directory for ca.test, cpu.pprof and mem.pprof,
# default a new temporary directory, printed at the end: open them with
# `go tool pprof -http=: $OUT/ca.test $OUT/cpu.pprof`).
set -euo pipefail
cd "$(dirname "$0")/.."

keytype=${1:-p256}
case $keytype in
p256 | rsa2048) ;;
*)
	echo "usage: $0 [p256|rsa2048]" >&2
	exit 2
	;;
esac
out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/profile-ca.XXXXXX")}
mkdir -p "$out"
top=${TOP:-40}

go test -c -o "$out/ca.test" ./modules/ca
bench() {
	# The test binary runs from the package directory, as go test would.
	(cd modules/ca && "$out/ca.test" -test.run '^$' \
		-test.bench "^BenchmarkServeCreateCertificate/$keytype\$" -test.benchmem "$@") |
		grep -E '^(Benchmark|ok|FAIL|---)'
}
# Two runs: allocation profiling at every allocation would swamp the CPU
# profile. The baseline's samples (reportBaseline, and benchCSRs, which makes
# its CSRs) are left out of both.
bench -test.benchtime "${BENCHTIME:-5s}" -test.cpuprofile "$out/cpu.pprof"
bench -test.benchtime 2000x -test.memprofile "$out/mem.pprof" -test.memprofilerate 1 >/dev/null
# pprof PROFILE FLAGS...: the top of PROFILE, without the header.
pprof() {
	local profile=$1
	shift
	go tool pprof -ignore 'reportBaseline|benchCSRs' -nodecount "$top" "$@" "$out/ca.test" "$profile" 2>/dev/null | tail -n +6
}

echo
echo "== CPU (the server process; the clients run in a child process)"
pprof "$out/cpu.pprof" -top
echo
echo "== CPU by cumulative time"
pprof "$out/cpu.pprof" -top -cum
echo
echo "== allocations by count, per certificate: divide by 2000 (and the warm-up calls)"
pprof "$out/mem.pprof" -top -sample_index=alloc_objects
echo
echo "profiles in $out"
