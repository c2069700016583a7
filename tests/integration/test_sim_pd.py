"""sglang-worker-sim in SGLang's two PD roles, driven directly over real
sockets (no router): a client plays the router, sending the same body with
the bootstrap fields to a prefill and a decode simulator at once.

The timing checks use the model's own clock (meta_info.e2e_latency, in
model seconds) where they can, so a loaded machine does not fail them."""
import json
import socket
import threading
import time
import unittest

from harness import ProcTestCase, RawHTTP, post_stream, request, start_sim, wait_until

GEN = "/generate"
BIG_ROOM = 2 ** 63 - 1
TIMEOUT_RE = "timed out after"


def stats(port):
    return request(port, "GET", "/sim/stats").json()


def pd_body(text, room, bootstrap_port, max_new=4, host="127.0.0.1", **extra):
    body = {"text": text, "sampling_params": {"max_new_tokens": max_new},
            "bootstrap_host": host, "bootstrap_port": bootstrap_port, "bootstrap_room": room}
    body.update(extra)
    return body


def both(prefill_port, decode_port, body, path=GEN, timeout=20.0, procs=()):
    """The router's part: the same body to both, concurrently; (prefill, decode) responses.
    A request that fails fails the test with what each side raised, and whether
    each of procs is alive, with its log (for a failure seen once in CI)."""
    out, failed = {}, {}

    def send(name, port):
        try:
            out[name] = request(port, "POST", path, body, timeout=timeout)
        except OSError as e:
            failed[name] = repr(e)

    threads = [threading.Thread(target=send, args=(name, port))
               for name, port in (("prefill", prefill_port), ("decode", decode_port))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise AssertionError("requests failed: %s; %s" % (failed, "; ".join(
            "%s alive=%s log=%r" % (name, p.alive(), p.stderr()[-2000:])
            for name, p in zip(("prefill", "decode"), procs))))
    return out["prefill"], out["decode"]


class PdCase(ProcTestCase):
    """A prefill and a decode simulator; model numbers chosen so the parts of
    the time to first token are easy to tell apart."""

    PREFILL_ARGS = ()
    DECODE_ARGS = ()
    # 4 bytes a token; prefill: 10 ms + 0.2 ms a token; decode step: 10 ms;
    # transfer: tokens x 131072 B / 1 GB/s = 0.131 ms a token
    COMMON = ("--kv-transfer-gbps", "1", "--decode-step-growth", "0")

    def setUp(self):
        super().setUp()
        self.prefill = self.sim("--worker-id", "p", "--disaggregation-mode", "prefill",
                                "--disaggregation-bootstrap-port", "0", *self.COMMON,
                                *self.PREFILL_ARGS)
        line = self.prefill.p.stdout.readline()
        self.assertIn("bootstrap listening on http://", line)
        self.bootstrap = int(line.rsplit(":", 1)[1])
        self.decode = self.sim("--worker-id", "d", "--disaggregation-mode", "decode", *self.COMMON,
                               *self.DECODE_ARGS)

    def pair(self, text, room, max_new=4, **extra):
        return both(self.prefill.port, self.decode.port,
                    pd_body(text, room, self.bootstrap, max_new, **extra), procs=(self.prefill, self.decode))


class Roles(PdCase):
    def test_server_info_reports_the_role(self):
        info = request(self.prefill.port, "GET", "/get_server_info").json()
        self.assertEqual(info["disaggregation_mode"], "prefill")
        self.assertEqual(info["disaggregation_bootstrap_port"], self.bootstrap)
        info = request(self.decode.port, "GET", "/get_server_info").json()
        self.assertEqual(info["disaggregation_mode"], "decode")
        self.assertNotIn("disaggregation_bootstrap_port", info)
        self.assertEqual(stats(self.prefill.port)["role"], "prefill")
        self.assertEqual(stats(self.decode.port)["role"], "decode")

    def test_bootstrap_service_answers_health_and_unknown_rooms(self):
        self.assertEqual(request(self.bootstrap, "GET", "/health").status, 200)
        r = request(self.bootstrap, "GET", "/sim/bootstrap/room/12")
        self.assertEqual(r.status, 404)
        t = time.monotonic()
        r = request(self.bootstrap, "GET", "/sim/bootstrap/room/12?wait_ms=150")
        self.assertEqual(r.status, 408)
        self.assertGreaterEqual(time.monotonic() - t, 0.14)
        self.assertEqual(request(self.bootstrap, "GET", "/sim/bootstrap/room/x").status, 400)

    def test_pair_completes_a_request(self):
        text = "x" * 1600  # 400 tokens
        p, d = self.pair(text, BIG_ROOM, max_new=5)
        self.assertEqual(p.status, 200, p.body)
        self.assertEqual(d.status, 200, d.body)
        p, d = p.json(), d.json()
        # prefill: one token, finish_reason length 0, as SGLang's prefill server
        self.assertEqual(p["meta_info"]["completion_tokens"], 1)
        self.assertEqual(p["meta_info"]["finish_reason"], {"type": "length", "length": 0})
        self.assertEqual(p["meta_info"]["prompt_tokens"], 400)
        self.assertEqual(p["worker_id"], "p")
        # decode: the real answer, starting with the prefill's token
        self.assertEqual(d["worker_id"], "d")
        self.assertEqual(d["meta_info"]["completion_tokens"], 5)
        self.assertEqual(d["meta_info"]["finish_reason"], {"type": "length", "length": 5})
        self.assertEqual(len(d["text"]), 20)
        self.assertTrue(d["text"].startswith(p["text"]))
        # e2e: prefill 10 + 80 ms, transfer 52.4 ms, 5 decode steps of 10 ms
        prefill = 0.010 + 400 / 5000
        transfer = 400 * 131072 / 1e9
        self.assertAlmostEqual(p["meta_info"]["e2e_latency"], prefill, delta=0.005)
        # (less the time the decode request arrived after the prefill one)
        self.assertGreaterEqual(d["meta_info"]["e2e_latency"], prefill + transfer + 0.050 - 0.010)
        self.assertLess(d["meta_info"]["e2e_latency"], prefill + transfer + 0.050 + 0.060)
        s = stats(self.prefill.port)
        self.assertEqual((s["rooms_ready"], s["rooms_served"], s["rooms_held"]), (1, 1, 0))
        self.assertEqual((s["requests_received"], s["requests_finished"]), (1, 1))
        s = stats(self.decode.port)
        self.assertEqual((s["rooms_waited"], s["rooms_received"], s["rooms_timed_out"]), (1, 1, 0))
        self.assertEqual((s["requests_received"], s["requests_finished"], s["kv_waiting"]), (1, 1, 0))

    def test_decode_may_ask_after_the_prefill_is_done(self):
        body = pd_body("y" * 400, 77, self.bootstrap, max_new=2)
        p = request(self.prefill.port, "POST", GEN, body)
        self.assertEqual(p.status, 200)
        self.assertEqual(stats(self.prefill.port)["rooms_held"], 1)
        d = request(self.decode.port, "POST", GEN, body)
        self.assertEqual(d.status, 200, d.body)
        self.assertEqual(d.json()["meta_info"]["completion_tokens"], 2)
        self.assertEqual(stats(self.prefill.port)["rooms_held"], 0)

    def test_streamed(self):
        text = "s" * 2000  # 500 tokens
        body = pd_body(text, 4242, self.bootstrap, max_new=3, stream=True)
        out = {}

        def prefill():
            c, status, _ = post_stream(self.prefill.port, GEN, body)
            out["prefill"] = (status, [e for _, e in c.sse_events()])
            c.close()

        t = threading.Thread(target=prefill)
        start = time.monotonic()
        t.start()
        c, status, headers = post_stream(self.decode.port, GEN, body)
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/event-stream")
        events = list(c.sse_events())
        c.close()
        t.join()
        # prefill: one event at the end (its token), then [DONE]
        pstatus, pevents = out["prefill"]
        self.assertEqual(pstatus, 200)
        self.assertEqual(len(pevents), 2, pevents)
        self.assertEqual(json.loads(pevents[0])["meta_info"]["completion_tokens"], 1)
        self.assertEqual(pevents[-1], "[DONE]")
        # decode: a chunk per token; the first after prefill + transfer + a step
        self.assertEqual(events[-1][1], "[DONE]")
        chunks = [json.loads(e) for _, e in events[:-1]]
        self.assertEqual([ch["meta_info"]["completion_tokens"] for ch in chunks], [1, 2, 3])
        ttft = events[0][0] - start
        model_ttft = 0.010 + 500 / 5000 + 500 * 131072 / 1e9 + 0.010
        self.assertGreaterEqual(ttft, model_ttft - 0.005)

    def test_openai_routes(self):
        body = {"prompt": "c" * 100, "max_tokens": 3, "bootstrap_host": "127.0.0.1",
                "bootstrap_port": self.bootstrap, "bootstrap_room": 5}
        p, d = both(self.prefill.port, self.decode.port, body, path="/v1/completions",
                    procs=(self.prefill, self.decode))
        self.assertEqual(p.json()["usage"]["completion_tokens"], 1)
        self.assertEqual(d.json()["usage"]["completion_tokens"], 3)
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2,
                "bootstrap_host": "127.0.0.1", "bootstrap_port": self.bootstrap,
                "bootstrap_room": 6}
        p, d = both(self.prefill.port, self.decode.port, body, path="/v1/chat/completions",
                    procs=(self.prefill, self.decode))
        self.assertEqual(d.status, 200, d.body)
        self.assertEqual(d.json()["usage"]["completion_tokens"], 2)

    def test_batch_of_two_with_two_rooms(self):
        body = {"text": ["a" * 80, "b" * 160], "sampling_params": {"max_new_tokens": 3},
                "bootstrap_host": ["127.0.0.1", "127.0.0.1"],
                "bootstrap_port": [self.bootstrap, self.bootstrap], "bootstrap_room": [101, 102]}
        p, d = both(self.prefill.port, self.decode.port, body, procs=(self.prefill, self.decode))
        self.assertEqual(p.status, 200, p.body)
        self.assertEqual(d.status, 200, d.body)
        p, d = p.json(), d.json()
        self.assertEqual([x["meta_info"]["prompt_tokens"] for x in p], [20, 40])
        self.assertEqual([x["index"] for x in d], [0, 1])
        self.assertEqual([x["meta_info"]["completion_tokens"] for x in d], [3, 3])
        self.assertEqual(stats(self.prefill.port)["rooms_served"], 2)
        self.assertEqual(stats(self.decode.port)["rooms_received"], 2)

    def test_exact_rooms_near_two_to_the_63(self):
        # one double for both rooms: told apart only if read exactly
        body = pd_body("z" * 40, BIG_ROOM, self.bootstrap, max_new=1)
        self.assertEqual(request(self.prefill.port, "POST", GEN, body).status, 200)
        self.assertEqual(request(self.bootstrap, "GET", "/sim/bootstrap/room/%d" % (BIG_ROOM - 1)).status,
                         404)
        r = request(self.bootstrap, "GET", "/sim/bootstrap/room/%d" % BIG_ROOM)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"room": BIG_ROOM, "tokens": 10, "cached_tokens": 0})

    def test_return_logprob(self):
        text = "q" * 40  # 10 tokens
        p, d = self.pair(text, 31, max_new=3, return_logprob=True, logprob_start_len=0)
        p, d = p.json()["meta_info"], d.json()["meta_info"]
        self.assertEqual(len(p["input_token_logprobs"]), 10)
        self.assertIsNone(p["input_token_logprobs"][0][0])
        self.assertLess(p["input_token_logprobs"][1][0], 0)
        self.assertEqual(len(p["output_token_logprobs"]), 1)
        self.assertEqual(d["input_token_logprobs"], [])
        self.assertEqual(len(d["output_token_logprobs"]), 3)
        # the same first token on both sides
        self.assertEqual(p["output_token_logprobs"][0], d["output_token_logprobs"][0])
        p, d = self.pair(text, 32, max_new=1, return_logprob=True)  # start -1: no input
        self.assertEqual(p.json()["meta_info"]["input_token_logprobs"], [])

    def test_localhost_by_name(self):
        p, d = self.pair("n" * 40, 55, max_new=2, host="localhost")
        self.assertEqual(d.status, 200, d.body)


class PrefixCache(PdCase):
    def test_prefix_cached_on_prefill_shortens_decode_ttft(self):
        base = "k" * 8000  # 2000 tokens: 400 ms of prefill
        _, d1 = self.pair(base, 1, max_new=1)
        _, d2 = self.pair(base + "more", 2, max_new=1)
        m1, m2 = d1.json()["meta_info"], d2.json()["meta_info"]
        self.assertEqual(m1["cached_tokens"], 0)
        # the prefill worker's cache hit, reported by the decode worker
        self.assertEqual(m2["cached_tokens"], 2000)
        # TTFT (one token: e2e) shrinks by the prefill of 2000 tokens
        self.assertLess(m2["e2e_latency"], m1["e2e_latency"] - 0.35)


class Timeouts(PdCase):
    DECODE_ARGS = ("--disaggregation-timeout-ms", "300")

    def test_room_that_never_arrives(self):
        t = time.monotonic()
        r = request(self.decode.port, "POST", GEN, pd_body("w" * 40, 999, self.bootstrap))
        self.assertGreaterEqual(time.monotonic() - t, 0.29)
        self.assertEqual(r.status, 500)
        e = r.json()
        self.assertEqual((e["object"], e["type"], e["code"], e["param"]), ("error", "500", 500, None))
        self.assertRegex(e["message"],
                         r"^Decode transfer failed for request rank=0 decode_req\.req\.rid='[0-9a-f]+-0' "
                         r"decode_req\.req\.bootstrap_room=999 with exception "
                         r"KVTransferError\(bootstrap_room=999\): Request 999 timed out after 0\.3s "
                         r"in KVPoll\.WaitingForInput$")
        s = stats(self.decode.port)
        self.assertEqual((s["rooms_waited"], s["rooms_timed_out"], s["requests_failed"]), (1, 1, 1))
        self.assertEqual(s["kv_waiting"], 0)

    def test_streamed_room_that_never_arrives(self):
        c, status, _ = post_stream(self.decode.port, GEN, pd_body("w" * 40, 998, self.bootstrap,
                                                                   stream=True))
        self.assertEqual(status, 200)
        events = [e for _, e in c.sse_events()]
        c.close()
        self.assertEqual(events[-1], "[DONE]")
        fr = json.loads(events[0])["meta_info"]["finish_reason"]
        self.assertEqual(fr["type"], "abort")
        self.assertEqual(fr["status_code"], 500)
        self.assertIn("Request 998 " + TIMEOUT_RE, fr["message"])
        # OpenAI: SGLang's error event, then [DONE]
        body = {"prompt": "w" * 40, "max_tokens": 2, "stream": True, "bootstrap_host": "127.0.0.1",
                "bootstrap_port": self.bootstrap, "bootstrap_room": 997}
        c, status, _ = post_stream(self.decode.port, "/v1/completions", body)
        events = [e for _, e in c.sse_events()]
        c.close()
        self.assertEqual(events[-1], "[DONE]")
        err = json.loads(events[0])["error"]
        self.assertEqual((err["type"], err["code"]), ("INTERNAL_SERVER_ERROR", 500))
        self.assertIn(TIMEOUT_RE, err["message"])

    def test_batch_needs_every_room(self):
        body = {"text": ["a" * 80, "b" * 160], "sampling_params": {"max_new_tokens": 3},
                "bootstrap_host": ["127.0.0.1", "127.0.0.1"],
                "bootstrap_port": [self.bootstrap, self.bootstrap], "bootstrap_room": [201, 202]}
        # only the first prompt's room is ever published
        request(self.prefill.port, "POST", GEN, dict(body, text=["a" * 80],
                                                       bootstrap_host=["127.0.0.1"],
                                                       bootstrap_port=[self.bootstrap],
                                                       bootstrap_room=[201]))
        r = request(self.decode.port, "POST", GEN, body)
        self.assertEqual(r.status, 500)
        self.assertIn("bootstrap_room=202", r.json()["message"])

    def test_unreachable_bootstrap_service(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
        s.close()
        r = request(self.decode.port, "POST", GEN, pd_body("w" * 40, 5, dead))
        self.assertEqual(r.status, 500)
        self.assertIn("Could not fetch prefill parallel info from bootstrap_addr: 127.0.0.1:%d" % dead,
                      r.json()["message"])
        self.assertEqual(stats(self.decode.port)["rooms_failed"], 1)


class MissingFields(PdCase):
    def test_400_on_both_roles(self):
        full = pd_body("m" * 40, 3, self.bootstrap)
        cases = [
            ({k: v for k, v in full.items() if k != "bootstrap_room"}, "without bootstrap room id"),
            ({k: v for k, v in full.items() if k != "bootstrap_host"}, "without bootstrap_host"),
            ({k: v for k, v in full.items() if k != "bootstrap_port"}, "without bootstrap_port"),
            (dict(full, bootstrap_room="3"), "'bootstrap_room' must be an integer"),
            (dict(full, bootstrap_room=-1), "'bootstrap_room' must be an integer"),
            (dict(full, text=["a", "b"]), "lists of 2"),
            (dict(full, bootstrap_host="bad host"), "'bootstrap_host'"),
        ]
        for port in (self.prefill.port, self.decode.port):
            for body, message in cases:
                r = request(port, "POST", GEN, body)
                self.assertEqual(r.status, 400, (port, body))
                self.assertIn(message, r.json()["message"])
            r = request(port, "POST", "/v1/completions", {"prompt": "x", "max_tokens": 1})
            self.assertEqual(r.status, 400)
        # a null port is SGLang's default (8998)
        self.assertEqual(request(self.prefill.port, "POST", GEN,
                                 dict(full, bootstrap_port=None)).status, 200)
        self.assertEqual(stats(self.prefill.port)["requests_failed"], len(cases) + 1)


class Cancellation(PdCase):
    PREFILL_ARGS = ("--prefill-tokens-per-sec", "500")  # 400 tokens: 0.8 s

    def test_decode_client_gone_while_waiting_for_the_room(self):
        c = RawHTTP(self.decode.port)
        data = json.dumps(pd_body("w" * 40, 4040, self.bootstrap)).encode()
        c.send(b"POST /generate HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
        # waiting: counted as load, and the prefill holds a long poll for it
        wait_until(lambda: stats(self.prefill.port)["rooms_asked_now"] == 1, what="the long poll")
        load = request(self.decode.port, "GET", "/get_load").json()[0]
        self.assertEqual((load["num_reqs"], load["num_waiting_reqs"], load["num_tokens"]), (1, 1, 10))
        c.close()
        wait_until(lambda: stats(self.decode.port)["requests_cancelled"] == 1, what="decode cancel")
        wait_until(lambda: stats(self.prefill.port)["rooms_asked_now"] == 0, what="poll dropped")
        s = stats(self.decode.port)
        self.assertEqual((s["kv_waiting"], s["requests_in_flight"], s["rooms_timed_out"]), (0, 0, 0))
        self.assertEqual(request(self.decode.port, "GET", "/get_load").json()[0]["num_reqs"], 0)

    def test_prefill_client_gone_while_prefilling(self):
        c = RawHTTP(self.prefill.port)
        data = json.dumps(pd_body("w" * 1600, 4041, self.bootstrap)).encode()
        c.send(b"POST /generate HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
        wait_until(lambda: stats(self.prefill.port)["running"] == 1, what="prefill running")
        c.close()
        wait_until(lambda: stats(self.prefill.port)["requests_cancelled"] == 1, what="prefill cancel")
        time.sleep(1.0)  # past when the prefill would have ended
        s = stats(self.prefill.port)
        self.assertEqual((s["rooms_ready"], s["running"], s["requests_finished"]), (0, 0, 0))

    def test_decode_client_gone_while_decoding(self):
        body = pd_body("w" * 40, 4042, self.bootstrap, max_new=200, stream=True)
        threading.Thread(target=request, args=(self.prefill.port, "POST", GEN, body)).start()
        c, status, _ = post_stream(self.decode.port, GEN, body)
        events = c.sse_events()
        next(events)
        c.close()
        wait_until(lambda: stats(self.decode.port)["requests_cancelled"] == 1, what="decode cancel")
        self.assertEqual(stats(self.decode.port)["running"], 0)


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@unittest.skipUnless(have_ipv6_loopback(), "no IPv6 loopback")
class Ipv6(ProcTestCase):
    def test_bracketed_ipv6_host(self):
        prefill = self.sim("--host", "::1", "--disaggregation-mode", "prefill",
                           "--disaggregation-bootstrap-port", "0",
                           ready_pattern=r"listening on http://(::1):(\d+)")
        bootstrap = int(prefill.p.stdout.readline().rsplit(":", 1)[1])
        decode = self.sim("--disaggregation-mode", "decode")
        body = pd_body("v" * 40, 66, bootstrap, max_new=2, host="[::1]")
        out = {}
        t = threading.Thread(target=lambda: out.setdefault(
            "p", request(prefill.port, "POST", GEN, body, host="::1")))
        t.start()
        d = request(decode.port, "POST", GEN, body)
        t.join()
        self.assertEqual(out["p"].status, 200, out["p"].body)
        self.assertEqual(d.status, 200, d.body)
        self.assertEqual(d.json()["meta_info"]["completion_tokens"], 2)


class NullMode(ProcTestCase):
    def test_bootstrap_fields_are_ignored(self):
        w = self.sim("--zero-latency")
        r = request(w.port, "POST", GEN, pd_body("abcd" * 5, 1, 1, max_new=2))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["meta_info"]["completion_tokens"], 2)
        self.assertEqual(request(w.port, "POST", GEN, {"text": "abcd"}).status, 200)
        self.assertEqual(request(w.port, "GET", "/get_server_info").json()["disaggregation_mode"],
                         "null")
        s = stats(w.port)
        self.assertEqual((s["role"], s["requests_received"], s["requests_finished"]), ("null", 2, 2))


class ZeroLatency(PdCase):
    PREFILL_ARGS = ("--zero-latency",)
    DECODE_ARGS = ("--zero-latency",)

    def test_pair_answers_at_once(self):
        p, d = self.pair("abcd" * 10, 8, max_new=3)
        self.assertEqual(p.json()["meta_info"]["completion_tokens"], 1)
        self.assertEqual(d.json()["meta_info"]["completion_tokens"], 3)


if __name__ == "__main__":
    unittest.main()
