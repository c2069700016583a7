"""Faithfulness: SGLang's own router (sglang-router 0.3.2 from PyPI) accepts
two simulated workers as healthy SGLang workers and serves /generate,
/v1/chat/completions (streaming too) and /get_loads through them."""
import json
import os
import unittest

from harness import BIN, ProcTestCase, RawHTTP, free_port, peer_venv, post_stream, request, wait_until

JSON = {"Content-Type": "application/json"}


class ReferenceRouter(ProcTestCase):
    @classmethod
    def setUpClass(cls):
        cls.python = peer_venv()

    def setUp(self):
        super().setUp()
        self.workers = [self.sim("--worker-id", name, "--time-scale", "20") for name in ("A", "B")]
        self.port = free_port()
        from harness import Proc
        router = Proc([self.python, "-m", "sglang_router.launch_router", "--host", "127.0.0.1",
                       "--port", str(self.port), "--prometheus-port", str(free_port()), "--policy", "cache_aware",
                       "--log-level", "warn",
                       "--worker-urls"] + [w.url for w in self.workers],
                      port=self.port, log=os.path.join(BIN, "..", "reference-router.log"))
        router.may_fail = True  # not ours: its exit status on SIGTERM is its business
        self.procs.append(router)

        def ready():  # both workers registered and healthy
            try:
                return len(request(self.port, "GET", "/get_loads", timeout=2).json().get("workers", [])) == 2
            except (OSError, ValueError):
                return False
        wait_until(ready, timeout=60, what="the reference router ready")

    def test_generate_chat_stream_and_loads(self):
        seen = set()
        for i in range(4):
            r = request(self.port, "POST", "/generate",
                        {"text": "distinct prompt %d " % i * 10, "sampling_params": {"max_new_tokens": 4}},
                        headers=JSON)
            self.assertEqual(r.status, 200, r.body)
            out = r.json()
            self.assertEqual(out["meta_info"]["completion_tokens"], 4)
            self.assertEqual(r.headers["x-worker-id"], out["worker_id"])
            seen.add(out["worker_id"])
        self.assertTrue(seen <= {"A", "B"})

        # Cache-aware routing keeps a repeated prompt on one worker, and the
        # worker reports the hits.
        prompt = "The same long shared system prompt. " * 20
        placed = []
        for _ in range(5):
            out = request(self.port, "POST", "/generate", {"text": prompt, "sampling_params": {"max_new_tokens": 2}},
                          headers=JSON).json()
            placed.append((out["worker_id"], out["meta_info"]["cached_tokens"]))
        self.assertEqual(len({w for w, _ in placed}), 1, placed)
        self.assertGreater(placed[-1][1], 0)

        r = request(self.port, "POST", "/v1/chat/completions",
                    {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}, headers=JSON)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["choices"][0]["message"]["role"], "assistant")

        c, status, hdrs = post_stream(self.port, "/v1/chat/completions",
                                      {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                       "max_tokens": 5, "stream": True}, headers=JSON)
        self.assertEqual(status, 200)
        events = [e for _, e in c.sse_events()]
        c.close()
        self.assertEqual(events[-1], "[DONE]")
        text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1])
        self.assertEqual(len(text), 20)

        c, status, _ = post_stream(self.port, "/generate",
                                   {"text": "stream me", "stream": True, "sampling_params": {"max_new_tokens": 3}},
                                   headers=JSON)
        self.assertEqual(status, 200)
        events = [e for _, e in c.sse_events()]
        c.close()
        self.assertEqual(json.loads(events[-2])["meta_info"]["completion_tokens"], 3)

        loads = request(self.port, "GET", "/get_loads").json()["workers"]
        self.assertEqual(sorted(w["worker"] for w in loads), sorted(w.url for w in self.workers))
        self.assertTrue(all(w["load"] >= 0 for w in loads), loads)


if __name__ == "__main__":
    unittest.main()
