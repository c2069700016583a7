#!/usr/bin/env bash
# sim_vs_nginx.sh: is the simulated worker fast enough never to be the
# bottleneck of a proxy benchmark? wrk (1 thread, 32 connections, a small
# POST /generate) against sglang-worker-sim --zero-latency and, in the same
# run, against nginx-light (one worker process, like the simulator's one
# thread) answering a fixed 200. Rounds alternate between the two; the
# figures are medians.
#
#   tests/bench/sim_vs_nginx.sh [--duration SECONDS] [--rounds N] [--smoke]
#
# Prints BENCH lines: nginx_rps, sim_rps, sim_rps_ratio_vs_nginx (target:
# >= 0.8). Needs wrk and nginx-light (deploy/scripts/install-deps.sh).
set -euo pipefail

duration=5
rounds=3
connections=32
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --smoke) duration=1; rounds=1; shift ;;
    *) echo "usage: $0 [--duration SECONDS] [--rounds N] [--smoke]" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
bin=${SR_BIN_DIR:-$here/../../build/bin}
source "$here/lib.sh"
need wrk nginx

nginx_port=$(free_port)
mkdir -p "$tmp/nginx"
cat > "$tmp/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { default_type application/json; return 200 '{"text":"ok"}'; }
  }
}
CONF
nginx -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" &
pids+=($!)

sim_port=$(free_port)
"$bin/sglang-worker-sim" --port "$sim_port" --zero-latency >"$tmp/sim.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$nginx_port/"
wait_http "http://127.0.0.1:$sim_port/health"

cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"text":"The capital of France is","sampling_params":{"max_new_tokens":8}}'
wrk.headers["Content-Type"] = "application/json"
LUA

rps() { # url → requests/s
  wrk -t1 -c"$connections" -d"${duration}s" -s "$tmp/post.lua" "$1" |
    awk '/^Requests\/sec:/ { print $2 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

: >"$tmp/nginx.rps"
: >"$tmp/sim.rps"
for _ in $(seq "$rounds"); do
  rps "http://127.0.0.1:$nginx_port/generate" >>"$tmp/nginx.rps"
  rps "http://127.0.0.1:$sim_port/generate" >>"$tmp/sim.rps"
done
n=$(median <"$tmp/nginx.rps")
s=$(median <"$tmp/sim.rps")
echo "BENCH nginx_rps $n req/s"
echo "BENCH sim_rps $s req/s"
awk -v s="$s" -v n="$n" 'BEGIN { printf "BENCH sim_rps_ratio_vs_nginx %.3f x\n", s / n }'
