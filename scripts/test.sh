#!/usr/bin/env bash
# The whole test suite, as CI runs it: the test tools (installed if
# missing), formatting, vet, every test with the race detector, then every
# fuzz target for a few seconds. Go
# modules come from the Go module proxy and stay in Go's caches.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-tools.sh
# etcd and kube-apiserver for the Kubernetes-mode tests: built from the Go
# module proxy on first use (about 10 minutes cold), cached afterwards.
KUBEBUILDER_ASSETS=$(./scripts/kube-testenv.sh | tail -n 1)
export KUBEBUILDER_ASSETS
export BOOTGRAPH_MERMAID_JS=${BOOTGRAPH_MERMAID_JS:-${BOOTGRAPH_CACHE:-$HOME/.cache/bootgraph}/npm/node_modules/mermaid/dist/mermaid.min.js}

go version
go mod download

lint=${BOOTGRAPH_CACHE:-$HOME/.cache/bootgraph}/bin/golangci-lint

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" $unformatted >&2
  exit 1
fi
go vet ./...
"$lint" run ./...
# examples/greeter-part is a Go module of its own (a part defined outside
# this repository): vet and lint it too; examples_test.go builds and runs it.
(cd examples/greeter-part && GOWORK=off GOFLAGS=-mod=mod go vet ./... && GOWORK=off GOFLAGS=-mod=mod "$lint" run ./...)
go test -race -count=1 "$@" ./...
# Every fuzz target for a few seconds, one after the other (scripts/fuzz.sh
# runs them longer: FUZZTIME=2m by default). TEST_FUZZTIME=0 skips them.
fuzztime=${TEST_FUZZTIME:-10s}
if [ "$fuzztime" != 0 ]; then
  FUZZTIME=$fuzztime FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-2s} ./scripts/fuzz.sh
fi
