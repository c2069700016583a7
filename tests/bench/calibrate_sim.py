#!/usr/bin/env python3
"""calibrate_sim.py: fits the simulated worker to a real llama.cpp engine and
checks the fit through the router.

  calibrate_sim.py fit [--host-cache-only]
                           one real engine (SmolLM2-135M, 1 thread, 1 slot, no
                           host prompt cache): time to first token of cold and
                           warm prompts of several lengths and the decode gap;
                           prints the least-squares cost model, in the
                           engine's tokens and in the simulator's 4-byte
                           tokens, and the profile lines it implies. Then one
                           engine with a host prompt cache (--cache-ram-mib,
                           default 160): a prompt's state restored from that
                           cache against the same prompt hitting the slot
                           (restore time), a slot's state saved on the way
                           (save time), and the state's bytes per token (a
                           slot saved to a file); the profile lines for the
                           simulator's --host-cache-mib model.
  calibrate_sim.py check [--profile smollm2-cpu-1t] [--quick] [--phases ...]
                           sequence: the same small workload (shared-prefix
                           groups and multi-turn chats, interleaved, one
                           request at a time) through one cache_aware router
                           in front of 2 real engines and then of 2 simulated
                           workers with the profile, no host prompt cache;
                           burst: requests at once; multi-turn: 12 users x 4
                           turns of 256-token messages, closed loop (as in
                           RESULTS.md), through round_robin (--rr-runs times:
                           it is erratic) and cache_aware (--ca-runs times) in
                           front of 2 fresh real engines with a host prompt
                           cache of --cache-ram-mib and of 2 simulated workers
                           with the profile and --host-cache-mib the same.
                           Prints each side by side and exits 1 unless every
                           sequence request's cache hit agrees (cached share
                           within 0.1, hit or miss alike); without --quick
                           (sequence only) also unless mean TTFT is within 25%
                           one at a time and in the burst, the median
                           simulated round-robin cached share lies within the
                           real runs' range (widened by RR_TOLERANCE), and the
                           mean cache_aware cached shares are within
                           CA_TOLERANCE (multi-turn TTFT is printed, not
                           judged: with every user waiting it is queueing).

It runs itself again in the xllamacpp virtualenv (build/llamacpp-venv, or
under $SR_VENV_DIR; made on first use), whose python starts the engines.
Binaries come from $SR_BIN_DIR (default build/bin).
"""
import argparse
import json
import os
import random
import subprocess
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


def engine(cache_ram_mib=0):
    return Proc([sys.executable, "-m", "sglang_router.llamacpp_worker", "--model-path", smollm2_model(),
                 "--port", str(free_port()), "--threads", "1", "--slots", "1", "--cache-ram-mib",
                 str(cache_ram_mib)], env=ENV, timeout=60)


def sim(profile, *args):
    return Proc([os.path.join(BIN, "sglang-worker-sim"), "--port", "0", "--profile", profile] + list(args))


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


def fit_slot(args):
    """The slot-only cost model; returns (k_uncached, k_cached) in s per engine token and bytes per
    engine token of English text."""
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
        return b, c, bpt
    finally:
        e.stop()


# The 2026-11-26 slot fit (tests/sim/profiles/smollm2-cpu-1t.conf), for
# `fit --host-cache-only`: s per uncached and per cached engine token.
SLOT_FIT = (4.088e-3, 0.0595e-3)


def fit_host_cache(args, k_uncached, k_cached):
    """What llama.cpp's host prompt cache costs beyond a slot hit. Per prompt
    size, two prompts a and b take turns in the one slot: a's state restored
    while b's is saved, then a slot hit on a; a short throwaway prompt (so that
    a's state is saved), the slot emptied, b's state restored with nothing to
    save, then a slot hit on b. Each pair asks the same cached prefix and a
    question of the same length, so the difference is the host cache's work
    (what remains of the question lengths is taken out with the slot fit's
    per-token costs). Medians per size, then least squares through the origin
    of the restore time against the tokens restored, and of the rest against
    the tokens saved. The state's bytes per token: a slot saved to a file."""
    e = engine(args.cache_ram_mib)
    n = 4  # output tokens: a slot then holds prompt + n - 1 tokens
    try:
        wait_until(lambda: request(e.port, "GET", "/health").status == 200, timeout=60, what="engine up")
        stream(e.port, "warm up", 2)
        restored, saved, kv = [], [], []
        nbytes = ntokens = 0
        print("\nhost prompt cache of %d MiB (%d rounds per size, medians):" % (args.cache_ram_mib, args.rounds))
        print("%8s %9s %9s %10s %12s" % ("prompt", "state", "hit ms", "restore ms", "rst+save ms"))

        def extra(slow, hit):
            """slow's time beyond hit's, the question lengths evened out."""
            (t, _, p, k, _), (th, _, ph, kh, _) = slow, hit
            return t - th - k_uncached * ((p - k) - (ph - kh)) - k_cached * (k - kh)
        for words in args.words:
            a, b = text(7000 + words, words), text(8000 + words, words)
            q = lambda i: text(9000 + 100 * words + i, 12)  # noqa: E731
            request(e.port, "POST", "/slots/0?action=erase")
            pa = stream(e.port, a, n)[2]  # cold
            r = request(e.port, "POST", "/slots/0?action=save", {"filename": "fit.bin"}).json()
            kv.append((r["n_saved"], r["n_written"]))
            pb = stream(e.port, b, n)[2]  # cold: a's state saved
            nbytes += len(a.encode()) + len(b.encode())
            ntokens += pa + pb
            rs, srs, hits = [], [], []
            for i in range(args.rounds):
                sr = stream(e.port, a + q(6 * i), n)  # b's state saved, a's restored
                hit = stream(e.port, a + q(6 * i + 1), n)  # slot hit
                srs.append(extra(sr, hit))
                stream(e.port, text(10 ** 6 + 100 * words + i, 3), n)  # a's state saved
                request(e.port, "POST", "/slots/0?action=erase")
                r = stream(e.port, b + q(6 * i + 2), n)  # b's state restored, nothing saved
                hit2 = stream(e.port, b + q(6 * i + 3), n)  # slot hit
                rs.append(extra(r, hit2))
                hits += [hit[0], hit2[0]]
            state = (pa + pb) / 2 + 12 + n - 1  # a question and the output on top of a prompt
            med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
            restored.append((state, med(rs)))
            saved.append((state, med(srs)))
            print("%8d %9d %9.1f %10.1f %12.1f" % ((pa + pb) / 2, state, med(hits) * 1e3, med(rs) * 1e3,
                                                   med(srs) * 1e3))
        # restore: extra = r x tokens restored; restore and save: extra = (r + s) x tokens
        r = max(0.0, sum(t * y for t, y in restored) / sum(t * t for t, _ in restored))
        s = max(0.0, sum(t * (y - r * t) for t, y in saved) / sum(t * t for t, _ in saved))
        rres = max(abs(y - r * t) for t, y in restored) * 1e3
        sres = max(abs(y - (r + s) * t) for t, y in saved) * 1e3
        # A state file: a header, the token ids (4 bytes each), then the state itself.
        mx = sum(t for t, _ in kv) / len(kv)
        my = sum(w for _, w in kv) / len(kv)
        kv_per_token = sum((t - mx) * (w - my) for t, w in kv) / sum((t - mx) ** 2 for t, _ in kv) - 4
        bpt = nbytes / ntokens
        print("restore %.2f us, save %.2f us per engine token beyond a slot hit (worst residuals %.1f ms, %.1f ms)"
              % (r * 1e6, s * 1e6, rres, sres))
        print("state: %.0f bytes per engine token (%d MiB: %.0f engine tokens); %.2f bytes per engine token of text"
              % (kv_per_token, args.cache_ram_mib, (args.cache_ram_mib << 20) / kv_per_token, bpt))
        per_sim = 4.0 / bpt
        print("\nprofile lines (simulator tokens = 4 bytes; run with --host-cache-mib %d):" % args.cache_ram_mib)
        print("kv-bytes-per-token = %.0f" % (kv_per_token * per_sim))
        print("host-cache-save-us = %.2f" % (s * per_sim * 1e6))
        print("host-cache-restore-us = %.2f" % (r * per_sim * 1e6))
    finally:
        e.stop()


def fit(args):
    k_uncached, k_cached = SLOT_FIT
    if not args.host_cache_only:
        k_uncached, k_cached, _ = fit_slot(args)
    fit_host_cache(args, k_uncached, k_cached)


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
        if "burst" in args.phases:
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


def check_sequence(args):
    """The sequence (and burst) phases: whether they pass."""
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
    return ok


def run_multi_turn(port, args):
    """sglang-bench's multi-turn workload (chat, every user waits for its
    answer): (cached share of prompt tokens, mean TTFT in wall seconds)."""
    argv = [os.path.join(BIN, "sglang-bench"), "--url", "http://127.0.0.1:%d" % port, "--workload", "multi-turn",
            "--users", str(args.users), "--turns", str(args.turns), "--message-tokens", str(args.message_tokens),
            "--output-tokens", str(args.turn_output_tokens), "--seed", "7", "--api", "openai", "--quiet",
            "--json", "-"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError("sglang-bench failed (%d): %s" % (out.returncode, out.stderr[-2000:]))
    report = json.loads(lines[-1])
    if report["ok"] != report["total"]:
        raise RuntimeError("multi-turn: %d of %d requests failed" % (report["total"] - report["ok"], report["total"]))
    return report["hit_rate"], report["ttft_mean_ms"] / 1e3


def multi_turn(kind, policy, args):
    """One multi-turn run through policy on 2 fresh workers with a host prompt
    cache (a fresh engine is the only way to empty llama.cpp's): (cached
    share, mean TTFT in model seconds)."""
    procs, router = [], None
    try:
        for _ in range(2):
            if kind == "real":
                procs.append(engine(args.cache_ram_mib))
            else:
                procs.append(sim(args.profile, "--host-cache-mib", str(args.cache_ram_mib), "--time-scale",
                                 str(args.sim_time_scale)))
        for p in procs:
            wait_until(lambda: request(p.port, "GET", "/health").status == 200, timeout=60, what="worker up")
        router = start_router("--policy", policy, "--worker-urls", *[p.url for p in procs])
        share, ttft = run_multi_turn(router.port, args)
        return share, ttft * (args.sim_time_scale if kind == "sim" else 1.0)
    finally:
        for p in ([router] if router else []) + procs:
            p.stop()


# Pass marks of the multi-turn phase (cached share, absolute): the median
# simulated round-robin run within the real runs' range widened by
# RR_TOLERANCE (round robin is erratic on both: one run that loses the
# users' order, 12-13% instead of 50-60%, must not decide alone); the
# simulated cache_aware mean within CA_TOLERANCE of the real one (the
# simulator's prompts of equal length take equal time on both workers and
# keep the users' order, so its cache_aware sits at the top of the engines'
# range: 61.7% against 53-58%, tests/bench/RESULTS.md).
RR_TOLERANCE = 0.05
CA_TOLERANCE = 0.08


def check_multi_turn(args):
    """The multi-turn phase: whether it passes."""
    plan = [("round_robin", args.rr_runs), ("cache_aware", args.ca_runs)]
    runs = {}
    for kind in ("real", "sim"):
        for policy, n in plan:
            for i in range(n):
                runs.setdefault((kind, policy), []).append(multi_turn(kind, policy, args))
                share, ttft = runs[(kind, policy)][-1]
                print("  %s %s run %d: cached %.1f%%, mean TTFT %.0f ms" % (kind, policy, i + 1, 100 * share,
                                                                          1e3 * ttft), flush=True)
    print("\nmulti-turn: %d users x %d turns of %d-token messages, %d output tokens, closed loop; "
          "host prompt cache %d MiB per worker" % (args.users, args.turns, args.message_tokens,
                                                  args.turn_output_tokens, args.cache_ram_mib))
    print("%-12s %3s | %8s %9s | %8s %9s" % ("policy", "run", "cached", "TTFT ms", "cached", "TTFT ms"))
    print("%-12s %3s | %-18s | %-18s" % ("", "", "llama.cpp", "simulator"))
    for policy, n in plan:
        for i in range(n):
            (rs, rt), (ss, st) = runs[("real", policy)][i], runs[("sim", policy)][i]
            print("%-12s %3d | %7.1f%% %9.0f | %7.1f%% %9.0f" % (policy, i + 1, 100 * rs, 1e3 * rt, 100 * ss, 1e3 * st))
    ok = True
    real_rr = [share for share, _ in runs[("real", "round_robin")]]
    sim_rr = [share for share, _ in runs[("sim", "round_robin")]]
    if real_rr:
        lo, hi = min(real_rr) - RR_TOLERANCE, max(real_rr) + RR_TOLERANCE
        median = sorted(sim_rr)[len(sim_rr) // 2]
        within = lo <= median <= hi
        print("round_robin cached share: llama.cpp %.1f-%.1f%%, simulator %.1f-%.1f%% (median %.1f%%); the median "
              "within the real range +- %.0f points: %s" % (100 * min(real_rr), 100 * max(real_rr), 100 * min(sim_rr),
                                                           100 * max(sim_rr), 100 * median, 100 * RR_TOLERANCE,
                                                           "yes" if within else "no"))
        ok &= within
    if runs.get(("real", "cache_aware")):
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        rs = mean([x for x, _ in runs[("real", "cache_aware")]])
        ss = mean([x for x, _ in runs[("sim", "cache_aware")]])
        rt = mean([t for _, t in runs[("real", "cache_aware")]])
        st = mean([t for _, t in runs[("sim", "cache_aware")]])
        within = abs(ss - rs) <= CA_TOLERANCE
        print("cache_aware: cached llama.cpp %.1f%%, simulator %.1f%% (within %.0f points: %s); mean TTFT llama.cpp "
              "%.0f ms, simulator %.0f ms (%+.0f%%)" % (100 * rs, 100 * ss, 100 * CA_TOLERANCE,
                                                        "yes" if within else "no", 1e3 * rt, 1e3 * st,
                                                        100 * (st / rt - 1)))
        ok &= within
    return ok


def check(args):
    if args.quick:
        args.phases = ["sequence"]
    ok = True
    if "sequence" in args.phases or "burst" in args.phases:
        ok &= check_sequence(args)
    if "multi-turn" in args.phases:
        ok &= check_multi_turn(args)
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
    f.add_argument("--cache-ram-mib", type=int, default=160, help="host prompt cache of the second engine")
    f.add_argument("--host-cache-only", action="store_true", help="only the host prompt cache's costs")
    f.add_argument("--rounds", type=int, default=5, help="host cache: restores and saves per prompt size")
    c = sub.add_parser("check")
    c.add_argument("--profile", default="smollm2-cpu-1t")
    c.add_argument("--output-tokens", type=int, default=8)
    c.add_argument("--burst", type=int, default=6)
    c.add_argument("--quick", action="store_true",
                   help="the sequence's cache hits only (no TTFT verdict, no burst, no multi-turn)")
    c.add_argument("--phases", nargs="+", choices=["sequence", "burst", "multi-turn"],
                   default=["sequence", "burst", "multi-turn"])
    c.add_argument("--cache-ram-mib", type=int, default=160,
                   help="multi-turn: llama.cpp's --cache-ram and the simulator's --host-cache-mib")
    c.add_argument("--rr-runs", type=int, default=3, help="multi-turn runs through round_robin (each side)")
    c.add_argument("--ca-runs", type=int, default=2, help="multi-turn runs through cache_aware (each side)")
    c.add_argument("--users", type=int, default=12)
    c.add_argument("--turns", type=int, default=4)
    c.add_argument("--message-tokens", type=int, default=256)
    c.add_argument("--turn-output-tokens", type=int, default=16)
    c.add_argument("--sim-time-scale", type=float, default=4,
                   help="multi-turn: the simulators' clock (TTFT is converted back to model time)")
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
