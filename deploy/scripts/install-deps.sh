#!/usr/bin/env bash
# Installs the Debian 12 packages that the build and the tests need.
# Idempotent: when every package is already present it does nothing (no apt-get update either).
# Usage: deploy/scripts/install-deps.sh   (as root, or with sudo available)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libevent-dev libnghttp2-dev libssl-dev
  libprotobuf-c-dev protobuf-c-compiler
  # the operator (deploy/operator, Go) generates its admin API client with protoc
  protobuf-compiler
  libcmocka-dev libjansson-dev libcjson-dev libhttp-parser-dev
  # replica sync (sync/): the NATS C client; the server for its tests
  # (the operator's replica sync scenario fails without it), benchmarks and
  # the co-launch of several replicas
  libnats-dev nats-server
  clang-format clang curl openssl
  # libFuzzer and the sanitizer runtimes for clang (tests/fuzz)
  libclang-rt-14-dev
  # test and benchmark tools: integration tests (python3, standard library;
  # python3-venv for the pinned peers from PyPI), proxy benchmarks, the
  # plots of the benchmarks and the fault soak
  python3 python3-venv wrk nginx-light nghttp2-client gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
