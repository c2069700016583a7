"""hit_sources.py on a five-request trace whose every hit's source is known."""
import csv
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hit_sources  # noqa: E402

# timestamp (ms), blocks
TRACE = [(0, [1, 2, 3]), (100, [1, 2, 3, 4]), (5000, [1, 2, 9]), (6000, [7]),
         (7000, [1, 2, 3, 4, 5]), (8000, [7, 8])]


def write_run(path, rows):
    """rows: index -> (worker, cached, ttft_ms, e2e_ms)."""
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["index", "status", "prompt_tokens", "cached_tokens", "completion_tokens",
                      "ttft_ms", "e2e_ms", "worker"])
        for i, (worker, cached, ttft, e2e) in sorted(rows.items()):
            out.writerow([i, 200, 512 * len(TRACE[i][1]), cached, 4, ttft, e2e, worker])


class HitSources(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        d = self.dir.name
        self.trace = os.path.join(d, "trace.jsonl")
        with open(self.trace, "w") as f:
            f.write(json.dumps({"timestamp": 999, "input_length": 1, "output_length": 1,
                                "hash_ids": [42]}) + "\n")  # before the window
            for ts, ids in TRACE:
                f.write(json.dumps({"timestamp": 1000 + ts, "input_length": 512 * len(ids),
                                    "output_length": 4, "hash_ids": ids}) + "\n")
        # ours: 1 finds 0's prefix while 0 still runs (in flight); 2 finds
        # it long after both finished (kept); 3's sharer 5 came later; 4 is
        # on a worker where nothing shared its prefix (unexplained)
        self.ours = {0: ("w0", 0, 10, 1000), 1: ("w0", 1536, 50, 300), 2: ("w0", 1024, 20, 40),
                     3: ("w1", 0, 10, 20), 4: ("w1", 512, 10, 20), 5: ("w1", 512, 900, 950)}
        # the reference: 5 waited for 3 (which finished at 6000 + 3000, after
        # 5 arrived at 8000, before its first token at 8000 + 1500), and 4
        # found 1's four blocks on w0; `moved` also sends 2 away from w0
        self.ref = {0: ("w0", 0, 10, 1000), 1: ("w0", 1536, 50, 300), 2: ("w0", 1024, 20, 40),
                    3: ("w1", 0, 10, 3000), 4: ("w0", 2048, 10, 20), 5: ("w1", 512, 1500, 1600)}
        self.moved = {**self.ours, 2: ("w1", 0, 20, 40)}
        self.paths = {}
        for name, rows in (("ours", self.ours), ("ref", self.ref), ("moved", self.moved)):
            self.paths[name] = os.path.join(d, name + ".csv")
            write_run(self.paths[name], rows)

    def tearDown(self):
        self.dir.cleanup()

    def replay(self):
        return hit_sources.Replay(hit_sources.load_trace(self.trace, 1, 6), 1.0, 512)

    def test_each_hit_has_its_source(self):
        got = self.replay().sources(hit_sources.load_run(self.paths["ours"]))
        # 5's sharer 3 finished at 6020, before 5 arrived at 8000: kept
        self.assertEqual(got, {"in flight": 1536, "waited": 0, "kept": 1024 + 512,
                               "unexplained": 512})
        ref = self.replay().sources(hit_sources.load_run(self.paths["ref"]))
        # 4's four blocks: only 1 has them, and it finished before 4 came
        self.assertEqual(ref, {"in flight": 1536, "waited": 512, "kept": 1024 + 2048,
                               "unexplained": 0})

    def test_lost_hits_by_cause(self):
        r = self.replay()
        ref = hit_sources.load_run(self.paths["ref"])
        # ours lost 4's 2048 - 512: its sharers (0, 1) ran on w0 and had
        # finished before 4 arrived, but ours sent it to w1
        self.assertEqual(r.lost(hit_sources.load_run(self.paths["ours"]), ref),
                         {"other worker": 1536, "source finished before arrival": 0,
                          "source in flight at arrival": 0})
        lost = r.lost(hit_sources.load_run(self.paths["moved"]), ref)
        self.assertEqual(lost["other worker"], 1536 + 1024)

    def test_a_source_that_finished_first(self):
        ref = hit_sources.load_run(self.paths["ref"])
        late = {**self.ref, 4: ("w0", 0, 10, 20)}
        write_run(self.paths["moved"], late)
        lost = self.replay().lost(hit_sources.load_run(self.paths["moved"]), ref)
        self.assertEqual(lost["source finished before arrival"], 2048)
        running = {**self.ref, 1: ("w0", 1536, 50, 9000), 4: ("w0", 0, 10, 20)}
        write_run(self.paths["moved"], running)
        lost = self.replay().lost(hit_sources.load_run(self.paths["moved"]), ref)
        self.assertEqual(lost["source in flight at arrival"], 2048)

    def test_command_line(self):
        out = subprocess.run([sys.executable, os.path.join(HERE, "hit_sources.py"), "--trace",
                              self.trace, "--trace-start", "1", "--against", self.paths["ref"],
                              self.paths["ours"]], capture_output=True, text=True, check=True)
        lines = out.stdout.splitlines()
        self.assertIn("ours.csv", lines[1])
        self.assertRegex(lines[1], r"3584\s+43%\s+0%\s+43%\s+14%")
        self.assertRegex(lines[-1], r"ours.csv\s+1536\s+100%\s+0%\s+0%")

    def test_bad_input(self):
        bad = subprocess.run([sys.executable, os.path.join(HERE, "hit_sources.py"), "--trace",
                              os.path.join(self.dir.name, "missing"), self.paths["ours"]],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("hit_sources:", bad.stderr)
        bad = subprocess.run([sys.executable, os.path.join(HERE, "hit_sources.py"), "--trace",
                              self.trace, "--time-scale", "0", self.paths["ours"]],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)
        headless = os.path.join(self.dir.name, "headless.csv")
        with open(headless, "w") as f:
            f.write("index,status\n0,200\n")
        bad = subprocess.run([sys.executable, os.path.join(HERE, "hit_sources.py"), "--trace",
                              self.trace, headless], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("lacks the field 'worker'", bad.stderr)


if __name__ == "__main__":
    unittest.main()
