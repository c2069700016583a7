#!/usr/bin/env bash
# proxy_bench.sh: sglang-router against nginx, a direct connection, and
# SGLang's own router (sglang-router 0.3.2 from PyPI), side by side in one
# run, in front of the same two simulated workers (--zero-latency).
#
#   tests/bench/proxy_bench.sh [--duration SECONDS] [--rounds N] [--no-reference] [--router-threads N] [--router-arg ARG]... [--smoke]
#
# For each target, wrk (1 thread, 64 connections) with (1) a small POST
# /generate and (2) 4 KiB prompts made of one of 16 shared 3.5 KiB prefixes
# plus a random suffix (what cache-aware routing is for); rounds alternate
# nginx, ours and direct, and figures are medians. Prints BENCH lines:
# requests/s, p99 latency, p99 added over going direct, RSS after the runs;
# the ratios against nginx; 1,000 concurrent streaming requests through our
# router (errors must be 0); RSS per idle client connection.
# Needs wrk and nginx-light (deploy/scripts/install-deps.sh); the reference
# is installed into build/peers-venv on first use (PyPI).
set -euo pipefail

duration=5
rounds=3
reference=1
streams=1
threads=0
router_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --no-reference) reference=0; shift ;;
    --router-threads) threads=$2; shift 2 ;;
    --router-arg) router_args+=("$2"); shift 2 ;;
    --smoke) duration=1; rounds=1; reference=0; streams=0; shift ;;
    *) echo "usage: $0 [--duration SECONDS] [--rounds N] [--no-reference] [--router-threads N] [--router-arg ARG]... [--smoke]" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SR_BIN_DIR:-$root/build/bin}
source "$here/lib.sh"
need wrk nginx curl
ulimit -n 65536 2>/dev/null || true

# --- workers -----------------------------------------------------------------
start_sims 2 --zero-latency

# --- load scripts ---------------------------------------------------------------
cat >"$tmp/small.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"text":"The capital of France is","sampling_params":{"max_new_tokens":8}}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat >"$tmp/prefix4k.lua" <<'LUA'
-- 4 KiB prompts: one of 16 shared 3.5 KiB prefixes + a random 0.5 KiB
-- suffix. 1,024 requests are formatted up front (so wrk is not the
-- bottleneck) and picked at random.
local requests = {}
local chars = "abcdefghijklmnopqrstuvwxyz "
math.randomseed(1)
for g = 1, 16 do
  local words = {}
  for i = 1, 350 do words[i] = string.format("g%02dw%04d ", g, i % 997) end
  local prefix = table.concat(words):sub(1, 3584)
  for k = 1, 64 do
    local s = {}
    for i = 1, 512 do local c = math.random(1, #chars); s[i] = chars:sub(c, c) end
    local body = '{"text":"' .. prefix .. table.concat(s) .. '","sampling_params":{"max_new_tokens":8}}'
    requests[#requests + 1] = wrk.format("POST", "/generate",
      {["Host"] = "bench", ["Content-Type"] = "application/json"}, body)
  end
end
request = function()
  return requests[math.random(1, #requests)]
end
LUA

# run NAME URL SCRIPT: one wrk run; keeps its requests/s and p99 as samples.
declare -A RPS P99 ERR
run() {
  local name=$1 url=$2 script=$3 out rps p99
  out=$(wrk -t1 -c64 -d"${duration}s" --latency -s "$tmp/$script.lua" "$url/generate")
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub("us", "", v); v /= 1000 } else if (v ~ /ms$/) sub("ms", "", v); else if (v ~ /s$/) { sub("s", "", v); v *= 1000 } print v }' <<<"$out")
  RPS[$name.$script]+="$rps "
  P99[$name.$script]+="$p99 "
  if grep -qE "Non-2xx|Socket errors" <<<"$out"; then ERR[$name.$script]=1; fi
}
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
report() { # NAME PIDS...: medians of its samples, RSS now
  local name=$1 script
  shift
  for script in small prefix4k; do
    [ -n "${RPS[$name.$script]:-}" ] || continue
    echo "BENCH ${name}_${script}_rps $(median <<<"${RPS[$name.$script]}") req/s"
    echo "BENCH ${name}_${script}_p99_ms $(median <<<"${P99[$name.$script]}") ms"
    [ -z "${ERR[$name.$script]:-}" ] || echo "BENCH ${name}_${script}_errors 1 run(s) had errors"
  done
  if [ $# -gt 0 ]; then echo "BENCH ${name}_rss_kib $(rss_kb "$@") KiB"; fi
}
med() { median <<<"${1}"; }

# --- targets ----------------------------------------------------------------
port=$(free_port)
start_nginx "listen 127.0.0.1:$port;" "${worker_urls[@]}"
wait_http "http://127.0.0.1:$port/health"
nginx_pids=$(pgrep -f "nginx.*$tmp" | tr '\n' ' ')
direct=${worker_urls[0]}

declare -A OURS_PORT OURS_PID
for policy in round_robin cache_aware; do
  p=$(free_port)
  "$bin/sglang-router" --port "$p" --policy "$policy" --prometheus-port -1 --threads "$threads" \
    "${router_args[@]}" --worker-urls "${worker_urls[@]}" >"$tmp/ours-$policy.log" 2>&1 &
  OURS_PID[$policy]=$!
  OURS_PORT[$policy]=$p
  pids+=($!)
  wait_http "http://127.0.0.1:$p/readiness"
done

# Rounds alternate the targets so that machine noise hits them alike.
for _ in $(seq "$rounds"); do
  for script in small prefix4k; do
    run nginx "http://127.0.0.1:$port" "$script"
    run ours_round_robin "http://127.0.0.1:${OURS_PORT[round_robin]}" "$script"
    run ours_cache_aware "http://127.0.0.1:${OURS_PORT[cache_aware]}" "$script"
    run direct "$direct" "$script"
  done
done
report nginx $nginx_pids
report direct
report ours_round_robin "${OURS_PID[round_robin]}"
report ours_cache_aware "${OURS_PID[cache_aware]}"

if [ "$reference" = 1 ]; then
  venv=${SR_PEER_VENV:-$root/build/peers-venv}
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sglang_router" 2>/dev/null; then
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/integration/requirements-peers.txt"
  fi
  for policy in round_robin cache_aware; do
    p=$(free_port)
    "$venv/bin/python" -m sglang_router.launch_router --host 127.0.0.1 --port "$p" \
      --prometheus-port "$(free_port)" --policy "$policy" --log-level warn \
      --worker-urls "${worker_urls[@]}" >"$tmp/ref-$policy.log" 2>&1 &
    pid=$!
    pids+=($pid)
    for _ in $(seq 600); do
      curl -sf "http://127.0.0.1:$p/get_loads" 2>/dev/null | grep -q '"load":0.*"load":0' && break
      sleep 0.1
    done
    run "reference_$policy" "http://127.0.0.1:$p" small
    run "reference_$policy" "http://127.0.0.1:$p" prefix4k
    report "reference_$policy" "$pid"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
fi

ratio() { awk -v a="$2" -v b="$3" -v n="$1" 'BEGIN { if (b > 0) printf "BENCH %s %.3f x\n", n, a / b }'; }
added() { awk -v a="$2" -v b="$3" -v n="$1" 'BEGIN { printf "BENCH %s %.3f ms\n", n, a - b }'; }
ratio rr_rps_ratio_vs_nginx "$(med "${RPS[ours_round_robin.small]}")" "$(med "${RPS[nginx.small]}")"
ratio cache_aware_rps_ratio_vs_nginx "$(med "${RPS[ours_cache_aware.small]}")" "$(med "${RPS[nginx.small]}")"
ratio cache_aware_4k_rps_ratio_vs_nginx_small "$(med "${RPS[ours_cache_aware.prefix4k]}")" "$(med "${RPS[nginx.small]}")"
ratio cache_aware_4k_rps_ratio_vs_nginx_4k "$(med "${RPS[ours_cache_aware.prefix4k]}")" "$(med "${RPS[nginx.prefix4k]}")"
for t in nginx ours_round_robin ours_cache_aware reference_round_robin reference_cache_aware; do
  [ -n "${P99[$t.small]:-}" ] || continue
  added "${t}_added_p99_small" "$(med "${P99[$t.small]}")" "$(med "${P99[direct.small]}")"
  added "${t}_added_p99_4k" "$(med "${P99[$t.prefix4k]}")" "$(med "${P99[direct.prefix4k]}")"
done
if [ "$reference" = 1 ]; then
  ratio rr_rps_ratio_vs_reference "$(med "${RPS[ours_round_robin.small]}")" "$(med "${RPS[reference_round_robin.small]}")"
  ratio cache_aware_4k_rps_ratio_vs_reference "$(med "${RPS[ours_cache_aware.prefix4k]}")" "$(med "${RPS[reference_cache_aware.prefix4k]}")"
fi

if [ "$streams" = 1 ]; then
  # 1,000 concurrent streaming requests (20 tokens at 10 ms each per stream).
  s_urls=()
  for i in 0 1; do
    sp=$(free_port)
    "$bin/sglang-worker-sim" --port "$sp" --decode-step-ms 10 --decode-step-growth 0 \
      --max-running-requests 1000 >"$tmp/s$i.log" 2>&1 &
    pids+=($!)
    s_urls+=("http://127.0.0.1:$sp")
  done
  for u in "${s_urls[@]}"; do wait_http "$u/health"; done
  p=$(free_port)
  "$bin/sglang-router" --port "$p" --prometheus-port -1 --worker-urls "${s_urls[@]}" >"$tmp/streams.log" 2>&1 &
  rpid=$!
  pids+=($rpid)
  wait_http "http://127.0.0.1:$p/readiness"
  /usr/bin/python3 - "$p" "$rpid" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
def rss():
    with open("/proc/%s/status" % pid) as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
before = rss()
socks = []
for _ in range(2000):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /health HTTP/1.1\r\nHost: b\r\n\r\n")
    socks.append(s)
for s in socks:
    s.recv(1000)
time.sleep(0.3)
print("BENCH rss_per_idle_connection %.0f bytes" % ((rss() - before) * 1024 / len(socks)))
PY

  cat >"$tmp/stream.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"text":"stream this please","stream":true,"sampling_params":{"max_new_tokens":20}}'
wrk.headers["Content-Type"] = "application/json"
LUA
  out=$(wrk -t2 -c1000 -d"${duration}s" --timeout 10s -s "$tmp/stream.lua" "http://127.0.0.1:$p/generate")
  done_n=$(awk '/requests in/ { print $1 }' <<<"$out")
  errs=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' <<<"$out")
  echo "BENCH streams_1000_concurrent_completed $done_n requests"
  echo "BENCH streams_1000_concurrent_errors $errs errors"
  echo "BENCH streams_1000_router_rss_kib $(rss_kb "$rpid") KiB"

fi
