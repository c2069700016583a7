"""The router in front of simulators playing SGLang's PD roles (the decode
worker waits for its room's KV from the prefill worker it is told about):
the bootstrap fields the router sets really connect the halves, the
prefill worker's prefix cache shortens the decode answer's time, a dead
prefill worker leaves no decode waiting, and a client that leaves cancels
both halves on the workers themselves (/sim/stats)."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ProcTestCase, free_port, metrics, post_stream, request, wait_until  # noqa: E402


def stats(w):
    return request(w.port, "GET", "/sim/stats").json()


class PdSim(ProcTestCase):
    def prefill(self, name, *args):
        port = free_port()
        w = self.sim("--worker-id", name, "--disaggregation-mode", "prefill",
                     "--disaggregation-bootstrap-port", str(port), *args)
        w.bootstrap_port = port
        return w

    def decode(self, name, *args):
        return self.sim("--worker-id", name, "--disaggregation-mode", "decode", *args)

    def test_a_pair_serves_and_the_prefill_cache_counts(self):
        ps = [self.prefill("p%d" % i, "--time-scale", "10") for i in range(2)]
        ds = [self.decode("d%d" % i, "--time-scale", "10") for i in range(2)]
        args = ["--pd-disaggregation"]
        for p in ps:
            args += ["--prefill", p.url, str(p.bootstrap_port)]
        for d in ds:
            args += ["--decode", d.url]
        r = self.router(*args, "--prefill-policy", "cache_aware", "--decode-policy", "round_robin",
                        "--prometheus-port", "0")
        system = "You are a careful assistant. " * 200  # ~1,500 tokens shared
        cached = []
        for i in range(6):
            resp = request(r.port, "POST", "/generate", {"text": system + "question %d" % i,
                                                         "sampling_params": {"max_new_tokens": 4}})
            self.assertEqual(resp.status, 200, resp.body)
            self.assertIn(resp.headers["x-worker-id"], ("d0", "d1"))
            cached.append(resp.json()["meta_info"]["cached_tokens"])
        # After the first, the shared prefix is found on the prefill worker
        # cache_aware keeps choosing.
        self.assertEqual(cached[0], 0)
        self.assertTrue(all(c > 1000 for c in cached[1:]), cached)
        # The streamed form, through the chat route.
        c, status, _ = post_stream(r.port, "/v1/chat/completions", {
            "messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 3})
        self.assertEqual(status, 200)
        events = [e for _, e in c.sse_events()]
        c.close()
        self.assertEqual(events[-1], "[DONE]")
        self.assertTrue(all("error" not in json.loads(e) for e in events[:-1]))
        served = sum(stats(p)["rooms_served"] for p in ps)
        self.assertEqual(served, 7)
        for w in ps + ds:
            wait_until(lambda: metrics(r.metrics_port)['sglang_router_worker_in_flight{worker="%s"}' % w.url] == 0,
                       what="in flight 0")

    def test_a_dead_prefill_worker_leaves_no_decode_waiting(self):
        good, dead = self.prefill("p-good"), self.prefill("p-dead")
        d = self.decode("d0", "--disaggregation-timeout-ms", "20000")
        r = self.router("--pd-disaggregation", "--prefill", good.url, str(good.bootstrap_port),
                        "--prefill", dead.url, str(dead.bootstrap_port), "--decode", d.url,
                        "--prefill-policy", "round_robin", "--health-check-interval-secs", "600",
                        "--prometheus-port", "0")
        dead.stop()
        started = time.monotonic()
        for i in range(4):
            resp = request(r.port, "POST", "/generate", {"text": "q%d" % i, "sampling_params": {"max_new_tokens": 2}})
            self.assertEqual(resp.status, 200, resp.body)
        self.assertLess(time.monotonic() - started, 10)  # no decode sat out its 20 s wait
        wait_until(lambda: stats(d)["requests_in_flight"] == 0, what="decode idle")
        st = stats(d)
        self.assertEqual(st["requests_finished"], 4)
        # The decode halves of the pairs with the dead prefill were cancelled
        # (or, when the decode worker found the bootstrap service dead before
        # the router's cancel reached it, failed on their own: that answer
        # went nowhere, the clients all got 200 above).
        self.assertGreater(st["requests_received"], 4)
        self.assertEqual(st["requests_cancelled"] + st["requests_failed"], st["requests_received"] - 4)
        self.assertGreater(metrics(r.metrics_port)["sglang_router_retries_total"], 0)

    def test_a_client_that_leaves_cancels_both_halves_on_the_workers(self):
        p = self.prefill("p0", "--decode-step-ms", "200")
        d = self.decode("d0", "--decode-step-ms", "200")
        r = self.router("--pd-disaggregation", "--prefill", p.url, str(p.bootstrap_port), "--decode", d.url,
                        "--prometheus-port", "0")
        c, status, _ = post_stream(r.port, "/generate", {"text": "long", "stream": True,
                                                         "sampling_params": {"max_new_tokens": 50}})
        self.assertEqual(status, 200)
        next(c.sse_events())
        c.close()
        wait_until(lambda: stats(d)["requests_cancelled"] == 1, timeout=5, what="decode cancelled")
        for w in (p, d):
            wait_until(lambda: stats(w)["requests_in_flight"] == 0, timeout=5, what="%s idle" % w.url)
            wait_until(lambda: metrics(r.metrics_port)['sglang_router_worker_in_flight{worker="%s"}' % w.url] == 0,
                       what="router in flight 0")
        # The prefill half had answered (its KV crossed) before the client left;
        # a client that leaves during the prefill cancels it there too.
        slow = self.prefill("p-slow", "--prefill-tokens-per-sec", "500")
        d2 = self.decode("d2")
        r2 = self.router("--pd-disaggregation", "--prefill", slow.url, str(slow.bootstrap_port), "--decode", d2.url)
        c, status, _ = post_stream(r2.port, "/generate", {"text": "x" * 8000, "stream": True,
                                                          "sampling_params": {"max_new_tokens": 5}})
        wait_until(lambda: stats(slow)["running"] + stats(slow)["waiting"] == 1, what="prefilling")
        c.close()
        wait_until(lambda: stats(slow)["requests_cancelled"] == 1, timeout=5, what="prefill cancelled")
        wait_until(lambda: stats(d2)["requests_cancelled"] == 1, timeout=5, what="decode cancelled")


if __name__ == "__main__":
    unittest.main()
