#!/usr/bin/env python3
"""hit_sources: where a trace replay's cache hits came from, and why one
router got hits that another did not.

    tests/bench/hit_sources.py --trace FILE [--trace-start N] [--time-scale X]
        [--block-tokens N] [--against REF.csv] RUN.csv...

Reads the per-request files of sglang-bench --requests-csv (index, status,
prompt_tokens, cached_tokens, ..., ttft_ms, e2e_ms, worker) of a replay of
FILE from request N on (--trace-start) at --time-scale, and the trace's
blocks (hash_ids). A request's cached tokens came from an earlier request
on the same worker whose prompt shares at least as many whole blocks; the
latest-finishing such request is its source, and the hit is:

  in flight   the source had not finished when this request's first token
              came: its prefix was pinned by a request still queued or
              running on that worker;
  waited      the source finished after this request arrived at the
              router but before its first token;
  kept        the source had finished before this request arrived: the
              worker kept the prefix in its cache;
  unexplained no such request (e.g. a prefix from before the window).

With --against REF.csv, each RUN.csv is also compared request by request
with the reference's run: the cached tokens REF got and RUN did not, by
cause in RUN (the request went to another worker than its source; its
source had finished before it arrived, so the worker had to keep the
prefix; or its source was still in flight when it arrived).

Times come from the trace (arrival = timestamp / time scale, relative to
the window's first request) and the file (first token = arrival + ttft,
finish = arrival + e2e); a router that queues requests shifts neither.
"""
import argparse
import csv
import json
import sys

SOURCES = ("in flight", "waited", "kept", "unexplained")
CAUSES = ("other worker", "source finished before arrival", "source in flight at arrival")


def load_trace(path, start, count):
    """(timestamp in ms, hash_ids) of requests start .. start + count - 1."""
    reqs = []
    with open(path) as f:
        for n, line in enumerate(f):
            if n < start:
                continue
            if len(reqs) == count:
                break
            if line.strip():
                o = json.loads(line)
                reqs.append((o["timestamp"], o["hash_ids"]))
    return reqs


def load_run(path):
    """{index: (worker, cached, ttft_ms, e2e_ms)} of the requests that succeeded."""
    rows = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] != "200":
                continue
            rows[int(row["index"])] = (row["worker"], int(row["cached_tokens"]),
                                       float(row["ttft_ms"]), float(row["e2e_ms"]))
    return rows


def shared_blocks(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class Replay:
    def __init__(self, trace, time_scale, block_tokens):
        self.trace = trace
        t0 = trace[0][0] if trace else 0
        self.arrival = [(ts - t0) / time_scale for ts, _ in trace]
        self.block = block_tokens

    def source_finish(self, run, i, worker, blocks):
        """The latest finish (ms) of an earlier request on worker sharing
        blocks whole blocks with request i, or None."""
        latest = None
        hi = self.trace[i][1]
        for j in range(i):
            r = run.get(j)
            if r is None or r[0] != worker or shared_blocks(hi, self.trace[j][1]) < blocks:
                continue
            finish = self.arrival[j] + r[3]
            latest = finish if latest is None else max(latest, finish)
        return latest

    def sources(self, run):
        """Cached tokens by source (SOURCES)."""
        out = dict.fromkeys(SOURCES, 0)
        for i, (worker, cached, ttft, _) in run.items():
            blocks = cached // self.block
            if blocks == 0 or i >= len(self.trace):
                continue
            finish = self.source_finish(run, i, worker, blocks)
            if finish is None:
                kind = "unexplained"
            elif finish >= self.arrival[i] + ttft:
                kind = "in flight"
            elif finish >= self.arrival[i]:
                kind = "waited"
            else:
                kind = "kept"
            out[kind] += cached
        return out

    def lost(self, run, ref):
        """Cached tokens ref got and run did not, by cause (CAUSES)."""
        out = dict.fromkeys(CAUSES, 0)
        for i, (worker, cached, _, _) in run.items():
            if i not in ref or i >= len(self.trace):
                continue
            gap = ref[i][1] - cached
            blocks = ref[i][1] // self.block
            if gap < self.block or blocks == 0:
                continue
            finish = self.source_finish(run, i, worker, blocks)
            if finish is None:
                out["other worker"] += gap
            elif finish < self.arrival[i]:
                out["source finished before arrival"] += gap
            else:
                out["source in flight at arrival"] += gap
        return out


def shares(counts):
    total = sum(counts.values())
    return total, {k: (100.0 * v / total if total else 0.0) for k, v in counts.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", required=True)
    ap.add_argument("--trace-start", type=int, default=0)
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--block-tokens", type=int, default=512)
    ap.add_argument("--against", metavar="REF.csv")
    ap.add_argument("runs", nargs="+", metavar="RUN.csv")
    a = ap.parse_args(argv)
    if a.time_scale <= 0 or a.block_tokens <= 0 or a.trace_start < 0:
        ap.error("--time-scale and --block-tokens must be positive, --trace-start at least 0")
    try:
        runs = [(p, load_run(p)) for p in a.runs]
        ref = load_run(a.against) if a.against else None
        indices = [i for _, run in runs for i in run] + list(ref or ())
        trace = load_trace(a.trace, a.trace_start, max(indices, default=-1) + 1)
    except KeyError as e:
        print("hit_sources: a file lacks the field %s (is it a --requests-csv file and a trace?)"
              % e, file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:
        print("hit_sources: %s" % e, file=sys.stderr)
        return 2
    replay = Replay(trace, a.time_scale, a.block_tokens)
    print("%-40s %10s  %s" % ("run", "cached", "  ".join("%11s" % s for s in SOURCES)))
    for path, run in runs + ([(a.against, ref)] if ref else []):
        total, pct = shares(replay.sources(run))
        print("%-40s %10d  %s" % (path[-40:], total,
                                  "  ".join("%10.0f%%" % pct[s] for s in SOURCES)))
    if ref:
        print()
        print("%-40s %10s  %s" % ("lost against " + a.against[-27:], "tokens",
                                  "  ".join(CAUSES)))
        for path, run in runs:
            total, pct = shares(replay.lost(run, ref))
            print("%-40s %10d  %s" % (path[-40:], total, "  ".join(
                "%*.0f%%" % (len(c) - 1, pct[c]) for c in CAUSES)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
