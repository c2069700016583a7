#!/usr/bin/env bash
# compare-policies.sh: the same seeded workload through one router per
# policy in turn, in front of the same simulated workers (caches flushed
# between runs), and one side-by-side table.
#
#   tests/bench/compare-policies.sh [--workers 8] [--policies "round_robin cache_aware:--flag=v ..."]
#       [--reference] [--worker-arg ARG]... [--rates "R1 R2 ..." --png FILE]
#       [--engine sim|llamacpp] [--runs N] [--] [sglang-bench arguments]
#
# --engine llamacpp puts real llama.cpp engines on CPU behind the routers
# instead (SmolLM2-135M, 1 thread, 1 slot each; the xllamacpp virtualenv
# and the model are fetched into build/ on first use), talks
# /v1/completions to them, and starts fresh engines for every router (the
# only way to empty llama.cpp's host prompt cache). LLAMACPP_CACHE_RAM_MIB
# sizes that cache (default 0: a slot keeps only its last prompt).
#
# --runs N repeats the whole set (every policy, then the reference) N
# times and prints medians per policy instead of one row per run, and
# against the reference the difference of medians per column with a 95%
# bootstrap interval and a verdict (summarize_runs.py; better / worse only
# when the interval excludes zero). Runs of the Mooncake trace differ by
# more than the gaps between routers, so rank routers on 10+ runs.
#
# --rates runs every policy once per Poisson request rate (open loop) and
# --png draws hit rate and p99 TTFT against the rate, one line per policy;
# without --rates, --png draws bars of cached tokens and mean TTFT per
# policy (plot-policies.sh; needs gnuplot: apt-get install gnuplot-nox).
#
# Defaults: 8 workers with a 20x clock and a 200,000-token KV cache each;
# the shared-prefix workload of 128 groups x 16 prompts with 4,096-token
# system prompts (the groups do not all fit in one worker's cache, so where
# a request goes decides whether it hits), closed loop with 128 clients.
# For traces with long prompts, size the cache to the engine the workers
# stand for (--worker-arg --kv-capacity-tokens --worker-arg 450000 is the
# simulator's own default, one H100 with Llama-3-8B): 200k is smaller than
# the Mooncake trace's longest prompts, and there hits mostly measure how
# long requests queue at a worker (RESULTS.md, "Where the hits come from").
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
rates=""
png=""
worker_args=(--time-scale 20 --kv-capacity-tokens 200000)
bench_args=()
engine=sim
runs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) workers=$2; shift 2 ;;
    --policies) policies=$2; shift 2 ;;
    --reference) reference=1; shift ;;
    --worker-arg) worker_args+=("$2"); shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --png) png=$2; shift 2 ;;
    --engine) engine=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --) shift; bench_args=("$@"); break ;;
    *) bench_args=("$@"); break ;;
  esac
done
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "compare-policies.sh: --runs wants a whole number of runs, at least 1, not '$runs'" >&2
  exit 2
fi
if [ "$runs" != 1 ] && [ -n "$png" ]; then
  echo "compare-policies.sh: --png draws one run; leave out --runs or --png" >&2
  exit 2
fi
if [ ${#bench_args[@]} -eq 0 ]; then
  bench_args=(--workload shared-prefix --groups 128 --prompts-per-group 16 --system-tokens 4096
              --question-tokens 128 --output-tokens 32 --concurrency 128 --seed 7)
fi
out=${OUT:-$root/build/compare-policies.jsonl}
# oracle (test-only) exists in builds configured with -DSR_WITH_ORACLE=ON.
for spec in $policies; do
  if [ "${spec%%:*}" = oracle ] && ! "$bin/sglang-router" --help | grep -q ',oracle}'; then
    echo "compare-policies.sh: $bin/sglang-router has no oracle policy: configure with -DSR_WITH_ORACLE=ON (tests/run.sh does)" >&2
    exit 2
  fi
done
: >"$out"

source "$here/lib.sh"
need curl

urls=()
engine_pids=()
if [ "$engine" = llamacpp ]; then
  engine_venv=$root/build/llamacpp-venv
  if [ ! -x "$engine_venv/bin/python" ] || ! "$engine_venv/bin/python" -c "import xllamacpp" 2>/dev/null; then
    /usr/bin/python3 -m venv "$engine_venv"
    "$engine_venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/integration/requirements-llamacpp.txt"
  fi
  model=$(cd "$root/tests/integration" && SR_BIN_DIR="$bin" "$engine_venv/bin/python" -c \
    "import harness; print(harness.smollm2_model())")
  bench_args=(--api openai "${bench_args[@]}")
  if [ -n "$rates" ] && [ "${LLAMACPP_CACHE_RAM_MIB:-0}" != 0 ]; then
    echo "compare-policies.sh: --rates with a host prompt cache would start later rates warm" >&2
    exit 2
  fi
fi

# Fresh llama.cpp engines on new ports (a restart is the only way to empty
# the host prompt cache; new ports never wait for the old sockets).
start_engines() {
  for pid in "${engine_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  engine_pids=()
  urls=()
  for i in $(seq 0 $((workers - 1))); do
    local p pid attempt up=0
    for attempt in 1 2 3; do
      p=$(free_port)
      PYTHONPATH="$root/deploy/python" "$engine_venv/bin/python" -m sglang_router.llamacpp_worker \
        --model-path "$model" --port "$p" --threads 1 --slots 1 \
        --cache-ram-mib "${LLAMACPP_CACHE_RAM_MIB:-0}" >"$tmp/w$i.log" 2>&1 &
      pid=$!
      for _ in $(seq 300); do
        if curl -sf -o /dev/null "http://127.0.0.1:$p/health"; then up=1; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      [ "$up" = 1 ] && break
      echo "compare-policies.sh: engine $i on port $p did not come up (attempt $attempt):" >&2
      tail -5 "$tmp/w$i.log" >&2
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    done
    if [ "$up" != 1 ]; then exit 1; fi
    engine_pids+=($pid)
    pids+=($pid)
    urls+=("http://127.0.0.1:$p")
  done
}

if [ "$engine" = llamacpp ]; then
  start_engines
else
  for i in $(seq 0 $((workers - 1))); do
    p=$(free_port)
    "$bin/sglang-worker-sim" --port "$p" --worker-id "w$i" "${worker_args[@]}" >"$tmp/w$i.log" 2>&1 &
    pids+=($!)
    urls+=("http://127.0.0.1:$p")
  done
fi
for u in "${urls[@]}"; do wait_http "$u/health"; done

flush_workers() {
  for u in "${urls[@]}"; do
    if [ "$engine" = llamacpp ]; then
      curl -sf -X POST "$u/slots/0?action=erase" >/dev/null
    else
      curl -sf -X POST "$u/flush_cache" >/dev/null
    fi
  done
}

run_router() { # label, then the command that starts the router on $port
  local label=$1
  shift
  flush_workers
  "$@" >"$tmp/$label.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  for _ in $(seq 600); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
      -d '{"model":"m","prompt":"warm","max_tokens":1}' && break
    sleep 0.1
  done
  flush_workers
  if [ -z "$rates" ]; then
    echo "running $label ..." >&2
    "$bin/sglang-bench" --url "http://127.0.0.1:$port" --quiet --label "$label" --json "$out" \
      "${bench_args[@]}" >/dev/null || true
  fi
  for rate in $rates; do
    flush_workers
    echo "running $label at $rate req/s ..." >&2
    "$bin/sglang-bench" --url "http://127.0.0.1:$port" --quiet --label "$label@$rate" \
      --json "$out" "${bench_args[@]}" --arrival poisson --rate "$rate" >/dev/null || true
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

# A policy may carry router flags: "cache_aware:--cache-threshold=0.3:--balance-abs-threshold=64".
if [ "$reference" = 1 ]; then
  venv=${SR_PEER_VENV:-$root/build/peers-venv}
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sglang_router" 2>/dev/null; then
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/integration/requirements-peers.txt"
  fi
fi

first=1
for run in $(seq "$runs"); do
  [ "$runs" = 1 ] || echo "run $run of $runs" >&2
  for spec in $policies; do
    IFS=: read -r -a parts <<<"$spec"
    if [ "$engine" = llamacpp ] && [ "$first" = 0 ]; then start_engines; fi
    first=0
    port=$(free_port)
    run_router "$spec" "$bin/sglang-router" --port "$port" --policy "${parts[0]}" \
      "${parts[@]:1}" --prometheus-port -1 --worker-urls "${urls[@]}"
  done

  if [ "$reference" = 1 ]; then
    if [ "$engine" = llamacpp ] && [ "$first" = 0 ]; then start_engines; fi
    first=0
    port=$(free_port)
    run_router "reference_cache_aware" "$venv/bin/python" -m sglang_router.launch_router \
      --host 127.0.0.1 --port "$port" --prometheus-port "$(free_port)" --policy cache_aware \
      --log-level warn --worker-urls "${urls[@]}"
  fi
done

if [ -n "$png" ] && [ -z "$rates" ]; then
  "$here/plot-policies.sh" "$out" "$png" "compare-policies.sh --engine $engine, $workers workers: ${bench_args[*]}"
elif [ -n "$png" ]; then
  need gnuplot
  /usr/bin/python3 - "$out" "$tmp/plot" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
series = {}
for r in rows:
    name, _, rate = r["label"].rpartition("@")
    series.setdefault(name, []).append((float(rate), 100 * r["hit_rate"], r["ttft_p99_ms"]))
os.makedirs(sys.argv[2], exist_ok=True)
with open(os.path.join(sys.argv[2], "names"), "w") as names:
    for i, (name, pts) in enumerate(series.items()):
        names.write("%d %s\n" % (i, name.split(":")[0] + (" (tuned)" if ":" in name else "")))
        with open(os.path.join(sys.argv[2], "s%d.dat" % i), "w") as f:
            for p in sorted(pts):
                f.write("%g %g %g\n" % p)
PY
  plots_hit="" plots_ttft=""
  while read -r i name; do
    plots_hit+="'$tmp/plot/s$i.dat' using 1:2 with linespoints title '$name', "
    plots_ttft+="'$tmp/plot/s$i.dat' using 1:3 with linespoints title '$name', "
  done <"$tmp/plot/names"
  gnuplot <<GP
set terminal pngcairo size 1200,480 noenhanced
set output '$png'
set multiplot layout 1,2 title 'Policies in front of $workers simulated workers (tests/bench/compare-policies.sh)'
set xlabel 'offered load (requests/s, Poisson)'
set ylabel 'cache hit rate (% of prompt tokens)'
set key bottom left
set grid
plot ${plots_hit%, }
set ylabel 'p99 time to first token (ms)'
set logscale y
set key top left
plot ${plots_ttft%, }
unset multiplot
GP
  echo "wrote $png" >&2
fi

if [ "$runs" != 1 ]; then
  /usr/bin/python3 "$here/summarize_runs.py" "$out"
  exit 0
fi

/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = next((r for r in rows if r["label"] == "round_robin"), None)
cols = ["policy", "ok", "rej", "fail", "req/s", "x rr", "hit rate", "x rr", "TTFT mean", "TTFT p50", "TTFT p99",
        "e2e p99", "max/mean", "tokens"]
print(("%-60s %5s %4s %5s %8s %6s %9s %6s %9s %9s %9s %9s %8s %7s") % tuple(cols))
for r in rows:
    xr = r["rps"] / base["rps"] if base and base["rps"] else 0
    xh = r["hit_rate"] / base["hit_rate"] if base and base["hit_rate"] else 0
    print("%-60s %5d %4d %5d %8.1f %6.2f %8.1f%% %6.2f %7.0fms %7.0fms %7.0fms %7.0fms %8.2f %7.2f" % (
        r["label"], r["ok"], r["rejected"], r["failed"], r["rps"], xr, 100 * r["hit_rate"], xh,
        r.get("ttft_mean_ms", 0), r["ttft_p50_ms"], r["ttft_p99_ms"], r["e2e_p99_ms"], r["imbalance"],
        r.get("token_imbalance", 0)))
PY
