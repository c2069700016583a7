"""sglang-worker-sim, driven over real sockets: every endpoint and response
shape, the token/cache/batching model and its timing, streaming, every fault
knob, and malformed input."""
import json
import socket
import statistics
import threading
import time
import unittest

from harness import ProcTestCase, RawHTTP, post_stream, request, wait_until

GEN = "/generate"


class Endpoints(ProcTestCase):
    def setUp(self):
        super().setUp()
        self.w = self.sim("--worker-id", "w-1", "--zero-latency")

    def get(self, path):
        r = request(self.w.port, "GET", path)
        self.assertEqual(r.headers.get("x-worker-id"), "w-1", path)
        return r

    def test_health(self):
        for path in ("/health", "/health_generate"):
            self.assertEqual(self.get(path).status, 200)

    def test_server_info(self):
        for path in ("/get_server_info", "/server_info"):
            info = self.get(path).json()
            for key in ("model_path", "served_model_name", "version", "max_running_requests",
                        "max_total_num_tokens"):
                self.assertIn(key, info)
            self.assertIsInstance(info["dp_size"], int)
            self.assertTrue(len(info["internal_states"]) > 0)
            self.assertEqual(info["max_total_num_tokens"], 450000)
            self.assertEqual(info["worker_id"], "w-1")

    def test_model_info(self):
        for path in ("/get_model_info", "/model_info"):
            info = self.get(path).json()
            self.assertIs(info["is_generation"], True)
            for key in ("model_path", "tokenizer_path", "model_type", "architectures"):
                self.assertIn(key, info)

    def test_get_load_array(self):
        load = self.get("/get_load").json()
        self.assertEqual(load, [{"dp_rank": 0, "num_reqs": 0, "num_waiting_reqs": 0, "num_tokens": 0}])

    def test_models(self):
        m = self.get("/v1/models").json()
        self.assertEqual(m["object"], "list")
        self.assertEqual(m["data"][0]["object"], "model")
        self.assertEqual(m["data"][0]["id"], "meta-llama/Meta-Llama-3.1-8B-Instruct")

    def test_metrics_count_tokens(self):
        request(self.w.port, "POST", GEN, {"text": "abcdefgh", "sampling_params": {"max_new_tokens": 3}})
        text = self.get("/metrics").body.decode()
        self.assertIn("# TYPE sglang:num_running_reqs gauge", text)
        values = {}
        for line in text.splitlines():
            if not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name.split("{")[0]] = float(value)
        self.assertEqual(values["sglang:prompt_tokens_total"], 2)
        self.assertEqual(values["sglang:generation_tokens_total"], 3)
        self.assertEqual(values["sglang:num_queue_reqs"], 0)
        self.assertIn("sglang:cache_hit_rate", values)

    def test_unknown_path_and_wrong_method(self):
        r = request(self.w.port, "GET", "/nope")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["error"]["code"], 404)
        r = request(self.w.port, "GET", GEN)
        self.assertEqual(r.status, 405)
        r = request(self.w.port, "POST", "/health")
        self.assertEqual(r.status, 405)


class GenerateShapes(ProcTestCase):
    def setUp(self):
        super().setUp()
        self.w = self.sim("--zero-latency", "--worker-id", "w-2")

    def post(self, path, body):
        r = request(self.w.port, "POST", path, body)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["x-worker-id"], "w-2")
        return r.json()

    def test_generate_text(self):
        out = self.post(GEN, {"text": "Hello world!", "sampling_params": {"max_new_tokens": 5},
                              "rid": "r1", "data_parallel_rank": 0, "bootstrap_host": "x",
                              "bootstrap_port": 1, "bootstrap_room": 7, "unknown": {"a": 1}})
        self.assertEqual(out["worker_id"], "w-2")
        self.assertEqual(len(out["text"]), 5 * 4)
        mi = out["meta_info"]
        self.assertEqual(mi["prompt_tokens"], 3)  # 12 bytes / 4
        self.assertEqual(mi["completion_tokens"], 5)
        self.assertEqual(mi["cached_tokens"], 0)
        self.assertEqual(mi["finish_reason"], {"type": "length", "length": 5})
        for key in ("id", "e2e_latency"):
            self.assertIn(key, mi)

    def test_generate_list_returns_list(self):
        out = self.post(GEN, {"text": ["one", "two", "three"], "sampling_params": {"max_new_tokens": 2}})
        self.assertIsInstance(out, list)
        self.assertEqual(len(out), 3)
        self.assertEqual([o["index"] for o in out], [0, 1, 2])
        self.assertTrue(all(o["meta_info"]["completion_tokens"] == 2 for o in out))

    def test_generate_input_ids(self):
        out = self.post(GEN, {"input_ids": [1, 2, 3, 4, 5, 6, 7], "sampling_params": {"max_new_tokens": 1}})
        self.assertEqual(out["meta_info"]["prompt_tokens"], 7)
        out = self.post(GEN, {"input_ids": [1, 2, 3, 4, 5, 6, 7, 8], "sampling_params": {"max_new_tokens": 1}})
        self.assertEqual(out["meta_info"]["cached_tokens"], 7)
        out = self.post(GEN, {"input_ids": [[1, 2], [9, 9, 9]]})
        self.assertEqual([o["meta_info"]["prompt_tokens"] for o in out], [2, 3])
        self.assertEqual(out[0]["meta_info"]["completion_tokens"], 128)  # --output-len default

    def test_completions(self):
        out = self.post("/v1/completions", {"model": "x", "prompt": "The capital of France is", "max_tokens": 4})
        self.assertEqual(out["object"], "text_completion")
        self.assertTrue(out["id"].startswith("cmpl-"))
        self.assertEqual(out["choices"][0]["finish_reason"], "length")
        self.assertEqual(len(out["choices"][0]["text"]), 16)
        u = out["usage"]
        self.assertEqual(u["completion_tokens"], 4)
        self.assertEqual(u["total_tokens"], u["prompt_tokens"] + 4)
        self.assertEqual(u["prompt_tokens_details"]["cached_tokens"], 0)
        out = self.post("/v1/completions", {"prompt": "The capital of France is", "max_tokens": 4})
        self.assertEqual(out["usage"]["prompt_tokens_details"]["cached_tokens"], u["prompt_tokens"] - 1)

    def test_chat(self):
        msgs = [{"role": "system", "content": "You are helpful."},
                {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
        out = self.post("/v1/chat/completions", {"model": "m", "messages": msgs, "max_completion_tokens": 3})
        self.assertEqual(out["object"], "chat.completion")
        msg = out["choices"][0]["message"]
        self.assertEqual(msg["role"], "assistant")
        self.assertEqual(len(msg["content"]), 12)
        # The next turn repeats the conversation and the answer: all of it is cached.
        first = out["usage"]
        msgs2 = msgs + [msg, {"role": "user", "content": "And then?"}]
        out2 = self.post("/v1/chat/completions", {"messages": msgs2, "max_tokens": 3})
        cached = out2["usage"]["prompt_tokens_details"]["cached_tokens"]
        self.assertGreaterEqual(cached, first["prompt_tokens"] + 3 - 1)
        self.assertLess(cached, out2["usage"]["prompt_tokens"])

    def test_same_prompt_same_answer(self):
        a = self.post(GEN, {"text": "deterministic", "sampling_params": {"max_new_tokens": 6}})
        b = self.post(GEN, {"text": "deterministic", "sampling_params": {"max_new_tokens": 6}})
        c = self.post(GEN, {"text": "different", "sampling_params": {"max_new_tokens": 6}})
        self.assertEqual(a["text"], b["text"])
        self.assertNotEqual(a["text"], c["text"])


class Malformed(ProcTestCase):
    def setUp(self):
        super().setUp()
        self.w = self.sim("--zero-latency", "--max-payload-bytes", "1000")

    def test_bad_json_and_bad_fields(self):
        cases = [
            (GEN, b"{not json"), (GEN, b"[1,2]"), (GEN, b'{"sampling_params":{}}'),
            (GEN, b'{"text": 5}'), (GEN, b'{"text": "x", "sampling_params": {"max_new_tokens": -1}}'),
            (GEN, b'{"text": "x", "stream": "yes"}'), ("/v1/completions", b'{"max_tokens": 3}'),
            ("/v1/chat/completions", b'{"messages": []}'),
            ("/v1/chat/completions", b'{"messages": [{"content": "no role"}]}'),
            (GEN, b'{"text": ["a", "b"], "hash_ids": [1]}'),
        ]
        for path, body in cases:
            r = request(self.w.port, "POST", path, body)
            self.assertEqual(r.status, 400, (path, body, r.body))
            err = r.json()
            self.assertEqual(err["object"], "error")
            self.assertEqual(err["code"], 400)
            self.assertTrue(err["message"])
            self.assertEqual(err["error"]["message"], err["message"])

    def test_payload_limit(self):
        r = request(self.w.port, "POST", GEN, {"text": "x" * 2000})
        self.assertEqual(r.status, 413)
        self.assertEqual(r.json()["code"], 413)

    def test_garbage_request_line(self):
        c = RawHTTP(self.w.port)
        c.send(b"HELLO\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 400)
        self.assertEqual(r.headers["connection"], "close")
        c.close()


class Connections(ProcTestCase):
    def setUp(self):
        super().setUp()
        self.w = self.sim("--zero-latency")

    def test_keep_alive_and_pipelining(self):
        c = RawHTTP(self.w.port)
        body = json.dumps({"text": "pipelined", "sampling_params": {"max_new_tokens": 2}}).encode()
        req = b"POST /generate HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        c.send(req + b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n" + req)
        first, second, third = c.read_response(), c.read_response(), c.read_response()
        self.assertEqual([first.status, second.status, third.status], [200, 200, 200])
        self.assertEqual(first.json()["meta_info"]["cached_tokens"], 0)
        self.assertEqual(second.body, b"")
        self.assertGreater(third.json()["meta_info"]["cached_tokens"], 0)
        for _ in range(50):  # many requests on one connection
            c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
        c.close()

    def test_http10_closes(self):
        c = RawHTTP(self.w.port)
        c.send(b"GET /health HTTP/1.0\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["connection"], "close")
        self.assertEqual(c.sock.recv(10), b"")
        c.close()

    def test_expect_continue(self):
        c = RawHTTP(self.w.port)
        body = b'{"text":"hello"}'
        c.send(b"POST /generate HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        status, _ = c.read_head()
        self.assertEqual(status, 100)
        c.send(body)
        self.assertEqual(c.read_response().status, 200)
        c.close()


def decode_sse(conn):
    return [(t, e) for t, e in conn.sse_events()]


class Streaming(ProcTestCase):
    def test_generate_stream_timing_follows_the_model(self):
        w = self.sim("--decode-step-ms", "25", "--prefill-overhead-ms", "5", "--decode-step-growth", "0")
        start = time.monotonic()
        c, status, hdrs = post_stream(w.port, GEN, {"text": "x" * 400, "stream": True,
                                                    "sampling_params": {"max_new_tokens": 8}})
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["transfer-encoding"], "chunked")
        self.assertEqual(hdrs["content-type"], "text/event-stream")
        events = decode_sse(c)
        c.close()
        self.assertEqual(events[-1][1], "[DONE]")
        chunks = [json.loads(e) for _, e in events[:-1]]
        self.assertEqual(len(chunks), 8)
        # Cumulative text, like SGLang's /generate stream.
        self.assertEqual([len(ch["text"]) for ch in chunks], [4 * (i + 1) for i in range(8)])
        self.assertIsNone(chunks[0]["meta_info"]["finish_reason"])
        self.assertEqual(chunks[-1]["meta_info"]["finish_reason"]["length"], 8)
        # TTFT = 5 ms + 100 tokens / 5000 per s = 25 ms; then one token per 25 ms step.
        ttft = events[0][0] - start
        self.assertGreater(ttft, 0.020)
        self.assertLess(ttft, 0.200)
        gaps = [b[0] - a[0] for a, b in zip(events[:7], events[1:8])]
        self.assertAlmostEqual(statistics.mean(gaps), 0.025, delta=0.010)
        # Spread out, not one burst. Not min(gaps): steps follow the model
        # clock, so after a late event loop (a loaded machine, a sanitizer)
        # the next token is due at once and two may arrive together.
        self.assertGreater(statistics.median(gaps), 0.015)
        # The model's own clock is exact.
        self.assertAlmostEqual(chunks[-1]["meta_info"]["e2e_latency"], 0.025 + 7 * 0.025, delta=1e-4)

    def test_openai_streams(self):
        w = self.sim("--time-scale", "20")
        c, status, _ = post_stream(w.port, "/v1/chat/completions", {
            "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": True,
            "stream_options": {"include_usage": True}})
        self.assertEqual(status, 200)
        events = [e for _, e in decode_sse(c)]
        c.close()
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        self.assertTrue(all(ch["object"] == "chat.completion.chunk" for ch in chunks))
        text = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks if ch["choices"])
        self.assertEqual(len(text), 16)
        self.assertEqual(chunks[-2]["choices"][0]["finish_reason"], "length")
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertEqual(chunks[-1]["usage"]["completion_tokens"], 4)
        self.assertIn("cached_tokens", chunks[-1]["usage"]["prompt_tokens_details"])

        c, status, _ = post_stream(w.port, "/v1/completions", {"prompt": "hi", "max_tokens": 3, "stream": True})
        events = [e for _, e in decode_sse(c)]
        c.close()
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual(len(chunks), 3)  # no usage chunk unless asked
        self.assertEqual("".join(ch["choices"][0]["text"] for ch in chunks).count(" "), 3)

    def test_client_disconnect_cancels_generation(self):
        w = self.sim("--decode-step-ms", "20")
        c, status, _ = post_stream(w.port, GEN, {"text": "long", "stream": True,
                                                 "sampling_params": {"max_new_tokens": 1000}})
        next(c.sse_events())
        self.assertEqual(request(w.port, "GET", "/get_load").json()[0]["num_reqs"], 1)
        c.close()
        wait_until(lambda: request(w.port, "GET", "/get_load").json()[0]["num_reqs"] == 0, timeout=5,
                   what="the request to stop running")


class CacheModel(ProcTestCase):
    def test_repeated_prompt_hits_and_flush_resets(self):
        w = self.sim("--zero-latency")
        prompt = "You are a helpful assistant. " * 20
        hits = []
        for _ in range(3):
            out = request(w.port, "POST", GEN, {"text": prompt, "sampling_params": {"max_new_tokens": 4}}).json()
            hits.append(out["meta_info"]["cached_tokens"])
        n = out["meta_info"]["prompt_tokens"]
        self.assertEqual(hits, [0, n - 1, n - 1])
        longer = request(w.port, "POST", GEN, {"text": prompt + "More words.", "sampling_params": {"max_new_tokens": 1}}).json()
        self.assertEqual(longer["meta_info"]["cached_tokens"], len(prompt) // 4)
        self.assertEqual(request(w.port, "POST", "/flush_cache").status, 200)
        out = request(w.port, "POST", GEN, {"text": prompt}).json()
        self.assertEqual(out["meta_info"]["cached_tokens"], 0)

    def test_cached_prefix_probe(self):
        w = self.sim("--zero-latency")
        prompt = "probe me " * 50
        request(w.port, "POST", GEN, {"text": prompt, "sampling_params": {"max_new_tokens": 1}})
        r = request(w.port, "POST", "/sim/cached_prefix?route=generate", {"text": prompt + "more"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["cached_tokens"], len(prompt) // 4)
        r = request(w.port, "POST", "/sim/cached_prefix?route=chat", {"messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(r.json()["cached_tokens"], 0)
        self.assertEqual(request(w.port, "POST", "/sim/cached_prefix?route=nope", {"text": "x"}).status, 400)
        # Probing changes nothing: the same request still finds only the prompt cached.
        out = request(w.port, "POST", GEN, {"text": prompt + "more", "sampling_params": {"max_new_tokens": 1}}).json()
        self.assertEqual(out["meta_info"]["cached_tokens"], len(prompt) // 4)

    def test_capacity_evicts_least_recently_used(self):
        w = self.sim("--zero-latency", "--kv-capacity-tokens", "1000")
        def run(p):
            return request(w.port, "POST", GEN, {"text": p, "sampling_params": {"max_new_tokens": 1}}).json()["meta_info"]["cached_tokens"]
        keep = "K" * 400  # 100 tokens
        run(keep)
        for i in range(30):  # 30 x 100 distinct tokens, touching `keep` every time
            run("%03d" % i + "d" * 397)
            self.assertEqual(run(keep), 99)
        self.assertEqual(run("%03d" % 0 + "d" * 397), 0)  # long evicted
        info = request(w.port, "GET", "/get_server_info").json()
        self.assertLessEqual(info["internal_states"][0]["memory_usage"], 1000)

    def test_cache_sequences_keep_only_the_last_sequence_per_slot(self):
        # llama.cpp without a host prompt cache: one slot holds only what it last ran.
        def run(w, p):
            return request(w.port, "POST", GEN, {"text": p, "sampling_params": {"max_new_tokens": 2}}).json()["meta_info"]["cached_tokens"]
        a, b = "A" * 400, "B" * 400
        slot = self.sim("--zero-latency", "--cache-sequences", "1")
        radix = self.sim("--zero-latency")
        for w in (slot, radix):
            run(w, a)
            run(w, b)
        self.assertEqual(run(slot, a + "more"), 0)  # b replaced a
        self.assertEqual(run(radix, a + "more"), 100)  # the radix cache still holds a
        # A prompt that extends the held sequence (prompt + output) reuses all of it.
        out = request(slot.port, "POST", GEN, {"text": b, "sampling_params": {"max_new_tokens": 3}}).json()
        follow = b + out["text"] + "next turn"
        self.assertEqual(run(slot, follow), 100 + 3)
        # Two slots: the two most recent sequences.
        two = self.sim("--zero-latency", "--cache-sequences", "2")
        for p in (a, b, "C" * 400):
            run(two, p)
        self.assertEqual([run(two, "C" * 400 + "x"), run(two, b + "x"), run(two, a + "x")], [100, 0, 0])
        info = request(two.port, "GET", "/get_server_info").json()
        self.assertEqual(info["sim_model"]["cache_sequences"], 2)

    def host_cache_sim(self, *args):
        # llama.cpp with one slot and a host prompt cache (--cache-ram).
        return self.sim("--zero-latency", "--cache-sequences", "1", "--max-running-requests", "1", *args)

    def test_host_cache_restores_a_replaced_prompt(self):
        def run(w, p):
            return request(w.port, "POST", GEN, {"text": p, "sampling_params": {"max_new_tokens": 2}}).json()["meta_info"]["cached_tokens"]
        a, b = "A" * 400, "B" * 400  # 100 tokens each; a state is prompt + 2 output tokens
        cached = self.host_cache_sim("--host-cache-mib", "1", "--kv-bytes-per-token", "4096")  # 256 tokens
        plain = self.host_cache_sim()
        for w in (cached, plain):
            self.assertEqual([run(w, a), run(w, b)], [0, 0])
        self.assertEqual(run(cached, a + "more"), 100)  # b's slot saved, a's state restored
        self.assertEqual(run(plain, a + "more"), 0)  # without the host cache b replaced a
        self.assertEqual(run(cached, b + "more"), 100)  # b was saved when a came back
        info = request(cached.port, "GET", "/get_server_info").json()
        self.assertEqual((info["sim_model"]["host_cache_mib"], info["sim_model"]["kv_bytes_per_token"]), (1, 4096))
        states = info["internal_states"][0]
        self.assertEqual(states["host_cache_entries"], 1)  # a + more; b left when restored
        self.assertEqual((states["host_cache_saved"], states["host_cache_restored"]), (3, 2))
        # /flush_cache empties the host cache too.
        self.assertEqual(request(cached.port, "POST", "/flush_cache").status, 200)
        self.assertEqual(run(cached, "C" * 400), 0)
        self.assertEqual(run(cached, a + "more"), 0)

    def test_host_cache_too_small_keeps_nothing(self):
        def run(w, p):
            return request(w.port, "POST", GEN, {"text": p, "sampling_params": {"max_new_tokens": 2}}).json()["meta_info"]["cached_tokens"]
        a, b = "A" * 400, "B" * 400
        # 1 MiB at 20,000 bytes a token: 52 tokens, under one 102-token state ("exceeds cache size limit").
        small = self.host_cache_sim("--host-cache-mib", "1", "--kv-bytes-per-token", "20000")
        self.assertEqual([run(small, a), run(small, b), run(small, a + "more")], [0, 0, 0])
        # Room for one state: the slot is saved before the cache is searched, so
        # saving b evicts a, and a one-state cache never restores anything.
        one = self.host_cache_sim("--host-cache-mib", "1", "--kv-bytes-per-token", "8192")  # 128 tokens
        self.assertEqual([run(one, a), run(one, b), run(one, a + "more")], [0, 0, 0])
        info = request(one.port, "GET", "/get_server_info").json()["internal_states"][0]
        self.assertEqual((info["host_cache_entries"], info["host_cache_tokens"]), (1, 102))  # b's state

    def test_host_cache_evicts_least_recently_used(self):
        def run(p):
            return request(w.port, "POST", GEN, {"text": p, "sampling_params": {"max_new_tokens": 2}}).json()

        def probe(p):
            return request(w.port, "POST", "/sim/cached_prefix?route=generate", {"text": p}).json()["cached_tokens"]
        # 1 MiB at 3,383 bytes a token: 309 tokens, three states of 102-103 tokens.
        w = self.host_cache_sim("--host-cache-mib", "1", "--kv-bytes-per-token", "3383")
        a, b, c = "A" * 400, "B" * 400, "C" * 400
        for p in (a, b, c):
            run(p)  # cache: a, b; slot: c
        out = run(a + "more")  # c saved, a restored: cache b, c; slot: a + more
        self.assertEqual(out["meta_info"]["cached_tokens"], 100)
        a_turn = a + "more" + out["text"]
        run("D" * 400)  # cache: b, c, a + more; slot: d
        run("E" * 400)  # saving d evicts b, the least recently used (a came back after it)
        # Saving e (the slot) comes before loading, and evicts c: neither is left.
        self.assertEqual([probe(b + "x"), probe(c + "x"), probe(a_turn + "again")], [0, 0, 103])
        self.assertEqual(run(a_turn + "again")["meta_info"]["cached_tokens"], 103)

    def test_host_cache_needs_a_slot_per_running_request(self):
        import os
        import subprocess
        from harness import BIN
        p = subprocess.run([os.path.join(BIN, "sglang-worker-sim"), "--host-cache-mib", "160"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--host-cache-mib needs --cache-sequences", p.stderr)

    def test_hash_ids_blocks(self):
        w = self.sim("--zero-latency")
        text = "t" * 4 * 1500  # 1500 tokens
        a = request(w.port, "POST", GEN, {"text": text, "hash_ids": [11, 12, 13], "sampling_params": {"max_new_tokens": 1}}).json()
        b = request(w.port, "POST", GEN, {"text": "u" * 4 * 1500, "hash_ids": [11, 12, 99], "sampling_params": {"max_new_tokens": 1}}).json()
        self.assertEqual(a["meta_info"]["cached_tokens"], 0)
        self.assertEqual(b["meta_info"]["cached_tokens"], 1024)  # two shared 512-token blocks


class Batching(ProcTestCase):
    def test_queueing_beyond_max_running_delays_ttft(self):
        w = self.sim("--max-running-requests", "1", "--decode-step-ms", "20", "--prefill-overhead-ms", "1",
                     "--decode-step-growth", "0")
        body = {"text": "q" * 40, "stream": True, "sampling_params": {"max_new_tokens": 10}}
        t0 = time.monotonic()
        a, _, _ = post_stream(w.port, GEN, body)
        b, _, _ = post_stream(w.port, GEN, dict(body, text="r" * 40))
        a_events = decode_sse(a)
        b_events = decode_sse(b)
        a.close()
        b.close()
        ttft_a = a_events[0][0] - t0
        ttft_b = b_events[0][0] - t0
        # b waits for all of a: ~1 ms + 9 x 20 ms, then its own prefill.
        self.assertLess(ttft_a, 0.1)
        self.assertGreater(ttft_b, 0.17)
        self.assertGreaterEqual(b_events[0][0], a_events[-2][0])

    def test_decode_step_grows_with_running_requests(self):
        w = self.sim("--decode-step-ms", "10", "--decode-step-growth", "0.1",
                     "--prefill-overhead-ms", "0", "--prefill-tokens-per-sec", "1e9")
        results = []
        def one(i):
            results.append(request(w.port, "POST", GEN, {"text": "p%d" % i, "sampling_params": {"max_new_tokens": 11}}).json())
        threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        alone = request(w.port, "POST", GEN, {"text": "solo", "sampling_params": {"max_new_tokens": 11}}).json()
        self.assertAlmostEqual(alone["meta_info"]["e2e_latency"], 0.100, delta=0.002)
        slowest = max(r["meta_info"]["e2e_latency"] for r in results)
        self.assertGreater(slowest, 0.115)  # steps of 10 ms x (1 + 0.1 x 3) while all four run

    def test_cached_tokens_and_context_cost_time(self):
        # prefill: 100 ms + uncached / 1000 per s + 2 ms per cached token; decode:
        # 10 ms + 0.1 ms per token of context.
        w = self.sim("--prefill-overhead-ms", "100", "--prefill-tokens-per-sec", "1000", "--prefill-cached-token-us",
                     "2000", "--decode-step-ms", "10", "--decode-context-us", "100", "--time-scale", "10")
        prompt = "c" * 400  # 100 tokens

        def run(text, n):
            return request(w.port, "POST", GEN, {"text": text, "sampling_params": {"max_new_tokens": n}}).json()["meta_info"]
        cold = run(prompt, 1)
        self.assertAlmostEqual(cold["e2e_latency"], 0.100 + 0.100, delta=0.003)
        warm = run(prompt, 1)  # 99 cached, 1 computed
        self.assertAlmostEqual(warm["e2e_latency"], 0.100 + 0.001 + 0.198, delta=0.003)
        longer = run(prompt + "d" * 400, 3)  # 100 cached, 100 new, then 2 decode steps over ~201-202 tokens
        decode = 2 * 0.010 + 0.0001 * (201 + 202)
        self.assertAlmostEqual(longer["e2e_latency"], 0.100 + 0.100 + 0.200 + decode, delta=0.004)

    def test_host_cache_save_and_restore_cost_time(self):
        # prefill: 100 ms + uncached / 1000 per s; saving 0.5 ms and restoring 1 ms a token.
        w = self.sim("--prefill-overhead-ms", "100", "--prefill-tokens-per-sec", "1000", "--decode-step-ms", "10",
                     "--cache-sequences", "1", "--max-running-requests", "1", "--host-cache-mib", "1",
                     "--kv-bytes-per-token", "4096", "--host-cache-save-us", "500", "--host-cache-restore-us", "1000",
                     "--time-scale", "10")

        def run(text):
            return request(w.port, "POST", GEN, {"text": text, "sampling_params": {"max_new_tokens": 1}}).json()["meta_info"]
        a = run("A" * 400)  # 100 tokens, an empty slot: nothing saved or restored
        self.assertAlmostEqual(a["e2e_latency"], 0.100 + 0.100, delta=0.003)
        b = run("B" * 400)  # a + 1 output token saved (50.5 ms)
        self.assertAlmostEqual(b["e2e_latency"], 0.100 + 0.100 + 0.0505, delta=0.003)
        again = run("A" * 400 + "more")  # b saved (50.5 ms), a restored (101 ms), 1 token computed
        self.assertEqual(again["cached_tokens"], 100)
        self.assertAlmostEqual(again["e2e_latency"], 0.100 + 0.001 + 0.0505 + 0.101, delta=0.003)

    def test_queue_full_is_429(self):
        w = self.sim("--max-running-requests", "1", "--max-queued-requests", "1", "--decode-step-ms", "50")
        streams = [post_stream(w.port, GEN, {"text": "a", "stream": True, "sampling_params": {"max_new_tokens": 20}})
                   for _ in range(2)]
        self.assertEqual([s[1] for s in streams], [200, 200])
        r = request(w.port, "POST", GEN, {"text": "b"})
        self.assertEqual(r.status, 429)
        self.assertEqual(r.json()["code"], 429)
        load = request(w.port, "GET", "/get_load").json()[0]
        self.assertEqual((load["num_reqs"], load["num_waiting_reqs"]), (2, 1))
        for s in streams:
            s[0].close()


class Faults(ProcTestCase):
    def test_fail_first_n_with_status(self):
        w = self.sim("--zero-latency", "--fail-first-n", "2", "--fail-status", "503")
        codes = [request(w.port, "POST", GEN, {"text": "x"}).status for _ in range(4)]
        self.assertEqual(codes, [503, 503, 200, 200])
        self.assertEqual(request(w.port, "GET", "/health").status, 200)

    def test_fail_rate(self):
        w = self.sim("--zero-latency", "--fail-rate", "0.5", "--seed", "7")
        codes = [request(w.port, "POST", "/v1/completions", {"prompt": "x"}).status for _ in range(200)]
        self.assertTrue(set(codes) == {200, 500})
        self.assertTrue(60 < codes.count(500) < 140, codes.count(500))
        w2 = self.sim("--zero-latency", "--fail-rate", "0.5", "--seed", "7")
        codes2 = [request(w2.port, "POST", "/v1/completions", {"prompt": "x"}).status for _ in range(200)]
        self.assertEqual(codes, codes2)  # --seed makes it reproducible

    def test_hang(self):
        w = self.sim("--hang")
        with self.assertRaises(socket.timeout):
            request(w.port, "POST", GEN, {"text": "x"}, timeout=0.5)
        self.assertEqual(request(w.port, "GET", "/health").status, 200)

    def test_crash_after_non_streaming(self):
        w = self.sim("--zero-latency", "--crash-after", "2")
        w.may_fail = True
        self.assertEqual(request(w.port, "POST", GEN, {"text": "x"}).status, 200)
        with self.assertRaises((ConnectionError, EOFError, OSError)):
            request(w.port, "POST", GEN, {"text": "x"})
        self.assertNotEqual(w.wait_exit(), 0)

    def test_crash_after_mid_stream(self):
        w = self.sim("--time-scale", "10", "--crash-after", "1")
        w.may_fail = True
        c, status, _ = post_stream(w.port, GEN, {"text": "x", "stream": True, "sampling_params": {"max_new_tokens": 20}})
        self.assertEqual(status, 200)
        got = []
        with self.assertRaises(EOFError):
            for _, e in c.sse_events():
                got.append(e)
        c.close()
        self.assertGreater(len(got), 0)
        self.assertLess(len(got), 20)
        self.assertNotIn("[DONE]", got)
        self.assertNotEqual(w.wait_exit(), 0)

    def test_health_fail_after(self):
        w = self.sim("--health-fail-after-ms", "300")
        self.assertEqual(request(w.port, "GET", "/health").status, 200)
        wait_until(lambda: request(w.port, "GET", "/health").status != 200, timeout=5, what="health to fail")
        self.assertEqual(request(w.port, "GET", "/health_generate").status, 503)

    def test_health_switch(self):
        w = self.sim()
        self.assertEqual(request(w.port, "POST", "/sim/health?status=503").status, 200)
        self.assertEqual(request(w.port, "GET", "/health").status, 503)
        self.assertEqual(request(w.port, "POST", "/sim/health?status=0").status, 200)
        self.assertEqual(request(w.port, "GET", "/health").status, 200)
        self.assertEqual(request(w.port, "POST", "/sim/health?status=7").status, 400)

    def test_require_api_key(self):
        w = self.sim("--zero-latency", "--require-api-key", "s3cret")
        self.assertEqual(request(w.port, "POST", GEN, {"text": "x"}).status, 401)
        bad = request(w.port, "POST", GEN, {"text": "x"}, headers={"Authorization": "Bearer nope"})
        self.assertEqual(bad.status, 401)
        self.assertEqual(bad.json()["code"], 401)
        ok = request(w.port, "POST", GEN, {"text": "x"}, headers={"Authorization": "Bearer s3cret"})
        self.assertEqual(ok.status, 200)
        self.assertEqual(request(w.port, "GET", "/get_model_info").status, 401)
        self.assertEqual(request(w.port, "GET", "/health").status, 200)


class Options(ProcTestCase):
    def test_load_format_object(self):
        w = self.sim("--load-format", "object", "--zero-latency")
        self.assertEqual(request(w.port, "GET", "/get_load").json()["load"], 0)

    def test_seed_makes_ids_reproducible(self):
        ids = []
        for _ in range(2):
            w = self.sim("--seed", "42", "--zero-latency")
            ids.append(request(w.port, "POST", GEN, {"text": "x"}).json()["meta_info"]["id"])
        self.assertEqual(ids[0], ids[1])

    def test_profiles(self):
        import os
        import subprocess
        import tempfile
        from harness import BIN
        # A named profile, with a flag on the command line overriding it.
        w = self.sim("--zero-latency", "--profile", "qwen3-8b-h100", "--decode-step-ms", "9")
        model = request(w.port, "GET", "/get_server_info").json()
        self.assertEqual(model["sim_model"]["profile"], "qwen3-8b-h100")
        self.assertEqual(model["sim_model"]["prefill_tokens_per_sec"], 30000)
        self.assertEqual(model["sim_model"]["decode_step_ms"], 9)
        self.assertEqual(model["max_total_num_tokens"], 360000)
        self.assertEqual(model["model_path"], "Qwen/Qwen3-8B")
        # Every profile shipped loads.
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim", "profiles")
        for name in sorted(os.listdir(here)):
            w = self.sim("--zero-latency", "--profile", name[:-len(".conf")])
            self.assertEqual(request(w.port, "GET", "/health").status, 200)
        # A bad profile names the file and the line; a missing one the file.
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("# test\ndecode-step-ms = 5\nprefill-tokens-per-sec = fast\n")
            f.flush()
            p = subprocess.run([os.path.join(BIN, "sglang-worker-sim"), "--profile", f.name], capture_output=True,
                               text=True)
            self.assertEqual(p.returncode, 2)
            self.assertIn("--profile: %s:3: --prefill-tokens-per-sec:" % f.name, p.stderr)
        p = subprocess.run([os.path.join(BIN, "sglang-worker-sim"), "--profile", "no-such-profile"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("no-such-profile.conf: No such file or directory", p.stderr)

    def test_bad_flag_exits_2(self):
        import subprocess, os
        from harness import BIN
        p = subprocess.run([os.path.join(BIN, "sglang-worker-sim"), "--fail-rate", "2"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--fail-rate: must be between 0 and 1", p.stderr)


if __name__ == "__main__":
    unittest.main()
