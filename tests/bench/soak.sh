#!/usr/bin/env bash
# soak.sh: a fault soak. One sglang-router (TLS on the public port, ALPN h2
# and http/1.1; admin API and metrics on free ports) in front of simulated
# workers, under steady mixed traffic and every fault at once, for a given
# time; samples the router, then checks that it came back clean.
#
#   tests/bench/soak.sh [--duration SECS] [--out DIR] [--rate REQ_PER_S]
#       [--request-timeout SECS] [--max-tree-size BYTES] [--router-arg ARG]...
#
# Defaults: one hour, 30 requests/s (Poisson arrivals, open loop), --out
# build/soak-<date>. CI runs `--duration 30` (ctest bench.soak_smoke).
# Needs curl (HTTP/2), openssl, python3, gnuplot-nox for the plot
# (deploy/scripts/install-deps.sh).
#
# Workers: w0..w3 (sglang-worker-sim --time-scale 20) and wh (--hang: takes
# inference requests and never answers; health stays green), all in the list.
# The router runs with --threads 2, --request-timeout-secs 5 (so requests on
# wh end in 504 at 5 s), --log-requests (status and worker per request) and
# --max-tree-size 262144 --eviction-interval 10 (256 KiB of prompt text
# per worker, evicted down to that every 10 s: every prompt is new, so with
# the default 16 MiB the cache-aware tree would grow for the whole hour, as
# designed, and hide a leak in that growth; this way it reaches its bound
# within about 100 s and its eviction sawtooth stays small beside RSS;
# DIR/samples.csv has the tree's own size beside RSS).
#
# Load, all the time (tests/bench/soak_traffic.py, open loop):
# - unique prompts (the request id leads the prompt: no cache hits), 8-48
#   output tokens: /generate, /v1/completions, /v1/chat/completions, whole
#   and streamed (SSE); 70% HTTP/1.1 keep-alive over TLS (Python), 30%
#   HTTP/2 over TLS (curl --http2, three or four streams per connection);
# - clients that disconnect mid-stream: 5% of the HTTP/1.1 requests close
#   after 3 events of a 2,000-token stream; a third of the HTTP/2 batches
#   carry a 2,000-token stream that curl gives up on after 0.3 s;
# - clients that never read: 2 HTTP/1.1 + 1 HTTP/2 connections send a
#   3,000-token /generate stream (~18 MB of chunks) and never read; held
#   open 15 s (smoke: 8 s), closed, again.
# Faults, all the time:
# - w0 killed (SIGKILL) every 60 s and restarted on the same port 2 s later;
# - the worker list replaced through `sglctl workers set` every 20 s,
#   alternately by the list without one worker (w1, w2, w3, wh, w0 in turn)
#   and the full list.
# Periods scale down for short runs (duration/3 between kills, duration/4
# between replacements, duration/15 between samples; at most 60, 20, 10 s).
#
# Every sample (10 s) goes to DIR/samples.csv: router RSS (VmRSS), open
# descriptors (/proc/PID/fd), sglang_router_in_flight_requests and
# open_connections, client outcomes so far by kind, the router's 5xx,
# worker_errors, client_aborts and retries counters, kills, replacements.
# DIR/soak.png draws them (and DIR/classes.csv, the failure classes below
# over time). Every request is a line of DIR/requests.jsonl; DIR/events.log
# has the kills and replacements, DIR/router.log the router's log,
# DIR/summary.txt the summary.
#
# How client-side failures are classified (soak_traffic.py classify()):
# each request carries X-Request-Id soak-N; the router's request log gives
# its status and worker, the response (worker_id) its worker when it got one.
# - on purpose: mid-stream disconnects and never-read clients (not failures);
# - expected: a 504 (or a client timeout, a truncated stream) from wh, the
#   hanging worker; a stream that started (200) on w0 and broke (truncated,
#   reset) while w0 was being killed (between a kill and its restart,
#   within the request's lifetime, 1 s slack);
# - unexpected: everything else: any 5xx from a live worker or from the
#   router itself (502 after retries, 503 no worker), a failure on a worker
#   that was only removed from the list (requests on a removed worker must
#   finish there), connection or TLS errors, timeouts, bad bodies. A request
#   that failed on w0 before any byte reached the client should have been
#   retried elsewhere, so a 502 from w0 counts as unexpected too.
# DIR/unexpected.jsonl lists them with the router's log entry.
#
# At the end: load stopped and client connections closed, faults stopped
# (w0 up, the full list set), then in-flight must reach zero (within
# request-timeout + 20 s) and descriptors come back to the start's count +
# 8 (the router's idle keep-alive connections to workers, closed after 30 s
# idle, are counted apart and not held against it; runs of 600 s and more
# wait 40 s for them and then check the total). Exit status 1 when: the
# router died, in-flight is not zero, descriptors did not come back, any
# unexpected client failure, no kill happened, or (runs of 600 s and more)
# RSS at the end grew more than 10% over RSS after warm-up (duration/6,
# 120 to 300 s; the router's allocator keeps freed memory, so RSS is its
# heap's high-water mark). Prints SOAK lines: the summary.
set -euo pipefail

duration=3600
out=""
rate=30
request_timeout=5
tree_size=262144
router_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --request-timeout) request_timeout=$2; shift 2 ;;
    --max-tree-size) tree_size=$2; shift 2 ;;
    --router-arg) router_args+=("$2"); shift 2 ;;
    *) echo "usage: $0 [--duration SECS] [--out DIR] [--rate REQ_PER_S] [--request-timeout SECS] [--max-tree-size BYTES] [--router-arg ARG]..." >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SR_BIN_DIR:-$root/build/bin}
out=${out:-$root/build/soak-$(date -u +%Y%m%dT%H%M%SZ)}
source "$here/lib.sh"
need curl openssl
ulimit -n 65536 2>/dev/null || true
mkdir -p "$out"
rm -f "$out"/{events.log,samples.csv,classes.csv,requests.jsonl,unexpected.jsonl,client_stats.json,faults.err,sglctl.err}
touch "$out/events.log"

# Periods, scaled for short runs.
kill_every=$(awk -v d="$duration" 'BEGIN { p = d / 3; print (p > 60 ? 60 : p) }')
set_every=$(awk -v d="$duration" 'BEGIN { p = d / 4; print (p > 20 ? 20 : p) }')
sample_every=$(awk -v d="$duration" 'BEGIN { p = d / 15; print (p > 10 ? 10 : (p < 1 ? 1 : p)) }')
warmup=$(awk -v d="$duration" 'BEGIN { p = d / 6; if (d >= 600 && p < 120) p = 120; print (p > 300 ? 300 : p) }')
hold=$(awk -v d="$duration" -v t="$request_timeout" 'BEGIN { p = d / 4; if (p > 15) p = 15; if (p < t + 3) p = t + 3; print p }')
long=$(awk -v d="$duration" 'BEGIN { print (d >= 600 ? 1 : 0) }')

event() { echo "$(date +%s.%N) $*" >>"$out/events.log"; }

# --- certificate, workers -------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cp "$tmp/cert.pem" "$out/cert.pem"
sim_args=(--time-scale 20)
start_sims 4 "${sim_args[@]}"
w0_url=${worker_urls[0]}
w0_port=${w0_url##*:}
hang_port=$(free_port)
"$bin/sglang-worker-sim" --port "$hang_port" --worker-id wh --hang "${sim_args[@]}" >"$tmp/wh.log" 2>&1 &
pids+=($!)
hang_url="http://127.0.0.1:$hang_port"
wait_http "$hang_url/health"
all_urls=("${worker_urls[@]}" "$hang_url")
names=(w0 w1 w2 w3 wh)

# w0 is killed and restarted by the fault loop; its pid lives in a file so
# that the cleanup finds the current one.
echo "${pids[0]}" >"$tmp/w0.pid"
disown "${pids[0]}" # no "Killed" notice from this shell when the fault loop kills it
pids=("${pids[@]:1}")
restart_w0() {
  local i
  for i in $(seq 50); do # the port may linger a moment
    "$bin/sglang-worker-sim" --port "$w0_port" --worker-id w0 "${sim_args[@]}" >>"$tmp/w0.log" 2>&1 &
    echo $! >"$tmp/w0.pid"
    for _ in $(seq 40); do
      if curl -sf -o /dev/null "$w0_url/health"; then return 0; fi
      kill -0 "$(cat "$tmp/w0.pid")" 2>/dev/null || break
      sleep 0.05
    done
    kill -9 "$(cat "$tmp/w0.pid")" 2>/dev/null || true
    sleep 0.1
  done
  echo "$0: w0 did not come back on port $w0_port" >&2
  return 1
}
soak_cleanup() {
  kill -9 "$(cat "$tmp/w0.pid" 2>/dev/null)" 2>/dev/null || true
  cleanup
}
trap soak_cleanup EXIT

# --- the router -------------------------------------------------------------------
(umask 077 && openssl rand -hex 16 >"$tmp/admin-token")  # a file: never in ps
"$bin/sglang-router" --port 0 --threads 2 --admin-port 0 --admin-token-file "$tmp/admin-token" --prometheus-port 0 \
  --tls-cert-path "$tmp/cert.pem" --tls-key-path "$tmp/key.pem" --log-requests \
  --request-timeout-secs "$request_timeout" --max-tree-size "$tree_size" --eviction-interval 10 "${router_args[@]}" \
  --worker-urls "${all_urls[@]}" >"$out/router.out" 2>"$out/router.log" &
router_pid=$!
pids+=($router_pid)
for _ in $(seq 200); do
  [ "$(grep -c 'listening on\|metrics on\|admin gRPC on' "$out/router.out" 2>/dev/null)" = 3 ] && break
  kill -0 "$router_pid" 2>/dev/null || { cat "$out/router.log" >&2; exit 1; }
  sleep 0.05
done
port=$(sed -n 's/.*listening on https:\/\/[^:]*:\([0-9]*\).*/\1/p' "$out/router.out")
metrics_port=$(sed -n 's/.*metrics on http:\/\/[^:]*:\([0-9]*\)\/metrics.*/\1/p' "$out/router.out")
admin_port=$(sed -n 's/.*admin gRPC on [^:]*:\([0-9]*\).*/\1/p' "$out/router.out")
wait_https "https://localhost:$port/readiness" "$tmp/cert.pem"
export SGLCTL_ADDR=127.0.0.1:$admin_port
sglctl() { "$bin/sglctl" --token-file "$tmp/admin-token" "$@"; }
# every worker healthy before the load starts
for _ in $(seq 200); do
  [ "$(sglctl workers list | grep -c ' healthy ')" = 5 ] && break
  sleep 0.1
done
echo "soak: router pid $router_pid on https://localhost:$port, metrics :$metrics_port, admin :$admin_port;" \
  "${duration}s, kill every ${kill_every}s, list every ${set_every}s, sample every ${sample_every}s; out $out" >&2

# --- faults -----------------------------------------------------------------------
kill_loop() {
  while sleep "$kill_every"; do
    kill -9 "$(cat "$tmp/w0.pid")" 2>/dev/null || true
    event kill w0 "$w0_url"
    sleep 2 # the fault under test: w0 stays down this long
    restart_w0 || exit 1
    event restart w0 "$w0_url"
  done
}
set_loop() {
  local n=0 skip list u
  while sleep "$set_every"; do
    list=()
    if [ $((n % 2)) = 0 ]; then
      skip=$(( (n / 2 + 1) % 5 )) # w1, w2, w3, wh, w0, ...
      for i in 0 1 2 3 4; do [ "$i" = "$skip" ] || list+=("${all_urls[$i]}"); done
      what="without ${names[$skip]}"
    else
      list=("${all_urls[@]}")
      what="all"
    fi
    if sglctl workers set "${list[@]}" >/dev/null 2>>"$out/sglctl.err"; then
      event set "${#list[@]}" "$what"
    else
      event set_failed "${#list[@]}" "$what"
    fi
    n=$((n + 1))
  done
}
kill_loop 2>>"$out/faults.err" & # (also bash's "Killed" notices)
kill_pid=$!
pids+=($kill_pid)
set_loop 2>>"$out/faults.err" &
set_pid=$!
pids+=($set_pid)

# --- load and samples ---------------------------------------------------------------
traffic() { /usr/bin/python3 "$here/soak_traffic.py" "$@"; }
traffic run --port "$port" --cacert "$tmp/cert.pem" --metrics-port "$metrics_port" --router-pid "$router_pid" \
  --out "$out" --duration "$duration" --rate "$rate" --sample-every "$sample_every" \
  --request-timeout "$request_timeout" --hold "$hold"

# --- faults off: w0 up, the full list ------------------------------------------------
kill "$kill_pid" "$set_pid" 2>/dev/null || true
wait "$kill_pid" "$set_pid" 2>/dev/null || true
w0_up=0
for _ in $(seq 40); do # the kill loop may have been stopped while it restarted w0
  if curl -sf -o /dev/null "$w0_url/health"; then w0_up=1; break; fi
  sleep 0.05
done
if [ "$w0_up" = 0 ]; then
  kill -9 "$(cat "$tmp/w0.pid")" 2>/dev/null || true
  restart_w0
  event restart w0 "$w0_url"
fi
sglctl workers set "${all_urls[@]}" >/dev/null || echo "soak: sglctl workers set failed at the end" >&2

# --- drain, verdict, plot -------------------------------------------------------------
worker_args=()
for i in 0 1 2 3 4; do worker_args+=(--worker "${names[$i]}=${all_urls[$i]}"); done
strict=()
if [ "$long" = 1 ]; then strict=(--strict-rss --strict-fds --settle 40); fi
rc=0
traffic finish --metrics-port "$metrics_port" --router-pid "$router_pid" --out "$out" --duration "$duration" \
  --router-log "$out/router.log" "${worker_args[@]}" --killed w0 --hang wh --warmup "$warmup" \
  --request-timeout "$request_timeout" --sample-every "$sample_every" "${strict[@]}" | tee "$out/summary.txt" || rc=$?

if command -v gnuplot >/dev/null; then
  # kills as dashed red lines across every panel
  kills=$(/usr/bin/python3 -c '
import json, sys
t0 = json.load(open(sys.argv[1]))["started"]
for line in open(sys.argv[2]):
    p = line.split()
    if p[1:2] == ["kill"]:
        print("set arrow from %.1f, graph 0 to %.1f, graph 1 nohead dt 2 lc rgb \"red\"" % ((float(p[0]) - t0,) * 2))
' "$out/client_stats.json" "$out/events.log")
  gnuplot <<GP || echo "soak: gnuplot failed" >&2
set terminal pngcairo size 1200,900 noenhanced
set output '$out/soak.png'
$kills
set datafile separator ','
set key top left
set grid
set xlabel 'seconds'
set multiplot layout 2,2 title 'tests/bench/soak.sh --duration $duration: router under faults (dashed: w0 killed)'
set title 'router RSS (MiB)'
plot '$out/samples.csv' using 1:(column("rss_kib")/1024) with lines title 'VmRSS', \
  '' using 1:(column("tree_kib")/1024) with lines title 'cache-aware tree (sglang_router_tree_memory_bytes)'
set title 'router open descriptors'
plot '' using 1:(column("fds")) with lines title 'fds', '' using 1:(column("open_conns")) with lines title 'client connections'
set title 'in flight'
plot '' using 1:(column("in_flight")) with lines title 'in-flight requests', \
  '' using 1:(column("never_read_open")) with steps title 'never-read clients open'
set title 'failures (cumulative; classes as in the header of soak.sh)'
plot '$out/classes.csv' using 1:(column("unexpected")) with lines lw 2 title 'client: unexpected', \
  '' using 1:(column("expected_hang")) with lines title 'client: expected, hanging worker', \
  '' using 1:(column("expected_kill")) with lines title 'client: expected, killed worker', \
  '$out/samples.csv' using 1:(column("router_5xx")) with lines title 'router 5xx', \
  '' using 1:(column("router_worker_errors")) with lines title 'router worker errors'
unset multiplot
GP
  [ -f "$out/soak.png" ] && echo "soak: wrote $out/soak.png" >&2
else
  echo "soak: no gnuplot (apt-get install gnuplot-nox): no plot" >&2
fi
exit "$rc"
