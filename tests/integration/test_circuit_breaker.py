"""The workers' circuit breakers, driven as a user would: simulated workers
that fail (5xx, timeouts) or refuse the client (4xx), a router without
retries and with health checks far apart, and what /metrics, /list_workers
and the responses show."""
import os
import re
import subprocess
import unittest

from harness import BIN, ProcTestCase, request, wait_until

GEN = "/generate"
NO_INTERFERENCE = ("--policy", "round_robin", "--retry-max-retries", "0",
                   "--health-check-interval-secs", "3600", "--prometheus-port", "0")


def gen(port, text):
    return request(port, "POST", GEN, {"text": text, "sampling_params": {"max_new_tokens": 1}})


class CircuitBreaker(ProcTestCase):
    def start(self, workers, *args):
        r = self.router("--worker-urls", *[w.url for w in workers], *NO_INTERFERENCE, *args)
        # /readiness needs one healthy worker; round robin skips the others
        # until their first check passes, which on a slow (sanitizer) build
        # can come after the first requests.
        for w in workers:
            wait_until(lambda: self.listed(r, w)["health"] == "healthy", timeout=10,
                       what="%s healthy" % w.url)
        return r

    def metric(self, r, name, worker):
        text = request(r.metrics_port, "GET", "/metrics").body.decode()
        m = re.search(r'^%s\{worker="%s"\} (\d+)$' % (name, re.escape(worker.url)), text, re.M)
        self.assertIsNotNone(m, "%s for %s missing" % (name, worker.url))
        return int(m.group(1))

    def state(self, r, worker):
        return self.metric(r, "sglang_router_worker_circuit_state", worker)

    def opened(self, r, worker):
        return self.metric(r, "sglang_router_worker_circuit_opened_total", worker)

    def listed(self, r, worker):
        ws = request(r.port, "GET", "/list_workers").json()["workers"]
        return next(w for w in ws if w["url"] == worker.url)

    def serve(self, r, n, tag):
        """n requests; (worker id, status) of each."""
        out = []
        for i in range(n):
            resp = gen(r.port, "%s %d" % (tag, i))
            out.append((resp.headers.get("x-worker-id"), resp.status))
        return out

    def test_failing_worker_is_ejected_then_trials_bring_it_back(self):
        # Fails its first 10 requests with 500, then recovers.
        bad = self.sim("--worker-id", "bad", "--zero-latency", "--fail-first-n", "10")
        good = self.sim("--worker-id", "good", "--zero-latency")
        r = self.start([bad, good], "--cb-timeout-duration-secs", "2")
        served = self.serve(r, 20, "a")  # round robin: 10 each
        self.assertEqual(served.count(("bad", 500)), 10, served)
        self.assertEqual(served.count(("good", 200)), 10, served)
        # 10 failures in a row: open, counted once, and out of rotation.
        self.assertEqual(self.state(r, bad), 1)
        self.assertEqual(self.opened(r, bad), 1)
        self.assertEqual(self.listed(r, bad)["circuit_state"], "open")
        self.assertEqual(self.listed(r, bad)["health"], "healthy")  # health checks are not involved
        self.assertEqual(self.state(r, good), 0)
        self.assertEqual(self.serve(r, 10, "b"), [("good", 200)] * 10)
        # After --cb-timeout-duration-secs: half-open, trial requests go to it.
        wait_until(lambda: self.state(r, bad) == 2, timeout=5, what="half-open")
        served = self.serve(r, 12, "c")
        self.assertTrue(all(s == 200 for _, s in served), served)
        self.assertGreaterEqual([w for w, _ in served].count("bad"), 3, served)
        # Three successful trials closed it; it is in rotation again.
        self.assertEqual(self.state(r, bad), 0)
        self.assertEqual(self.listed(r, bad)["circuit_state"], "closed")
        self.assertEqual(self.opened(r, bad), 1)
        served = self.serve(r, 10, "d")
        self.assertEqual([w for w, _ in served].count("bad"), 5, served)

    def test_client_errors_never_open_it(self):
        for args in (("--fail-rate", "1", "--fail-status", "400"), ("--require-api-key", "k")):
            with self.subTest(args=args):
                refusing = self.sim("--worker-id", "refusing", "--zero-latency", *args)
                good = self.sim("--worker-id", "good", "--zero-latency")
                r = self.start([refusing, good], "--cb-failure-threshold", "3")
                served = self.serve(r, 30, "x")
                self.assertEqual([w for w, _ in served].count("refusing"), 15, served)
                self.assertTrue(all(s < 500 for w, s in served if w == "refusing"), served)
                self.assertEqual(self.state(r, refusing), 0)
                self.assertEqual(self.opened(r, refusing), 0)

    def test_every_worker_open_is_503_and_a_failed_trial_reopens(self):
        bad = self.sim("--worker-id", "bad", "--zero-latency", "--fail-rate", "1")
        # 3 s open: long enough for the checks below on a loaded (sanitizer) CI machine.
        r = self.start([bad], "--cb-failure-threshold", "3", "--cb-timeout-duration-secs", "3",
                       "--admin-port", "0")
        self.assertEqual(self.serve(r, 3, "a"), [("bad", 500)] * 3)
        ctl = subprocess.run([os.path.join(BIN, "sglctl"), "--addr", "127.0.0.1:%d" % r.admin_port,
                              "workers", "list"], capture_output=True, text=True, timeout=30)
        self.assertEqual(ctl.returncode, 0, ctl.stderr)
        self.assertRegex(ctl.stdout, r"URL +HEALTH +CIRCUIT +IN_FLIGHT")
        self.assertRegex(ctl.stdout, re.escape(bad.url) + r" +healthy +open +0 +0 +3")
        resp = gen(r.port, "refused")
        self.assertEqual(resp.status, 503)
        self.assertIn("circuit breaker is open", resp.json()["error"]["message"])
        self.assertIsNone(resp.headers.get("x-worker-id"))
        # Health is a separate matter: the router stays ready.
        self.assertEqual(request(r.port, "GET", "/readiness").status, 200)
        wait_until(lambda: self.state(r, bad) == 2, timeout=10, what="half-open")
        self.assertEqual(self.serve(r, 1, "trial"), [("bad", 500)])  # the trial fails
        self.assertEqual(self.state(r, bad), 1)
        self.assertEqual(self.opened(r, bad), 2)
        self.assertEqual(gen(r.port, "refused again").status, 503)

    def test_timeouts_count_as_failures(self):
        hung = self.sim("--worker-id", "hung", "--hang")
        good = self.sim("--worker-id", "good", "--zero-latency")
        r = self.start([hung, good], "--cb-failure-threshold", "1", "--request-timeout-secs", "1")
        statuses = sorted(s for _, s in self.serve(r, 2, "t"))
        self.assertEqual(statuses, [200, 504])
        self.assertEqual(self.state(r, hung), 1)
        self.assertEqual(self.serve(r, 4, "u"), [("good", 200)] * 4)

    def test_disabled_keeps_failing_workers_in_rotation(self):
        bad = self.sim("--worker-id", "bad", "--zero-latency", "--fail-rate", "1")
        good = self.sim("--worker-id", "good", "--zero-latency")
        r = self.start([bad, good], "--disable-circuit-breaker")
        served = self.serve(r, 40, "x")
        self.assertEqual(served.count(("bad", 500)), 20, served)
        self.assertEqual(self.state(r, bad), 0)
        self.assertEqual(self.opened(r, bad), 0)

    def test_bad_values_exit_2(self):
        for flag, value, why in (("--cb-failure-threshold", "0", "must be between"),
                                 ("--cb-success-threshold", "x", ""),
                                 ("--cb-timeout-duration-secs", "-1", "must be between"),
                                 ("--cb-window-duration-secs", "0", "must be between")):
            with self.subTest(flag=flag):
                p = subprocess.run([os.path.join(BIN, "sglang-router"), flag, value],
                                   capture_output=True, text=True)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
                self.assertIn(flag + ":", p.stderr)
                self.assertIn(why, p.stderr)


if __name__ == "__main__":
    unittest.main()
