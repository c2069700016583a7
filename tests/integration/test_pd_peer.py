"""Peer test of prefill/decode disaggregation: the same requests through
SGLang's own router (sglang-router 0.3.2 from PyPI, --pd-disaggregation)
and through ours, in front of the same two recording simulated workers
(--record-requests), and what each worker received compared.

What the two agree on, asserted: the path and method; one body to both
halves; bootstrap_host, bootstrap_port and bootstrap_room as the body's
last members, a list of one per element for a batch; the same room on both
halves and distinct rooms within a batch; bootstrap_host the prefill URL's
host as written (a name, [::1] bracketed), bootstrap_port its port or null
(`none` or none given); the client's Authorization, X-Request-Id and
Content-Type reaching both workers; the decode worker's answer relayed.

Where they differ, asserted too, as documentation of the pinned reference
(a change in either shows up here):
- the reference parses the body into its typed request and serializes it
  again: members in its struct's order, compact, every defaulted field
  written out (REFERENCE_DEFAULTS), and chat's max_tokens renamed
  max_completion_tokens; ours forwards the client's bytes and appends the
  three fields;
- the reference answers 422 (text/plain, nothing sent to the workers) to
  /generate with a text list (its text is a string) and to /v1/completions
  without a model; ours forwards both;
- forwarded headers: the reference forwards only its list (content-type,
  authorization, x-request-id, x-correlation-id, ...) and adds
  accept: */*; ours forwards the client's end-to-end headers;
- without a client X-Request-Id the reference makes one for the client's
  answer only (gnt-..., chatcmpl-...); ours makes one and sends it to both
  workers too;
- response headers: the reference adds CORS headers (vary,
  access-control-*) and date; ours adds connection;
- a dead prefill worker: both answer 502, in their own error shapes; the
  reference after 5 attempts (the decode half sent as well), ours after one
  retry (no other prefill worker to try).
"""
import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Proc, ProcTestCase, RawHTTP, free_port, metrics,  # noqa: E402
                     peer_venv, poll, request, wait_until)

BOOTSTRAP = ("bootstrap_host", "bootstrap_port", "bootstrap_room")
ROOM_MAX = 2 ** 63 - 1

# The members the reference writes out when the client left them out: its
# typed requests' defaults (sglang-router 0.3.2), per route.
REFERENCE_DEFAULTS = {
    "/generate": {"model": None, "return_text_in_logprobs": False, "stream": False, "log_metrics": True,
                  "return_hidden_states": False, "background": False, "no_logs": False, "return_bytes": False,
                  "return_entropy": False},
    "/v1/completions": {"stream": False, "echo": False, "no_stop_trim": False, "ignore_eos": False,
                        "skip_special_tokens": True, "return_hidden_states": False},
    "/v1/chat/completions": {"logprobs": False, "stream": False, "no_stop_trim": False, "ignore_eos": False,
                             "continue_final_message": False, "skip_special_tokens": True,
                             "separate_reasoning": True, "stream_reasoning": True, "return_hidden_states": False},
}

# The client's headers on every request (besides Host, Content-Length).
CLIENT_HEADERS = (("Content-Type", "application/json"), ("Authorization", "Bearer sk-peer"),
                  ("X-Request-Id", "peer-req-1"), ("X-Correlation-Id", "corr-1"),
                  ("User-Agent", "pd-peer-test"), ("Accept", "application/json"), ("X-Custom", "c1"))
# What each router sends a worker of those (lower-case name -> value), and
# what it adds; content-length and host are each router's own.
REFERENCE_FORWARDS = {"content-type": "application/json", "authorization": "Bearer sk-peer",
                      "x-request-id": "peer-req-1", "x-correlation-id": "corr-1", "accept": "*/*"}
OURS_FORWARDS = {"content-type": "application/json", "authorization": "Bearer sk-peer",
                 "x-request-id": "peer-req-1", "x-correlation-id": "corr-1", "user-agent": "pd-peer-test",
                 "accept": "application/json", "x-custom": "c1"}
# Response headers one router gives the client and the other does not.
REFERENCE_ONLY_RESPONSE = {"vary", "access-control-allow-origin", "access-control-expose-headers", "date"}
OURS_ONLY_RESPONSE = {"connection"}


def send(port, path, body, headers=CLIENT_HEADERS):
    """POST with exactly these headers; returns the Response (a chunked
    body joined)."""
    c = RawHTTP(port)
    try:
        extra = "".join("%s: %s\r\n" % kv for kv in headers)
        c.send(("POST %s HTTP/1.1\r\nHost: router\r\n%sContent-Length: %d\r\n\r\n"
                % (path, extra, len(body))).encode() + body)
        return c.read_response()
    finally:
        c.close()


def record(worker):
    """What the worker last received: (method, target, {lower-case header:
    value}, raw body)."""
    rec = request(worker.port, "GET", "/sim/last_request", host=worker.host).json()
    if rec is None:
        return None
    return (rec["method"], rec["target"], {k.lower(): v for k, v in rec["headers"]},
            bytes.fromhex(rec["body_hex"]))


def shape(v):
    """The JSON value with every scalar replaced by its type: what the
    client got, ids, times and cache counts aside."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(x) for x in v]
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return None if v is None else type(v).__name__


def client_shape(r):
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        events = [e[len(b"data: "):] for e in r.body.split(b"\n\n") if e]
        return [e.decode() if e == b"[DONE]" else shape(json.loads(e)) for e in events]
    return shape(json.loads(r.body))


def reference_form(path, client):
    """The body the reference sends for this client body, bootstrap fields
    aside: its defaults filled in, chat's max_tokens renamed."""
    out = dict(client)
    if path == "/v1/chat/completions" and "max_tokens" in out:
        out["max_completion_tokens"] = out.pop("max_tokens")
    for k, v in REFERENCE_DEFAULTS[path].items():
        out.setdefault(k, v)
    return out


class PeerCase(ProcTestCase):
    @classmethod
    def setUpClass(cls):
        # The pinned venv once for every class here: an unreachable PyPI
        # is tried once, and every class skipped.
        if "venv" not in PeerCase.__dict__:
            try:
                PeerCase.venv = (peer_venv(), None)
            except unittest.SkipTest as e:
                PeerCase.venv = (None, e)
        cls.python, skip = PeerCase.venv
        if skip is not None:
            raise skip

    def start(self, prefill_port=("8998",), prefill_host="127.0.0.1"):
        """One prefill and one decode recording sim, the reference and ours
        in front of both; prefill_port is the words after the prefill URL,
        prefill_host the host in its URL ("[::1]": the sim listens there)."""
        if prefill_host == "[::1]":
            self.p = self.sim("--worker-id", "p0", "--zero-latency", "--record-requests", "--host", "::1",
                              ready_pattern=r"listening on http://(::1):(\d+)")
        else:
            self.p = self.sim("--worker-id", "p0", "--zero-latency", "--record-requests")
        self.d = self.sim("--worker-id", "d0", "--zero-latency", "--record-requests")
        self.p_url = "http://%s:%d" % (prefill_host, self.p.port)
        pd = ["--pd-disaggregation", "--prefill", self.p_url, *prefill_port, "--decode", self.d.url]
        self.ref_port = free_port()
        ref = Proc([self.python, "-m", "sglang_router.launch_router", "--host", "127.0.0.1",
                    "--port", str(self.ref_port), "--prometheus-port", str(free_port()),
                    "--health-check-interval-secs", "600", "--log-level", "warn", *pd],
                   port=self.ref_port, log=os.path.join(BIN, "..", "reference-router-pd.log"))
        ref.may_fail = True  # not ours: its exit status on SIGTERM is its business
        self.procs.append(ref)

        def ref_ready():  # both workers registered and healthy
            try:
                r = request(self.ref_port, "GET", "/readiness", timeout=2)
                return r.status == 200 and r.json().get("healthy_workers") == 2
            except (OSError, ValueError):
                return False
        wait_until(ref_ready, timeout=60, what="the reference router ready")
        # Ours: no load polling, and its model discovery done before the
        # test starts (both would land in the workers' records).
        self.ours = self.router(*pd, "--worker-load-interval-ms", "0", "--health-check-interval-secs", "600",
                                "--prometheus-port", "0")
        model = 'model="meta-llama/Meta-Llama-3.1-8B-Instruct"}'

        def discovered():
            return sum(1 for k, v in metrics(self.ours.metrics_port).items()
                       if k.startswith("sglang_router_worker_info{") and k.endswith(model) and v == 1)
        wait_until(lambda: discovered() == 2, what="ours discovered both workers' model")

    def records(self):
        """(prefill's record, decode's record) of the request just answered:
        the decode worker's is, the prefill worker's is given a moment to be
        the same body (the two halves are sent concurrently)."""
        rec_d = record(self.d)
        return poll(lambda: record(self.p), lambda rec: rec and rec[3] == rec_d[3], timeout=5), rec_d

    def through(self, port, path, raw, headers=CLIENT_HEADERS):
        """Sends raw to a router; returns (client response, prefill's record,
        decode's record)."""
        r = send(port, path, raw, headers)
        return (r, *self.records())

    def check_rooms(self, body, n):
        """bootstrap_room: an int, or a list of n distinct ints, in range."""
        rooms = body["bootstrap_room"]
        if n is None:
            self.assertIsInstance(rooms, int)
            rooms = [rooms]
        else:
            self.assertIsInstance(rooms, list)
            self.assertEqual(len(rooms), n)
            self.assertEqual(len(set(rooms)), n, rooms)
        for room in rooms:
            self.assertIsInstance(room, int)
            self.assertFalse(isinstance(room, bool))
            self.assertTrue(0 <= room <= ROOM_MAX, room)


class PdPeer(PeerCase):
    def test_the_same_requests_through_both(self):
        self.start()
        chat = [{"role": "user", "content": "hi"}]
        cases = (  # (path, client body, batch size or None)
            ("/generate", {"text": "the prompt", "sampling_params": {"max_new_tokens": 4}, "rid": "r1"}, None),
            ("/generate", {"input_ids": [[1, 2, 3], [4, 5]], "sampling_params": {"max_new_tokens": 2}}, 2),
            ("/v1/completions", {"model": "m", "prompt": "hello", "max_tokens": 3}, None),
            ("/v1/completions", {"model": "m", "prompt": ["hello", "bye", "again"], "max_tokens": 3}, 3),
            ("/v1/chat/completions", {"model": "m", "messages": chat, "max_tokens": 3}, None),
            ("/v1/chat/completions", {"model": "m", "messages": chat, "max_tokens": 3, "stream": True}, None),
            ("/v1/chat/completions", {"model": "m", "messages": chat, "max_tokens": 3, "n": 2}, 2),
        )
        for path, client, n in cases:
            with self.subTest(path=path, body=client):
                raw = json.dumps(client).encode()
                got = {}
                for name, port in (("reference", self.ref_port), ("ours", self.ours.port)):
                    r, rec_p, rec_d = self.through(port, path, raw)
                    self.assertEqual(r.status, 200, (name, r.body))
                    self.assertEqual(r.headers["x-worker-id"], "d0", name)  # decode's answer
                    for rec in (rec_p, rec_d):
                        self.assertEqual(rec[:2], ("POST", path), name)
                    # One body to both halves, the same room on both.
                    self.assertEqual(rec_p[3], rec_d[3], name)
                    self.assertEqual(rec_p[2]["content-type"], "application/json")
                    body = json.loads(rec_d[3])
                    self.assertEqual(list(body)[-3:], list(BOOTSTRAP), name)  # appended last by both
                    self.check_rooms(body, n)
                    got[name] = (r, rec_d, body)
                (ref_r, ref_rec, ref_body), (our_r, our_rec, our_body) = got["reference"], got["ours"]
                # bootstrap_host and _port: the same form from both.
                for k in BOOTSTRAP[:2]:
                    self.assertEqual(ref_body[k], our_body[k], k)
                self.assertEqual(our_body["bootstrap_host"], "127.0.0.1" if n is None else ["127.0.0.1"] * n)
                self.assertEqual(our_body["bootstrap_port"], 8998 if n is None else [8998] * n)
                # The rest: ours is the client's bytes with the three fields
                # appended; the reference's is its own serialization.
                self.assertTrue(our_rec[3].startswith(raw[:-1] + b","), our_rec[3])
                rest = {k: v for k, v in our_body.items() if k not in BOOTSTRAP}
                self.assertEqual(rest, client)
                ref_rest = {k: v for k, v in ref_body.items() if k not in BOOTSTRAP}
                self.assertEqual(ref_rest, reference_form(path, client))
                # Forwarded headers.
                for name, rec, want in (("reference", ref_rec, REFERENCE_FORWARDS), ("ours", our_rec, OURS_FORWARDS)):
                    fwd = {k: v for k, v in rec[2].items() if k not in ("host", "content-length")}
                    self.assertEqual(fwd, want, name)
                    self.assertEqual(int(rec[2]["content-length"]), len(rec[3]), name)
                # What the client got: the same shape, the same headers but
                # for the documented ones.
                self.assertEqual(client_shape(ref_r), client_shape(our_r))
                self.assertEqual(ref_r.headers["x-request-id"], "peer-req-1")
                self.assertEqual(our_r.headers["x-request-id"], "peer-req-1")
                self.assertEqual(ref_r.headers["content-type"], our_r.headers["content-type"])
                self.assertEqual((set(ref_r.headers) - set(our_r.headers), set(our_r.headers) - set(ref_r.headers)),
                                 (REFERENCE_ONLY_RESPONSE, OURS_ONLY_RESPONSE))

    def test_a_text_list_is_a_batch_for_ours_and_refused_by_the_reference(self):
        self.start()
        raw = json.dumps({"text": ["a b", "c d"], "sampling_params": {"max_new_tokens": 2}}).encode()
        before = record(self.p), record(self.d)
        r = send(self.ref_port, "/generate", raw)
        self.assertEqual(r.status, 422)
        self.assertTrue(r.headers["content-type"].startswith("text/plain"), r.headers)
        self.assertEqual(r.body, b"Failed to deserialize the JSON body into the target type: text: invalid type: "
                                 b"sequence, expected a string at line 1 column 9")
        self.assertEqual((record(self.p), record(self.d)), before)  # nothing sent
        r, _, rec_d = self.through(self.ours.port, "/generate", raw)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(len(r.json()), 2)
        body = json.loads(rec_d[3])
        self.assertEqual(body["bootstrap_host"], ["127.0.0.1"] * 2)
        self.check_rooms(body, 2)

    def test_without_a_request_id_and_without_a_model(self):
        self.start()
        only_type = (("Content-Type", "application/json"),)
        for path, body, prefix in (("/generate", {"text": "x"}, "gnt-"),
                                   ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]},
                                    "chatcmpl-")):
            raw = json.dumps(body).encode()
            # The reference makes an id for the client (route prefix and
            # 24 letters and digits) but sends the workers none.
            r, *recs = self.through(self.ref_port, path, raw, only_type)
            self.assertEqual(r.status, 200, r.body)
            self.assertRegex(r.headers["x-request-id"], "^%s[A-Za-z0-9]{24}$" % prefix)
            for rec in recs:
                self.assertNotIn("x-request-id", rec[2])
            # Ours makes one (32 hex digits) and sends it to both halves.
            r, *recs = self.through(self.ours.port, path, raw, only_type)
            self.assertEqual(r.status, 200, r.body)
            rid = r.headers["x-request-id"]
            self.assertRegex(rid, "^[0-9a-f]{32}$")
            for rec in recs:
                self.assertEqual(rec[2]["x-request-id"], rid)
        # /v1/completions without "model": the reference's typed request
        # needs one (422, nothing sent); ours forwards the request.
        raw = json.dumps({"prompt": "x", "max_tokens": 1}).encode()
        before = record(self.p), record(self.d)
        r = send(self.ref_port, "/v1/completions", raw)
        self.assertEqual(r.status, 422)
        self.assertEqual(r.body, b"Failed to deserialize the JSON body into the target type: missing field `model` "
                                 b"at line 1 column 32")
        self.assertEqual((record(self.p), record(self.d)), before)
        r = send(self.ours.port, "/v1/completions", raw)
        self.assertEqual(r.status, 200, r.body)


class PdPeerBootstrapPort(PeerCase):
    def check_null_port(self):
        raw = json.dumps({"text": "x", "sampling_params": {"max_new_tokens": 1}}).encode()
        batch = json.dumps({"input_ids": [[1], [2]], "sampling_params": {"max_new_tokens": 1}}).encode()
        for port in (self.ref_port, self.ours.port):
            r, rec_p, _ = self.through(port, "/generate", raw)
            self.assertEqual(r.status, 200, r.body)
            body = json.loads(rec_p[3])
            self.assertIn("bootstrap_port", body)  # null, not left out
            self.assertIsNone(body["bootstrap_port"])
            r, rec_p, _ = self.through(port, "/generate", batch)
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(json.loads(rec_p[3])["bootstrap_port"], [None, None])

    def test_none_is_null_in_both(self):
        self.start(prefill_port=("none",))
        self.check_null_port()

    def test_no_port_is_null_in_both(self):
        self.start(prefill_port=())
        self.check_null_port()


class PdPeerBootstrapHost(PeerCase):
    """bootstrap_host is the prefill URL's host as written: a name stays a
    name, an IPv6 address keeps its brackets, in both."""

    def check_host(self, want):
        raw = json.dumps({"text": "x", "sampling_params": {"max_new_tokens": 1}}).encode()
        for port in (self.ref_port, self.ours.port):
            r, (method, target, headers, body), _ = self.through(port, "/generate", raw)
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(json.loads(body)["bootstrap_host"], want)
            self.assertEqual(headers["host"], "%s:%d" % (want, self.p.port))

    def test_a_host_name(self):
        self.start(prefill_host="localhost")
        self.check_host("localhost")

    def test_an_ipv6_address(self):
        try:
            socket.create_server(("::1", 0), family=socket.AF_INET6).close()
        except OSError:
            self.skipTest("no IPv6 loopback")
        self.start(prefill_host="[::1]")
        self.check_host("[::1]")


class PdPeerDeadPrefill(PeerCase):
    def test_a_dead_prefill_worker(self):
        self.start()
        self.p.stop()
        raw = json.dumps({"text": "x", "sampling_params": {"max_new_tokens": 2}}).encode()
        # The reference: its attempts (5 by default) all fail on the prefill
        # half; 502 in its error shape. The decode half was sent anyway.
        r = send(self.ref_port, "/generate", raw)
        self.assertEqual(r.status, 502, r.body)
        self.assertEqual(r.headers["x-smg-error-code"], "prefill_server_error")
        err = r.json()["error"]
        self.assertEqual((err["type"], err["code"]), ("Bad Gateway", "prefill_server_error"))
        self.assertEqual(err["message"], "Prefill server error: error sending request for url (%s/generate). "
                                         "This will cause decode timeout." % self.p_url)
        self.assertEqual(record(self.d)[:2], ("POST", "/generate"))
        # Ours: one retry, a new pair, but no other prefill worker; the
        # last error, 502 in OpenAI's shape. (Once it has marked the worker
        # down, 503 "no healthy prefill worker is available"; the reference
        # says 503 server_selection_failed once its breaker opens.)
        r = send(self.ours.port, "/generate", raw)
        self.assertEqual(r.status, 502, r.body)
        self.assertEqual(r.json(), {"error": {"message": "prefill worker %s: Connection refused" % self.p_url,
                                              "type": "bad_gateway", "code": 502}})


if __name__ == "__main__":
    unittest.main()
