#!/usr/bin/env bash
# pd-bench.sh: prefill/decode disaggregation in front of simulated workers
# in SGLang's PD roles (the decode worker waits for its room's KV from the
# prefill worker, so TTFT = prefill with that worker's prefix cache +
# transfer + one decode step). The same seeded workload through our router
# with each prefill policy in turn, and through SGLang's own router
# (sglang-router 0.3.2) in PD mode, in front of the same workers (caches
# flushed between runs); one table.
#
#   tests/bench/pd-bench.sh [--prefill 4] [--decode 4] [--policies "cache_aware round_robin"]
#       [--no-reference] [--worker-arg ARG]... [--] [sglang-bench arguments]
#
# Defaults: 4 + 4 workers with a 20x clock and a 200,000-token KV cache
# each; the shared-prefix workload of compare-policies.sh (128 groups x 16
# prompts, 4,096-token system prompts, 128 clients). Our decode side uses
# shortest_queue (a decode worker has no prefix cache to aim at); the
# reference runs cache_aware on both sides, its defaults. JSON lines go to
# $OUT (default build/pd-bench.jsonl).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SR_BIN_DIR:-$root/build/bin}
nprefill=4
ndecode=4
policies="round_robin cache_aware"
reference=1
worker_args=(--time-scale 20 --kv-capacity-tokens 200000)
bench_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --prefill) nprefill=$2; shift 2 ;;
    --decode) ndecode=$2; shift 2 ;;
    --policies) policies=$2; shift 2 ;;
    --no-reference) reference=0; shift ;;
    --worker-arg) worker_args+=("$2"); shift 2 ;;
    --) shift; bench_args=("$@"); break ;;
    *) bench_args=("$@"); break ;;
  esac
done
if [ ${#bench_args[@]} -eq 0 ]; then
  bench_args=(--workload shared-prefix --groups 128 --prompts-per-group 16 --system-tokens 4096
              --question-tokens 128 --output-tokens 32 --concurrency 128 --seed 7)
fi
out=${OUT:-$root/build/pd-bench.jsonl}
: >"$out"
source "$here/lib.sh"
need curl

prefill_urls=() prefill_ports=() decode_urls=()
for i in $(seq 0 $((nprefill - 1))); do
  p=$(free_port) b=$(free_port)
  "$bin/sglang-worker-sim" --port "$p" --worker-id "p$i" --seed "$((100 + i))" --disaggregation-mode prefill \
    --disaggregation-bootstrap-port "$b" "${worker_args[@]}" >"$tmp/p$i.log" 2>&1 &
  pids+=($!)
  prefill_urls+=("http://127.0.0.1:$p")
  prefill_ports+=("$b")
done
for i in $(seq 0 $((ndecode - 1))); do
  p=$(free_port)
  "$bin/sglang-worker-sim" --port "$p" --worker-id "d$i" --seed "$((200 + i))" --disaggregation-mode decode \
    "${worker_args[@]}" >"$tmp/d$i.log" 2>&1 &
  pids+=($!)
  decode_urls+=("http://127.0.0.1:$p")
done
for u in "${prefill_urls[@]}" "${decode_urls[@]}"; do wait_http "$u/health"; done

flush_workers() {
  for u in "${prefill_urls[@]}" "${decode_urls[@]}"; do curl -sf -X POST "$u/flush_cache" >/dev/null; done
}

pd_args=(--pd-disaggregation)
for i in $(seq 0 $((nprefill - 1))); do pd_args+=(--prefill "${prefill_urls[$i]}" "${prefill_ports[$i]}"); done
for u in "${decode_urls[@]}"; do pd_args+=(--decode "$u"); done

run_router() { # label, then the command that starts the router on $port
  local label=$1
  shift
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

for spec in $policies; do
  IFS=: read -r -a parts <<<"$spec"
  port=$(free_port)
  run_router "pd_prefill_${spec}" "$bin/sglang-router" --port "$port" --prometheus-port -1 \
    "${pd_args[@]}" --prefill-policy "${parts[0]}" "${parts[@]:1}" --decode-policy shortest_queue
done

if [ "$reference" = 1 ]; then
  venv=${SR_PEER_VENV:-$root/build/peers-venv}
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sglang_router" 2>/dev/null; then
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/integration/requirements-peers.txt"
  fi
  port=$(free_port)
  run_router "reference_pd_cache_aware" "$venv/bin/python" -m sglang_router.launch_router \
    --host 127.0.0.1 --port "$port" --prometheus-port "$(free_port)" --policy cache_aware \
    --log-level warn "${pd_args[@]}"
fi

/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cols = ["router (prefill policy)", "ok", "rej", "fail", "req/s", "hit rate", "TTFT mean", "TTFT p50", "TTFT p99",
        "e2e p99", "max/mean"]
print(("%-40s %5s %4s %5s %8s %9s %9s %9s %9s %9s %8s") % tuple(cols))
for r in rows:
    print("%-40s %5d %4d %5d %8.1f %8.1f%% %7.0fms %7.0fms %7.0fms %7.0fms %8.2f" % (
        r["label"], r["ok"], r["rejected"], r["failed"], r["rps"], 100 * r["hit_rate"],
        r.get("ttft_mean_ms", 0), r["ttft_p50_ms"], r["ttft_p99_ms"], r["e2e_p99_ms"], r["imbalance"]))
PY
