#!/usr/bin/env bash
# Builds the test cluster's binaries with the Go toolchain through the Go
# module proxy, into a cache that survives clones:
#   kube-apiserver, kube-controller-manager, kube-scheduler  (k8s.io/kubernetes)
#   kwok                                      (sigs.k8s.io/kwok)
# and installs Debian's etcd-server. A second run finds the cache and returns
# at once. Prints the cache directory on its last line.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-1.33.13}
KWOK_VERSION=${KWOK_VERSION:-0.7.0}
CACHE=${QUARTERDECK_CACHE:-$HOME/.cache/quarterdeck}/test-cluster/k8s-v$KUBE_VERSION-kwok-v$KWOK_VERSION
mkdir -p "$CACHE"
log() { echo "[test-cluster build] $*" >&2; }

if ! command -v etcd >/dev/null 2>&1; then
  log "installing Debian's etcd-server"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server) >&2
  # The package starts a system etcd on 2379; ours runs on its own ports.
  (systemctl disable --now etcd 2>/dev/null || service etcd stop 2>/dev/null || pkill -x etcd || true) >/dev/null 2>&1
fi

export GOFLAGS=-mod=mod
export CGO_ENABLED=0

if [ ! -x "$CACHE/kube-apiserver" ] || [ ! -x "$CACHE/kube-controller-manager" ] || [ ! -x "$CACHE/kube-scheduler" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  log "building kube-apiserver, kube-controller-manager and kube-scheduler v$KUBE_VERSION (first run only; 10-30 min on 2 cores)"
  # k8s.io/kubernetes points its staging modules at ./staging with replace
  # directives, which `go install pkg@version` refuses. A module of our own
  # that requires it and pins every staging module to the matching v0.x.y
  # release builds it with the ordinary `go build`.
  mod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  staging_version="v0.${KUBE_VERSION#1.}"
  (
    cd "$work"
    go mod init quarterdeck.local/test-cluster >/dev/null 2>&1
    go mod edit -go=1.24.0 -require="k8s.io/kubernetes@v$KUBE_VERSION"
    for m in $(grep -E '^\s+k8s.io/[a-z0-9-]+ => \./staging' "$mod" | awk '{print $1}'); do
      go mod edit -replace="$m=$m@$staging_version"
    done
    echo 'package main' > tools.go
    echo 'import _ "k8s.io/kubernetes/cmd/kube-apiserver/app"' >> tools.go
    echo 'import _ "k8s.io/kubernetes/cmd/kube-controller-manager/app"' >> tools.go
    echo 'import _ "k8s.io/kubernetes/cmd/kube-scheduler/app"' >> tools.go
    echo 'func main() {}' >> tools.go
    go mod tidy >&2
    for bin in kube-apiserver kube-controller-manager kube-scheduler; do
      [ -x "$CACHE/$bin" ] || go build -trimpath -ldflags="-s -w" -o "$CACHE/$bin" "k8s.io/kubernetes/cmd/$bin" >&2
    done
  )
fi

if [ ! -x "$CACHE/kwok" ]; then
  log "building kwok v$KWOK_VERSION"
  GOBIN="$CACHE" go install -trimpath -ldflags="-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" >&2
fi

echo "$CACHE"
