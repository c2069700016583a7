# lib.sh: what the benchmark scripts share (sourced, not run).
# Sets $tmp (a scratch directory) and $pids (processes to stop); on exit
# every process in $pids is stopped and $tmp removed.

tmp=$(mktemp -d)
chmod 755 "$tmp" # nginx workers run as nobody
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# A port that was free a moment ago.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits (up to 30 s) until URL answers 2xx; exits the script otherwise.
wait_http() {
  for _ in $(seq 600); do
    if curl -sf -o /dev/null "$1"; then return 0; fi
    sleep 0.05
  done
  echo "$0: $1 never answered" >&2
  exit 1
}

# The summed resident memory of the given processes, in KiB.
rss_kb() {
  local total=0
  for p in "$@"; do
    total=$((total + $(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# Every tool named must be installed (deploy/scripts/install-deps.sh).
need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$0: needs $tool (deploy/scripts/install-deps.sh)" >&2; exit 1; }
  done
}
