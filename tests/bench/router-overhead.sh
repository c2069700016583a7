#!/usr/bin/env bash
# router-overhead.sh: what the router itself costs a request. The same
# seeded workload (sglang-bench) straight to one simulated worker, then
# through sglang-router to that worker alone, alternating for --rounds;
# prints the medians and the differences: added TTFT and added end-to-end
# latency (p50, p99), streaming.
#
#   tests/bench/router-overhead.sh [--rounds 3] [--reference] [--pd] [--] [sglang-bench arguments]
#
# --reference also measures SGLang's own router (sglang-router 0.3.2) the
# same way, in the same rounds. --pd also measures both routers in
# prefill/decode mode: the same worker as the decode half and a second one
# (same settings) as the prefill half, so what is added is the router's
# own cost of a pair (two requests out, the bootstrap fields, the prefill
# answer drained) against one worker's.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SR_BIN_DIR:-$root/build/bin}
rounds=3
reference=0
pd=0
bench_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --reference) reference=1; shift ;;
    --pd) pd=1; shift ;;
    --) shift; bench_args=("$@"); break ;;
    *) bench_args=("$@"); break ;;
  esac
done
if [ ${#bench_args[@]} -eq 0 ]; then
  # Short prompts and outputs on a fast clock: the router's share shows.
  bench_args=(--workload shared-prefix --groups 16 --prompts-per-group 64 --system-tokens 256
              --question-tokens 32 --output-tokens 16 --concurrency 8 --seed 5)
fi
source "$here/lib.sh"
need curl

wport=$(free_port)
"$bin/sglang-worker-sim" --port "$wport" --worker-id w0 --time-scale 50 >"$tmp/w.log" 2>&1 &
pids+=($!)
rport=$(free_port)
"$bin/sglang-router" --port "$rport" --prometheus-port -1 --policy round_robin \
  --worker-urls "http://127.0.0.1:$wport" >"$tmp/r.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$wport/health"
wait_http "http://127.0.0.1:$rport/readiness"
targets="direct router"
if [ "$pd" = 1 ]; then
  pport=$(free_port)
  "$bin/sglang-worker-sim" --port "$pport" --worker-id p0 --time-scale 50 >"$tmp/p.log" 2>&1 &
  pids+=($!)
  pdport=$(free_port)
  "$bin/sglang-router" --port "$pdport" --prometheus-port -1 --policy round_robin --pd-disaggregation \
    --prefill "http://127.0.0.1:$pport" 8998 --decode "http://127.0.0.1:$wport" >"$tmp/rpd.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$pport/health"
  wait_http "http://127.0.0.1:$pdport/readiness"
  targets="$targets router_pd"
fi
if [ "$reference" = 1 ]; then
  venv=${SR_PEER_VENV:-$root/build/peers-venv}
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sglang_router" 2>/dev/null; then
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/integration/requirements-peers.txt"
  fi
  refport=$(free_port)
  "$venv/bin/python" -m sglang_router.launch_router --host 127.0.0.1 --port "$refport" \
    --prometheus-port "$(free_port)" --policy round_robin --log-level warn \
    --worker-urls "http://127.0.0.1:$wport" >"$tmp/ref.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$refport/get_loads" 2>/dev/null | grep -q '"load":0' && break
    sleep 0.1
  done
  targets="$targets reference"
  if [ "$pd" = 1 ]; then
    refpdport=$(free_port)
    "$venv/bin/python" -m sglang_router.launch_router --host 127.0.0.1 --port "$refpdport" \
      --prometheus-port "$(free_port)" --policy round_robin --log-level warn --pd-disaggregation \
      --prefill "http://127.0.0.1:$pport" 8998 --decode "http://127.0.0.1:$wport" >"$tmp/refpd.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 600); do
      curl -sf -o /dev/null "http://127.0.0.1:$refpdport/generate" -H 'Content-Type: application/json' \
        -d '{"text":"warm","sampling_params":{"max_new_tokens":1}}' && break
      sleep 0.1
    done
    targets="$targets reference_pd"
  fi
fi

for _ in $(seq "$rounds"); do
  for target in $targets; do
    port=$wport
    [ "$target" = router ] && port=$rport
    [ "$target" = reference ] && port=$refport
    [ "$target" = router_pd ] && port=$pdport
    [ "$target" = reference_pd ] && port=$refpdport
    curl -sf -X POST "http://127.0.0.1:$wport/flush_cache" >/dev/null
    [ "$pd" = 1 ] && curl -sf -X POST "http://127.0.0.1:$pport/flush_cache" >/dev/null
    "$bin/sglang-bench" --url "http://127.0.0.1:$port" --quiet --label "$target" \
      --json "$tmp/runs.jsonl" "${bench_args[@]}" >/dev/null
  done
done

/usr/bin/python3 - "$tmp/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def med(label, key):
    return statistics.median(r[key] for r in runs if r["label"] == label)
labels = [l for l in ("router", "reference", "router_pd", "reference_pd") if any(r["label"] == l for r in runs)]
for key, name in (("ttft_p50_ms", "ttft_p50"), ("ttft_p99_ms", "ttft_p99"),
                  ("e2e_p50_ms", "latency_p50"), ("e2e_p99_ms", "latency_p99")):
    d = med("direct", key)
    print("BENCH direct_%s_ms %.3f ms" % (name, d))
    for label in labels:
        print("BENCH %s_added_%s_ms %.3f ms" % (label, name, med(label, key) - d))
    for pd, whole in (("router_pd", "router"), ("reference_pd", "reference")):
        if pd in labels and whole in labels and med(whole, key) - d > 0:
            print("BENCH %s_over_%s_added_%s %.2f x" % (pd, whole, name,
                                                       (med(pd, key) - d) / (med(whole, key) - d)))
fails = sum(r["failed"] + r["rejected"] for r in runs)
print("BENCH overhead_runs_not_ok %d requests" % fails)
PY
