#!/usr/bin/env bash
# quickstart.sh: install, build, and watch cache-aware routing work.
#
# Runs the co-launch mode, `sglang-launch-server --backend sim --dp-size 4`
# (four simulated SGLang workers, then sglang-router with cache_aware in
# front of them), sends chat requests that share system prompts (plain and
# streaming), prints which worker served each and how much of each prompt
# the worker had cached, then the totals. Stops everything cleanly at the
# end (SIGTERM to the launcher: the router drains, the workers stop),
# unless --keep-running is given (then Ctrl-C stops it).
#
#   deploy/scripts/quickstart.sh [--keep-running] [--port PORT]
set -euo pipefail
cd "$(dirname "$0")/../.."

keep=0
port=30000
while [ $# -gt 0 ]; do
  case "$1" in
    --keep-running) keep=1; shift ;;
    --port) port=$2; shift 2 ;;
    *) echo "usage: $0 [--keep-running] [--port PORT]" >&2; exit 2 ;;
  esac
done

deploy/scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSR_WITH_ORACLE=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
bin=build/bin

logs=$(mktemp -d)
launcher=""
stop() {
  if [ -n "$launcher" ]; then
    kill -TERM "$launcher" 2>/dev/null || true
    wait "$launcher" 2>/dev/null || true
  fi
  rm -rf "$logs"
}
trap stop EXIT

# A 20x faster clock than a real H100 (after "--": worker flags), so the
# demo takes seconds.
"$bin/sglang-launch-server" --backend sim --dp-size 4 --model-path meta-llama/Meta-Llama-3.1-8B-Instruct \
  --port "$port" --log-dir "$logs" --router-policy cache_aware --router-prometheus-port -1 \
  -- --time-scale 20 2>"$logs/launcher.log" &
launcher=$!
for _ in $(seq 600); do
  grep -q "ready: http" "$logs/launcher.log" 2>/dev/null && break
  if ! kill -0 "$launcher" 2>/dev/null; then cat "$logs/launcher.log" >&2; exit 1; fi
  sleep 0.05
done
sed 's/^/  /' "$logs/launcher.log"
echo

/usr/bin/python3 - "$port" <<'PY'
import http.client, json, sys
port = int(sys.argv[1])
systems = {
    "travel": "You are a travel agent. Suggest concise itineraries with local food. " * 8,
    "code": "You are a senior C programmer. Review code for memory safety and clarity. " * 8,
    "math": "You are a patient math tutor. Explain each step and check the answer. " * 8,
}
questions = ["Where should I go first?", "What about a second day?", "Any budget tips?", "And for kids?"]
totals = {}
prompt_tokens = cached_tokens = 0

def chat(messages, stream=False):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"model": "default", "messages": messages, "max_tokens": 12, "stream": stream,
                       "stream_options": {"include_usage": True}})
    c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    return c, c.getresponse()

print("%-7s %-27s %-9s %s" % ("group", "question", "worker", "cached/prompt tokens"))
for q in questions:
    for name, system in systems.items():
        c, r = chat([{"role": "system", "content": system}, {"role": "user", "content": q}])
        out = json.loads(r.read())
        c.close()
        u = out["usage"]
        worker = r.getheader("X-Worker-Id")
        totals[worker] = totals.get(worker, 0) + 1
        prompt_tokens += u["prompt_tokens"]
        cached_tokens += u["prompt_tokens_details"]["cached_tokens"]
        print("%-7s %-27s %-9s %d/%d" % (name, q, worker, u["prompt_tokens_details"]["cached_tokens"], u["prompt_tokens"]))

print("\nstreaming (tokens as they arrive):", end=" ", flush=True)
c, r = chat([{"role": "system", "content": systems["code"]}, {"role": "user", "content": "Stream please."}], stream=True)
for raw in r:
    line = raw.decode().strip()
    if not line.startswith("data: ") or line == "data: [DONE]":
        continue
    chunk = json.loads(line[6:])
    if chunk["choices"]:
        print(chunk["choices"][0]["delta"].get("content", ""), end="", flush=True)
    if chunk.get("usage"):
        u = chunk["usage"]
        print("  [worker %s, cached %d/%d]" % (r.getheader("X-Worker-Id"), u["prompt_tokens_details"]["cached_tokens"], u["prompt_tokens"]))
c.close()

print("\nrequests per worker:", ", ".join("%s %d" % kv for kv in sorted(totals.items())))
print("cache hit rate: %.0f%% of prompt tokens were already cached on the chosen worker" % (100.0 * cached_tokens / prompt_tokens))
PY

if [ "$keep" = 1 ]; then
  echo
  echo "router and workers keep running; try:"
  echo "  curl -s http://127.0.0.1:$port/generate -H 'Content-Type: application/json' -d '{\"text\": \"Hello\"}'"
  echo "Ctrl-C stops them."
  wait "$launcher"
else
  echo
  echo "stopping the launcher (SIGTERM: the router drains, then the workers stop); --keep-running leaves them up"
fi
