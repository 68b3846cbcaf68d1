#!/usr/bin/env bash
# Builds etcd and kube-apiserver from the Go module proxy, for the tests that
# run against a real API server (there is no internet to download them from).
# The binaries are cached outside the repo, keyed by version:
#   $BOOTGRAPH_CACHE/kube/v<version>/{etcd,kube-apiserver}
# and the directory is printed, for KUBEBUILDER_ASSETS. Cold: 10-20 minutes
# on 2 cores; warm: instant.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
cache=${BOOTGRAPH_CACHE:-$HOME/.cache/bootgraph}
out="$cache/kube/v$K8S_VERSION"
if [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ]; then
  echo "$out"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export GOFLAGS=-mod=mod
go mod init bootgraph.local/kubetestenv >/dev/null 2>&1

# k8s.io/kubernetes points its staging modules at ./staging; use the
# published copies of the same release instead.
gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
staging_version="v0.${K8S_VERSION#1.}"
go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
for m in $(sed -n 's#^\s*\(k8s.io/[a-z0-9.-]*\) => ./staging/.*#\1#p' "$gomod"); do
  go mod edit -replace="$m=$m@$staging_version"
done
etcd_version=$(sed -n 's#^\s*go.etcd.io/etcd/server/v3 \(v[^ ]*\).*#\1#p' "$gomod" | head -1)
go mod edit -require="go.etcd.io/etcd/server/v3@$etcd_version"
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
GO
go mod tidy >/dev/null
mkdir -p "$out.tmp"
go build -trimpath -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3
go build -trimpath -o "$out.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out"
