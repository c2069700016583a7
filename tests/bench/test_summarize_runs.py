"""summarize_runs.py against runs whose answer is known: one router ahead
on one column, behind on another and level on the rest, in noise."""
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import summarize_runs  # noqa: E402


def run_row(label, rng, rps, p99):
    return {"label": label, "rps": rps + rng.gauss(0, 1), "hit_rate": 0.05 + rng.gauss(0, 0.005),
            "ttft_mean_ms": 1000 + rng.gauss(0, 50), "ttft_p50_ms": 800 + rng.gauss(0, 50),
            "ttft_p99_ms": p99 + rng.gauss(0, 100), "e2e_p99_ms": 12000 + rng.gauss(0, 500),
            "imbalance": 1.1 + rng.gauss(0, 0.02)}


class SummarizeRuns(unittest.TestCase):
    def setUp(self):
        rng = random.Random(7)
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "runs.jsonl")
        with open(self.path, "w") as f:
            for _ in range(15):
                # ours: 10 req/s slower (worse), TTFT p99 1 s lower (better)
                f.write(json.dumps(run_row("ours", rng, 50, 2000)) + "\n")
                f.write(json.dumps(run_row("reference_cache_aware", rng, 60, 3000)) + "\n")

    def tearDown(self):
        self.dir.cleanup()

    def test_verdicts_follow_the_gaps_not_the_noise(self):
        runs = summarize_runs.load([self.path])
        result = summarize_runs.compare(runs, "ours", "reference_cache_aware", random.Random(1))
        self.assertEqual(result["rps"][3], "worse")
        self.assertEqual(result["ttft_p99_ms"][3], "better")
        for key in ("hit_rate", "ttft_mean_ms", "ttft_p50_ms", "e2e_p99_ms", "imbalance"):
            self.assertEqual(result[key][3], "tie", key)
        diff, lo, hi, _ = result["rps"]
        self.assertTrue(lo <= diff <= hi and -13 < diff < -7, result["rps"])

    def test_command_prints_medians_and_verdicts(self):
        out = subprocess.run([sys.executable, os.path.join(HERE, "summarize_runs.py"), self.path],
                             capture_output=True, text=True, check=True).stdout
        self.assertRegex(out, r"ours +15 +5\d\.\d\d")
        self.assertRegex(out, r"req/s +-\d+\.\d\d +\[.*\] +worse")
        self.assertRegex(out, r"TTFT p99 +-\d+\.\d\d +\[.*\] +better")

    def test_bad_input_is_a_clear_error(self):
        for text in ("not json\n", '{"no_label": 1}\n', "[1]\n", '{"label": "a", "rps": "fast"}\n'):
            with open(self.path, "w") as f:
                f.write(text)
            r = subprocess.run([sys.executable, os.path.join(HERE, "summarize_runs.py"), self.path],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("summarize_runs:", r.stderr)
        r = subprocess.run([sys.executable, os.path.join(HERE, "summarize_runs.py"),
                            os.path.join(self.dir.name, "missing.jsonl")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("No such file", r.stderr)


if __name__ == "__main__":
    unittest.main()
