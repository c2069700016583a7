#!/usr/bin/env bash
# replicas.sh: router replicas behind one round-robin front, with and
# without replica sync over NATS: what N replicas keep of one router's
# cache hits and throughput, and what the sync costs on the wire.
#
#   tests/bench/replicas.sh [--quick] [--out DIR] [--replicas "1 2 3 8"]
#       [--workloads "shared-prefix multi-turn trace"] [--sync "off on"]
#       [--rounds 1] [--trace PATH] [--router-threads 1] [--workers 8]
#
# One nats-server (free port) and 8 simulated workers (sglang-worker-sim
# --time-scale 20 --kv-capacity-tokens 200000) for the whole run; for every
# (workload, N, sync) in turn: the workers' caches flushed, N fresh
# sglang-router replicas (cache_aware, --threads 1 each; with sync they
# join a --sync-group of their own on that nats-server, and the load waits
# until every replica is up, hears the N-1 others and has warmed from a
# peer's snapshot, so that no startup snapshot lands in the measured
# traffic: a replica that joined before its peers asks again 2 s on),
# nginx in front of
# them (round robin per request, keep-alive: the Kubernetes Service's
# stand-in), sglang-bench through nginx, then routers and nginx stopped.
# N=1 with sync is one router joined to NATS: the cost of sync alone.
#
# Workloads (--quick: small versions of each, N = 1 and 2, ~35 s in all;
# ctest bench.replicas_smoke):
#   shared-prefix  128 groups x 8 prompts, 4,096-token system prompts,
#                  128-token questions, 32 output tokens, 64 closed-loop
#                  clients, seed 7 (best possible hit rate 7/8 x 4096/4224
#                  = 84.8%);
#   multi-turn     128 users x 6 turns, 512-token messages, 64 output
#                  tokens, 64 clients, seed 7 (compare-policies.sh's);
#   trace          the first 1,000 requests of the Mooncake trace
#                  (../shared/data beside the clone, or --trace) at their
#                  own timestamps, 20x faster (~15 s of arrivals).
#
# Per row: requests ok / rejected / failed, req/s, cache hit rate (cached /
# prompt tokens, from the workers' own accounting in each response, as
# compare-policies.sh), TTFT p50 / p99 (sglang-bench), prompt bytes per
# request (the workers' sglang:prompt_tokens_total over the run x 4 bytes
# per token, the simulator's and the load generator's token model: the
# prompt text routed, without JSON framing), replica-sync bytes published
# per request (sglang_router_sync_bytes_sent_total summed over the
# replicas; NATS delivers each to the N-1 others, see the received column),
# that as a share of the prompt bytes, and ratios against N=1 without sync
# of the same workload in the same run. With --rounds R every configuration
# runs R times (a round is every configuration of a workload in turn, so
# drift spreads over all of them); a row then sums the requests and gives
# the median of every other figure. A shared-prefix run lasts ~1.5 s, so
# one round's req/s moves by +-10% on a busy machine: use 3 or more rounds
# to judge a 5% goal.
#
# Output: the table on stdout, BENCH lines for the sync rows, and in DIR
# (default build/replicas-<date>): replicas.jsonl (sglang-bench's report
# plus the counters behind these figures, one line per run), replicas.tsv
# (the table's rows), replicas.png
# (plot-replicas.sh: hit rate and req/s against N, per workload; needs
# gnuplot-nox), logs/ (the routers', sglang-bench's and nats-server's
# logs of the last run).
#
# Everything runs on one machine: on a 2-vCPU box the replicas, nginx,
# nats-server, the workers and the load generator share the CPUs, so more
# replicas also means more processes competing; each router gets one
# event-loop thread (--router-threads) so that N=1 is one router and N
# replicas add N loops, not N x CPUs. Needs curl, nginx (nginx-light),
# nats-server, python3; gnuplot-nox for the PNG.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SR_BIN_DIR:-$root/build/bin}
quick=0
out=""
replicas=""
workloads="shared-prefix multi-turn trace"
syncs="off on"
trace=$root/../shared/data/mooncake-synthetic-trace.jsonl
router_threads=1
workers=8
rounds=1
usage="usage: replicas.sh [--quick] [--out DIR] [--replicas \"1 2 3 8\"] [--workloads \"...\"] [--sync \"off on\"] [--rounds R] [--trace PATH] [--router-threads N] [--workers N]"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --out) out=$2; shift 2 ;;
    --replicas) replicas=$2; shift 2 ;;
    --workloads) workloads=$2; shift 2 ;;
    --sync) syncs=$2; shift 2 ;;
    --trace) trace=$2; shift 2 ;;
    --router-threads) router_threads=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
if [ -z "$replicas" ]; then
  if [ "$quick" = 1 ]; then replicas="1 2"; else replicas="1 2 3 8"; fi
fi
out=${out:-$root/build/replicas-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/logs"
: >"$out/replicas.jsonl"

# The sglang-bench arguments of workload $1.
workload_args() {
  case "$1:$quick" in
    shared-prefix:0) echo --workload shared-prefix --groups 128 --prompts-per-group 8 --system-tokens 4096 \
      --question-tokens 128 --output-tokens 32 --concurrency 64 --seed 7 ;;
    shared-prefix:1) echo --workload shared-prefix --groups 16 --prompts-per-group 4 --system-tokens 512 \
      --question-tokens 32 --output-tokens 8 --concurrency 8 --seed 7 ;;
    multi-turn:0) echo --workload multi-turn --users 128 --turns 6 --message-tokens 512 --output-tokens 64 \
      --concurrency 64 --seed 7 ;;
    multi-turn:1) echo --workload multi-turn --users 8 --turns 3 --message-tokens 64 --output-tokens 8 \
      --concurrency 8 --seed 7 ;;
    trace:0) echo --workload trace --trace "$trace" --max-requests 1000 --arrival trace --time-scale 20 \
      --timeout-secs 300 ;;
    trace:1) echo --workload trace --trace "$trace" --max-requests 100 --arrival trace --time-scale 20 \
      --timeout-secs 120 ;;
    *) echo "replicas.sh: unknown workload $1 (shared-prefix, multi-turn, trace)" >&2; return 1 ;;
  esac
}
for w in $workloads; do workload_args "$w" >/dev/null; done
case " $workloads " in
  *" trace "*)
    if [ ! -r "$trace" ]; then
      echo "replicas.sh: no trace at $trace (--trace PATH): skipping the trace workload" >&2
      workloads=$(echo " $workloads " | sed 's/ trace / /; s/^ *//; s/ *$//')
    fi ;;
esac

source "$here/lib.sh"
need curl nginx nats-server
# Signals end the script through its EXIT trap (lib.sh's cleanup).
trap 'exit 130' INT
trap 'exit 143' TERM

# Forgets a pid that has ended (so the final cleanup never signals a pid
# the system has since given to another process).
forget_pid() {
  local keep=() q
  for q in "${pids[@]}"; do [ "$q" = "$1" ] || keep+=("$q"); done
  pids=("${keep[@]}")
}

# Stops processes this script started (all signalled, then waited for),
# and forgets them.
stop_pids() {
  local p
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for p in "$@"; do
    wait "$p" 2>/dev/null || true
    forget_pid "$p"
  done
}

# metric URL NAME: the sum of NAME's samples (every label set) at URL.
metric() {
  curl -sf "$1" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%.0f\n", s }'
}

# The sum of NAME over every worker's /metrics.
workers_metric() {
  local u total=0
  for u in "${worker_urls[@]}"; do total=$((total + $(metric "$u/metrics" "$1"))); done
  echo "$total"
}

flush_workers() {
  local u
  for u in "${worker_urls[@]}"; do curl -sf -X POST "$u/flush_cache" >/dev/null; done
}

nats_port=$(free_port)
nats-server -a 127.0.0.1 -p "$nats_port" >"$tmp/nats.log" 2>&1 &
nats_pid=$!
pids+=($nats_pid)
start_sims "$workers" --time-scale 20 --kv-capacity-tokens 200000
nats_up=0
for _ in $(seq 600); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null; then nats_up=1; break; fi
  sleep 0.05
done
if [ "$nats_up" != 1 ]; then
  echo "replicas.sh: nats-server on port $nats_port never listened:" >&2
  tail -5 "$tmp/nats.log" >&2
  exit 1
fi

# start_routers N SYNC GROUP: N replicas (router_pids, router_urls,
# metric_urls), each healthy towards every worker; with SYNC=on joined to
# GROUP and hearing the N-1 others.
start_routers() {
  local n=$1 sync=$2 group=$3 i port log m pid healthy
  router_pids=() router_urls=() metric_urls=()
  for i in $(seq 0 $((n - 1))); do
    port=$(free_port)
    log=$tmp/r$i.log
    local extra=()
    if [ "$sync" = on ]; then extra=(--sync-nats-url "nats://127.0.0.1:$nats_port" --sync-group "$group"); fi
    "$bin/sglang-router" --host 127.0.0.1 --port "$port" --threads "$router_threads" --prometheus-port 0 \
      --policy cache_aware "${extra[@]}" --worker-urls "${worker_urls[@]}" >"$log" 2>&1 &
    pid=$!
    pids+=($pid)
    router_pids+=($pid)
    router_urls+=("http://127.0.0.1:$port")
  done
  for i in $(seq 0 $((n - 1))); do
    m=""
    for _ in $(seq 600); do
      m=$(grep -o 'metrics on http://[^ ]*/metrics' "$tmp/r$i.log" 2>/dev/null | head -1 || true)
      [ -n "$m" ] && break
      kill -0 "${router_pids[$i]}" 2>/dev/null || break
      sleep 0.05
    done
    if [ -z "$m" ]; then
      echo "replicas.sh: router $i did not start:" >&2
      tail -5 "$tmp/r$i.log" >&2
      exit 1
    fi
    metric_urls+=("${m#metrics on }")
    for _ in $(seq 600); do
      healthy=$(curl -sf "${router_urls[$i]}/readiness" | grep -o '"healthy_workers": *[0-9]*' | grep -o '[0-9]*$' || true)
      [ "${healthy:-0}" = "$workers" ] && break
      sleep 0.05
    done
    if [ "${healthy:-0}" != "$workers" ]; then
      echo "replicas.sh: router $i sees ${healthy:-0} of $workers workers healthy" >&2
      exit 1
    fi
  done
  if [ "$sync" = on ]; then
    for i in $(seq 0 $((n - 1))); do
      local up=0 peers=0
      for _ in $(seq 300); do
        up=$(metric "${metric_urls[$i]}" sglang_router_sync_up)
        peers=$(metric "${metric_urls[$i]}" sglang_router_sync_peers)
        [ "$up" = 1 ] && [ "$peers" = $((n - 1)) ] && break
        sleep 0.05
      done
      if [ "$up" != 1 ] || [ "$peers" != $((n - 1)) ]; then
        echo "replicas.sh: router $i: sync up=$up, hears $peers of $((n - 1)) peers" >&2
        tail -5 "$tmp/r$i.log" >&2
        exit 1
      fi
    done
    # Startup snapshots before the load: a replica that joined before its
    # peers asks again once it hears them (2 s on), and a snapshot in the
    # middle of the run would count in the traffic per request.
    if [ "$n" -gt 1 ]; then
      for i in $(seq 0 $((n - 1))); do
        local got=0
        for _ in $(seq 200); do
          got=$(metric "${metric_urls[$i]}" sglang_router_sync_snapshots_received_total)
          [ "$got" -ge 1 ] && break
          sleep 0.05
        done
        if [ "$got" -lt 1 ]; then echo "replicas.sh: router $i got no snapshot from its peers (going on)" >&2; fi
      done
    fi
  fi
}

# The sum over the replicas of metric NAME, or each replica's value
# (space-separated) with --each.
routers_metric() {
  local each=0 total=0 vals="" m v
  if [ "$1" = --each ]; then each=1; shift; fi
  for m in "${metric_urls[@]}"; do
    v=$(metric "$m" "$1")
    total=$((total + v))
    vals+="$v "
  done
  if [ "$each" = 1 ]; then echo "${vals% }"; else echo "$total"; fi
}

# CPU time (clock ticks, user + system) of the processes given, summed.
cpu_ticks() {
  local total=0 p f
  for p in "$@"; do
    f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
    total=$((total + ${f% *} + ${f#* }))
  done
  echo "$total"
}

snapshot() { # into the associative array named $1
  local -n s=$1
  s[cpu]=$(cpu_ticks "${router_pids[@]}")
  s[nats_cpu]=$(cpu_ticks "$nats_pid")
  s[prompt]=$(workers_metric sglang:prompt_tokens_total)
  s[cached]=$(workers_metric sglang:cached_tokens_total)
  s[sent]=$(routers_metric sglang_router_sync_bytes_sent_total)
  s[received]=$(routers_metric sglang_router_sync_bytes_received_total)
  s[messages]=$(routers_metric sglang_router_sync_messages_sent_total)
  s[messages_received]=$(routers_metric sglang_router_sync_messages_received_total)
  s[dropped]=$(routers_metric sglang_router_sync_dropped_total)
  s[snapshots]=$(routers_metric sglang_router_sync_snapshots_served_total)
  s[learned]=$(routers_metric sglang_router_sync_placements_learned_total)
  s[requests]=$(routers_metric --each sglang_router_requests_total)
  local o
  for o in cache_hit cache_miss imbalance load_balanced plain; do
    s[$o]=$(routers_metric "sglang_router_cache_aware_decisions_total{outcome=\"$o\"}")
  done
}

# run_row WORKLOAD N SYNC ROUND: one run, a line of replicas.jsonl.
run_row() {
  local wl=$1 n=$2 sync=$3 round=$4 label="$1 n=$2 sync=$3 round $4" group="bench-$1-$2-$4-$$" rc=0 i
  local -A before after
  local args
  read -r -a args <<<"$(workload_args "$wl")"
  echo "running $label ..." >&2
  flush_workers
  start_routers "$n" "$sync" "$group"
  local front_port
  front_port=$(free_port)
  start_nginx "listen 127.0.0.1:$front_port;" "${router_urls[@]}"
  local nginx_pid=${pids[-1]}
  wait_http "http://127.0.0.1:$front_port/readiness"
  flush_workers
  snapshot before
  rm -f "$tmp/row.jsonl"
  "$bin/sglang-bench" --url "http://127.0.0.1:$front_port" --quiet --label "$label" --json "$tmp/row.jsonl" \
    "${args[@]}" >"$tmp/bench.log" 2>&1 &
  local bench_pid=$!
  pids+=($bench_pid)
  wait "$bench_pid" || rc=$?
  forget_pid "$bench_pid"
  snapshot after
  local peers_min=""
  if [ "$sync" = on ]; then
    peers_min=$(routers_metric --each sglang_router_sync_peers | tr ' ' '\n' | sort -n | head -1)
  fi
  rm -rf "$out/logs"/*
  cp "$tmp"/r*.log "$tmp/bench.log" "$tmp/nats.log" "$out/logs/" 2>/dev/null || true
  stop_pids "$nginx_pid" "${router_pids[@]}"
  if [ ! -s "$tmp/row.jsonl" ]; then
    echo "replicas.sh: sglang-bench gave no report for $label (exit $rc):" >&2
    tail -5 "$tmp/bench.log" >&2
    exit 1
  fi
  /usr/bin/python3 - "$tmp/row.jsonl" "$out/replicas.jsonl" <<PY
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
before = [int(x) for x in "${before[requests]}".split()]
after = [int(x) for x in "${after[requests]}".split()]
r.update({
    "workload": "$wl", "replicas": $n, "sync": "$sync", "round": $round, "bench_exit": $rc,
    "prompt_tokens": ${after[prompt]} - ${before[prompt]},
    "cached_tokens": ${after[cached]} - ${before[cached]},
    "sync_bytes_sent": ${after[sent]} - ${before[sent]},
    "sync_bytes_received": ${after[received]} - ${before[received]},
    "sync_messages_sent": ${after[messages]} - ${before[messages]},
    "sync_messages_received": ${after[messages_received]} - ${before[messages_received]},
    "sync_dropped": ${after[dropped]} - ${before[dropped]},
    "sync_snapshots_served": ${after[snapshots]} - ${before[snapshots]},
    "sync_placements_learned": ${after[learned]} - ${before[learned]},
    "sync_peers_min": ${peers_min:-None},
    "router_cpu_ticks": ${after[cpu]} - ${before[cpu]},
    "nats_cpu_ticks": ${after[nats_cpu]} - ${before[nats_cpu]},
    "clock_ticks_per_sec": $(getconf CLK_TCK),
    "replica_requests": [a - b for a, b in zip(after, before)],
    "decisions": {"cache_hit": ${after[cache_hit]} - ${before[cache_hit]},
                  "cache_miss": ${after[cache_miss]} - ${before[cache_miss]},
                  "imbalance": ${after[imbalance]} - ${before[imbalance]},
                  "load_balanced": ${after[load_balanced]} - ${before[load_balanced]},
                  "plain": ${after[plain]} - ${before[plain]}},
})
with open(sys.argv[2], "a") as f:
    f.write(json.dumps(r) + "\n")
PY
}

started=$(date +%s)
for wl in $workloads; do
  for round in $(seq "$rounds"); do
    for n in $replicas; do
      for sync in $syncs; do
        run_row "$wl" "$n" "$sync" "$round"
      done
    done
  done
done
elapsed=$(($(date +%s) - started))

/usr/bin/python3 - "$out/replicas.jsonl" "$out/replicas.tsv" "$elapsed" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
BYTES_PER_TOKEN = 4  # the simulator's and sglang-bench's token model

def figures(r):  # one run's figures
    reqs = r["total"] or 1
    prompt_bytes = BYTES_PER_TOKEN * r["prompt_tokens"]
    return {"rps": r["rps"], "hit_rate": r["hit_rate"], "ttft_p50_ms": r["ttft_p50_ms"],
            "ttft_p99_ms": r["ttft_p99_ms"], "prompt_bytes_per_req": prompt_bytes / reqs,
            "sync_sent_per_req": r["sync_bytes_sent"] / reqs,
            "sync_received_per_req": r["sync_bytes_received"] / reqs,
            "sync_messages_per_req": r["sync_messages_sent"] / reqs,
            "sync_share_pct": 100.0 * r["sync_bytes_sent"] / prompt_bytes if prompt_bytes else 0.0,
            # every replica's CPU (all threads) per request: the perf run
            # behind "a decision costs no more than 10% more with sync"
            "router_cpu_us_per_req": 1e6 * r["router_cpu_ticks"] / r["clock_ticks_per_sec"] / reqs}

# One row per (workload, N, sync): requests summed over the rounds, every
# other figure the median of the rounds.
rows, order = {}, []
for r in runs:
    key = (r["workload"], r["replicas"], r["sync"])
    if key not in rows:
        order.append(key)
        rows[key] = {"workload": key[0], "replicas": key[1], "sync": key[2], "runs": 0, "ok": 0,
                     "rejected": 0, "failed": 0, "peers": [], "f": []}
    row = rows[key]
    row["runs"] += 1
    for k in ("ok", "rejected", "failed"):
        row[k] += r[k]
    if r["sync_peers_min"] is not None:
        row["peers"].append(r["sync_peers_min"])
    row["f"].append(figures(r))
for row in rows.values():
    for k in row["f"][0]:
        row[k] = statistics.median(f[k] for f in row["f"])
    row["sync_peers_min"] = min(row["peers"]) if row["peers"] else ""

cols = ["workload", "replicas", "sync", "runs", "ok", "rejected", "failed", "rps", "rps_x1", "hit_rate", "hit_x1",
        "ttft_p50_ms", "ttft_p99_ms", "prompt_bytes_per_req", "sync_sent_per_req", "sync_received_per_req",
        "sync_messages_per_req", "sync_share_pct", "sync_peers_min", "router_cpu_us_per_req"]
head = "%-14s %2s %4s %5s %4s %5s %8s %5s %8s %5s %9s %9s %11s %10s %10s %7s %9s"
print(head % ("workload", "N", "sync", "ok", "rej", "fail", "req/s", "x1", "hit", "x1", "TTFT p50", "TTFT p99",
              "prompt B/r", "sync B/r", "recv B/r", "sync %", "CPU us/r"))
x = lambda f: "    -" if f != f else "%5.2f" % f  # nan: no baseline, or no hits in it
with open(sys.argv[2], "w") as tsv:
    tsv.write("\t".join(cols) + "\n")
    for key in order:
        v = rows[key]
        b = rows.get((key[0], 1, "off"))
        v["rps_x1"] = v["rps"] / b["rps"] if b and b["rps"] else float("nan")
        v["hit_x1"] = v["hit_rate"] / b["hit_rate"] if b and b["hit_rate"] else float("nan")
        tsv.write("\t".join(("%.6g" % v[c]) if isinstance(v[c], float) else str(v[c]) for c in cols) + "\n")
        print("%-14s %2d %4s %5d %4d %5d %8.1f %s %7.1f%% %s %7.0fms %7.0fms %11.0f %10.0f %10.0f %6.2f%% %9.0f" % (
            v["workload"], v["replicas"], v["sync"], v["ok"], v["rejected"], v["failed"], v["rps"],
            x(v["rps_x1"]), 100 * v["hit_rate"], x(v["hit_x1"]), v["ttft_p50_ms"], v["ttft_p99_ms"],
            v["prompt_bytes_per_req"], v["sync_sent_per_req"], v["sync_received_per_req"], v["sync_share_pct"],
            v["router_cpu_us_per_req"]))
        if v["sync"] == "on":
            name = "replicas_%s_n%d_sync" % (v["workload"].replace("-", "_"), v["replicas"])
            if v["hit_x1"] == v["hit_x1"]:
                print("BENCH %s_hit_vs_one %.3f x" % (name, v["hit_x1"]))
            if v["rps_x1"] == v["rps_x1"]:
                print("BENCH %s_rps_vs_one %.3f x" % (name, v["rps_x1"]))
            print("BENCH %s_bytes_share %.2f %%" % (name, v["sync_share_pct"]))
print("BENCH replicas_rows %d rows" % len(order))
print("BENCH replicas_failed_requests %d requests" % sum(r["failed"] for r in runs))
print("BENCH replicas_run_secs %s s" % sys.argv[3])
PY
if [ ! -s "$out/replicas.jsonl" ]; then
  echo "replicas.sh: no runs (no workload left?)" >&2
  exit 1
elif command -v gnuplot >/dev/null; then
  "$here/plot-replicas.sh" "$out/replicas.tsv" "$out/replicas.png" \
    "replicas.sh$([ "$quick" = 1 ] && echo ' --quick'): N replicas behind nginx round robin, $workers simulated workers"
else
  echo "replicas.sh: no gnuplot (apt-get install gnuplot-nox): no PNG" >&2
fi
echo "results in $out" >&2
