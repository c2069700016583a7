"""The workers' own load (dataplane/load_poll): the router reads each
worker's /get_load or /metrics, shows what it said (/metrics, /list_workers,
sglctl), forgets it when the worker stops answering, and routes around a
worker whose queue is deep with requests that other clients sent it
directly.

Workers here are simulators with one running slot and a slow decode clock,
so a handful of long requests sent straight to one of them (not through the
router) leaves it running one and queueing the rest, as a real engine
would; the router learns of them only from the worker."""
import json
import os
import re
import socket
import subprocess
import unittest

from harness import BIN, ProcTestCase, poll, post_stream, request, wait_until

GEN = "/generate"
INTERVAL_MS = "100"
SLOW = ("--max-running-requests", "1", "--decode-step-ms", "50")


def worker_of(r):
    return r.headers.get("x-worker-id")


def gen(port, text, tokens=1, timeout=10.0):
    """One request through the router; the worker that answered, or
    'timeout' when it did not answer in time (it went to a deep queue)."""
    try:
        r = request(port, "POST", GEN, {"text": text, "sampling_params": {"max_new_tokens": tokens}},
                    timeout=timeout)
    except socket.timeout:
        return "timeout"
    return worker_of(r) if r.status == 200 else "status %d" % r.status


class WorkerLoadCase(ProcTestCase):
    def slow_worker(self, name, *args):
        return self.sim("--worker-id", name, *SLOW, *args)

    def start(self, workers, *args):
        r = self.router("--worker-urls", *[w.url for w in workers], "--worker-load-interval-ms",
                        INTERVAL_MS, "--prometheus-port", "0", "--admin-port", "0", *args)
        poll(lambda: request(r.port, "GET", "/readiness").json().get("healthy_workers", 0),
             lambda healthy: healthy == len(workers))
        self.addr = "127.0.0.1:%d" % r.admin_port
        return r

    def load_directly(self, worker, n):
        """n long streaming requests straight to the worker (the head comes
        back at admission); closed when the test ends, which cancels them."""
        for i in range(n):
            c, status, _ = post_stream(worker.port, GEN, {"text": "other client %d" % i, "stream": True,
                                                          "sampling_params": {"max_new_tokens": 5000}})
            self.addCleanup(c.close)
            self.assertEqual(status, 200)

    def workers_seen(self, router):
        return {w["url"]: w for w in request(router.port, "GET", "/list_workers").json()["workers"]}

    def wait_reported(self, router, worker, running, waiting):
        seen = poll(lambda: self.workers_seen(router)[worker.url],
                    lambda w: (w["reported_running"], w["reported_waiting"]) == (running, waiting))
        self.assertEqual((seen["reported_running"], seen["reported_waiting"]), (running, waiting), seen)
        return seen

    def gauges(self, router):
        """{(metric, worker url): value} of the router's per-worker gauges."""
        text = request(router.metrics_port, "GET", "/metrics").body.decode()
        out = {}
        for m in re.finditer(r'^(sglang_router_worker_\w+)\{worker="([^"]+)"\} (-?\d+)$', text, re.M):
            out[(m.group(1), m.group(2))] = int(m.group(3))
        return out

    def ctl(self, *args):
        p = subprocess.run([os.path.join(BIN, "sglctl"), "--addr", self.addr, *args],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p.stdout


class Reports(WorkerLoadCase):
    def test_each_form_is_read_and_shown(self):
        """SGLang's /get_load, the /metrics gauges of vLLM, llama.cpp and an
        old SGLang (token-only /get_load), and a worker offering neither."""
        forms = {
            "sglang": self.slow_worker("sglang"),
            "vllm": self.slow_worker("vllm", "--metrics-format", "vllm"),
            "llamacpp": self.slow_worker("llamacpp", "--metrics-format", "llamacpp"),
            "sglang-0.4": self.slow_worker("sglang-0.4", "--load-format", "object"),
            "none": self.slow_worker("none", "--metrics-format", "none"),
        }
        for w in forms.values():
            self.load_directly(w, 3)  # one runs, two wait
        r = self.start(list(forms.values()))
        for name, w in forms.items():
            if name != "none":
                self.wait_reported(r, w, 1, 2)
        seen = self.workers_seen(r)
        self.assertGreater(seen[forms["sglang"].url]["reported_tokens"], 0)  # SGLang's num_tokens
        for name in ("vllm", "llamacpp", "sglang-0.4"):  # /metrics says nothing of tokens
            self.assertEqual(seen[forms[name].url]["reported_tokens"], -1, name)
        none = seen[forms["none"].url]
        self.assertEqual((none["reported_running"], none["reported_waiting"], none["external_load"]),
                         (-1, -1, 0))

        # /metrics: the same figures; external load = all 3 (the router sent none).
        g = self.gauges(r)
        for name, w in forms.items():
            want = (-1, -1, 0) if name == "none" else (1, 2, 3)
            got = tuple(g[(m, w.url)] for m in ("sglang_router_worker_reported_running",
                                                "sglang_router_worker_reported_waiting",
                                                "sglang_router_worker_external_load"))
            self.assertEqual(got, want, name)

        # sglctl: the table's load columns (role, bootstrap port and model
        # follow them), and the JSON.
        out = self.ctl("stats", "queues")
        self.assertRegex(out, r"REPORTED_RUNNING +REPORTED_WAITING +EXTERNAL_LOAD")
        for name, w in forms.items():
            tail = (r" +- +- +0" if name == "none" else r" +1 +2 +3") + r" +regular +- +- +0$"
            self.assertRegex(out, r"(?m)^" + re.escape(w.url) + r" +healthy .*" + tail, name)
        queues = {w["url"]: w for w in json.loads(self.ctl("--json", "stats", "queues"))["workers"]}
        self.assertEqual(queues[forms["vllm"].url]["reported_waiting"], 2)
        self.assertEqual(queues[forms["vllm"].url]["external_load"], 3)
        self.assertEqual(queues[forms["none"].url]["reported_running"], -1)

        # The router says once which form each worker answers.
        status, err = r.stop()
        self.procs.remove(r)
        self.assertEqual(status, 0, err)
        self.assertIn("worker %s reports its load through /get_load (sglang)" % forms["sglang"].url, err)
        self.assertIn("worker %s reports its load through /metrics (vllm)" % forms["vllm"].url, err)
        self.assertIn("worker %s reports its load through /metrics (llamacpp)" % forms["llamacpp"].url,
                      err)
        self.assertIn("worker %s reports its load through /metrics (sglang)" % forms["sglang-0.4"].url,
                      err)
        self.assertIn("worker %s reports no load of its own (/get_load: 404, /metrics: 404)"
                      % forms["none"].url, err)
        self.assertEqual(err.count("reports its load through"), 4, err)

    def test_a_worker_that_stops_answering_is_forgotten(self):
        a, b = self.slow_worker("a"), self.slow_worker("b")
        self.load_directly(a, 2)
        r = self.start([a, b])
        self.wait_reported(r, a, 1, 1)
        a.stop()
        self.procs.remove(a)
        # The next poll fails: the report goes at once, not after the health checks.
        self.wait_reported(r, a, -1, -1)
        self.assertEqual(self.workers_seen(r)[a.url]["external_load"], 0)
        self.assertEqual(self.workers_seen(r)[b.url]["reported_running"], 0)

    def test_poll_off(self):
        w = self.slow_worker("w")
        self.load_directly(w, 2)
        r = self.router("--worker-urls", w.url, "--worker-load-interval-ms", "0")
        # Ten default intervals pass without a report appearing.
        seen = poll(lambda: self.workers_seen(r)[w.url], lambda w: w["reported_running"] != -1,
                    timeout=1.0)
        self.assertEqual((seen["reported_running"], seen["external_load"]), (-1, 0))


class Routing(WorkerLoadCase):
    """Routing counts the requests a worker holds for other clients. Both
    tests depend on the policies reading external_load
    (sr_worker_route_load), which lands separately: until then they are
    expected failures."""

    def test_shortest_queue_avoids_a_worker_busy_with_other_clients(self):
        busy, idle = self.slow_worker("busy"), self.slow_worker("idle")
        r = self.start([busy, idle], "--policy", "shortest_queue")
        self.load_directly(busy, 6)
        self.wait_reported(r, busy, 1, 5)
        for i in range(10):  # one sent to the deep queue waits there: stop at the first
            self.assertEqual(gen(r.port, "question %d" % i, timeout=5), "idle", "request %d" % i)

    def test_cache_aware_leaves_its_cache_for_an_idle_worker(self):
        a, b = self.slow_worker("a"), self.slow_worker("b")
        r = self.start([a, b], "--policy", "cache_aware", "--balance-abs-threshold", "2",
                       "--balance-rel-threshold", "1.0")
        prompt = "a long system prompt that both turns share " * 20
        home = gen(r.port, prompt + "first turn")
        self.assertEqual(gen(r.port, prompt + "second turn"), home)  # the cache keeps it there
        busy, other = (a, "b") if home == "a" else (b, "a")
        self.load_directly(busy, 6)
        self.wait_reported(r, busy, 1, 5)
        # Its queue (6 beyond the router's 0, over --balance-abs-threshold 2)
        # outweighs the cache.
        for i in range(5):
            self.assertEqual(gen(r.port, prompt + "turn %d" % i, timeout=5), other, "turn %d" % i)

    def test_a_worker_offering_no_report_changes_nothing(self):
        """No report, no external load: cache affinity holds whatever the
        worker is doing for others (here it has room to run them all)."""
        a = self.sim("--worker-id", "a", "--metrics-format", "none", "--decode-step-ms", "50")
        b = self.sim("--worker-id", "b", "--metrics-format", "none", "--decode-step-ms", "50")
        r = self.start([a, b], "--policy", "cache_aware", "--balance-abs-threshold", "2",
                       "--balance-rel-threshold", "1.0")
        prompt = "another long shared prompt " * 20
        home = gen(r.port, prompt + "first")
        busy = a if home == "a" else b
        self.load_directly(busy, 6)
        wait_until(lambda: request(busy.port, "GET", "/get_server_info").json()["internal_states"][0]
                   ["num_running_reqs"] == 6, what="the direct requests running")
        placed = [gen(r.port, prompt + "turn %d" % i) for i in range(5)]
        self.assertEqual(placed, [home] * 5)
        for w in self.workers_seen(r).values():
            self.assertEqual((w["reported_running"], w["reported_waiting"], w["external_load"]),
                             (-1, -1, 0))
        g = self.gauges(r)
        self.assertEqual(g[("sglang_router_worker_reported_running", busy.url)], -1)
        self.assertEqual(g[("sglang_router_worker_external_load", busy.url)], 0)


if __name__ == "__main__":
    unittest.main()
