#!/usr/bin/env bash
# Installs what the tests drive besides Go: real clients this project did not
# write (curl, kdig, dig), a real browser (Debian's chromium), the real
# mermaid library, and stress-ng (scripts/stress.sh's CPU hog). Idempotent:
# installs only what is missing. The npm package is kept outside the repo,
# in $BOOTGRAPH_CACHE (default ~/.cache/bootgraph).
set -euo pipefail

MERMAID_VERSION=12.3.0
cache=${BOOTGRAPH_CACHE:-$HOME/.cache/bootgraph}

missing=()
command -v gcc >/dev/null || missing+=(gcc)          # the race detector needs cgo
command -v curl >/dev/null || missing+=(curl)
command -v kdig >/dev/null || missing+=(knot-dnsutils)
command -v dig >/dev/null || missing+=(bind9-dnsutils)
command -v dnsperf >/dev/null || missing+=(dnsperf)  # scripts/bench-dot.sh
command -v stress-ng >/dev/null || missing+=(stress-ng) # scripts/stress.sh: the CPU hog
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mermaid="$cache/npm/node_modules/mermaid/dist/mermaid.min.js"
if [ ! -f "$mermaid" ] || ! grep -q "\"version\": \"$MERMAID_VERSION\"" "$cache/npm/node_modules/mermaid/package.json"; then
  mkdir -p "$cache/npm"
  (cd "$cache/npm" && npm install --no-audit --no-fund --silent "mermaid@$MERMAID_VERSION")
fi
# golangci-lint, built from the Go module proxy (about 90 s the first time).
GOLANGCI_LINT_VERSION=v2.15.0
lint="$cache/bin/golangci-lint"
if ! "$lint" version 2>/dev/null | grep -q "version ${GOLANGCI_LINT_VERSION#v} "; then
  echo "building golangci-lint $GOLANGCI_LINT_VERSION into $cache/bin"
  GOBIN="$cache/bin" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
fi
echo "test tools ready (mermaid $MERMAID_VERSION at $mermaid, $("$lint" version | cut -d' ' -f1-4))"
