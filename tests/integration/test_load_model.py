"""The router's load model (common/load.h) through real processes: what a
worker has to prefill and to generate is counted while a request runs and
returns to exactly zero however the request ends: finished, failed, or
cancelled by the client."""
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, ProcTestCase, StubHandler, metrics, post_stream, request, wait_until  # noqa: E402


def gauge(port, name, worker):
    return metrics(port).get('%s{worker="%s"}' % (name, worker))


class LoadModel(ProcTestCase):
    def setUp(self):
        super().setUp()
        # One request at a time, 100 ms a token: slow enough to watch.
        self.worker = self.sim("--decode-step-ms", "100", "--max-running-requests", "1")
        self.r = self.router("--worker-urls", self.worker.url, "--prometheus-port", "0", "--policy",
                             "cache_aware", "--admin-port", "0")
        self.w = self.worker.url

    def loads(self):
        m = metrics(self.r.metrics_port)
        return tuple(m.get('%s{worker="%s"}' % (n, self.w)) for n in (
            "sglang_router_worker_in_flight", "sglang_router_worker_pending_prefill_bytes",
            "sglang_router_worker_decode_tokens"))

    def assert_idle(self):
        wait_until(lambda: self.loads() == (0, 0, 0), timeout=10, what="in flight, prefill, decode all 0")

    def test_a_stream_counts_down_as_tokens_arrive_and_ends_at_zero(self):
        c, status, _ = post_stream(self.r.port, "/generate",
                                   {"text": "count me " * 50, "stream": True,
                                    "sampling_params": {"max_new_tokens": 40}})
        self.assertEqual(status, 200)
        events = c.sse_events()
        next(events)  # the first token: the prefill is over
        first = self.loads()
        self.assertEqual(first[0], 1)
        self.assertEqual(first[1], 0)
        self.assertTrue(30 <= first[2] <= 40, first)  # 40 asked, one or two streamed
        # The admin API (sglctl stats queues) shows the same count.
        ctl = subprocess.run([os.path.join(BIN, "sglctl"), "--addr", "127.0.0.1:%d" % self.r.admin_port,
                              "--json", "stats", "queues"], capture_output=True, text=True, timeout=30)
        self.assertEqual(ctl.returncode, 0, ctl.stderr)
        (shown,) = [int(w["decode_tokens"]) for w in json.loads(ctl.stdout)["workers"]]
        self.assertTrue(first[2] - 10 <= shown <= first[2], (first, shown))
        for _ in range(20):
            next(events)
        later = self.loads()[2]
        self.assertTrue(later < first[2] - 15, (first, later))  # counted down as they stream
        for _ in events:
            pass
        c.close()
        self.assert_idle()

    def test_the_limit_of_each_api_is_what_is_counted(self):
        for path, body in (("/v1/completions", {"prompt": "p", "max_tokens": 300, "stream": True}),
                           ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}],
                                                     "max_completion_tokens": 300, "stream": True})):
            c, status, _ = post_stream(self.r.port, path, body)
            self.assertEqual(status, 200)
            next(c.sse_events())
            self.assertTrue(290 <= self.loads()[2] <= 300, (path, self.loads()))
            c.close()  # cancels
            self.assert_idle()

    def test_a_request_the_client_cancels_returns_its_work(self):
        # One running, one queued behind it (its prefill still pending).
        a, _, _ = post_stream(self.r.port, "/generate",
                              {"text": "first " * 100, "stream": True, "sampling_params": {"max_new_tokens": 500}})
        next(a.sse_events())
        b, _, _ = post_stream(self.r.port, "/generate",
                              {"text": "second " * 100, "stream": True, "sampling_params": {"max_new_tokens": 700}})
        wait_until(lambda: self.loads()[0] == 2, what="both in flight")
        in_flight, prefill, decode = self.loads()
        self.assertEqual(prefill, len("second " * 100))  # b waits for its prefill
        self.assertTrue(1150 <= decode <= 1200, decode)
        b.close()
        wait_until(lambda: self.loads()[0] == 1, what="the queued one cancelled")
        self.assertEqual(self.loads()[1], 0)
        self.assertTrue(self.loads()[2] <= 500)
        a.close()
        self.assert_idle()

    def test_a_worker_that_fails_mid_stream_returns_its_work(self):
        crashing = self.sim("--decode-step-ms", "20", "--crash-after", "1")
        crashing.may_fail = True  # it exits with status 3 by design
        r = self.router("--worker-urls", crashing.url, "--prometheus-port", "0")
        c, status, _ = post_stream(r.port, "/generate",
                                   {"text": "doomed", "stream": True, "sampling_params": {"max_new_tokens": 100}})
        self.assertEqual(status, 200)
        try:
            for _ in c.sse_events():
                pass
        except (EOFError, ConnectionError, ValueError, AssertionError, socket.timeout):
            pass  # a truncated stream is what the client gets
        c.close()
        wait_until(lambda: (gauge(r.metrics_port, "sglang_router_worker_in_flight", crashing.url),
                            gauge(r.metrics_port, "sglang_router_worker_decode_tokens", crashing.url),
                            gauge(r.metrics_port, "sglang_router_worker_pending_prefill_bytes", crashing.url))
                   == (0, 0, 0), what="nothing left counted on the crashed worker")

    def test_whole_answers_and_errors_end_at_zero(self):
        for i in range(5):
            resp = request(self.r.port, "POST", "/generate",
                           {"text": "whole %d" % i, "sampling_params": {"max_new_tokens": 3}})
            self.assertEqual(resp.status, 200)
        # A request the worker rejects (400) counts nothing after it.
        resp = request(self.r.port, "POST", "/generate", {"text": "x", "sampling_params": {"max_new_tokens": -5}})
        self.assertIn(resp.status, (200, 400))
        self.assert_idle()

    def test_without_a_limit_the_recent_mean_is_counted(self):
        for _ in range(24):  # answers of 4 tokens teach the router what to expect
            c, _, _ = post_stream(self.r.port, "/generate",
                                  {"text": "short", "stream": True, "sampling_params": {"max_new_tokens": 4}})
            for _ in c.sse_events():
                pass
            c.close()
        self.assert_idle()
        c, _, _ = post_stream(self.r.port, "/generate", {"text": "no limit", "stream": True})
        next(c.sse_events())
        decode = self.loads()[2]
        self.assertTrue(decode < 64, decode)  # 128 before it learnt; now about 30
        c.close()
        self.assert_idle()


class CRLFStreamer(StubHandler):
    """A worker whose events end with CRLF blank lines (as some SSE
    libraries write them): 10 events, then it waits until told to finish."""
    release = None

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        for i in range(10):  # split mid-terminator too: "\r\n\r" then "\n"
            chunk(b'data: {"t":%d}\r\n\r' % i)
            chunk(b"\n")
        CRLFStreamer.release.wait(10)
        chunk(b"data: [DONE]\r\n\r\n")
        chunk(b"")


class CRLFEvents(ProcTestCase):
    def test_events_ended_by_crlf_count_down_too(self):
        CRLFStreamer.release = threading.Event()
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CRLFStreamer)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        url = "http://127.0.0.1:%d" % srv.server_address[1]
        r = self.router("--worker-urls", url, "--prometheus-port", "0", "--worker-load-interval-ms", "0")
        c, status, _ = post_stream(r.port, "/generate",
                                   {"text": "x", "stream": True, "sampling_params": {"max_new_tokens": 50}})
        self.assertEqual(status, 200)
        wait_until(lambda: gauge(r.metrics_port, "sglang_router_worker_decode_tokens", url) == 40,
                   what="50 asked, 10 CRLF events streamed: 40 left")
        CRLFStreamer.release.set()
        for _ in c.chunks():
            pass
        c.close()
        wait_until(lambda: gauge(r.metrics_port, "sglang_router_worker_decode_tokens", url) == 0,
                   what="nothing left at the end")


if __name__ == "__main__":
    unittest.main()
