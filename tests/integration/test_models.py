"""Several models behind one router, through real processes: each worker's
model is discovered (or named by --worker-urls URL@MODEL, /add_worker,
POST /workers), a request's "model" selects that model's workers, an
unknown model is a 404 in OpenAI's shape, a request naming none is a 400
when several are served, /v1/models lists what healthy workers serve, and
a model served disaggregated sits beside a model served whole."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ProcTestCase, metrics, request, wait_until  # noqa: E402


def models(port):
    r = request(port, "GET", "/v1/models")
    return r.status, sorted(m["id"] for m in r.json().get("data", [])) if r.status == 200 else []


class Models(ProcTestCase):
    def fleet(self, *router_args):
        self.a = [self.sim("--worker-id", "a%d" % i, "--served-model-name", "model-a", "--zero-latency")
                  for i in range(2)]
        self.b = [self.sim("--worker-id", "b%d" % i, "--served-model-name", "org/model-b", "--zero-latency")
                  for i in range(2)]
        self.r = self.router("--worker-urls", *[w.url for w in self.a + self.b], "--prometheus-port", "0",
                             "--health-check-interval-secs", "1", "--health-failure-threshold", "1",
                             *router_args)
        wait_until(lambda: models(self.r.port) == (200, ["model-a", "org/model-b"]), what="both models known")

    def test_each_request_goes_to_its_models_workers(self):
        self.fleet()
        for route, body in (("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}],
                                                      "max_tokens": 2}),
                            ("/v1/completions", {"prompt": "hi", "max_tokens": 2}),
                            ("/generate", {"text": "hi", "sampling_params": {"max_new_tokens": 2}})):
            for model, prefix in (("model-a", "a"), ("org/model-b", "b")):
                for i in range(4):
                    r = request(self.r.port, "POST", route, dict(body, model=model, user=str(i)))
                    self.assertEqual(r.status, 200, r.body)
                    self.assertTrue(r.headers["x-worker-id"].startswith(prefix), (route, model, r.headers))

    def test_unknown_and_missing_models(self):
        self.fleet()
        r = request(self.r.port, "POST", "/v1/chat/completions",
                    {"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json(), {"error": {
            "message": "The model `gpt-9` does not exist or you do not have access to it.",
            "type": "invalid_request_error", "param": None, "code": "model_not_found"}})
        r = request(self.r.port, "POST", "/generate", {"text": "hi"})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["code"], "missing_model")

    def test_models_list_follows_health(self):
        self.fleet()
        for w in self.b:
            request(w.port, "POST", "/sim/health?status=503")
        wait_until(lambda: models(self.r.port) == (200, ["model-a"]), what="model-b gone from the list")
        r = request(self.r.port, "POST", "/v1/completions", {"model": "org/model-b", "prompt": "x"})
        self.assertEqual(r.status, 503)  # known, but no healthy worker
        m = metrics(self.r.metrics_port)
        self.assertEqual(m['sglang_router_healthy_workers{model="model-a",role="regular"}'], 2)
        self.assertEqual(m['sglang_router_healthy_workers{model="org/model-b",role="regular"}'], 0)

    def test_an_administrators_model_wins_over_discovery(self):
        w = self.sim("--worker-id", "x0", "--served-model-name", "served-x", "--zero-latency")
        other = self.sim("--worker-id", "y0", "--served-model-name", "served-y", "--zero-latency")
        r = self.router("--worker-urls", w.url + "@pinned-x", other.url)
        wait_until(lambda: models(r.port) == (200, ["pinned-x", "served-y"]), what="models")
        self.assertEqual(request(r.port, "POST", "/v1/completions",
                                 {"model": "pinned-x", "prompt": "q"}).headers["x-worker-id"], "x0")
        # POST /workers (SGLang's registration) and /add_worker name models too.
        z = self.sim("--worker-id", "z0", "--zero-latency")
        resp = request(r.port, "POST", "/workers", {"url": z.url, "model_id": "zed"})
        self.assertEqual(resp.status, 202, resp.body)
        wait_until(lambda: "zed" in models(r.port)[1], what="zed served")
        self.assertEqual(request(r.port, "POST", "/generate", {"model": "zed", "text": "q"}).headers["x-worker-id"],
                         "z0")
        # Renaming a registered worker's model.
        resp = request(r.port, "POST", "/workers", {"url": z.url, "model_id": "zed-2"})
        self.assertEqual(resp.status, 200, resp.body)
        wait_until(lambda: "zed-2" in models(r.port)[1], what="renamed")
        ws = {x["url"]: x for x in request(r.port, "GET", "/workers").json()["workers"]}
        self.assertEqual(ws[z.url]["model_id"], "zed-2")
        self.assertTrue(ws[z.url]["model_pinned"])
        for bad in ({"url": z.url, "model_id": "a b"}, {"model_id": "m"}, {"url": "http://q:1", "worker_type": "boss"},
                    {"url": "http://q:1", "bootstrap_port": 8998}, "[1]"):
            resp = request(r.port, "POST", "/workers", bad if isinstance(bad, dict) else bad.encode())
            self.assertEqual(resp.status, 400, (bad, resp.body))
        q = self.sim("--worker-id", "q0", "--zero-latency")
        resp = request(r.port, "POST", "/add_worker?url=%s&model_id=queue-m" % q.url)
        self.assertEqual(resp.status, 200, resp.body)
        wait_until(lambda: "queue-m" in models(r.port)[1], what="queue-m served")

    def test_one_model_takes_any_model_name(self):
        w = self.sim("--worker-id", "only", "--served-model-name", "the-model", "--zero-latency")
        r = self.router("--worker-urls", w.url, "--prometheus-port", "0")
        wait_until(lambda: 'sglang_router_worker_info{worker="%s",role="regular",model="the-model"}' % w.url
                   in metrics(r.metrics_port), what="discovered")
        for name in ("default", "gpt-4o", "the-model"):
            self.assertEqual(request(r.port, "POST", "/v1/completions", {"model": name, "prompt": "q"}).status, 200)
        # /v1/models is the worker's own answer with one model.
        self.assertEqual(models(r.port), (200, ["the-model"]))

    def test_a_disaggregated_model_beside_a_whole_one(self):
        p = self.sim("--worker-id", "p0", "--zero-latency", "--record-requests")
        d = self.sim("--worker-id", "d0", "--zero-latency", "--record-requests")
        whole = self.sim("--worker-id", "w0", "--zero-latency", "--record-requests")
        r = self.router("--pd-disaggregation", "--prefill", p.url + "@split", "8998", "--decode", d.url + "@split",
                        "--worker-urls", whole.url + "@whole")
        wait_until(lambda: models(r.port) == (200, ["split", "whole"]), what="models")
        resp = request(r.port, "POST", "/generate", {"model": "split", "text": "q"})
        self.assertEqual(resp.headers["x-worker-id"], "d0")
        rec = json.loads(bytes.fromhex(request(d.port, "GET", "/sim/last_request").json()["body_hex"]))
        self.assertIn("bootstrap_room", rec)
        resp = request(r.port, "POST", "/generate", {"model": "whole", "text": "q"})
        self.assertEqual(resp.headers["x-worker-id"], "w0")
        rec = json.loads(bytes.fromhex(request(whole.port, "GET", "/sim/last_request").json()["body_hex"]))
        self.assertNotIn("bootstrap_room", rec)


if __name__ == "__main__":
    unittest.main()
