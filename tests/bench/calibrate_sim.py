#!/usr/bin/env python3
"""calibrate_sim.py: fits the simulated worker to a real llama.cpp engine and
checks the fit through the router.

  calibrate_sim.py fit     one real engine (SmolLM2-135M, 1 thread, 1 slot, no
                           host prompt cache): time to first token of cold and
                           warm prompts of several lengths and the decode gap;
                           prints the least-squares cost model, in the
                           engine's tokens and in the simulator's 4-byte
                           tokens, and the profile lines it implies.
  calibrate_sim.py check [--profile smollm2-cpu-1t] [--quick]
                           the same small workload (shared-prefix groups and
                           multi-turn chats, interleaved, one request at a
                           time; then a burst of requests at once) through
                           one cache_aware router in front of 2 real engines
                           and then of 2 simulated workers with the profile;
                           prints both side by side and exits 1 unless every
                           request's cache hit agrees (cached share within
                           0.1, hit or miss alike) and, without --quick, mean
                           TTFT is within 25% in both phases.

It runs itself again in the xllamacpp virtualenv (build/llamacpp-venv, or
under $SR_VENV_DIR; made on first use), whose python starts the engines.
Binaries come from $SR_BIN_DIR (default build/bin).
"""
import argparse
import json
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import (BIN, Proc, RawHTTP, free_port, request, smollm2_model, start_router, venv,  # noqa: E402
                     wait_until)

ENV = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "deploy", "python"))
# Common English words: about 5 bytes per engine token, near the simulator's 4.
WORDS = ("the of and to in is it that for on was with as at be by this are or his from but not have an they "
         "which one you were her all she there would their we him been has when who will more no if out so "
         "said what up its about into than them can only other new some could time these two may then do "
         "first any my now such like our over man me even most made after also did many before must through "
         "back years where much your way well down should because each just those people how too little "
         "state good very make world still own see men work long get here between both life being under "
         "never day same another know while last might us great old year off come since against go came "
         "right used take three").split()


def text(seed, words):
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(words)) + ". "


def engine():
    return Proc([sys.executable, "-m", "sglang_router.llamacpp_worker", "--model-path", smollm2_model(),
                 "--port", str(free_port()), "--threads", "1", "--slots", "1", "--cache-ram-mib", "0"],
                env=ENV, timeout=60)


def sim(profile):
    return Proc([os.path.join(BIN, "sglang-worker-sim"), "--port", "0", "--profile", profile])


def stream(port, prompt, max_tokens):
    """One streamed /v1/completions: (ttft s, decode gap s, prompt tokens, cached tokens, text)."""
    c = RawHTTP(port, timeout=300)
    body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}).encode()
    t0 = time.monotonic()
    c.send(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body) + body)
    status, _ = c.read_head()
    if status != 200:
        raise RuntimeError("status %d" % status)
    first = last = None
    out, usage = [], None
    for t, data in c.sse_events():
        if data == "[DONE]":
            break
        event = json.loads(data)
        if event.get("usage"):
            usage = event["usage"]
        for choice in event.get("choices", []):
            if choice.get("text"):
                first = first or t
                last = t
                out.append(choice["text"])
    c.close()
    gap = (last - first) / (max_tokens - 1) if max_tokens > 1 and first else 0.0
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    return first - t0, gap, usage["prompt_tokens"], cached, "".join(out)


def solve(rows, ys):
    """Least squares of the relative error for y = k0 + k1*x1 + ... (each row
    is x1, x2, ...): every point counts alike, short and long prompts."""
    xs = [[1.0 / y] + [v / y for v in r] for r, y in zip(rows, ys)]
    n = len(xs[0])
    m = [[sum(x[i] * x[j] for x in xs) for j in range(n)] + [sum(x[i] for x in xs)] for i in range(n)]
    for i in range(n):
        p = max(range(i, n), key=lambda r: abs(m[r][i]))
        m[i], m[p] = m[p], m[i]
        for r in range(n):
            if r != i and m[i][i]:
                f = m[r][i] / m[i][i]
                m[r] = [a - f * b for a, b in zip(m[r], m[i])]
    return [m[i][n] / m[i][i] if m[i][i] else 0.0 for i in range(n)]


def fit(args):
    e = engine()
    try:
        wait_until(lambda: request(e.port, "GET", "/health").status == 200, timeout=60, what="engine up")
        stream(e.port, "warm up", 2)
        rows, ys, gaps, contexts = [], [], [], []
        nbytes = ntokens = 0
        print("%8s %8s %8s %9s %9s" % ("prompt", "cached", "bytes", "TTFT ms", "gap ms"))
        for words in args.words:
            for rep in range(args.repeat):
                request(e.port, "POST", "/slots/0?action=erase")
                prefix = text(1000 * words + rep, words)
                ttft, gap, pt, cached, _ = stream(e.port, prefix, args.output_tokens)
                rows.append((pt - cached, cached))
                ys.append(ttft)
                gaps.append(gap)
                contexts.append((pt + args.output_tokens / 2,))
                nbytes += len(prefix.encode())
                ntokens += pt
                print("%8d %8d %8d %9.1f %9.2f" % (pt, cached, len(prefix.encode()), ttft * 1e3, gap * 1e3))
                warm = prefix + text(7 + rep, 12)
                ttft, gap, pt, cached, _ = stream(e.port, warm, args.output_tokens)
                rows.append((pt - cached, cached))
                ys.append(ttft)
                gaps.append(gap)
                contexts.append((pt + args.output_tokens / 2,))
                print("%8d %8d %8d %9.1f %9.2f" % (pt, cached, len(warm.encode()), ttft * 1e3, gap * 1e3))
        a, b, c = solve(rows, ys)
        d, k = solve(contexts, gaps)
        bpt = nbytes / ntokens
        resid = [abs(y - (a + b * u + c * k)) / y for (u, k), y in zip(rows, ys)]
        print("\nTTFT = %.1f ms + %.3f ms x uncached + %.4f ms x cached (engine tokens); "
              "worst residual %.0f%%, mean %.0f%%" % (a * 1e3, b * 1e3, c * 1e3, 100 * max(resid),
                                                      100 * sum(resid) / len(resid)))
        dres = [abs(g - (d + k * x[0])) / g for x, g in zip(contexts, gaps)]
        print("decode gap = %.2f ms + %.2f us x context tokens; worst residual %.0f%%"
              % (d * 1e3, k * 1e6, 100 * max(dres)))
        print("prefill %.0f engine tokens/s; %.2f bytes per engine token" % (1 / b, bpt))
        per_sim = 4.0 / bpt  # engine tokens in one simulator token (4 bytes)
        print("\nprofile lines (simulator tokens = 4 bytes):")
        print("prefill-overhead-ms = %.1f" % (a * 1e3))
        print("prefill-tokens-per-sec = %.0f" % (1 / (b * per_sim)))
        print("prefill-cached-token-us = %.1f" % (c * per_sim * 1e6))
        print("decode-step-ms = %.2f" % (d * 1e3))
        print("decode-context-us = %.2f" % (k * per_sim * 1e6))
    finally:
        e.stop()


def workload():
    """Deterministic: two shared prefixes with three questions each and two
    three-turn chats, interleaved so that one-slot workers evict."""
    prefixes = [text(11, args_words), text(12, args_words)]
    q = lambda g, i: text(100 * g + i, 10)  # noqa: E731
    steps = [("group", 0, 0), ("group", 1, 0), ("group", 0, 1), ("chat", 0, 0), ("group", 1, 1), ("chat", 1, 0),
             ("chat", 0, 1), ("group", 0, 2), ("chat", 1, 1), ("group", 1, 2), ("chat", 0, 2), ("chat", 1, 2)]
    return prefixes, q, steps


def run_sequence(port, output_tokens):
    prefixes, q, steps = workload()
    chats = [text(21, chat_words), text(22, chat_words)]
    results = []
    for kind, who, i in steps:
        if kind == "group":
            prompt = prefixes[who] + "Question: " + q(who, i) + "Answer:"
        else:
            chats[who] += "User: " + text(300 + 10 * who + i, 14) + "Assistant:"
            prompt = chats[who]
        ttft, _, pt, cached, out = stream(port, prompt, output_tokens)
        if kind == "chat":
            chats[who] += out + "\n"
        results.append(("%s %d.%d" % (kind, who, i), pt, cached, ttft))
    return results


def run_burst(port, n, output_tokens):
    """n independent requests at once (two prefixes): mean TTFT, queueing included."""
    out = [None] * n

    def one(i):
        out[i] = stream(port, text(40 + i % 2, args_words) + "Question: " + text(500 + i, 10), output_tokens)[0]
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(out) / n


def backend(kind, profile):
    procs = [engine(), engine()] if kind == "real" else [sim(profile), sim(profile)]
    for p in procs:
        wait_until(lambda: request(p.port, "GET", "/health").status == 200, timeout=60, what="worker up")
    return procs


def measure(kind, args):
    procs = backend(kind, args.profile)
    router = None
    try:
        router = start_router("--policy", "cache_aware", "--worker-urls", *[p.url for p in procs])
        seq = run_sequence(router.port, args.output_tokens)
        burst = None
        if not args.quick:
            for p in procs:  # a clean start for the burst
                if kind == "real":
                    request(p.port, "POST", "/slots/0?action=erase")
                else:
                    request(p.port, "POST", "/flush_cache")
            burst = run_burst(router.port, args.burst, args.output_tokens)
        return seq, burst
    finally:
        for p in ([router] if router else []) + procs:
            p.stop()


def agree(real, sim):
    """Whether one request's cache hit is the same on both: the cached share
    of the prompt within 0.1, and a hit (>= half) on both or neither."""
    rs, ss = real[2] / real[1], sim[2] / sim[1]
    return abs(rs - ss) <= 0.1 and (rs >= 0.5) == (ss >= 0.5)


def table(real_seq, sim_seq):
    lines = ["%-10s | %6s %6s %6s %8s | %6s %6s %6s %8s" % ("request", "prompt", "cached", "share", "TTFT ms",
                                                              "prompt", "cached", "share", "TTFT ms"),
             "%-10s | %-29s | %-29s" % ("", "llama.cpp (engine tokens)", "simulator (4-byte tokens)")]
    for r, s in zip(real_seq, sim_seq):
        lines.append("%-10s | %6d %6d %6.2f %8.0f | %6d %6d %6.2f %8.0f%s" % (
            r[0], r[1], r[2], r[2] / r[1], r[3] * 1e3, s[1], s[2], s[2] / s[1], s[3] * 1e3,
            "" if agree(r, s) else "  <- differs"))
    return "\n".join(lines)


def check(args):
    real_seq, real_burst = measure("real", args)
    sim_seq, sim_burst = measure("sim", args)
    print(table(real_seq, sim_seq))
    ok = all(agree(r, s) for r, s in zip(real_seq, sim_seq))
    real_mean = sum(r[3] for r in real_seq) / len(real_seq)
    sim_mean = sum(s[3] for s in sim_seq) / len(sim_seq)
    print("\none at a time: mean TTFT llama.cpp %.0f ms, simulator %.0f ms (%+.0f%%)"
          % (real_mean * 1e3, sim_mean * 1e3, 100 * (sim_mean / real_mean - 1)))
    print("cache hits: %s" % ("every request agrees" if ok else "some requests differ"))
    within = abs(sim_mean / real_mean - 1) <= 0.25
    if real_burst is not None:
        print("burst of %d at once: mean TTFT llama.cpp %.0f ms, simulator %.0f ms (%+.0f%%)"
              % (args.burst, real_burst * 1e3, sim_burst * 1e3, 100 * (sim_burst / real_burst - 1)))
        within &= abs(sim_burst / real_burst - 1) <= 0.25
    if not args.quick:
        print("mean TTFT within 25%%: %s" % ("yes" if within else "no"))
        ok &= within
    return 0 if ok else 1


args_words = 420  # a shared prefix: ~500 engine tokens
chat_words = 60


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit")
    f.add_argument("--words", type=int, nargs="+", default=[80, 250, 500, 850, 1200])
    f.add_argument("--repeat", type=int, default=2)
    f.add_argument("--output-tokens", type=int, default=16)
    c = sub.add_parser("check")
    c.add_argument("--profile", default="smollm2-cpu-1t")
    c.add_argument("--output-tokens", type=int, default=8)
    c.add_argument("--burst", type=int, default=6)
    c.add_argument("--quick", action="store_true", help="cache hits only (no TTFT verdict, no burst)")
    args = ap.parse_args()
    python = venv("llamacpp-venv", "requirements-llamacpp.txt")
    if os.path.realpath(sys.executable) != os.path.realpath(python) and not os.environ.get("SR_CALIBRATE_REEXEC"):
        os.environ["SR_CALIBRATE_REEXEC"] = "1"  # the engines need xllamacpp: run again in its virtualenv
        os.execv(python, [python] + sys.argv)
    smollm2_model()
    if args.cmd == "fit":
        fit(args)
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
