"""sglang-router in front of simulated workers, over real sockets: every
route and error, byte-exact forwarding, streaming, the policies, retries,
timeouts, client disconnects, live worker changes, limits, metrics and the
SIGTERM drain."""
import json
import os
import signal
import socket
import threading
import time
import unittest

import subprocess

from harness import BIN, ProcTestCase, RawHTTP, metrics, poll, post_stream, request, wait_until

GEN = "/generate"
JSON = {"Content-Type": "application/json"}


def worker_of(r):
    return r.headers.get("x-worker-id")


def gen(port, text, tokens=2, **kw):
    return request(port, "POST", GEN, {"text": text, "sampling_params": {"max_new_tokens": tokens}}, **kw)


def router_policies():
    """The --policy choices of the router under test (oracle only in builds
    configured with -DSR_WITH_ORACLE=ON)."""
    out = subprocess.run([os.path.join(BIN, "sglang-router"), "--help"], capture_output=True,
                         text=True, check=True).stdout
    start = out.index("--policy {") + len("--policy {")
    return out[start:out.index("}", start)].split(",")


def non_loopback_ip():
    """This machine's address on its default route, or None."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        ip = probe.getsockname()[0]
    except OSError:
        ip = None
    finally:
        probe.close()
    return None if not ip or ip.startswith("127.") else ip


class SecretFile:
    """A secret file in a temporary folder, rewritten by the test."""

    def __init__(self, test, content):
        import tempfile
        self.dir = tempfile.TemporaryDirectory()
        test.addCleanup(self.dir.cleanup)
        self.path = os.path.join(self.dir.name, "secret")
        self.write(content)

    def write(self, content):
        with open(self.path, "w") as f:
            f.write(content)


def hangup(router, log_line):
    """SIGHUP, then waits for one more occurrence of log_line in its log."""
    seen = router.stderr().count(log_line)
    router.p.send_signal(signal.SIGHUP)
    wait_until(lambda: router.stderr().count(log_line) > seen, what=log_line)


class RouterCase(ProcTestCase):
    def workers(self, n=2, *args):
        return [self.sim("--worker-id", "w%d" % i, *args) for i in range(n)]

    def start(self, workers, *args, **kw):
        """The router in front of workers. /readiness turns 200 with the
        first healthy worker; tests that count on every one wait until each
        worker still running has passed its first health check (a machine
        under load may take longer than one check interval)."""
        r = self.router("--worker-urls", *[w.url for w in workers], *args, **kw)
        if kw.get("wait_ready", True):
            running = sum(1 for w in workers if w.p.poll() is None)
            poll(lambda: request(r.port, "GET", "/readiness").json().get("healthy_workers", 0),
                 lambda healthy: healthy >= running)
        return r

    def list_workers(self, router):
        return {w["url"]: w for w in request(router.port, "GET", "/list_workers").json()["workers"]}


class Routes(RouterCase):
    def setUp(self):
        super().setUp()
        self.ws = self.workers(2, "--zero-latency", "--record-requests")
        self.r = self.start(self.ws)

    def test_inference_routes(self):
        for path, body in ((GEN, {"text": "hello"}),
                           ("/v1/completions", {"model": "m", "prompt": "hello", "max_tokens": 3}),
                           ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}]})):
            r = request(self.r.port, "POST", path, body, headers=JSON)
            self.assertEqual(r.status, 200, (path, r.body))
            self.assertIn(worker_of(r), ("w0", "w1"))
            self.assertEqual(r.json()["worker_id"], worker_of(r))
            self.assertEqual(len(r.headers["x-request-id"]), 32)

    def test_info_routes_reach_a_worker(self):
        for path in ("/v1/models", "/get_model_info", "/get_server_info", "/health_generate",
                     "/model_info", "/server_info"):
            r = request(self.r.port, "GET", path)
            self.assertEqual(r.status, 200, path)
            self.assertIn(worker_of(r), ("w0", "w1"))

    def test_local_routes(self):
        for path in ("/health", "/liveness"):
            self.assertEqual(request(self.r.port, "GET", path).status, 200)
        ready = request(self.r.port, "GET", "/readiness").json()
        self.assertEqual((ready["healthy_workers"], ready["total_workers"]), (2, 2))
        loads = request(self.r.port, "GET", "/get_loads").json()
        self.assertEqual(sorted(w["worker"] for w in loads["workers"]), sorted(w.url for w in self.ws))
        self.assertTrue(all(w["load"] == 0 for w in loads["workers"]))
        gen(self.r.port, "cached prompt " * 20)
        flushed = request(self.r.port, "POST", "/flush_cache")
        self.assertEqual(flushed.status, 200)
        self.assertEqual(flushed.json()["status"], "ok")
        listed = request(self.r.port, "GET", "/list_workers").json()
        self.assertEqual(sorted(listed["urls"]), sorted(w.url for w in self.ws))
        self.assertTrue(all(w["health"] == "healthy" for w in listed["workers"]))

    def test_errors_are_openai_json(self):
        cases = [("GET", "/nope", None, 404), ("GET", GEN, None, 405), ("DELETE", "/health", None, 405),
                 ("POST", GEN, b"{not json", 400), ("POST", "/v1/chat/completions", b'{"messages": 5}', 400),
                 ("POST", GEN, b"[1,2]", 400)]
        for method, path, body, status in cases:
            r = request(self.r.port, method, path, body)
            self.assertEqual(r.status, status, (method, path))
            err = r.json()["error"]
            self.assertEqual(err["code"], status)
            self.assertTrue(err["message"] and err["type"])

    def test_forwarding_is_byte_exact(self):
        body = b'{"text": "caf\\u00e9 \xc3\xa9\\n", "sampling_params": {"max_new_tokens": 1}, "unknown": [1, {"x": null}]}'
        r = request(self.r.port, "POST", GEN + "?trace=1", body, headers={
            "Content-Type": "application/json", "Authorization": "Bearer user-key",
            "X-Custom": "kept", "Keep-Alive": "timeout=5", "TE": "trailers",
            "Connection": "keep-alive, X-Hop", "X-Hop": "dropped", "X-Request-Id": "client-id-1"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["x-request-id"], "client-id-1")
        served = next(w for w in self.ws if w.argv[w.argv.index("--worker-id") + 1] == worker_of(r))
        seen = request(served.port, "GET", "/sim/last_request").json()
        self.assertEqual(seen["method"], "POST")
        self.assertEqual(seen["target"], "/generate?trace=1")
        self.assertEqual(bytes.fromhex(seen["body_hex"]), body)
        headers = {k.lower(): v for k, v in seen["headers"]}
        self.assertEqual(headers["authorization"], "Bearer user-key")
        self.assertEqual(headers["x-custom"], "kept")
        self.assertEqual(headers["x-request-id"], "client-id-1")
        self.assertEqual(headers["content-length"], str(len(body)))
        for hop in ("keep-alive", "te", "x-hop", "connection"):
            self.assertNotIn(hop, headers)
        self.assertEqual([k for k, _ in seen["headers"] if k.lower() == "x-request-id"], ["X-Request-Id"])

    def test_keep_alive_and_pipelining(self):
        c = RawHTTP(self.r.port)
        body = b'{"text":"pipelined"}'
        req = b"POST /generate HTTP/1.1\r\nHost: r\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        c.send(req + b"GET /health HTTP/1.1\r\nHost: r\r\n\r\n" + req)
        statuses = [c.read_response().status for _ in range(3)]
        self.assertEqual(statuses, [200, 200, 200])
        c.close()


class ApiKeys(RouterCase):
    KEYS = ("sk-first-0123456789", "sk-second-abcdef")

    def auth(self, key):
        return {"Authorization": "Bearer " + key}

    def test_keys_guard_every_route_but_the_probes(self):
        ws = self.workers(1, "--zero-latency", "--record-requests")
        r = self.start(ws, "--api-key", self.KEYS[0], "--api-key=" + self.KEYS[1], "--log-requests",
                       "--log-level", "debug")
        for headers, why in ((None, "required"), (self.auth("sk-wrong"), "invalid"),
                             ({"Authorization": self.KEYS[0]}, "invalid")):  # no scheme
            resp = gen(r.port, "x", headers=headers)
            self.assertEqual(resp.status, 401)
            err = resp.json()["error"]
            self.assertIn(why, err["message"])
            self.assertEqual(err["type"], "authentication_error")
        for key in self.KEYS:
            self.assertEqual(gen(r.port, "x", headers=self.auth(key)).status, 200)
        # The key was for the router: the worker never sees it.
        seen = request(ws[0].port, "GET", "/sim/last_request").json()
        self.assertNotIn("authorization", [h[0].lower() for h in seen["headers"]])
        for path in ("/health", "/liveness", "/readiness"):
            self.assertEqual(request(r.port, "GET", path).status, 200, path)
        self.assertEqual(request(r.port, "GET", "/v1/models").status, 401)
        self.assertEqual(request(r.port, "GET", "/list_workers").status, 401)  # even from loopback
        self.assertEqual(request(r.port, "GET", "/list_workers", headers=self.auth(self.KEYS[1])).status, 200)
        status, err = r.stop()
        self.procs.remove(r)
        self.assertEqual(status, 0)
        for key in self.KEYS + ("sk-wrong",):
            self.assertNotIn(key, err)  # never logged

    def test_key_file(self):
        import tempfile
        ws = self.workers(1, "--zero-latency")
        with tempfile.NamedTemporaryFile("w", suffix=".keys") as f:
            f.write("# team A\n  sk-from-file-1  \n\n# team B\nsk-from-file-2\n")
            f.flush()
            r = self.start(ws, "--api-key-file", f.name)
            self.assertEqual(gen(r.port, "x", headers=self.auth("sk-from-file-2")).status, 200)
            self.assertEqual(gen(r.port, "x", headers=self.auth("sk-from-file-1")).status, 200)
            self.assertEqual(gen(r.port, "x", headers=self.auth("# team A")).status, 401)
        for content, says in ((None, "No such file"), ("# only comments\n", "no key")):
            with tempfile.NamedTemporaryFile("w", suffix=".keys") as f:
                if content is not None:
                    f.write(content)
                    f.flush()
                path = f.name if content is not None else f.name + ".missing"
                p = subprocess.run([os.path.join(BIN, "sglang-router"), "--port", "0", "--prometheus-port", "-1",
                                    "--api-key-file", path, "--worker-urls", ws[0].url],
                                   capture_output=True, text=True, timeout=20)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(path, p.stderr)
                self.assertIn(says, p.stderr)

    def test_key_file_reload(self):
        ws = self.workers(1, "--zero-latency")
        keys = SecretFile(self, "# team A\nsk-file-a\n")
        r = self.start(ws, "--api-key", "sk-flag", "--api-key-file", keys.path)
        for key, status in (("sk-flag", 200), ("sk-file-a", 200), ("sk-file-b", 401)):
            self.assertEqual(gen(r.port, "x", headers=self.auth(key)).status, status, key)
        keys.write("sk-file-b\n")
        hangup(r, "SIGHUP: API keys reloaded")
        # The flag's keys stay; the file's are replaced.
        for key, status in (("sk-flag", 200), ("sk-file-a", 401), ("sk-file-b", 200)):
            self.assertEqual(gen(r.port, "x", headers=self.auth(key)).status, status, key)
        keys.write("# no key left\n")
        hangup(r, "SIGHUP: keeping the current API keys")
        self.assertEqual(gen(r.port, "x", headers=self.auth("sk-file-b")).status, 200)
        status, err = r.stop()
        self.procs.remove(r)
        self.assertEqual(status, 0)
        self.assertIn("no key in the file", err)
        for key in ("sk-flag", "sk-file-a", "sk-file-b"):
            self.assertNotIn(key, err)

    def test_without_router_keys_the_header_reaches_the_worker(self):
        ws = self.workers(1, "--zero-latency", "--require-api-key", "worker-key")
        r = self.start(ws)
        self.assertEqual(gen(r.port, "x", headers=self.auth("worker-key")).status, 200)
        self.assertEqual(gen(r.port, "x").status, 401)  # the worker's own answer, passed through


class Limits(RouterCase):
    def test_payload_header_and_concurrency_limits(self):
        ws = self.workers(1, "--decode-step-ms", "100")
        r = self.start(ws, "--max-payload-size", "1000", "--max-header-size", "2048",
                       "--max-concurrent-requests", "1", "--queue-size", "1", "--queue-timeout-secs", "1",
                       "--prometheus-port", "0")
        self.assertEqual(request(r.port, "POST", GEN, {"text": "x" * 2000}).status, 413)
        self.assertEqual(request(r.port, "GET", "/health", headers={"X-Big": "y" * 4000}).status, 431)
        slow = {"text": "slow", "stream": True, "sampling_params": {"max_new_tokens": 40}}
        first = post_stream(r.port, GEN, slow)  # holds the only slot for ~4 s
        self.assertEqual(first[1], 200)
        results = {}
        def queued():
            results["queued"] = request(r.port, "POST", GEN, {"text": "q"}).status
        t = threading.Thread(target=queued)
        t.start()
        wait_until(lambda: "sglang_router_queued_requests 1" in
                   request(r.metrics_port, "GET", "/metrics").body.decode(), what="a queued request")
        self.assertEqual(request(r.port, "POST", GEN, {"text": "over"}).status, 429)
        t.join()
        self.assertEqual(results["queued"], 408)  # waited longer than --queue-timeout-secs
        first[0].close()

    def test_per_worker_limit_follows_the_healthy_workers_and_routes_late(self):
        """--max-concurrent-per-worker N admits N per healthy worker and gives
        no worker more than N while another has room, cache affinity or not;
        a queued request is routed when it leaves the queue, so it goes to
        the worker whose slot freed, not to one chosen when it arrived."""
        ws = self.workers(2, "--decode-step-ms", "100", "--decode-step-growth", "0")
        r = self.start(ws, "--max-concurrent-per-worker", "1",
                       "--queue-size", "4", "--queue-timeout-secs", "30",
                       "--health-check-interval-secs", "1", "--health-failure-threshold", "1",
                       "--prometheus-port", "0")
        limit = lambda: metrics(r.metrics_port)["sglang_router_concurrency_limit"]
        self.assertEqual(limit(), 2)
        slow = {"stream": True, "sampling_params": {"max_new_tokens": 300}}  # ~30 s each
        # The second prompt shares the first one's prefix: by affinity it
        # would follow it, but that worker holds its one request already.
        streams = [post_stream(r.port, GEN, dict(slow, text=t))
                   for t in ("alpha beta gamma one", "alpha beta gamma two")]
        self.assertEqual([s[1] for s in streams], [200, 200])
        held = [s[2]["x-worker-id"] for s in streams]
        self.assertEqual(sorted(held), ["w0", "w1"])
        results = {}
        def queued():
            results["resp"] = gen(r.port, "zulu", timeout=30)
        t = threading.Thread(target=queued)
        t.start()
        wait_until(lambda: metrics(r.metrics_port)["sglang_router_queued_requests"] == 1,
                   what="a queued request")
        streams[1][0].close()  # frees held[1]'s slot; held[0] stays busy
        t.join(30)
        self.assertEqual(results["resp"].status, 200)
        self.assertEqual(worker_of(results["resp"]), held[1])
        streams[0][0].close()
        # One worker down: the limit shrinks with the fleet.
        down = ws[0] if held[0] == "w0" else ws[1]
        down.p.kill()
        down.may_fail = True
        wait_until(lambda: limit() == 1, what="the limit to follow the healthy workers")
        # None left: no limit, so requests are refused at once, not queued.
        for w in ws:
            w.p.kill()
            w.may_fail = True
        wait_until(lambda: limit() == 0, what="no healthy worker, no limit")
        t0 = time.monotonic()
        self.assertEqual(gen(r.port, "nobody").status, 503)
        self.assertLess(time.monotonic() - t0, 2)

    def test_the_smaller_of_the_two_limits_holds(self):
        ws = self.workers(2, "--zero-latency")
        r = self.start(ws, "--max-concurrent-per-worker", "4", "--max-concurrent-requests", "3",
                       "--prometheus-port", "0")
        self.assertEqual(metrics(r.metrics_port)["sglang_router_concurrency_limit"], 3)
        r2 = self.start(ws, "--max-concurrent-per-worker", "1", "--max-concurrent-requests", "3",
                        "--prometheus-port", "0")
        self.assertEqual(metrics(r2.metrics_port)["sglang_router_concurrency_limit"], 2)
        self.assertEqual(gen(r2.port, "through").status, 200)


class SlowClients(RouterCase):
    def test_slow_headers_and_body_time_out(self):
        ws = self.workers(1, "--zero-latency")
        r = self.start(ws, "--client-header-timeout-secs", "1", "--client-body-timeout-secs", "1")
        for partial in (b"POST /generate HTTP/1.1\r\nHost: r\r\n",
                        b"POST /generate HTTP/1.1\r\nHost: r\r\nContent-Length: 100\r\n\r\n{"):
            c = RawHTTP(r.port)
            t0 = time.monotonic()
            c.send(partial)
            resp = c.read_response()
            self.assertEqual(resp.status, 408)
            self.assertEqual(resp.headers["connection"], "close")
            self.assertLess(time.monotonic() - t0, 3)
            self.assertEqual(c.sock.recv(10), b"")
            c.close()


class Streaming(RouterCase):
    def test_stream_arrives_progressively(self):
        ws = self.workers(1, "--decode-step-ms", "40", "--decode-step-growth", "0")
        r = self.start(ws)
        t0 = time.monotonic()
        c, status, hdrs = post_stream(r.port, GEN, {"text": "stream", "stream": True,
                                                   "sampling_params": {"max_new_tokens": 6}})
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["transfer-encoding"], "chunked")
        self.assertIn("x-request-id", hdrs)
        events = list(c.sse_events())
        c.close()
        self.assertEqual(events[-1][1], "[DONE]")
        times = [t for t, _ in events[:-1]]
        self.assertEqual(len(times), 6)
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertGreater(min(gaps), 0.02)  # relayed as they come, not buffered
        self.assertLess(times[0] - t0, 0.15)

    def test_client_disconnect_mid_stream_releases_everything(self):
        ws = self.workers(1, "--decode-step-ms", "20")
        r = self.start(ws)
        c, status, _ = post_stream(r.port, GEN, {"text": "long", "stream": True,
                                                 "sampling_params": {"max_new_tokens": 2000}})
        next(c.sse_events())
        self.assertEqual(self.list_workers(r)[ws[0].url]["in_flight"], 1)
        c.close()
        wait_until(lambda: self.list_workers(r)[ws[0].url]["in_flight"] == 0, what="router in-flight 0")
        wait_until(lambda: request(ws[0].port, "GET", "/get_load").json()[0]["num_reqs"] == 0,
                   what="the worker to stop generating")


class Policies(RouterCase):
    def test_cache_aware_affinity_and_spread(self):
        ws = self.workers(3, "--zero-latency")
        r = self.start(ws, "--policy", "cache_aware")
        prompt = "You are a helpful assistant. Answer briefly. " * 10
        placed = [worker_of(gen(r.port, prompt + "Question %d?" % (i % 3))) for i in range(12)]
        top = max(set(placed), key=placed.count)
        self.assertGreaterEqual(placed.count(top), 10, placed)
        spread = {worker_of(gen(r.port, ("distinct prefix %d " % i) * 30)) for i in range(24)}
        self.assertGreaterEqual(len(spread), 2, spread)

    @unittest.skipUnless("oracle" in router_policies(), "built without -DSR_WITH_ORACLE=ON")
    def test_oracle_follows_the_real_caches(self):
        ws = self.workers(3, "--zero-latency")
        r = self.start(ws, "--policy", "oracle")
        prompt = "oracle prompt with a long shared prefix " * 10
        home = worker_of(gen(r.port, prompt, tokens=1))
        # Make another worker hold more of the next prompt than home does.
        other = next(w for w in ws if w.argv[w.argv.index("--worker-id") + 1] != home)
        longer = prompt + "and a tail only one worker has seen " * 5
        request(other.port, "POST", GEN, {"text": longer, "sampling_params": {"max_new_tokens": 1}})
        other_id = other.argv[other.argv.index("--worker-id") + 1]
        self.assertEqual(worker_of(gen(r.port, longer + "?", tokens=1)), other_id)

    def test_round_robin_order(self):
        ws = self.workers(3, "--zero-latency")
        r = self.start(ws, "--policy", "round_robin", "--threads", "1")
        order = [worker_of(gen(r.port, "x")) for _ in range(9)]
        self.assertEqual(order[:3] * 3, order)
        self.assertEqual(len(set(order[:3])), 3)

    def test_imbalance_guard(self):
        ws = self.workers(2, "--decode-step-ms", "50")
        r = self.start(ws, "--policy", "cache_aware", "--balance-abs-threshold", "2",
                       "--balance-rel-threshold", "1.0")
        prompt = "shared prefix " * 50
        first = worker_of(gen(r.port, prompt, tokens=1))
        streams = []
        for _ in range(3):  # load the worker that holds the prefix
            c, status, _ = post_stream(r.port, GEN, {"text": prompt, "stream": True,
                                                     "sampling_params": {"max_new_tokens": 200}})
            streams.append(c)
        try:
            loads = self.list_workers(r)
            busy = [u for u, w in loads.items() if w["in_flight"] > 0]
            self.assertEqual(len(busy), 1)  # the cache kept them together (3 - 0 became > 2 only now)
            # The prefix's worker holds 3, the idle one 0: 3 - 0 > 2, so it is
            # overloaded and the next one goes to the idle worker despite the cache.
            self.assertNotEqual(worker_of(gen(r.port, prompt, tokens=1)), first)
        finally:
            for c in streams:
                c.close()


class Failures(RouterCase):
    def test_no_healthy_worker(self):
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        url = "http://127.0.0.1:%d" % dead.getsockname()[1]
        dead.close()
        r = self.router("--worker-urls", url, wait_ready=False)
        t0 = time.monotonic()
        resp = gen(r.port, "x")
        self.assertEqual(resp.status, 503)
        self.assertIn("no healthy worker", resp.json()["error"]["message"])
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual(request(r.port, "GET", "/readiness").status, 503)

    def test_worker_killed_mid_run_requests_go_elsewhere(self):
        ws = self.workers(2, "--zero-latency")
        r = self.start(ws, "--policy", "round_robin")
        for i in range(4):
            self.assertEqual(gen(r.port, "before %d" % i).status, 200)
        ws[0].p.kill()
        ws[0].may_fail = True
        statuses = [gen(r.port, "after %d" % i).status for i in range(20)]
        self.assertEqual(statuses, [200] * 20)

    def test_unreachable_worker_is_marked_unhealthy_by_traffic(self):
        ws = self.workers(2, "--zero-latency")
        r = self.start(ws, "--policy", "round_robin", "--health-check-interval-secs", "3600",
                       "--health-failure-threshold", "2")
        ws[0].p.kill()
        ws[0].may_fail = True
        statuses = [gen(r.port, "x%d" % i).status for i in range(6)]
        self.assertEqual(statuses, [200] * 6)
        # Long before the next probe, traffic has marked it down.
        self.assertEqual(self.list_workers(r)[ws[0].url]["health"], "unhealthy")
        self.assertEqual(request(r.port, "GET", "/readiness").json()["healthy_workers"], 1)

    def test_worker_marked_down_by_traffic_is_probed_every_second(self):
        """Found by the fault soak: a worker restarted after traffic marked
        it down waited for the healthy interval's probe (8-9 s late)."""
        ws = self.workers(2, "--zero-latency")
        r = self.start(ws, "--policy", "round_robin", "--health-check-interval-secs", "3600",
                       "--health-failure-threshold", "1")
        port = ws[0].port
        ws[0].p.kill()
        ws[0].may_fail = True
        for i in range(4):
            gen(r.port, "x%d" % i)
        self.assertEqual(self.list_workers(r)[ws[0].url]["health"], "unhealthy")
        back = self.sim("--worker-id", "w0-again", "--zero-latency", "--port", str(port))
        t0 = time.monotonic()
        wait_until(lambda: self.list_workers(r)[back.url]["health"] == "healthy", timeout=8,
                   what="the restarted worker back in rotation")
        self.assertLess(time.monotonic() - t0, 5)

    def test_queued_prefill_is_counted_until_the_worker_answers(self):
        ws = self.workers(1, "--prefill-tokens-per-sec", "500")
        r = self.start(ws, "--policy", "cache_cost")
        text = "q" * 4000  # 1,000 tokens: 2 s of prefill
        c, status, _ = post_stream(r.port, GEN, {"text": text, "stream": True,
                                                 "sampling_params": {"max_new_tokens": 3}})
        self.assertEqual(status, 200)
        self.assertEqual(self.list_workers(r)[ws[0].url]["pending_prefill_bytes"], 4000)
        next(c.sse_events())  # the first token: prefill is over
        self.assertEqual(self.list_workers(r)[ws[0].url]["pending_prefill_bytes"], 0)
        c.close()
        wait_until(lambda: self.list_workers(r)[ws[0].url]["in_flight"] == 0, what="in-flight 0")

    def test_503_from_a_worker_is_retried(self):
        bad = self.sim("--worker-id", "bad", "--zero-latency", "--fail-first-n", "1000", "--fail-status", "503")
        good = self.sim("--worker-id", "good", "--zero-latency")
        r = self.start([bad, good], "--policy", "round_robin")
        served = [worker_of(gen(r.port, "x%d" % i)) for i in range(6)]
        self.assertEqual(served, ["good"] * 6)
        metrics_bad = self.list_workers(r)[bad.url]
        self.assertGreater(metrics_bad["failures"], 0)
        self.assertEqual(metrics_bad["in_flight"], 0)

    def test_500_is_passed_through_not_retried(self):
        bad = self.sim("--worker-id", "bad", "--zero-latency", "--fail-first-n", "1000")
        r = self.start([bad])
        resp = gen(r.port, "x")
        self.assertEqual(resp.status, 500)
        self.assertEqual(worker_of(resp), "bad")

    def test_hanging_worker_times_out(self):
        ws = self.workers(1, "--hang")
        r = self.start(ws, "--request-timeout-secs", "1")
        t0 = time.monotonic()
        resp = gen(r.port, "x")
        self.assertEqual(resp.status, 504)
        self.assertGreater(time.monotonic() - t0, 0.9)
        self.assertEqual(self.list_workers(r)[ws[0].url]["in_flight"], 0)
        self.assertEqual(self.list_workers(r)[ws[0].url]["pending_prefill_bytes"], 0)

    def test_crash_mid_stream_truncates(self):
        ws = self.workers(1, "--decode-step-ms", "10", "--crash-after", "1")
        ws[0].may_fail = True
        r = self.start(ws)
        c, status, _ = post_stream(r.port, GEN, {"text": "x", "stream": True, "sampling_params": {"max_new_tokens": 20}})
        self.assertEqual(status, 200)
        with self.assertRaises(EOFError):
            for _ in c.sse_events():
                pass
        c.close()
        wait_until(lambda: self.list_workers(r)[ws[0].url]["in_flight"] == 0, what="in-flight 0")


class WorkerManagement(RouterCase):
    def test_add_and_remove_under_load(self):
        ws = self.workers(2, "--zero-latency")
        r = self.start(ws[:1], "--policy", "round_robin")
        failures, served, stop = [], [], threading.Event()
        def load():
            while not stop.is_set():
                resp = gen(r.port, "load")
                (served if resp.status == 200 else failures).append((resp.status, worker_of(resp)))
        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        add = request(r.port, "POST", "/add_worker?url=" + ws[1].url.replace(":", "%3A").replace("/", "%2F"))
        self.assertEqual(add.status, 200, add.body)
        wait_until(lambda: any(w == "w1" for _, w in served[-50:]), what="the new worker to get traffic")
        rem = request(r.port, "POST", "/remove_worker?url=" + ws[0].url)
        self.assertEqual(rem.status, 200, rem.body)
        n = len(served)
        wait_until(lambda: len(served) > n + 50, what="more traffic")
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])
        self.assertTrue(all(w == "w1" for _, w in served[-20:]))
        self.assertEqual(request(r.port, "POST", "/remove_worker?url=" + ws[0].url).status, 404)
        self.assertEqual(request(r.port, "POST", "/add_worker?url=notaurl").status, 400)
        self.assertEqual(request(r.port, "POST", "/add_worker").status, 400)

    def test_admin_routes_refuse_remote_clients(self):
        ip = non_loopback_ip()
        if ip is None:
            self.skipTest("no non-loopback address on this machine")
        ws = self.workers(1, "--zero-latency")
        r = self.start(ws, "--host", "0.0.0.0", "--admin-api-key", "adm1n")
        self.assertEqual(request(r.port, "GET", "/list_workers", host=ip).status, 401)
        ok = request(r.port, "GET", "/list_workers", host=ip, headers={"Authorization": "Bearer adm1n"})
        self.assertEqual(ok.status, 200)
        self.assertEqual(request(r.port, "POST", GEN, {"text": "x"}, host=ip).status, 200)
        r2 = self.start(ws, "--host", "0.0.0.0")
        self.assertEqual(request(r2.port, "GET", "/list_workers", host=ip).status, 403)
        self.assertEqual(request(r2.port, "GET", "/list_workers").status, 200)  # loopback


    def test_admin_key_file_and_reload(self):
        ip = non_loopback_ip()
        if ip is None:
            self.skipTest("no non-loopback address on this machine")
        ws = self.workers(1, "--zero-latency")
        key = SecretFile(self, "adm1n-from-file\n")
        r = self.start(ws, "--host", "0.0.0.0", "--admin-api-key-file", key.path)
        with open("/proc/%d/cmdline" % r.p.pid, "rb") as f:
            self.assertNotIn(b"adm1n-from-file", f.read())

        def add(bearer):
            headers = {"Authorization": "Bearer " + bearer} if bearer else {}
            return request(r.port, "POST", "/add_worker?url=" + ws[0].url, host=ip, headers=headers).status

        self.assertEqual(add(None), 401)
        self.assertEqual(add("wrong"), 401)
        self.assertEqual(add("adm1n-from-file"), 409)  # let in: the worker is already there
        self.assertEqual(request(r.port, "GET", "/list_workers").status, 200)  # loopback
        key.write("adm1n-rotated")
        hangup(r, "SIGHUP: admin API key reloaded")
        self.assertEqual(add("adm1n-from-file"), 401)
        self.assertEqual(add("adm1n-rotated"), 409)
        key.write("\n")
        hangup(r, "SIGHUP: keeping the current admin API key")
        self.assertEqual(add("adm1n-rotated"), 409)
        status, err = r.stop()
        self.procs.remove(r)
        self.assertEqual(status, 0)
        self.assertIn("empty", err)
        for secret in ("adm1n-from-file", "adm1n-rotated"):
            self.assertNotIn(secret, err)

    def test_secret_flags_and_files_at_start(self):
        key = SecretFile(self, "k")
        for flags, says in (
                (("--admin-api-key", "x", "--admin-api-key-file", key.path), "give one of them"),
                (("--admin-token", "x", "--admin-token-file", key.path), "give one of them"),
                (("--admin-api-key-file", key.path + ".missing"), "No such file"),
                (("--admin-token-file", key.dir.name), "Is a directory")):
            p = subprocess.run([os.path.join(BIN, "sglang-router"), "--port", "0", "--prometheus-port", "-1",
                                *flags], capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
            self.assertIn(says, p.stderr)
        for content, says in (("", "empty"), ("two\nlines\n", "control character")):
            key.write(content)
            p = subprocess.run([os.path.join(BIN, "sglang-router"), "--port", "0", "--prometheus-port", "-1",
                                "--admin-api-key-file", key.path], capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(key.path, p.stderr)
            self.assertIn(says, p.stderr)
            self.assertNotIn("lines", p.stderr.replace(key.path, ""))


class Operations(RouterCase):
    def test_metrics(self):
        ws = self.workers(2, "--zero-latency")
        r = self.start(ws, "--prometheus-port", "0")
        for i in range(5):
            gen(r.port, "metrics %d" % i)
        text = request(r.metrics_port, "GET", "/metrics").body.decode()
        self.assertIn('sglang_router_requests_total{route="/generate",status="200"} 5', text)
        self.assertIn('sglang_router_request_duration_seconds_count{route="/generate"} 5', text)
        self.assertIn("sglang_router_time_to_first_byte_seconds_bucket", text)
        self.assertIn('sglang_router_worker_healthy{worker="%s"} 1' % ws[0].url, text)
        self.assertIn("sglang_router_cache_aware_decisions_total{outcome=\"cache_miss\"}", text)
        self.assertIn("sglang_router_worker_tree_bytes", text)

    def test_taken_metrics_port_names_the_flag(self):
        # What a second router on one host meets with the default --prometheus-port.
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        p = subprocess.run([os.path.join(BIN, "sglang-router"), "--port", "0", "--threads", "1",
                            "--prometheus-port", str(taken.getsockname()[1])],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cannot serve metrics on 127.0.0.1:%d" % taken.getsockname()[1], p.stderr)
        self.assertIn("set --prometheus-port to a free port, 0 for any free port, or -1", p.stderr)
        self.assertNotIn("listening on", p.stdout)

    def test_sigterm_drains_in_flight_streams(self):
        ws = self.workers(1, "--decode-step-ms", "50", "--decode-step-growth", "0")
        r = self.start(ws)
        c, status, _ = post_stream(r.port, GEN, {"text": "drain", "stream": True,
                                                 "sampling_params": {"max_new_tokens": 16}})
        first = next(c.sse_events())
        r.p.send_signal(signal.SIGTERM)
        rest = [e for _, e in c.sse_events()]
        c.close()
        self.assertEqual(rest[-1], "[DONE]")
        self.assertEqual(len(rest), 16)  # 15 more tokens and [DONE]
        self.assertEqual(r.wait_exit(timeout=10), 0)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", r.port), timeout=1)

    def test_pin_threads(self):
        ws = self.workers(1, "--zero-latency")
        r = self.start(ws, "--pin-threads", "--threads", "2")
        self.assertEqual(gen(r.port, "pinned").status, 200)
        allowed = os.sched_getaffinity(0)
        pinned = []
        for tid in os.listdir("/proc/%d/task" % r.p.pid):
            with open("/proc/%d/task/%s/status" % (r.p.pid, tid)) as f:
                cpus = next(l.split()[1] for l in f if l.startswith("Cpus_allowed_list"))
            if cpus.isdigit():
                pinned.append(int(cpus))
        # Two loops, each on one CPU (distinct ones when the machine has two).
        self.assertEqual(len(pinned), 2, pinned)
        self.assertTrue(set(pinned) <= allowed)
        if len(allowed) >= 2:
            self.assertEqual(len(set(pinned)), 2)

    def test_bad_flags_exit_2(self):
        import subprocess
        from harness import BIN
        p = subprocess.run([os.path.join(BIN, "sglang-router"), "--policy", "fastest"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--policy: must be one of", p.stderr)


if __name__ == "__main__":
    unittest.main()
