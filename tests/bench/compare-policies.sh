#!/usr/bin/env bash
# compare-policies.sh: the same seeded workload through one router per
# policy in turn, in front of the same simulated workers (caches flushed
# between runs), and one side-by-side table.
#
#   tests/bench/compare-policies.sh [--workers 8] [--policies "round_robin cache_aware:--flag=v ..."]
#       [--reference] [--worker-arg ARG]... [--] [sglang-bench arguments]
#
# Defaults: 8 workers with a 20x clock and a 200,000-token KV cache each;
# the shared-prefix workload of 128 groups x 16 prompts with 4,096-token
# system prompts (the groups do not all fit in one worker's cache, so where
# a request goes decides whether it hits), closed loop with 128 clients.
# --reference adds SGLang's own router (sglang-router 0.3.2, cache_aware,
# its defaults). Prints the table; JSON lines go to $OUT (default
# build/compare-policies.jsonl).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SR_BIN_DIR:-$root/build/bin}
workers=8
policies="round_robin random shortest_queue cache_aware"
reference=0
worker_args=(--time-scale 20 --kv-capacity-tokens 200000)
bench_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) workers=$2; shift 2 ;;
    --policies) policies=$2; shift 2 ;;
    --reference) reference=1; shift ;;
    --worker-arg) worker_args+=("$2"); shift 2 ;;
    --) shift; bench_args=("$@"); break ;;
    *) bench_args=("$@"); break ;;
  esac
done
if [ ${#bench_args[@]} -eq 0 ]; then
  bench_args=(--workload shared-prefix --groups 128 --prompts-per-group 16 --system-tokens 4096
              --question-tokens 128 --output-tokens 32 --concurrency 128 --seed 7)
fi
out=${OUT:-$root/build/compare-policies.jsonl}
: >"$out"

source "$here/lib.sh"
need curl

urls=()
for i in $(seq 0 $((workers - 1))); do
  p=$(free_port)
  "$bin/sglang-worker-sim" --port "$p" --worker-id "w$i" "${worker_args[@]}" >"$tmp/w$i.log" 2>&1 &
  pids+=($!)
  urls+=("http://127.0.0.1:$p")
done
for u in "${urls[@]}"; do wait_http "$u/health"; done

flush_workers() { for u in "${urls[@]}"; do curl -sf -X POST "$u/flush_cache" >/dev/null; done; }

run_router() { # label, then the command that starts the router on $port
  local label=$1
  shift
  flush_workers
  "$@" >"$tmp/$label.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  for _ in $(seq 600); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/generate" -H 'Content-Type: application/json' \
      -d '{"text":"warm","sampling_params":{"max_new_tokens":1}}' && break
    sleep 0.1
  done
  flush_workers
  echo "running $label ..." >&2
  "$bin/sglang-bench" --url "http://127.0.0.1:$port" --quiet --label "$label" --json "$out" \
    "${bench_args[@]}" >/dev/null || true
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

# A policy may carry router flags: "cache_aware:--cache-threshold=0.3:--balance-abs-threshold=64".
for spec in $policies; do
  IFS=: read -r -a parts <<<"$spec"
  port=$(free_port)
  run_router "$spec" "$bin/sglang-router" --port "$port" --policy "${parts[0]}" \
    "${parts[@]:1}" --prometheus-port -1 --worker-urls "${urls[@]}"
done

if [ "$reference" = 1 ]; then
  venv=${SR_PEER_VENV:-$root/build/peers-venv}
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sglang_router" 2>/dev/null; then
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/integration/requirements-peers.txt"
  fi
  port=$(free_port)
  run_router "reference_cache_aware" "$venv/bin/python" -m sglang_router.launch_router \
    --host 127.0.0.1 --port "$port" --prometheus-port "$(free_port)" --policy cache_aware \
    --log-level warn --worker-urls "${urls[@]}"
fi

/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = next((r for r in rows if r["label"] == "round_robin"), None)
cols = ["policy", "ok", "rej", "fail", "req/s", "x rr", "hit rate", "x rr", "TTFT p50", "TTFT p99", "e2e p99", "max/mean"]
print(("%-60s %5s %4s %5s %8s %6s %9s %6s %9s %9s %9s %8s") % tuple(cols))
for r in rows:
    xr = r["rps"] / base["rps"] if base and base["rps"] else 0
    xh = r["hit_rate"] / base["hit_rate"] if base and base["hit_rate"] else 0
    print("%-60s %5d %4d %5d %8.1f %6.2f %8.1f%% %6.2f %7.0fms %7.0fms %7.0fms %8.2f" % (
        r["label"], r["ok"], r["rejected"], r["failed"], r["rps"], xr, 100 * r["hit_rate"], xh,
        r["ttft_p50_ms"], r["ttft_p99_ms"], r["e2e_p99_ms"], r["imbalance"]))
PY
