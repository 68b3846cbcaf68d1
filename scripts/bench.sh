#!/usr/bin/env bash
# Runs the benchmarks that carry their baseline and prints one table:
# figure, baseline measured in the same run, ratio, target.
#
#   scripts/bench.sh            (about 5-10 minutes on 2 cores)
#
# Environment: COUNT (1: runs of each benchmark; the table shows the median
# of each metric), BENCHTIME (3s: for the throughput benchmarks), OUT (a
# file to keep the raw `go test -bench` output in), RAW (a file OUT kept:
# print its table without running anything).
#
# Each benchmark alternates the figure and its baseline itself (see its doc
# comment), so the ratios hold on a loaded machine even where the absolute
# figures move 2-3x. Metrics are read from the `go test -bench` output by
# name, whatever their order on the line.
set -euo pipefail
cd "$(dirname "$0")/.."

count=${COUNT:-1}
benchtime=${BENCHTIME:-3s}
if [ -n "${RAW:-}" ]; then
  raw=$RAW
else
  raw=${OUT:-$(mktemp)}
  [ -n "${OUT:-}" ] || trap 'rm -f "$raw"' EXIT
  : >"$raw"
fi

bench() { # bench PACKAGE PATTERN BENCHTIME
  echo "== go test -run '^\$' -bench '$2' -benchtime $3 -count $count $1" >&2
  go test -run '^$' -bench "$2" -benchtime "$3" -count "$count" "$1" | tee -a "$raw" | grep -E '^(Benchmark|FAIL|ok|panic)' >&2
}

if [ -z "${RAW:-}" ]; then
  bench . '^BenchmarkCreateCertificate$' "$benchtime"
  bench ./modules/dns '^BenchmarkDoTQuery$' "$benchtime"
  bench ./modules/webhook '^BenchmarkAdmissionRoundTrip$' "$benchtime"
  bench . '^BenchmarkBoot$' 20x
  bench . '^BenchmarkEngineScale$' 3x
  bench . '^BenchmarkFootprint$' 1x
  bench . '^BenchmarkStart$' 1x
fi

# metric BENCHMARK UNIT: the median of the metric UNIT over the lines of
# BENCHMARK (its name without the -GOMAXPROCS suffix), or "-".
metric() {
  awk -v want="$1" -v unit="$2" '$1 ~ /^Benchmark/ {
      name = $1; sub(/-[0-9]+$/, "", name)
      if (name != want) next
      for (i = 3; i < NF; i += 2) if ($(i + 1) == unit) print $i
    }' "$raw" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'
}

row() { # row LABEL BENCHMARK FIGURE-UNIT BASELINE-UNIT RATIO-UNIT TARGET
  printf '%-40s %16s %16s %8s  %s\n' "$1" "$(metric "$2" "$3") ${3##*-}" \
    "$( [ "$4" = - ] && echo - || echo "$(metric "$2" "$4") ${4##*-}")" "$(metric "$2" "$5")" "$6"
}

echo
printf '%-40s %16s %16s %8s  %s\n' "figure" "value" "baseline" "ratio" "target"
for kt in p256 rsa2048; do
  row "CA server CPU per cert ($kt)" "BenchmarkCreateCertificate/$kt" server-cpu-µs/cert crypto-µs/cert server/crypto "-"
  row "CA throughput ($kt)" "BenchmarkCreateCertificate/$kt" certs/s - - "-"
  row "CA p99 at half load ($kt)" "BenchmarkCreateCertificate/$kt" p99-ms - - "-"
done
row "DoT pipelined query" BenchmarkDoTQuery µs/query baseline-µs/query ratio "-"
row "webhook AdmissionReview" BenchmarkAdmissionRoundTrip µs/review baseline-µs/review ratio "-"
for bc in ecdsa-p256/generated rsa-2048/generated ecdsa-p256/reused rsa-2048/reused; do
  row "boot in-process ($bc)" "BenchmarkBoot/$bc" engine-µs/boot baseline-µs/boot ratio "-"
  row "  engine vs plain fx" "BenchmarkBoot/$bc" engine-µs/boot fx-µs/boot engine/fx "-"
done
for n in 100 1000 5000; do
  row "engine scale ($n constructors)" "BenchmarkEngineScale/constructors=$n" engine-µs/op fx-µs/op engine/fx "-"
done
row "RSS idle, serve" BenchmarkFootprint/serve rss-MiB floor-rss-MiB ratio "≤ 35 MB"
row "  of it anonymous (heap, stacks)" BenchmarkFootprint/serve anon-MiB floor-anon-MiB anon-ratio "-"
row "  of it the binary's pages" BenchmarkFootprint/serve file-MiB floor-file-MiB - "-"
row "RSS after 10k certs, serve" BenchmarkFootprint/serve rss-10k-MiB floor-rss-MiB - "-"
row "VmHWM after 10k certs, serve" BenchmarkFootprint/serve hwm-10k-MiB floor-rss-MiB - "-"
row "binary, serve" BenchmarkFootprint/serve binary-MiB floor-binary-MiB - "-"
row "RSS idle, ca-only" BenchmarkFootprint/ca-only rss-MiB floor-rss-MiB ratio "≤ 20 MB"
row "  of it anonymous (heap, stacks)" BenchmarkFootprint/ca-only anon-MiB floor-anon-MiB anon-ratio "-"
row "  of it the binary's pages" BenchmarkFootprint/ca-only file-MiB floor-file-MiB - "-"
row "RSS after 10k certs, ca-only" BenchmarkFootprint/ca-only rss-10k-MiB floor-rss-MiB - "-"
row "VmHWM after 10k certs, ca-only" BenchmarkFootprint/ca-only hwm-10k-MiB floor-rss-MiB - "-"
row "binary, ca-only" BenchmarkFootprint/ca-only binary-MiB floor-binary-MiB - "-"
row "start exec→/ready, serve (p50)" BenchmarkStart start-ms floor-start-ms ratio "≤ 30 ms"
row "start exec→/ready, serve (p90)" BenchmarkStart start-p90-ms floor-start-p90-ms - "-"
echo
echo "baselines: CA = the bare crypto of issuing; DoT, webhook = a trivial TLS echo server on the same"
echo "listener settings; boot = the CA key generated or loaded, a serving cert signed, the listeners bound;"
echo "engine = plain fx; RSS, start = floor-kube (client-go + gRPC linked) for serve, floor-grpc for ca-only."
