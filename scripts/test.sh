#!/usr/bin/env bash
# The whole test suite, as CI runs it: the test tools (installed if
# missing), formatting, vet, and every test with the race detector. Go
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

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" $unformatted >&2
  exit 1
fi
go vet ./...
go test -race -count=1 "$@" ./...
