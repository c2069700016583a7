"""HTTP/2 on the public port: curl and h2load over TLS (ALPN h2) and h2c
(prior knowledge), and a hand-driven client (the `h2` package, pinned in
requirements-h2.txt) for what only frames show: concurrent streams with one
slow reader, RST_STREAM releasing the worker request, GOAWAY on drain,
limits, malformed input and a rapid-reset flood."""
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from harness import ProcTestCase, make_pki, poll, request, wait_until


class Client:
    """One HTTP/2 connection driven frame by frame (cleartext, prior knowledge)."""

    def __init__(self, port, window=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        if window:  # the connection window never limits; streams' windows do
            self.conn.increment_flow_control_window(2 ** 30)
        self.flush()
        self.data, self.headers, self.ended, self.reset, self.goaway = {}, {}, set(), {}, None
        self.acked = set()  # streams whose DATA we acknowledge (a fast reader)

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def request(self, method, path, body=None, headers=(), ack=True):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"), (":authority", "localhost")]
        hdrs += list(headers)
        if body is not None:
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            hdrs.append(("content-type", "application/json"))
            self.conn.send_headers(sid, hdrs)
            self.conn.send_data(sid, data, end_stream=True)
        else:
            self.conn.send_headers(sid, hdrs, end_stream=True)
        self.data[sid] = b""
        if ack:
            self.acked.add(sid)
        self.flush()
        return sid

    def pump(self, until, timeout=10):
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError("timed out")
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                self.closed = True
                return
            for ev in self.conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived):
                    self.headers[ev.stream_id] = dict((k.decode(), v.decode()) for k, v in ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    self.data[ev.stream_id] = self.data.get(ev.stream_id, b"") + ev.data
                    if ev.stream_id in self.acked:
                        self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    self.ended.add(ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    self.reset[ev.stream_id] = ev.error_code
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.goaway = ev
            self.flush()

    def close(self):
        self.sock.close()


def read_to_end(s):
    """What the router sends until it closes the connection (or goes quiet
    for the socket's timeout); closes the socket."""
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    return got


def completion(tokens, stream=True):
    return {"model": "m", "prompt": "tell me a long story", "stream": stream, "max_tokens": tokens}


class H2Case(ProcTestCase):
    def setUp(self):
        super().setUp()
        self.ws = [self.sim("--worker-id", "w0", "--decode-step-ms", "5")]

    def start(self, *args):
        return self.router("--worker-urls", self.ws[0].url, *args)

    def in_flight(self, r):
        return request(r.port, "GET", "/list_workers").json()["workers"][0]["in_flight"]


class Clients(H2Case):
    def test_curl_and_h2load_over_tls_and_h2c(self):
        with tempfile.TemporaryDirectory() as d:
            pki = make_pki(d)
            tls = self.router("--worker-urls", self.ws[0].url, "--tls-cert-path", pki["server.pem"],
                              "--tls-key-path", pki["server.key"], wait_ready=False)
            plain = self.start()
            wait_until(lambda: self.in_flight(plain) == 0, what="plain router up")
            body = json.dumps({"text": "hi", "sampling_params": {"max_new_tokens": 3}})
            for args, url in ((["--http2", "--cacert", pki["ca.pem"]], "https://localhost:%d" % tls.port),
                              (["--http2-prior-knowledge"], "http://127.0.0.1:%d" % plain.port)):
                p = poll(lambda: subprocess.run(["curl", "-sS", *args, "-w", "\n%{http_version} %{http_code}",
                                                 url + "/generate", "-d", body],
                                                capture_output=True, text=True, timeout=20),
                         lambda p: p.stdout.endswith(" 200"))  # the TLS router's worker turns healthy
                out, _, tail = p.stdout.rpartition("\n")
                self.assertEqual(tail, "2 200", p.stdout + p.stderr)
                self.assertEqual(json.loads(out)["meta_info"]["completion_tokens"], 3)
                p = subprocess.run(["curl", "-sSN", *args, url + "/v1/completions", "-d",
                                    json.dumps(completion(5))], capture_output=True, text=True, timeout=20)
                self.assertEqual(p.stdout.strip().splitlines()[-1], "data: [DONE]", p.stderr)
                with tempfile.NamedTemporaryFile("w") as f:
                    f.write(body)
                    f.flush()
                    p = subprocess.run(["h2load", "-n", "400", "-c", "4", "-m", "16", "-d", f.name,
                                        "-H", "content-type: application/json", url + "/generate"],
                                       capture_output=True, text=True, timeout=60)
                self.assertIn("400 succeeded, 0 failed, 0 errored", p.stdout, p.stdout + p.stderr)
                self.assertIn("status codes: 400 2xx", p.stdout)
            self.assertIn("Application protocol: h2", p.stdout)


class Streams(H2Case):
    def test_a_slow_reader_slows_only_its_own_stream(self):
        r = self.start()
        c = Client(r.port)
        self.addCleanup(c.close)
        # 600 tokens of SSE: far more than a 64 KiB stream window.
        slow = c.request("POST", "/v1/completions", completion(600), ack=False)
        fast = [c.request("POST", "/generate", {"text": "q%d" % i, "sampling_params": {"max_new_tokens": 4}})
                for i in range(3)]
        stream = c.request("POST", "/v1/completions", completion(50))
        c.pump(lambda: all(s in c.ended for s in fast + [stream]), timeout=20)
        self.assertNotIn(slow, c.ended)  # stalled on its window, the others went by
        self.assertEqual(c.headers[slow][":status"], "200")
        for s in fast:
            self.assertEqual(json.loads(c.data[s])["meta_info"]["completion_tokens"], 4)
        self.assertTrue(c.data[stream].endswith(b"data: [DONE]\n\n"))
        got = len(c.data[slow])
        self.assertLessEqual(got, 65535)
        # The reader catches up: the rest arrives, complete.
        c.acked.add(slow)
        c.conn.acknowledge_received_data(got, slow)
        c.flush()
        c.pump(lambda: slow in c.ended, timeout=30)
        self.assertTrue(c.data[slow].endswith(b"data: [DONE]\n\n"))
        self.assertEqual(c.data[slow].count(b"\ndata: ") + 1, c.data[slow].count(b"data: "))
        wait_until(lambda: self.in_flight(r) == 0, what="in-flight 0")

    def test_rst_stream_releases_the_worker_request(self):
        r = self.start()
        c = Client(r.port)
        self.addCleanup(c.close)
        sid = c.request("POST", "/v1/completions", completion(2000))
        c.pump(lambda: len(c.data[sid]) > 0)
        self.assertEqual(self.in_flight(r), 1)
        c.conn.reset_stream(sid)
        c.flush()
        wait_until(lambda: self.in_flight(r) == 0, what="in-flight 0")
        wait_until(lambda: request(self.ws[0].port, "GET", "/get_load").json()[0]["num_reqs"] == 0,
                   what="the worker to stop generating")
        # The connection goes on.
        again = c.request("GET", "/health")
        c.pump(lambda: again in c.ended)
        self.assertEqual(c.headers[again][":status"], "200")

    def test_goaway_on_drain_and_streams_finish(self):
        # nghttp (a stock client; the h2 package stops reading at GOAWAY).
        r = self.start()
        with tempfile.NamedTemporaryFile("w") as f:
            json.dump(completion(200), f)  # 200 tokens x 5 ms: about a second
            f.flush()
            p = subprocess.Popen(["nghttp", "-v", "-d", f.name, "http://127.0.0.1:%d/v1/completions" % r.port],
                                 stdout=subprocess.PIPE, text=True)
            wait_until(lambda: self.in_flight(r) == 1, what="the stream in flight")
            r.p.send_signal(15)
            out, _ = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertIn("recv GOAWAY frame", out)
        self.assertIn("error_code=NO_ERROR", out)
        self.assertIn("data: [DONE]", out)  # the stream finished after the GOAWAY
        self.assertLess(out.index("recv GOAWAY frame"), out.index("data: [DONE]"))
        self.assertEqual(r.p.wait(timeout=10), 0)

    def test_limits_and_api_keys_through_the_same_pipeline(self):
        r = self.start("--max-payload-size", "1000", "--api-key", "k-123")
        c = Client(r.port)
        self.addCleanup(c.close)
        auth = [("authorization", "Bearer k-123")]
        big = c.request("POST", "/generate", {"text": "x" * 5000}, headers=auth)
        nokey = c.request("POST", "/generate", {"text": "hi"})
        ok = c.request("POST", "/generate", {"text": "hi", "sampling_params": {"max_new_tokens": 2}}, headers=auth)
        probe = c.request("GET", "/health")
        missing = c.request("GET", "/nope", headers=auth)
        c.pump(lambda: all(s in c.ended or s in c.reset for s in (big, nokey, ok, probe, missing)))
        self.assertEqual(c.headers[big][":status"], "413")
        self.assertEqual(c.headers[nokey][":status"], "401")
        self.assertEqual(json.loads(c.data[nokey])["error"]["type"], "authentication_error")
        self.assertEqual(c.headers[ok][":status"], "200")
        self.assertEqual(c.headers[probe][":status"], "200")
        self.assertEqual(c.headers[missing][":status"], "404")


class Abuse(H2Case):
    def test_malformed_input_is_a_connection_error(self):
        r = self.start()
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        for junk in (preface[:10] + b"garbage that is no preface at all\r\n\r\n",
                     preface + b"\x00\x00\x06\x04\x00\x00\x00\x00\x01\x00\x03\xff\xff\xff\xff",  # bad SETTINGS
                     preface + b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00",  # WINDOW_UPDATE 0
                     preface + b"\x00\x10\x00\x01\x05\x00\x00\x00\x01" + os.urandom(4096)):  # HEADERS junk
            s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
            s.sendall(junk)
            read_to_end(s)
        self.assertTrue(r.alive())
        self.assertEqual(request(r.port, "GET", "/health").status, 200)

    def test_ping_and_settings_floods_are_cut_off(self):
        r = self.start()
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
        ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"12345678"
        settings = b"\x00\x00\x06\x04\x00\x00\x00\x00\x00" + b"\x00\x03\x00\x00\x00\x64"
        for flood in (ping, settings):
            s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read: ACKs pile up
            try:
                s.sendall(preface)
                for _ in range(200):
                    s.sendall(flood * 100)
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass
            # The router gives up on this client: the connection ends.
            t0, ended = time.monotonic(), False
            s.settimeout(0.5)
            while time.monotonic() - t0 < 8 and not ended:
                try:
                    ended = s.recv(65536) == b""
                except socket.timeout:
                    continue
                except ConnectionResetError:
                    ended = True
            s.close()
            self.assertTrue(ended)
        self.assertTrue(r.alive())
        self.assertEqual(request(r.port, "GET", "/health").status, 200)

    def test_useless_frame_floods_are_cut_off(self):
        """Issue 18: eight seconds of empty DATA, PRIORITY, WINDOW_UPDATE or
        unknown frames kept a core busy and the connection open."""
        r = self.start()
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
        # HEADERS for stream 1 (POST /v1/completions), its body still to come.
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        c.initiate_connection()
        c.data_to_send()
        c.send_headers(1, [(":method", "POST"), (":path", "/v1/completions"), (":scheme", "http"),
                           (":authority", "x")])
        open_stream = c.data_to_send()
        floods = {
            "empty DATA": b"\x00\x00\x00\x00\x00\x00\x00\x00\x01",
            "PRIORITY": b"\x00\x00\x05\x02\x00\x00\x00\x00\x03" + b"\x00\x00\x00\x00\x10",
            "WINDOW_UPDATE": b"\x00\x00\x04\x08\x00\x00\x00\x00\x00" + b"\x00\x00\x00\x01",
            "unknown": b"\x00\x00\x03\xfa\x00\x00\x00\x00\x00" + b"abc",
        }
        for name, frame in floods.items():
            s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
            s.sendall(preface + open_stream)
            t0, ended = time.monotonic(), False
            try:
                while time.monotonic() - t0 < 8:
                    s.sendall(frame * 200)
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                ended = True
            took = time.monotonic() - t0
            s.settimeout(2)
            got = read_to_end(s)
            self.assertTrue(ended, "%s: still open after 8 s" % name)
            self.assertLess(took, 4, name)
            self.assertIn(b"\x00\x00\x00\x0b", got, "%s: no GOAWAY ENHANCE_YOUR_CALM" % name)
        self.assertIn("flood of", r.stderr())
        self.assertTrue(r.alive())
        wait_until(lambda: self.in_flight(r) == 0, what="in-flight 0")
        self.assertEqual(request(r.port, "GET", "/health").status, 200)

    def test_rapid_reset_flood_is_cut_off(self):
        r = self.start()
        c = Client(r.port)
        self.addCleanup(c.close)
        try:
            for i in range(3000):
                sid = c.conn.get_next_available_stream_id()
                c.conn.send_headers(sid, [(":method", "POST"), (":path", "/v1/completions"), (":scheme", "http"),
                                          (":authority", "x")])
                c.conn.reset_stream(sid)
                if i % 50 == 0:
                    c.flush()
            c.flush()
            c.pump(lambda: c.goaway is not None, timeout=10)
        except (BrokenPipeError, ConnectionResetError, h2.exceptions.ProtocolError):
            pass
        self.assertTrue(r.alive())
        wait_until(lambda: self.in_flight(r) == 0, what="in-flight 0")
        self.assertEqual(request(r.port, "GET", "/health").status, 200)


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024


def metric(r, name):
    for line in request(r.metrics_port, "GET", "/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no metric " + name)


def sanitized(proc):
    """True when the program was built with a sanitizer (RSS then includes
    its shadow memory)."""
    with open(proc.argv[0], "rb") as f:
        data = f.read()
    return b"__tsan_init" in data or b"__asan_init" in data


class UnreadResponses(ProcTestCase):
    """Clients that never read (issue 18: four HTTP/2 connections with 100
    unread streams each took the router from 7 MB to 461 MB)."""

    def setUp(self):
        super().setUp()
        self.w = self.sim("--zero-latency")

    def open_unread(self, r, conns=4, streams=100, tokens=40000):
        """conns connections, each with streams streaming requests whose
        stream windows are never opened (the connection window is)."""
        self.clients = []
        for _ in range(conns):
            c = Client(r.port)
            self.clients.append(c)
            for _ in range(streams):
                c.request("POST", "/v1/completions", completion(tokens), ack=False)

    def close_all(self, r):
        """The clients leave: every exchange ends, the buffers empty."""
        for c in self.clients:
            c.close()
        wait_until(lambda: metric(r, "sglang_router_in_flight_requests") == 0, timeout=30,
                   what="in-flight 0")
        wait_until(lambda: metric(r, "sglang_router_buffered_response_bytes") == 0, what="buffers freed")

    def test_unread_streams_are_bounded_per_connection(self):
        r = self.router("--worker-urls", self.w.url, "--prometheus-port", "0")
        base = rss_mb(r.p.pid)
        self.open_unread(r)
        try:
            # They fill up to the per-connection cap (4 MiB), plus at most one
            # worker read per stream past it; no further.
            # 160 KB a stream, 16 MB a connection: far past its 4 MiB cap (and
            # light enough that a sanitizer-built simulator stops in time).
            wait_until(lambda: metric(r, "sglang_router_buffered_response_bytes") > 14 * 2 ** 20,
                       timeout=30, what="buffers filled")
            time.sleep(2)  # the behaviour under test: unbounded, they would go on growing
            held = metric(r, "sglang_router_buffered_response_bytes")
            self.assertLess(held, 4 * (4 + 100 * 0.0625) * 2 ** 20)
            if not sanitized(r):  # shadow memory would count too
                self.assertLess(rss_mb(r.p.pid) - base, 100)  # unbounded, it was 300+ MB
        finally:
            self.close_all(r)

    def test_over_budget_stalled_clients_are_closed(self):
        r = self.router("--worker-urls", self.w.url, "--prometheus-port", "0",
                        "--response-buffer-budget-bytes", str(8 * 2 ** 20), "--slow-client-grace-secs", "1")
        self.open_unread(r, streams=4, tokens=2000000)
        try:
            wait_until(lambda: metric(r, "sglang_router_slow_clients_closed_total") >= 1, timeout=30,
                       what="a stalled client closed")
            wait_until(lambda: metric(r, "sglang_router_buffered_response_bytes") <= 8 * 2 ** 20,
                       timeout=30, what="back under the budget")
            self.assertIn("read nothing for", r.stderr())
            # Readers are still served meanwhile.
            ok = request(r.port, "POST", "/generate", {"text": "hi", "sampling_params": {"max_new_tokens": 2}},
                         timeout=30)
            self.assertEqual(ok.status, 200)
        finally:
            self.close_all(r)


if __name__ == "__main__":
    unittest.main()
