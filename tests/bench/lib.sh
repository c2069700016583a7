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

# Waits (up to 30 s) until URL answers 2xx over TLS with the CA file given.
wait_https() {
  for _ in $(seq 600); do
    if curl -sf --cacert "$2" -o /dev/null "$1"; then return 0; fi
    sleep 0.05
  done
  echo "$0: $1 never answered" >&2
  exit 1
}

# start_sims N ARG...: N simulated workers (w0, w1, ...) with the given
# flags on free ports, healthy before it returns; their URLs in worker_urls,
# their pids in $pids. Needs $bin.
start_sims() {
  local n=$1 i port u
  shift
  worker_urls=()
  for i in $(seq 0 $((n - 1))); do
    port=$(free_port)
    "$bin/sglang-worker-sim" --port "$port" --worker-id "w$i" "$@" >"$tmp/w$i.log" 2>&1 &
    pids+=($!)
    worker_urls+=("http://127.0.0.1:$port")
  done
  for u in "${worker_urls[@]}"; do wait_http "$u/health"; done
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

# start_nginx LISTEN_DIRECTIVES URL...: nginx as the reference reverse
# proxy in front of the workers (keep-alive upstream pool, no buffering,
# bodies in memory, as ours), in $tmp/nginx; LISTEN_DIRECTIVES is what goes
# in its server block before the location, e.g. "listen 127.0.0.1:8080;".
# Its pid joins $pids.
start_nginx() {
  local listen=$1 servers="" u
  shift
  for u in "$@"; do servers+="server ${u#http://}; "; done
  mkdir -p "$tmp/nginx"
  cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  upstream workers { $servers keepalive 256; }
  server {
    $listen
    client_max_body_size 256m;
    client_body_buffer_size 1m; # bodies stay in memory, as ours do
    location / {
      proxy_pass http://workers;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
CONF
  nginx -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" &
  pids+=($!)
}
