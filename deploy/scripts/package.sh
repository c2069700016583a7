#!/usr/bin/env bash
# package.sh: the release artifacts, a .deb (CPack, dependencies from the
# binaries' shared libraries) and a source tarball, into dist/.
#
#   deploy/scripts/package.sh [--check]
#
# --check then installs the .deb with apt-get on this machine (root or
# sudo), runs every installed program's --help and a co-launch smoke test
# (two simulated workers and the router from /usr/bin), and removes it
# again, checking that nothing is left behind.
set -euo pipefail
cd "$(dirname "$0")/../.."

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

deploy/scripts/install-deps.sh
# Without the test-only oracle policy (SR_WITH_ORACLE, top-level CMakeLists.txt).
cmake -S . -B build-pkg -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DSR_WITH_ORACLE=OFF >/dev/null
cmake --build build-pkg -j"$(nproc)" >/dev/null
if build-pkg/bin/sglang-router --help | grep -q oracle; then
  echo "package.sh: the packaged router must not offer the test-only oracle policy" >&2
  exit 1
fi
mkdir -p dist
(cd build-pkg && cpack -G DEB -B "$PWD/../dist" >/dev/null && cpack --config CPackSourceConfig.cmake -B "$PWD/../dist" >/dev/null)
rm -rf dist/_CPack_Packages
deb=$(ls dist/sglang-router_*.deb)
echo "package.sh: $deb"
echo "package.sh: $(ls dist/sglang-router-*.tar.gz)"
dpkg-deb --field "$deb" Depends

if [ "$check" = 1 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get install -y -q "./$deb" >/dev/null
  for p in sglang-router sglang-launch-server sglctl sglang-worker-sim; do
    "/usr/bin/$p" --help >/dev/null
  done
  test -f /usr/share/sglang-router/proto/sglang/router/admin/v1/admin.proto
  test -f /usr/share/doc/sglang-router/examples/sglang-router.service
  test -f /usr/share/sglang-router/sim-profiles/qwen3-8b-h100.conf
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  base=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  /usr/bin/sglang-launch-server --backend sim --dp-size 2 --model-path m --port "$port" \
    --worker-base-port "$base" --router-prometheus-port -1 -- --zero-latency --profile qwen3-8b-h100 \
    2>/tmp/package-check.log &
  launcher=$!
  for _ in $(seq 200); do grep -q "ready: http" /tmp/package-check.log && break; sleep 0.05; done
  curl -sf "http://127.0.0.1:$port/generate" -d '{"text":"hi"}' >/dev/null
  kill -TERM "$launcher"
  wait "$launcher"
  $sudo apt-get remove -y -q sglang-router >/dev/null
  for p in sglang-router sglang-launch-server sglctl sglang-worker-sim; do
    if [ -e "/usr/bin/$p" ]; then echo "package.sh: /usr/bin/$p left behind" >&2; exit 1; fi
  done
  echo "package.sh: installed, ran, removed cleanly"
fi
