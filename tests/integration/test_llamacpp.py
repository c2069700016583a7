"""A real inference engine behind the router: two llama.cpp workers on CPU
(xllamacpp, SmolLM2-135M; 1 thread, 1 slot, no host prompt cache each),
started the way sglang-launch-server starts them. Cache-aware routing must
show in the engine's own accounting (usage.prompt_tokens_details.
cached_tokens); text is never asserted (so small a model writes poorly)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

from harness import BIN, Proc, ProcTestCase, RawHTTP, free_port, output_file, request, smollm2_model, wait_until

PKG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "python")
ENV = dict(os.environ, PYTHONPATH=PKG)

# About 400 tokens of shared prefix (the model's tokenizer: ~1.3 tokens a word here).
PREFIX = ("You are a meticulous assistant for a company that builds routers for language model "
          "inference. Answer in one short sentence. " * 18)


def engine(port):
    return Proc([sys.executable, "-m", "sglang_router.llamacpp_worker", "--model-path", smollm2_model(),
                 "--port", str(port), "--threads", "1", "--slots", "1", "--cache-ram-mib", "0"],
                env=ENV, timeout=60)


def complete(port, prompt, tokens=4, **kw):
    return request(port, "POST", "/v1/completions", {"model": "m", "prompt": prompt, "max_tokens": tokens,
                                                     "temperature": 0}, timeout=120, **kw)


class RealEngine(ProcTestCase):
    @classmethod
    def setUpClass(cls):
        smollm2_model()  # downloaded once, before any timing

    def setUp(self):
        super().setUp()
        self.engines = [engine(free_port()), engine(free_port())]
        self.procs += self.engines
        for e in self.engines:
            wait_until(lambda: request(e.port, "GET", "/health").status == 200, timeout=60, what="engine up")

    def erase(self):
        for e in self.engines:
            self.assertEqual(request(e.port, "POST", "/slots/0?action=erase").status, 200)

    def router(self, policy, *args):
        return super().router("--policy", policy, "--worker-urls", *[e.url for e in self.engines], *args)

    def test_cache_aware_reuses_the_prefix_and_round_robin_does_not(self):
        results = {}
        for policy, prefix in (("cache_aware", "A. " + PREFIX), ("round_robin", "B. " + PREFIX)):
            self.erase()
            r = self.router(policy)
            first = complete(r.port, prefix + "Question: what is a router?")
            second = complete(r.port, prefix + "Question: why cache prompts?")
            self.assertEqual((first.status, second.status), (200, 200))
            u1, u2 = first.json()["usage"], second.json()["usage"]
            results[policy] = (u1["prompt_tokens"], u2["prompt_tokens_details"]["cached_tokens"])
            r.stop()
            self.procs.remove(r)
        print("\nprompt tokens, cached tokens of the second request:", results, file=sys.stderr)
        prompt_tokens, cached = results["cache_aware"]
        self.assertGreater(prompt_tokens, 350)
        self.assertGreaterEqual(cached, 0.9 * (prompt_tokens - 10), results)  # the prefix, reused
        self.assertLess(results["round_robin"][1], 0.2 * prompt_tokens, results)  # the other worker: cold

    def test_the_simulator_profile_predicts_every_cache_hit(self):
        # tests/bench/calibrate_sim.py's workload (shared prefixes and chats,
        # interleaved so that one-slot workers evict), one request at a time,
        # through cache_aware: once in front of these engines, once in front
        # of two simulated workers with the smollm2-cpu-1t profile (a 10x
        # clock: timing is the benchmark's business, hits are this test's).
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
        import calibrate_sim
        real = calibrate_sim.run_sequence(self.router("cache_aware").port, 8)
        sims = [self.sim("--profile", "smollm2-cpu-1t", "--time-scale", "10") for _ in range(2)]
        r = super().router("--policy", "cache_aware", "--worker-urls", *[s.url for s in sims])
        sim = calibrate_sim.run_sequence(r.port, 8)
        print("\n" + calibrate_sim.table(real, sim), file=sys.stderr)
        self.assertTrue(all(calibrate_sim.agree(a, b) for a, b in zip(real, sim)))
        self.assertGreaterEqual(sum(1 for a in real if a[2] / a[1] >= 0.5), 2)  # hits happened, and agree

    def test_streaming_models_and_missing_routes(self):
        r = self.router("cache_aware")
        c = RawHTTP(r.port, timeout=120)
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 6,
                           "stream": True, "stream_options": {"include_usage": True}}).encode()
        c.send(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
        status, _ = c.read_head()
        self.assertEqual(status, 200)
        events = [data for _, data in c.sse_events()]
        c.close()
        self.assertEqual(events[-1], "[DONE]")
        usage = [json.loads(e)["usage"] for e in events[:-1] if json.loads(e).get("usage")]
        self.assertTrue(usage and usage[-1]["completion_tokens"] > 0)
        models = request(r.port, "GET", "/v1/models").json()
        self.assertTrue(any(os.path.basename(smollm2_model()) in m["id"] for m in models["data"]), models)
        # SGLang-only routes: the engine's own 404, passed through at once.
        t0 = time.monotonic()
        self.assertEqual(request(r.port, "POST", "/generate", {"text": "x"}).status, 404)
        self.assertLess(time.monotonic() - t0, 2)

    def test_a_client_that_leaves_frees_the_slot(self):
        r = self.router("round_robin")
        c = RawHTTP(r.port, timeout=60)
        body = json.dumps({"model": "m", "prompt": "Count slowly:", "max_tokens": 2000, "stream": True}).encode()
        c.send(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertEqual(c.read_head()[0], 200)
        next(c.sse_events())

        def busy():
            return sum(1 for e in self.engines for s in request(e.port, "GET", "/slots").json() if s["is_processing"])
        self.assertEqual(busy(), 1)
        c.close()
        t0 = time.monotonic()
        wait_until(lambda: busy() == 0, timeout=5, what="the slot freed")
        self.assertLess(time.monotonic() - t0, 1.0)

    def test_the_router_reads_the_engines_own_load(self):
        """llama.cpp has no /get_load: the router's load poll reads its
        /metrics gauges (llamacpp:requests_processing, _deferred). A
        request sent to one engine directly shows as that engine's
        external load, which the router did not send."""
        r = self.router("round_robin", "--worker-load-interval-ms", "100")
        c = RawHTTP(self.engines[0].port, timeout=60)
        self.addCleanup(c.close)
        body = json.dumps({"model": "m", "prompt": "Count slowly:", "max_tokens": 2000, "stream": True}).encode()
        c.send(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertEqual(c.read_head()[0], 200)
        next(c.sse_events())

        def reported():
            return [(w["reported_running"], w["reported_waiting"], w["external_load"])
                    for w in request(r.port, "GET", "/list_workers").json()["workers"]]
        wait_until(lambda: reported() == [(1, 0, 1), (0, 0, 0)], what="the engines' own load")
        c.close()
        wait_until(lambda: reported() == [(0, 0, 0), (0, 0, 0)], what="the slot free again")
        status, err = r.stop()
        self.procs.remove(r)
        self.assertEqual(status, 0, err)
        self.assertIn("worker %s reports its load through /metrics (llamacpp)" % self.engines[0].url, err)

    def test_a_slow_prefill_is_neither_unhealthy_nor_retried(self):
        # Health checks every second with a 1 s timeout, while one engine
        # spends seconds on a cold 1,500-token prompt.
        r = self.router("round_robin", "--health-check-interval-secs", "1", "--health-check-timeout-secs", "1")
        before = [self.prompt_tokens(e) for e in self.engines]
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("r", complete(r.port, "Z " * 1500, tokens=2)))
        t0 = time.monotonic()
        t.start()
        while t.is_alive():
            health = [w["health"] for w in request(r.port, "GET", "/list_workers").json()["workers"]]
            self.assertEqual(health, ["healthy", "healthy"])
            time.sleep(0.2)  # the behaviour under test: sampled all along the slow request
        t.join()
        self.assertGreater(time.monotonic() - t0, 2.0)  # it was slow indeed
        self.assertEqual(result["r"].status, 200)
        added = sum(self.prompt_tokens(e) for e in self.engines) - sum(before)
        self.assertEqual(added, result["r"].json()["usage"]["prompt_tokens"])  # prefilled once

    def prompt_tokens(self, e):
        for line in request(e.port, "GET", "/metrics").body.decode().splitlines():
            if line.startswith("llamacpp:prompt_tokens_total "):
                return float(line.split()[1])
        raise AssertionError("no llamacpp:prompt_tokens_total")

    def test_colaunch(self):
        for e in self.engines:  # two engines fill our two cores: the launcher brings its own
            e.stop()
        self.procs = [p for p in self.procs if p not in self.engines]
        port = free_port()
        with output_file() as out:
            p = subprocess.Popen([os.path.join(BIN, "sglang-launch-server"), "--backend", "llamacpp",
                                  "--llamacpp-python", sys.executable, "--llamacpp-cache-ram-mib", "0",
                                  "--model-path", smollm2_model(), "--dp-size", "2", "--port", str(port),
                                  "--worker-base-port", str(free_port()), "--router-prometheus-port", "-1"],
                                 stdout=out, stderr=subprocess.STDOUT, text=True)
            try:
                def ready():
                    out.seek(0)
                    return "ready: http" in out.read() or p.poll() is not None
                wait_until(ready, timeout=90, what="the co-launch ready")
                self.assertIsNone(p.poll())
                kids = [int(x) for x in subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True,
                                                       text=True).stdout.split()]
                self.assertEqual(len(kids), 3)
                self.assertEqual(complete(port, "Hello").status, 200)
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(timeout=60), 0)
                for k in kids:
                    self.assertFalse(os.path.exists("/proc/%d/cmdline" % k) and
                                     open("/proc/%d/stat" % k).read().split(")")[-1].split()[0] != "Z")
            finally:
                if p.poll() is None:
                    p.kill()

    def test_a_missing_engine_package_is_named(self):
        p = subprocess.run([os.path.join(BIN, "sglang-launch-server"), "--backend", "llamacpp",
                            "--llamacpp-python", "/usr/bin/python3", "--model-path", smollm2_model(),
                            "--dp-size", "1", "--port", str(free_port()), "--worker-base-port", str(free_port()),
                            "--router-prometheus-port", "-1"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("xllamacpp", p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
