#!/usr/bin/env bash
# The operator's tests as ctest runs them (label operator): go vet, the unit
# tests, then the envtest scenarios against a real kube-apiserver and etcd
# (built once by envtest-assets.sh and cached) with the router, simulated
# worker and sglctl binaries of the C build.
#   deploy/operator/hack/test.sh BIN_DIR
# Needs Go >= 1.24 (on PATH or in /usr/local/go) and protoc (Debian's
# protobuf-compiler, which deploy/scripts/install-deps.sh installs).
set -euo pipefail
bin=$(cd "${1:?usage: test.sh BIN_DIR}" && pwd)
cd "$(dirname "$0")/.."
export HOME=${HOME:-$(cd "$bin/.." && pwd)} # Go's caches and the envtest binaries live under it
if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    export PATH=/usr/local/go/bin:$PATH
  else
    echo "operator tests: Go >= 1.24 is needed (https://go.dev/dl, or /usr/local/go)" >&2
    exit 1
  fi
fi
command -v protoc >/dev/null || { echo "operator tests: protoc is needed (apt-get install protobuf-compiler)" >&2; exit 1; }
export GOTOOLCHAIN=local
make test SR_BIN_DIR="$bin"
make verify
