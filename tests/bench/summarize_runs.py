#!/usr/bin/env python3
"""summarize_runs: medians of repeated compare-policies.sh runs, and where
each policy stands against a baseline with a bootstrap interval.

    tests/bench/summarize_runs.py [--baseline LABEL] FILE.jsonl...

Reads sglang-bench JSON lines (one per policy per run; compare-policies.sh
--runs N writes N of each into one file, and files from separate runs can
be pooled). Prints, per label, the number of runs and the median of every
column. With a baseline (default reference_cache_aware, when present), one
more line per label: the difference of medians against the baseline and a
verdict per column: "better" or "worse" when the 95% bootstrap interval of
that difference excludes zero, "tie" when it does not. One run of these
traces is too noisy to rank routers (hit rate 1.8-4.4% between runs of the
same router, tests/bench/RESULTS.md); the interval says when a gap is more
than that noise.

The bootstrap resamples each label's runs with replacement (2,000 times,
fixed seed, so the same files give the same verdicts) and takes the 2.5th
and 97.5th percentiles of the difference of medians.
"""
import argparse
import json
import random
import statistics
import sys

# (key, heading, scale, higher is better)
COLUMNS = [
    ("rps", "req/s", 1, True),
    ("hit_rate", "hit %", 100, True),
    ("ttft_mean_ms", "TTFT mean", 1, False),
    ("ttft_p50_ms", "TTFT p50", 1, False),
    ("ttft_p99_ms", "TTFT p99", 1, False),
    ("e2e_p99_ms", "e2e p99", 1, False),
    ("imbalance", "max/mean", 1, False),
    ("token_imbalance", "tok share", 1, False),  # max/mean prompt tokens: older files lack it
]
RESAMPLES = 2000


def load(paths):
    """{label: [row, ...]}; ValueError names the first line that is not a run."""
    runs = {}
    for path in paths:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("label"), str):
                    raise ValueError("%s:%d: not a run (an object with a label)" % (path, n))
                for key, _, _, _ in COLUMNS:
                    if key in row and (not isinstance(row[key], (int, float))
                                       or isinstance(row[key], bool)):
                        raise ValueError("%s:%d: %s is not a number" % (path, n, key))
                runs.setdefault(row["label"], []).append(row)
    return runs


def values(rows, key, scale):
    return [scale * r[key] for r in rows if key in r]


def interval(a, b, rng):
    """95% bootstrap interval of median(a) - median(b)."""
    diffs = sorted(
        statistics.median(rng.choices(a, k=len(a))) - statistics.median(rng.choices(b, k=len(b)))
        for _ in range(RESAMPLES))
    return diffs[int(0.025 * RESAMPLES)], diffs[int(0.975 * RESAMPLES) - 1]


def verdict(lo, hi, higher_better):
    if lo > 0:
        return "better" if higher_better else "worse"
    if hi < 0:
        return "worse" if higher_better else "better"
    return "tie"


def compare(runs, label, baseline, rng):
    """{key: (difference of medians, lo, hi, verdict)} of label against baseline."""
    out = {}
    for key, _, scale, higher_better in COLUMNS:
        a, b = values(runs[label], key, scale), values(runs[baseline], key, scale)
        if not a or not b:
            continue
        lo, hi = interval(a, b, rng)
        out[key] = (statistics.median(a) - statistics.median(b), lo, hi,
                    verdict(lo, hi, higher_better))
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="reference_cache_aware")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)
    try:
        runs = load(args.files)
    except (OSError, ValueError) as e:
        print("summarize_runs: %s" % e, file=sys.stderr)
        return 2
    if not runs:
        print("summarize_runs: no runs in %s" % " ".join(args.files), file=sys.stderr)
        return 2
    width = max(len(label) for label in runs) + 2
    print("%-*s %4s" % (width, "medians", "runs") +
          "".join(" %10s" % heading for _, heading, _, _ in COLUMNS))
    for label, rows in runs.items():
        cells = []
        for key, _, scale, _ in COLUMNS:
            v = values(rows, key, scale)
            cells.append(" %10.2f" % statistics.median(v) if v else " %10s" % "-")
        print("%-*s %4d" % (width, label, len(rows)) + "".join(cells))
    if args.baseline not in runs:
        return 0
    rng = random.Random(1)
    print("\nagainst %s (difference of medians, 95%% bootstrap interval, verdict):" % args.baseline)
    for label in runs:
        if label == args.baseline:
            continue
        print(label)
        result = compare(runs, label, args.baseline, rng)
        for key, heading, _, _ in COLUMNS:
            if key in result:
                diff, lo, hi, word = result[key]
                print("  %-10s %+10.2f  [%+.2f, %+.2f]  %s" % (heading, diff, lo, hi, word))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
