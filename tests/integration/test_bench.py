"""sglang-bench end to end: the same seeded workloads through the router
with each policy, over real sockets. Cache-aware routing must beat round
robin on cache hits for shared prefixes; every workload and arrival mode
must run without failures."""
import json
import os
import subprocess
import unittest

from harness import BIN, ProcTestCase, request

TRACE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data",
                     "mooncake-synthetic-trace.jsonl")


class Bench(ProcTestCase):
    def bench(self, url, *args):
        p = subprocess.run([os.path.join(BIN, "sglang-bench"), "--url", url, "--quiet", "--json", "-",
                            *args], capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def setUp(self):
        super().setUp()
        self.ws = [self.sim("--worker-id", "w%d" % i, "--time-scale", "50") for i in range(4)]

    def through(self, policy, *args):
        for w in self.ws:
            request(w.port, "POST", "/flush_cache")
        r = self.router("--policy", policy, "--worker-urls", *[w.url for w in self.ws])
        try:
            return self.bench(r.url, *args)
        finally:
            status, err = r.stop()
            self.procs.remove(r)

    def test_cache_aware_beats_round_robin_on_shared_prefixes(self):
        args = ("--workload", "shared-prefix", "--groups", "8", "--prompts-per-group", "12",
                "--system-tokens", "512", "--question-tokens", "32", "--output-tokens", "8",
                "--concurrency", "16", "--seed", "3")
        rr = self.through("round_robin", *args)
        ca = self.through("cache_aware", *args)
        for rep in (rr, ca):
            self.assertEqual((rep["ok"], rep["failed"], rep["rejected"]), (96, 0, 0))
            self.assertEqual(len(rep["workers"]), 4)
        self.assertGreater(ca["hit_rate"], rr["hit_rate"] + 0.1, (ca, rr))
        self.assertGreater(ca["hit_rate"], 0.8)

    def test_multi_turn_and_poisson(self):
        rep = self.through("cache_aware", "--workload", "multi-turn", "--users", "6", "--turns", "4",
                           "--message-tokens", "32", "--output-tokens", "8")
        self.assertEqual((rep["ok"], rep["failed"]), (24, 0))
        self.assertGreater(rep["hit_rate"], 0.5)  # later turns find earlier ones cached
        rep = self.through("round_robin", "--workload", "shared-prefix", "--groups", "2",
                           "--prompts-per-group", "10", "--arrival", "poisson", "--rate", "200",
                           "--system-tokens", "64", "--output-tokens", "4")
        self.assertEqual((rep["ok"], rep["failed"]), (20, 0))

    def test_openai_completions_api(self):
        # Engines without SGLang's /generate (llama.cpp): prompts as /v1/completions, usage read
        # from the stream's last chunk.
        rep = self.through("cache_aware", "--api", "openai", "--workload", "shared-prefix", "--groups", "4",
                           "--prompts-per-group", "6", "--system-tokens", "256", "--question-tokens", "16",
                           "--output-tokens", "4", "--concurrency", "4", "--seed", "3")
        self.assertEqual((rep["ok"], rep["failed"]), (24, 0))
        self.assertGreater(rep["hit_rate"], 0.6)
        self.assertGreater(rep["ttft_mean_ms"], 0)
        self.assertEqual(len(rep["workers"]), 4)

    @unittest.skipUnless(os.path.exists(TRACE), "the shared Mooncake trace is not beside the clone")
    def test_trace_replay(self):
        rep = self.through("cache_aware", "--workload", "trace", "--trace", TRACE, "--max-requests", "200",
                           "--arrival", "trace", "--time-scale", "20", "--timeout-secs", "120")
        self.assertEqual((rep["ok"], rep["failed"]), (200, 0))
        self.assertGreater(rep["hit_rate"], 0.0)

    def test_bad_arguments(self):
        p = subprocess.run([os.path.join(BIN, "sglang-bench"), "--url", "http://127.0.0.1:1",
                            "--workload", "trace", "--trace", "/nonexistent"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("cannot read trace", p.stderr)


if __name__ == "__main__":
    unittest.main()
