"""Prefill/decode disaggregation through real processes: the router picks a
prefill and a decode worker for each request, sends both the same body with
the bootstrap fields, answers with the decode worker's response, retries a
new pair when either half fails before the client saw a byte, cancels both
halves when the client leaves, and is ready only with a healthy worker of
each role. The simulated workers here record what they receive
(--record-requests); tests/integration/test_pd_sim.py runs the same flows on
simulators that play the two roles (the decode worker waits for the
prefill's KV transfer)."""
import http.server
import json
import os
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ProcTestCase, StubHandler, make_pki, metrics, post_stream, request,  # noqa: E402
                     wait_until)


def last_body(worker):
    rec = request(worker.port, "GET", "/sim/last_request").json()
    return json.loads(bytes.fromhex(rec["body_hex"]))


def last_headers(worker):
    rec = request(worker.port, "GET", "/sim/last_request").json()
    return {k.lower(): v for k, v in rec["headers"]}


class PdRouting(ProcTestCase):
    def pair(self, *router_args, prefill_port="8998", sim_args=()):
        self.p = self.sim("--worker-id", "p0", "--zero-latency", "--record-requests", *sim_args)
        self.d = self.sim("--worker-id", "d0", "--zero-latency", "--record-requests", *sim_args)
        self.r = self.router("--pd-disaggregation", "--prefill", self.p.url, prefill_port,
                             "--decode", self.d.url, "--prometheus-port", "0", *router_args)

    def test_both_halves_get_the_same_body_with_the_bootstrap_fields(self):
        self.pair()
        body = {"text": "the prompt", "sampling_params": {"max_new_tokens": 4}, "rid": "r1"}
        r = request(self.r.port, "POST", "/generate", body)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["x-worker-id"], "d0")  # the decode worker's answer
        self.assertEqual(r.json()["worker_id"], "d0")
        sent_p, sent_d = last_body(self.p), last_body(self.d)
        self.assertEqual(sent_p, sent_d)
        self.assertEqual(sent_p["text"], "the prompt")
        self.assertEqual(sent_p["rid"], "r1")
        self.assertEqual(sent_p["bootstrap_host"], "127.0.0.1")
        self.assertEqual(sent_p["bootstrap_port"], 8998)
        room = sent_p["bootstrap_room"]
        self.assertIsInstance(room, int)
        self.assertTrue(0 <= room < 2 ** 63)
        # A new request, a new room; the client's X-Request-Id reaches both.
        request(self.r.port, "POST", "/v1/completions", {"prompt": "x", "max_tokens": 2},
                headers={"X-Request-Id": "abc-1"})
        self.assertNotEqual(last_body(self.p)["bootstrap_room"], room)
        self.assertEqual(last_body(self.p)["bootstrap_room"], last_body(self.d)["bootstrap_room"])
        self.assertEqual(last_headers(self.p)["x-request-id"], "abc-1")
        self.assertEqual(last_headers(self.d)["x-request-id"], "abc-1")

    def test_batches_get_one_room_per_element_and_none_is_null(self):
        self.pair(prefill_port="none")
        r = request(self.r.port, "POST", "/generate", {"text": ["a", "b", "c"]})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(len(r.json()), 3)
        sent = last_body(self.d)
        self.assertEqual(sent["bootstrap_host"], ["127.0.0.1"] * 3)
        self.assertEqual(sent["bootstrap_port"], [None] * 3)
        self.assertEqual(len(set(sent["bootstrap_room"])), 3)
        request(self.r.port, "POST", "/generate", {"input_ids": [[1, 2], [3]]})
        self.assertEqual(len(last_body(self.p)["bootstrap_room"]), 2)
        request(self.r.port, "POST", "/v1/chat/completions",
                {"messages": [{"role": "user", "content": "hi"}], "n": 2, "max_tokens": 1})
        self.assertEqual(len(last_body(self.p)["bootstrap_room"]), 2)
        # The router owns the bootstrap fields.
        r = request(self.r.port, "POST", "/generate", {"text": "a", "bootstrap_room": 5})
        self.assertEqual(r.status, 400)
        self.assertIn("bootstrap_room", r.json()["error"]["message"])

    def test_a_stream_is_the_decode_workers_and_load_returns_to_zero(self):
        self.pair(sim_args=())
        c, status, hdrs = post_stream(self.r.port, "/generate", {
            "text": "stream me", "stream": True, "sampling_params": {"max_new_tokens": 5}})
        self.assertEqual(status, 200)
        events = [e for _, e in c.sse_events()]
        c.close()
        self.assertEqual(events[-1], "[DONE]")
        self.assertTrue(all(json.loads(e)["worker_id"] == "d0" for e in events[:-1]))
        for w in (self.p, self.d):
            wait_until(lambda: metrics(self.r.metrics_port)['sglang_router_worker_in_flight{worker="%s"}' % w.url] == 0,
                       what="in flight 0")
        info = 'sglang_router_worker_info{worker="%s",role="prefill",model="meta-llama/Meta-Llama-3.1-8B-Instruct"}'
        wait_until(lambda: metrics(self.r.metrics_port).get(info % self.p.url) == 1, what="model discovered")

    def test_readiness_needs_a_healthy_prefill_and_a_healthy_decode(self):
        self.pair("--health-check-interval-secs", "1", "--health-failure-threshold", "1")
        ready = request(self.r.port, "GET", "/readiness").json()
        self.assertEqual((ready["healthy_prefill_workers"], ready["healthy_decode_workers"]), (1, 1))
        request(self.d.port, "POST", "/sim/health?status=503")
        wait_until(lambda: request(self.r.port, "GET", "/readiness").status == 503, what="not ready")
        r = request(self.r.port, "POST", "/generate", {"text": "x"})
        self.assertEqual(r.status, 503)
        self.assertIn("decode", r.json()["error"]["message"])
        request(self.d.port, "POST", "/sim/health?status=0")
        wait_until(lambda: request(self.r.port, "GET", "/readiness").status == 200, what="ready again")

    def test_list_workers_and_flags(self):
        self.pair()
        ws = {w["url"]: w for w in request(self.r.port, "GET", "/list_workers").json()["workers"]}
        self.assertEqual(ws[self.p.url]["worker_type"], "prefill")
        self.assertEqual(ws[self.p.url]["bootstrap_port"], 8998)
        self.assertEqual(ws[self.d.url]["worker_type"], "decode")
        self.assertNotIn("bootstrap_port", ws[self.d.url])

    def test_bad_flags_are_refused(self):
        from harness import BIN
        exe = os.path.join(BIN, "sglang-router")
        for args, says in ((["--prefill", "http://a:1"], "--pd-disaggregation"),
                           (["--pd-disaggregation", "--prefill", "http://a:1", "99999"], "invalid worker"),
                           (["--pd-disaggregation", "--prefill", "http://a:1", "--decode", "http://a:1"],
                            "duplicate"),
                           (["--pd-disaggregation", "--decode", "http://a:1@bad model"], "invalid worker")):
            p = subprocess.run([exe, "--port", "0", "--prometheus-port", "-1"] + args,
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn(says, p.stderr)


class PdFailures(ProcTestCase):
    def test_a_dead_prefill_worker_means_a_new_pair(self):
        good = self.sim("--worker-id", "p-good", "--zero-latency", "--record-requests")
        dead = self.sim("--worker-id", "p-dead", "--zero-latency")
        d = self.sim("--worker-id", "d0", "--zero-latency", "--record-requests")
        r = self.router("--pd-disaggregation", "--prefill", good.url, "8998", "--prefill", dead.url, "8999",
                        "--decode", d.url, "--prefill-policy", "round_robin",
                        "--health-check-interval-secs", "600", "--prometheus-port", "0")
        dead.stop()
        for i in range(6):
            resp = request(r.port, "POST", "/generate", {"text": "q%d" % i, "sampling_params": {"max_new_tokens": 2}})
            self.assertEqual(resp.status, 200, resp.body)
            self.assertEqual(resp.json()["worker_id"], "d0")
            # The decode worker's last body names the prefill worker that answered.
            self.assertEqual(last_body(d)["bootstrap_port"], 8998)
        m = metrics(r.metrics_port)
        self.assertGreater(m["sglang_router_retries_total"], 0)
        for w in (good, d):
            wait_until(lambda: metrics(r.metrics_port)['sglang_router_worker_in_flight{worker="%s"}' % w.url] == 0,
                       what="in flight back to 0")

    def test_no_live_prefill_worker_is_a_clean_error(self):
        dead = self.sim("--worker-id", "p-dead", "--zero-latency")
        d = self.sim("--worker-id", "d0", "--zero-latency")
        r = self.router("--pd-disaggregation", "--prefill", dead.url, "--decode", d.url,
                        "--health-check-interval-secs", "600", "--retry-max-retries", "2",
                        "--prometheus-port", "0")
        dead.stop()
        resp = request(r.port, "POST", "/generate", {"text": "q"})
        self.assertIn(resp.status, (502, 503), resp.body)
        self.assertIn("prefill", resp.json()["error"]["message"])
        wait_until(lambda: metrics(r.metrics_port)['sglang_router_worker_in_flight{worker="%s"}' % d.url] == 0,
                   what="the decode half released")

    def test_a_client_that_leaves_cancels_both_halves(self):
        # Both halves slow: 200 ms a token, 50 tokens.
        p = self.sim("--worker-id", "p0", "--decode-step-ms", "200")
        d = self.sim("--worker-id", "d0", "--decode-step-ms", "200")
        r = self.router("--pd-disaggregation", "--prefill", p.url, "--decode", d.url, "--prometheus-port", "0")
        c, status, _ = post_stream(r.port, "/generate", {"text": "long", "stream": True,
                                                         "sampling_params": {"max_new_tokens": 50}})
        self.assertEqual(status, 200)
        next(c.sse_events())
        def running(w):
            return sum(v for k, v in metrics(w.port).items() if k.startswith("sglang:num_running_reqs"))
        self.assertEqual(running(d), 1)
        c.close()
        started = time.monotonic()
        for w in (p, d):
            wait_until(lambda: running(w) == 0, timeout=5, what="%s cancelled" % w.url)
            wait_until(lambda: metrics(r.metrics_port)['sglang_router_worker_in_flight{worker="%s"}' % w.url] == 0,
                       what="in flight 0")
        self.assertLess(time.monotonic() - started, 5)  # not the 10 s the answer would take

    def test_http2_over_tls_streams_a_pair(self):
        with tempfile.TemporaryDirectory() as tmp:
            pki = make_pki(tmp)
            p = self.sim("--worker-id", "p0", "--zero-latency")
            d = self.sim("--worker-id", "d0", "--zero-latency")
            r = self.router("--pd-disaggregation", "--prefill", p.url, "8998", "--decode", d.url,
                            "--tls-cert-path", pki["server.pem"], "--tls-key-path", pki["server.key"],
                            wait_ready=False)
            argv = ["curl", "-sS", "--http2", "-N", "--cacert", pki["ca.pem"], "--max-time", "20",
                    "-H", "Content-Type: application/json", "--data-binary", "@-",
                    "-w", "\n%{http_version} %{http_code}", "https://localhost:%d/v1/chat/completions" % r.port]
            body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 4})
            def run():
                return subprocess.run(argv, input=body, capture_output=True, text=True, timeout=30)
            wait_until(lambda: run().stdout.endswith("2 200"), what="HTTP/2 200 over TLS")
            out = run().stdout
            events = [l[6:] for l in out.splitlines() if l.startswith("data: ")]
            self.assertEqual(events[-1], "[DONE]")
            self.assertTrue(all(json.loads(e)["worker_id"] == "d0" for e in events[:-1]))


class Stub:
    """A worker that answers /generate with fixed input_token_logprobs (and
    /health), the prefill one after a delay, so the decode answer arrives
    first and must be held."""

    def __init__(self, role, delay=0.0):
        class Handler(StubHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(delay)
                lp = [[-0.5, 1, None], [-0.25, 2, None]] if role == "prefill" else [[-0.125, 3, None]]
                n = len(body["text"]) if isinstance(body.get("text"), list) else 0
                one = {"text": "" if role == "prefill" else "out", "meta_info": {"input_token_logprobs": lp,
                                                                                 "role": role}}
                if body.get("stream"):
                    events = [dict(one, text="o"), dict(one, text="out")]
                    data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + \
                        b"data: [DONE]\n\n"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                data = json.dumps([one] * n if n else one).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class PdLogprobs(ProcTestCase):
    def setUp(self):
        super().setUp()
        self.p, self.d = Stub("prefill", delay=0.3), Stub("decode")
        self.addCleanup(self.p.close)
        self.addCleanup(self.d.close)
        self.r = self.router("--pd-disaggregation", "--prefill", self.p.url, "--decode", self.d.url)

    def test_prefill_logprobs_come_first(self):
        r = request(self.r.port, "POST", "/generate", {"text": "q", "return_logprob": True})
        self.assertEqual(r.status, 200, r.body)
        meta = r.json()["meta_info"]
        self.assertEqual(meta["role"], "decode")
        self.assertEqual(meta["input_token_logprobs"], [[-0.5, 1, None], [-0.25, 2, None], [-0.125, 3, None]])
        # A batch: element by element.
        r = request(self.r.port, "POST", "/generate", {"text": ["a", "b"], "return_logprob": True})
        self.assertEqual([len(x["meta_info"]["input_token_logprobs"]) for x in r.json()], [3, 3])
        # Without return_logprob the decode answer is untouched.
        r = request(self.r.port, "POST", "/generate", {"text": "q"})
        self.assertEqual(len(r.json()["meta_info"]["input_token_logprobs"]), 1)

    def test_streamed_events_each_get_them(self):
        c, status, _ = post_stream(self.r.port, "/generate", {"text": "q", "stream": True, "return_logprob": True})
        self.assertEqual(status, 200)
        events = [e for _, e in c.sse_events()]
        c.close()
        self.assertEqual(events[-1], "[DONE]")
        self.assertEqual(len(events), 3)
        for e in events[:-1]:
            self.assertEqual(len(json.loads(e)["meta_info"]["input_token_logprobs"]), 3)


if __name__ == "__main__":
    unittest.main()
