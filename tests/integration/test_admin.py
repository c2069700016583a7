"""The gRPC admin API (proto/sglang/router/admin/v1, grpc.health.v1) called
by a stock implementation: Python grpcio with stubs generated from our
proto files at test time, and grpcio-health-checking's own health stubs.
Runs under the pinned virtualenv (requirements-grpc.txt, run_in_venv.py)."""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness import BIN, ProcTestCase, make_pki, poll, post_stream, request, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "..", "proto")
STUBS = tempfile.mkdtemp(prefix="sr-stubs-")
subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + PROTO, "--python_out=" + STUBS,
                "--grpc_python_out=" + STUBS, "sglang/router/admin/v1/admin.proto"], check=True)
sys.path.insert(0, STUBS)
from sglang.router.admin.v1 import admin_pb2 as pb  # noqa: E402
from sglang.router.admin.v1 import admin_pb2_grpc as pb_grpc  # noqa: E402

GEN = "/generate"
TOKEN = "s3cret-admin-token"


def worker_of(resp):
    return resp.headers.get("x-worker-id")


def gen(port, text):
    return request(port, "POST", GEN, {"text": text, "sampling_params": {"max_new_tokens": 2}})


class AdminCase(ProcTestCase):
    def start(self, workers, *args):
        r = self.router("--admin-port", "0", "--health-check-interval-secs", "1",
                        "--worker-urls", *[w.url for w in workers], *args)
        self.assertIsNotNone(r.admin_port)
        self.r = r
        self.channel = grpc.insecure_channel("127.0.0.1:%d" % r.admin_port)
        self.addCleanup(self.channel.close)
        self.admin = pb_grpc.RouterAdminStub(self.channel)
        return r

    def workers(self, n, *args):
        return [self.sim("--worker-id", "w%d" % i, "--zero-latency", *args) for i in range(n)]

    def urls(self, workers):
        return [w.url for w in workers]


class EveryRpc(AdminCase):
    def test_workers_list_add_remove_set(self):
        ws = self.workers(3)
        self.start(ws[:1])
        got = self.admin.ListWorkers(pb.ListWorkersRequest(), timeout=5)
        self.assertEqual([w.url for w in got.workers], [ws[0].url])
        self.assertEqual(got.workers[0].health, pb.WORKER_HEALTH_HEALTHY)

        added = self.admin.AddWorkers(pb.AddWorkersRequest(urls=[ws[1].url]), timeout=5)
        self.assertEqual(list(added.added), [ws[1].url])
        self.assertEqual(len(added.workers), 2)
        self.assertEqual(added.workers[1].health, pb.WORKER_HEALTH_PENDING)  # checked before traffic

        removed = self.admin.RemoveWorkers(pb.RemoveWorkersRequest(urls=[ws[0].url]), timeout=5)
        self.assertEqual(list(removed.removed), [ws[0].url])

        swapped = self.admin.SetWorkers(pb.SetWorkersRequest(urls=[ws[2].url, ws[1].url]), timeout=5)
        self.assertEqual(list(swapped.added), [ws[2].url])
        self.assertEqual(list(swapped.removed), [])
        self.assertEqual([w.url for w in swapped.workers], [ws[2].url, ws[1].url])

        # All or none: one bad URL changes nothing.
        with self.assertRaises(grpc.RpcError) as e:
            self.admin.AddWorkers(pb.AddWorkersRequest(urls=[ws[0].url, "ftp://nope"]), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("ftp://nope", e.exception.details())
        with self.assertRaises(grpc.RpcError) as e:
            self.admin.AddWorkers(pb.AddWorkersRequest(urls=[ws[1].url]), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.ALREADY_EXISTS)
        with self.assertRaises(grpc.RpcError) as e:
            self.admin.RemoveWorkers(pb.RemoveWorkersRequest(urls=[ws[0].url]), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        with self.assertRaises(grpc.RpcError) as e:
            self.admin.SetWorkers(pb.SetWorkersRequest(urls=[ws[0].url, ws[0].url]), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        got = self.admin.ListWorkers(pb.ListWorkersRequest(), timeout=5)
        self.assertEqual([w.url for w in got.workers], [ws[2].url, ws[1].url])

    def test_queue_stats_say_the_concurrency_limit_in_force(self):
        """--max-concurrent-per-worker follows the fleet: the limit GetQueueStats
        reports is N per healthy worker, capped by --max-concurrent-requests."""
        ws = self.workers(3)
        self.start(ws[:2], "--max-concurrent-per-worker", "4", "--max-concurrent-requests", "10")

        def limit():
            return self.admin.GetQueueStats(pb.GetQueueStatsRequest(), timeout=5).concurrency_limit

        wait_until(lambda: limit() == 8, what="a limit of 4 for each of 2 healthy workers")
        self.admin.AddWorkers(pb.AddWorkersRequest(urls=[ws[2].url]), timeout=5)
        wait_until(lambda: limit() == 10, what="3 workers: 12, capped at --max-concurrent-requests 10")
        self.admin.RemoveWorkers(pb.RemoveWorkersRequest(urls=[ws[0].url, ws[1].url]), timeout=5)
        self.assertEqual(limit(), 4)
        ws[2].stop()
        wait_until(lambda: limit() == 10, timeout=15,
                   what="no healthy worker: the per-worker limit gives way to the router-wide one")

    def test_urls_with_nul_control_bytes_or_long_hosts_are_invalid(self):
        """Issue 18: protobuf-c strings end at a NUL, so "...:1\0evil" was cut
        and added; control bytes and 5,000-character hosts got in too."""
        ws = self.workers(1)
        self.start(ws)
        for bad in (ws[0].url + "\x00evil", "http://127.0.0.1:9\x01", "http://" + "a" * 5000 + ":9"):
            for call, req in ((self.admin.AddWorkers, pb.AddWorkersRequest(urls=[bad])),
                              (self.admin.SetWorkers, pb.SetWorkersRequest(urls=[bad]))):
                with self.assertRaises(grpc.RpcError) as e:
                    call(req, timeout=5)
                self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, bad[:40])
        got = self.admin.ListWorkers(pb.ListWorkersRequest(), timeout=5)
        self.assertEqual([w.url for w in got.workers], [ws[0].url])

    def test_config_get_update_validation(self):
        self.start(self.workers(1))
        cfg = self.admin.GetConfig(pb.GetConfigRequest(), timeout=5).config
        self.assertEqual((cfg.policy, cfg.cache_threshold, cfg.cache_routing_prob), ("cache_aware", 0.5, 1.0))
        self.assertEqual((cfg.eviction_interval_secs, cfg.max_tree_size), (60, 16777216))
        new = self.admin.UpdateConfig(pb.UpdateConfigRequest(
            config=pb.RouterConfig(cache_threshold=0.25, balance_abs_threshold=64)), timeout=5).config
        self.assertEqual((new.cache_threshold, new.balance_abs_threshold), (0.25, 64))
        self.assertEqual(new.cache_routing_prob, 1.0)  # untouched
        for bad, field in ((pb.RouterConfig(cache_threshold=1.5), "cache_threshold"),
                           (pb.RouterConfig(policy="fastest"), "policy"),
                           (pb.RouterConfig(max_tree_size=0), "max_tree_size"),
                           (pb.RouterConfig(cache_threshold=0.9, eviction_interval_secs=-1),
                            "eviction_interval_secs")):
            with self.assertRaises(grpc.RpcError) as e:
                self.admin.UpdateConfig(pb.UpdateConfigRequest(config=bad), timeout=5)
            self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertTrue(e.exception.details().startswith(field + ":"), e.exception.details())
        # A rejected update changed nothing (not even its valid fields).
        cfg = self.admin.GetConfig(pb.GetConfigRequest(), timeout=5).config
        self.assertEqual(cfg.cache_threshold, 0.25)

    def test_stats_evict_flush(self):
        ws = self.workers(2)
        r = self.start(ws)
        for i in range(6):
            self.assertEqual(gen(r.port, "a shared system prompt, then question %d" % i).status, 200)
        trees = self.admin.GetTreeStats(pb.GetTreeStatsRequest(), timeout=5)
        self.assertTrue(trees.has_tree)
        self.assertEqual(sorted(t.url for t in trees.workers), sorted(self.urls(ws)))
        self.assertGreater(sum(t.text_bytes for t in trees.workers), 40)
        self.assertGreater(trees.total_nodes, 0)
        self.assertGreater(trees.memory_bytes, 0)
        queues = self.admin.GetQueueStats(pb.GetQueueStatsRequest(), timeout=5)
        self.assertEqual(sum(w.processed for w in queues.workers), 6)
        self.assertEqual((queues.in_flight, queues.queued), (0, 0))
        self.assertTrue(queues.HasField("concurrency_limit"))
        self.assertEqual(queues.concurrency_limit, 0)  # no limit set

        # A smaller size target applies at once (an eviction pass runs on
        # update); what arrives later waits for the next pass, or EvictNow.
        self.admin.UpdateConfig(pb.UpdateConfigRequest(config=pb.RouterConfig(max_tree_size=100)),
                                timeout=5)
        trees = self.admin.GetTreeStats(pb.GetTreeStatsRequest(), timeout=5)
        self.assertTrue(all(t.text_bytes <= 100 for t in trees.workers))
        for i in range(8):  # 40 distinct bytes each: ~160 per worker, under the hard cap (200)
            gen(r.port, "%c%s" % (chr(ord("A") + i), "-distinct text for the eviction test-" + "x"))
        trees = self.admin.GetTreeStats(pb.GetTreeStatsRequest(), timeout=5)
        self.assertTrue(any(t.text_bytes > 100 for t in trees.workers), trees)
        evicted = self.admin.EvictNow(pb.EvictNowRequest(), timeout=5)
        self.assertGreater(evicted.evicted_bytes, 0)
        trees = self.admin.GetTreeStats(pb.GetTreeStatsRequest(), timeout=5)
        self.assertTrue(all(t.text_bytes <= 100 for t in trees.workers))

        gen(r.port, "fill the workers' caches with this prompt")
        again = gen(r.port, "fill the workers' caches with this prompt")
        self.assertGreater(again.json()["meta_info"]["cached_tokens"], 0)
        flushed = self.admin.FlushCache(pb.FlushCacheRequest(workers=True), timeout=5)
        self.assertEqual(sorted(flushed.flushed), sorted(self.urls(ws)))
        self.assertEqual(list(flushed.failed), [])
        trees = self.admin.GetTreeStats(pb.GetTreeStatsRequest(), timeout=5)
        self.assertEqual(trees.total_text_bytes, 0)
        resp = gen(r.port, "fill the workers' caches with this prompt")
        self.assertEqual(resp.json()["meta_info"]["cached_tokens"], 0)

    def test_watch_stats_streams_until_cancelled(self):
        ws = self.workers(1)
        r = self.start(ws)
        stream = self.admin.WatchStats(pb.WatchStatsRequest(interval_ms=100), timeout=10)
        got, t0 = [], time.monotonic()
        for snap in stream:
            got.append(snap)
            if len(got) == 2:
                gen(r.port, "counted between snapshots")
            if len(got) == 5:
                stream.cancel()
                break
        self.assertGreater(time.monotonic() - t0, 0.3)
        self.assertTrue(all(s.unix_ms > 0 for s in got))
        self.assertEqual(got[0].queues.workers[0].processed, 0)
        self.assertEqual(got[-1].queues.workers[0].processed, 1)
        self.assertTrue(got[-1].trees.has_tree)
        with self.assertRaises(grpc.RpcError) as e:
            list(self.admin.WatchStats(pb.WatchStatsRequest(interval_ms=5), timeout=5))
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_many_concurrent_calls_on_one_connection(self):
        self.start(self.workers(2))
        futures = [self.admin.ListWorkers.future(pb.ListWorkersRequest(), timeout=10) for _ in range(64)]
        watches = [self.admin.WatchStats(pb.WatchStatsRequest(interval_ms=100), timeout=10) for _ in range(8)]
        self.assertTrue(all(len(f.result().workers) == 2 for f in futures))
        for w in watches:
            self.assertEqual(len(next(w).queues.workers), 2)
            w.cancel()

    def test_stop_ends_open_streams_with_unavailable(self):
        r = self.start(self.workers(1))
        watch = self.admin.WatchStats(pb.WatchStatsRequest(interval_ms=100), timeout=10)
        next(watch)
        r.p.send_signal(15)
        with self.assertRaises(grpc.RpcError) as e:
            for _ in watch:
                pass
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(r.p.wait(timeout=10), 0)

    def test_health_service(self):
        slow = self.sim("--decode-step-ms", "50")
        r = self.start([slow])
        health = health_pb2_grpc.HealthStub(self.channel)
        for service in ("", "sglang.router.admin.v1.RouterAdmin"):
            resp = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            self.assertEqual(resp.status, health_pb2.HealthCheckResponse.SERVING)
        with self.assertRaises(grpc.RpcError) as e:
            health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        unknown = health.Watch(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
        self.assertEqual(next(unknown).status, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
        unknown.cancel()
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
        self.assertEqual(next(watch).status, health_pb2.HealthCheckResponse.SERVING)
        # A 2-second request keeps the router draining long enough to see it.
        t = threading.Thread(target=gen_long, args=(r.port,))
        t.start()
        wait_until(lambda: self.admin.GetQueueStats(pb.GetQueueStatsRequest(), timeout=5).in_flight == 1,
                   what="the long request in flight")
        r.p.send_signal(15)
        self.assertEqual(next(watch).status, health_pb2.HealthCheckResponse.NOT_SERVING)
        watch.cancel()
        t.join()


def gen_long(port):
    request(port, "POST", GEN, {"text": "x", "sampling_params": {"max_new_tokens": 40}}, timeout=30)


class RolesAndModels(AdminCase):
    """Workers with a role, a bootstrap port and a model (WorkerSpec) through
    SetWorkers, AddWorkers and SetWorkerModel, back through ListWorkers; every
    refusal names its field and changes nothing."""

    def spec(self, url, role=None, port=None, model=None):
        s = pb.WorkerSpec(url=url)
        if role is not None:
            s.role = role
        if port is not None:
            s.bootstrap_port = port
        if model is not None:
            s.model_id = model
        return s

    def listed(self):
        return {w.url: w for w in self.admin.ListWorkers(pb.ListWorkersRequest(), timeout=5).workers}

    def refused(self, call, req, code, *says):
        with self.assertRaises(grpc.RpcError) as e:
            call(req, timeout=5)
        self.assertEqual(e.exception.code(), code, e.exception.details())
        for s in says:
            self.assertIn(s, e.exception.details())

    def test_roles_ports_and_models_round_trip(self):
        ws = self.workers(5)
        self.start(ws[:1])
        resp = self.admin.SetWorkers(pb.SetWorkersRequest(urls=[ws[0].url], workers=[
            self.spec(ws[1].url, pb.WORKER_ROLE_PREFILL, 8998, "org/llama-8b"),
            self.spec(ws[2].url, pb.WORKER_ROLE_PREFILL),
            self.spec(ws[3].url, pb.WORKER_ROLE_DECODE, model="org/llama-8b"),
            self.spec(ws[4].url, model="qwen-7b")]), timeout=5)
        self.assertEqual(sorted(resp.added), sorted(w.url for w in ws[1:]))
        got = self.listed()
        self.assertEqual(len(got), 5)
        regular, p1, p2, d, other = (got[w.url] for w in ws)
        self.assertEqual(regular.role, pb.WORKER_ROLE_REGULAR)
        self.assertFalse(regular.HasField("bootstrap_port"))
        self.assertFalse(regular.HasField("model_id"))  # not known (no discovery yet)
        self.assertEqual((p1.role, p1.bootstrap_port, p1.model_id, p1.model_pinned),
                         (pb.WORKER_ROLE_PREFILL, 8998, "org/llama-8b", True))
        self.assertEqual(p2.role, pb.WORKER_ROLE_PREFILL)
        self.assertFalse(p2.HasField("bootstrap_port"))  # none: null
        self.assertEqual((d.role, d.model_id), (pb.WORKER_ROLE_DECODE, "org/llama-8b"))
        self.assertFalse(d.HasField("bootstrap_port"))
        self.assertEqual((other.role, other.model_id), (pb.WORKER_ROLE_REGULAR, "qwen-7b"))
        # GetQueueStats and WatchStats carry the same Worker messages.
        q = {w.url: w for w in self.admin.GetQueueStats(pb.GetQueueStatsRequest(), timeout=5).workers}
        self.assertEqual(q[ws[1].url].bootstrap_port, 8998)

        # The same list again changes nothing; another port is a new record.
        again = self.admin.SetWorkers(pb.SetWorkersRequest(urls=[ws[0].url], workers=[
            self.spec(ws[1].url, pb.WORKER_ROLE_PREFILL, 8998, "org/llama-8b"),
            self.spec(ws[2].url, pb.WORKER_ROLE_PREFILL),
            self.spec(ws[3].url, pb.WORKER_ROLE_DECODE, model="org/llama-8b"),
            self.spec(ws[4].url)]), timeout=5)
        self.assertEqual((list(again.added), list(again.removed)), ([], []))
        self.assertEqual(self.listed()[ws[4].url].model_id, "qwen-7b")  # kept: no model said
        moved = self.admin.SetWorkers(pb.SetWorkersRequest(workers=[
            self.spec(ws[1].url, pb.WORKER_ROLE_PREFILL, 9000)]), timeout=5)
        self.assertEqual(list(moved.added), [ws[1].url])  # a new record for the new port
        self.assertIn(ws[1].url, moved.removed)
        self.assertEqual(moved.workers[0].bootstrap_port, 9000)

        # AddWorkers with both forms; SetWorkerModel pins a model.
        added = self.admin.AddWorkers(pb.AddWorkersRequest(urls=[ws[0].url], workers=[
            self.spec(ws[3].url, pb.WORKER_ROLE_DECODE)]), timeout=5)
        self.assertEqual(sorted(added.added), sorted([ws[0].url, ws[3].url]))
        w = self.admin.SetWorkerModel(pb.SetWorkerModelRequest(url=ws[3].url, model_id="m2"),
                                      timeout=5).worker
        self.assertEqual((w.url, w.role, w.model_id, w.model_pinned), (ws[3].url, pb.WORKER_ROLE_DECODE,
                                                                     "m2", True))
        self.assertEqual(self.listed()[ws[3].url].model_id, "m2")
        # ... any spelling of the URL.
        w = self.admin.SetWorkerModel(pb.SetWorkerModelRequest(url=ws[3].url.upper() + "/",
                                                               model_id="m3"), timeout=5).worker
        self.assertEqual(w.model_id, "m3")

    def test_bad_workers_are_refused_naming_the_field(self):
        ws = self.workers(2)
        self.start(ws[:1])
        before = self.listed()
        for req, says in (
                (pb.SetWorkersRequest(workers=[self.spec(ws[1].url, pb.WORKER_ROLE_PREFILL, 70000)]),
                 ("workers[0].bootstrap_port:", "between 1 and 65535 (got 70000)")),
                (pb.SetWorkersRequest(workers=[self.spec(ws[1].url, pb.WORKER_ROLE_PREFILL, 0)]),
                 ("workers[0].bootstrap_port:",)),
                (pb.SetWorkersRequest(workers=[self.spec(ws[0].url), self.spec(ws[1].url, pb.WORKER_ROLE_DECODE,
                                                                                8998)]),
                 ("workers[1].bootstrap_port: only a prefill worker has a bootstrap port",)),
                (pb.SetWorkersRequest(workers=[self.spec(ws[1].url, port=8998)]),
                 ("workers[0].bootstrap_port: only a prefill worker",)),
                (pb.SetWorkersRequest(workers=[self.spec(ws[1].url, model="two words")]),
                 ("workers[0].model_id:",)),
                (pb.SetWorkersRequest(workers=[self.spec(ws[1].url, model="x" * 257)]),
                 ("workers[0].model_id:",)),
                (pb.SetWorkersRequest(workers=[self.spec(ws[1].url, model='say "hi"')]),
                 ("workers[0].model_id:",)),
                (pb.SetWorkersRequest(workers=[pb.WorkerSpec(role=pb.WORKER_ROLE_DECODE)]),
                 ("workers[0].url: required",)),
                (pb.SetWorkersRequest(workers=[self.spec("ftp://nope")]),
                 ("workers[0].url: ftp://nope:",)),
                (pb.SetWorkersRequest(urls=[ws[1].url], workers=[self.spec(ws[1].url, pb.WORKER_ROLE_DECODE)]),
                 ("workers[0].url: %s: duplicate worker URL (also urls[0])" % ws[1].url,)),
                (pb.AddWorkersRequest(workers=[self.spec(ws[1].url, pb.WORKER_ROLE_PREFILL, 65536)]),
                 ("workers[0].bootstrap_port:",)),
                (pb.AddWorkersRequest(urls=[ws[1].url], workers=[self.spec(ws[1].url + "/")]),
                 ("duplicate worker URL",)),
                (pb.AddWorkersRequest(), ("at least one",))):
            call = self.admin.SetWorkers if isinstance(req, pb.SetWorkersRequest) else self.admin.AddWorkers
            self.refused(call, req, grpc.StatusCode.INVALID_ARGUMENT, *says)
        # A registered worker added again, under any role: ALREADY_EXISTS naming it.
        self.refused(self.admin.AddWorkers, pb.AddWorkersRequest(workers=[
            self.spec(ws[1].url, pb.WORKER_ROLE_DECODE), self.spec(ws[0].url, pb.WORKER_ROLE_DECODE)]),
            grpc.StatusCode.ALREADY_EXISTS, "workers[1].url: %s" % ws[0].url)
        for req, code, says in (
                (pb.SetWorkerModelRequest(url=ws[1].url, model_id="m"), grpc.StatusCode.NOT_FOUND, "url: "),
                (pb.SetWorkerModelRequest(url=ws[0].url, model_id="a b"), grpc.StatusCode.INVALID_ARGUMENT,
                 "model_id: "),
                (pb.SetWorkerModelRequest(url=ws[0].url), grpc.StatusCode.INVALID_ARGUMENT,
                 "model_id: required"),
                (pb.SetWorkerModelRequest(model_id="m"), grpc.StatusCode.INVALID_ARGUMENT, "url: required")):
            self.refused(self.admin.SetWorkerModel, req, code, says)
        after = self.listed()
        self.assertEqual(list(after), list(before))
        self.assertFalse(after[ws[0].url].HasField("model_id"))


class ChangesApplyToTraffic(AdminCase):
    def test_set_workers_moves_traffic_and_drops_tree_entries(self):
        a, b = self.workers(2)
        r = self.start([a])
        self.assertEqual(worker_of(gen(r.port, "before")), "w0")
        self.admin.SetWorkers(pb.SetWorkersRequest(urls=[b.url]), timeout=5)
        wait_until(lambda: self.admin.ListWorkers(pb.ListWorkersRequest(), timeout=5).workers[0].health
                   == pb.WORKER_HEALTH_HEALTHY, what="the new worker healthy")
        served = {worker_of(gen(r.port, "after %d" % i)) for i in range(8)}
        self.assertEqual(served, {"w1"})
        trees = self.admin.GetTreeStats(pb.GetTreeStatsRequest(), timeout=5)
        self.assertEqual([t.url for t in trees.workers], [b.url])
        # The removed worker's text left the tree: only "after ..." remains.
        self.assertLess(trees.total_text_bytes, 8 * len("after 0") + 1)

    def test_cache_routing_prob_zero_is_shortest_queue(self):
        ws = self.workers(4)
        r = self.start(ws, "--policy", "cache_aware")
        text = "the same prompt every time, long enough to match well"
        sticky = {worker_of(gen(r.port, text)) for _ in range(12)}
        self.assertEqual(len(sticky), 1)  # cache-aware: always the worker holding it
        self.admin.UpdateConfig(pb.UpdateConfigRequest(config=pb.RouterConfig(cache_routing_prob=0.0)),
                                timeout=5)
        spread = {worker_of(gen(r.port, text)) for _ in range(40)}
        self.assertGreater(len(spread), 2)  # idle workers tie: ties are random

    def test_policy_switch_at_runtime(self):
        ws = self.workers(3)
        r = self.start(ws, "--policy", "cache_aware")
        self.admin.UpdateConfig(pb.UpdateConfigRequest(config=pb.RouterConfig(policy="round_robin")),
                                timeout=5)
        served = [worker_of(gen(r.port, "same")) for _ in range(6)]
        self.assertEqual(len(set(served)), 3)
        self.assertEqual(served[:3], served[3:])  # a cycle
        trees = self.admin.GetTreeStats(pb.GetTreeStatsRequest(), timeout=5)
        self.assertFalse(trees.has_tree)

    def test_set_workers_under_load_loses_no_request(self):
        ws = [self.sim("--worker-id", "w%d" % i, "--time-scale", "2") for i in range(3)]
        r = self.start(ws[:2])
        bench = subprocess.Popen([os.path.join(BIN, "sglang-bench"), "--url", r.url, "--quiet", "--json", "-",
                                  "--workload", "shared-prefix", "--groups", "8", "--prompts-per-group", "100",
                                  "--system-tokens", "64", "--question-tokens", "8", "--output-tokens", "4",
                                  "--concurrency", "16"], stdout=subprocess.PIPE, text=True)
        sets = [[ws[0], ws[1]], [ws[1], ws[2]], [ws[2], ws[0]]]
        swaps = 0
        while bench.poll() is None and swaps < 30:
            time.sleep(0.1)  # the behaviour under test: a list change every 100 ms under load
            self.admin.SetWorkers(pb.SetWorkersRequest(urls=self.urls(sets[swaps % 3])), timeout=5)
            swaps += 1
        out, _ = bench.communicate(timeout=120)
        rep = json.loads(out.strip().splitlines()[-1])
        self.assertGreaterEqual(swaps, 5)
        self.assertEqual((rep["ok"], rep["failed"], rep["rejected"]), (800, 0, 0), rep)
        wait_until(lambda: self.admin.GetQueueStats(pb.GetQueueStatsRequest(), timeout=5).in_flight == 0,
                   what="in-flight 0")


class Errors(AdminCase):
    def test_token(self):
        ws = self.workers(1)
        r = self.start(ws, "--admin-token", TOKEN)
        with self.assertRaises(grpc.RpcError) as e:
            self.admin.ListWorkers(pb.ListWorkersRequest(), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        with self.assertRaises(grpc.RpcError) as e:
            self.admin.ListWorkers(pb.ListWorkersRequest(), timeout=5,
                                   metadata=[("authorization", "Bearer wrong")])
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        got = self.admin.ListWorkers(pb.ListWorkersRequest(), timeout=5,
                                     metadata=[("authorization", "Bearer " + TOKEN)])
        self.assertEqual(len(got.workers), 1)
        # Health checks stay open (Kubernetes gRPC probes send no metadata).
        health = health_pb2_grpc.HealthStub(self.channel)
        self.assertEqual(health.Check(health_pb2.HealthCheckRequest(), timeout=5).status,
                         health_pb2.HealthCheckResponse.SERVING)
        code, err = r.stop()
        self.assertNotIn(TOKEN, err)

    def test_unknown_method_and_size_limit(self):
        self.start(self.workers(1), "--admin-max-message-size", "1024")
        nope = self.channel.unary_unary("/sglang.router.admin.v1.RouterAdmin/Nope",
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=pb.ListWorkersResponse.FromString)
        with self.assertRaises(grpc.RpcError) as e:
            nope(pb.ListWorkersRequest(), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        big = ["http://worker-%04d.example:8000" % i for i in range(100)]
        with self.assertRaises(grpc.RpcError) as e:
            self.admin.SetWorkers(pb.SetWorkersRequest(urls=big), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertEqual(len(self.admin.ListWorkers(pb.ListWorkersRequest(), timeout=5).workers), 1)

    def test_deadline_exceeded_cancels_the_work(self):
        # A worker that accepts connections and never answers.
        mute = socket.socket()
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        self.addCleanup(mute.close)
        r = self.start(self.workers(1), "--health-check-timeout-secs", "30")
        url = "http://127.0.0.1:%d" % mute.getsockname()[1]
        self.admin.AddWorkers(pb.AddWorkersRequest(urls=[url]), timeout=5)
        mute.settimeout(5)
        conns = [mute.accept()[0]]  # its first health check: the address is known now
        t0 = time.monotonic()
        with self.assertRaises(grpc.RpcError) as e:
            self.admin.FlushCache(pb.FlushCacheRequest(workers=True), timeout=0.5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertLess(time.monotonic() - t0, 3)
        # The server gave up too: the flush request to the mute worker is closed.
        while True:
            c, _ = mute.accept()
            conns.append(c)
            c.settimeout(5)
            data = c.recv(4096)
            if b"/flush_cache" in data:
                break
        self.assertEqual(c.recv(4096), b"")  # EOF: the router closed it
        for c in conns:
            c.close()
        self.assertEqual(len(self.admin.ListWorkers(pb.ListWorkersRequest(), timeout=5).workers), 2)
        self.assertTrue(r.alive())

    def test_malformed_http2_never_crashes(self):
        r = self.start(self.workers(1))
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        for junk in (b"GET / HTTP/1.1\r\n\r\n", b"\x00" * 100,
                     preface + b"\x00\x00\x04\xff\x00\x00\x00\x00\x00garbage",  # unknown frame type
                     preface + b"\x00\x00\x06\x04\x00\x00\x00\x00\x01" + b"\x00\x03\xff\xff\xff\xff",  # bad SETTINGS
                     preface + b"\x00\x10\x00\x01\x05\x00\x00\x00\x01" + os.urandom(4096)):  # HEADERS junk
            s = socket.create_connection(("127.0.0.1", r.admin_port), timeout=5)
            s.sendall(junk)
            try:
                while s.recv(65536):
                    pass  # the server answers (GOAWAY) and closes
            except (ConnectionResetError, socket.timeout):
                pass
            s.close()
        self.assertTrue(r.alive())
        self.assertEqual(len(self.admin.ListWorkers(pb.ListWorkersRequest(), timeout=5).workers), 1)
        # A plain HTTP/2 request that is not gRPC: HTTP 415, not a gRPC status.
        self.assertEqual(request(r.port, "GET", "/health").status, 200)

    def test_public_address_needs_a_token(self):
        ws = self.workers(1)
        argv = [os.path.join(BIN, "sglang-router"), "--port", "0", "--prometheus-port", "-1",
                "--admin-host", "0.0.0.0", "--admin-port", "0", "--worker-urls", ws[0].url]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--admin-token", p.stderr)
        r = self.router("--admin-host", "0.0.0.0", "--admin-port", "0", "--admin-token", TOKEN,
                        "--worker-urls", ws[0].url)
        self.assertIsNotNone(r.admin_port)


class Tls(AdminCase):
    """The admin port over TLS, with client certificates (mutual TLS)."""

    @classmethod
    def setUpClass(cls):
        cls.pki_dir = tempfile.TemporaryDirectory()
        cls.pki = make_pki(cls.pki_dir.name)

    @classmethod
    def tearDownClass(cls):
        cls.pki_dir.cleanup()

    def read(self, name):
        with open(self.pki[name], "rb") as f:
            return f.read()

    def secure(self, port, client=None):
        key, cert = (None, None) if client is None else (self.read(client + ".key"), self.read(client + ".pem"))
        creds = grpc.ssl_channel_credentials(self.read("ca.pem"), key, cert)
        ch = grpc.secure_channel("localhost:%d" % port, creds)
        self.addCleanup(ch.close)
        return pb_grpc.RouterAdminStub(ch)

    def test_mutual_tls(self):
        ws = self.workers(1)
        r = self.router("--admin-port", "0", "--worker-urls", ws[0].url,
                        "--admin-tls-cert-path", self.pki["server.pem"],
                        "--admin-tls-key-path", self.pki["server.key"],
                        "--admin-tls-ca-path", self.pki["ca.pem"])
        good = self.secure(r.admin_port, "client")
        self.assertEqual(len(good.ListWorkers(pb.ListWorkersRequest(), timeout=5).workers), 1)
        for client in (None, "rogue-client"):
            with self.assertRaises(grpc.RpcError) as e:
                self.secure(r.admin_port, client).ListWorkers(pb.ListWorkersRequest(), timeout=5)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE, client)
        # Cleartext to a TLS port: refused, the router unharmed.
        plain = pb_grpc.RouterAdminStub(grpc.insecure_channel("127.0.0.1:%d" % r.admin_port))
        with self.assertRaises(grpc.RpcError):
            plain.ListWorkers(pb.ListWorkersRequest(), timeout=2)
        self.assertEqual(len(good.ListWorkers(pb.ListWorkersRequest(), timeout=5).workers), 1)

    def test_tls_without_client_certificates(self):
        ws = self.workers(1)
        r = self.router("--admin-port", "0", "--worker-urls", ws[0].url, "--admin-token", TOKEN,
                        "--admin-tls-cert-path", self.pki["server.pem"],
                        "--admin-tls-key-path", self.pki["server.key"])
        stub = self.secure(r.admin_port)
        got = stub.ListWorkers(pb.ListWorkersRequest(), timeout=5, metadata=[("authorization", "Bearer " + TOKEN)])
        self.assertEqual(len(got.workers), 1)

    def test_bad_certificate_files_stop_the_start(self):
        ws = self.workers(1)
        base = [os.path.join(BIN, "sglang-router"), "--port", "0", "--prometheus-port", "-1", "--admin-port", "0",
                "--worker-urls", ws[0].url]
        cases = (
            (["--admin-tls-cert-path", "/nonexistent.pem", "--admin-tls-key-path", self.pki["server.key"]],
             "/nonexistent.pem"),
            (["--admin-tls-cert-path", self.pki["server.pem"], "--admin-tls-key-path", self.pki["client.key"]],
             self.pki["client.key"]),  # a key that does not match
            (["--admin-tls-cert-path", self.pki["server.pem"]], "--admin-tls-key-path"),
        )
        for args, named in cases:
            p = subprocess.run(base + args, capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(named, p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)

    def test_public_address_with_client_certificates_needs_no_token(self):
        ws = self.workers(1)
        r = self.router("--admin-host", "0.0.0.0", "--admin-port", "0", "--worker-urls", ws[0].url,
                        "--admin-tls-cert-path", self.pki["server.pem"],
                        "--admin-tls-key-path", self.pki["server.key"],
                        "--admin-tls-ca-path", self.pki["ca.pem"])
        stub = self.secure(r.admin_port, "client")
        self.assertEqual(len(stub.ListWorkers(pb.ListWorkersRequest(), timeout=5).workers), 1)


def runtime_rows():
    """The option table's rows marked runtime-changeable, as --help shows them."""
    out = subprocess.run([os.path.join(BIN, "sglang-router"), "--help"], capture_output=True, text=True,
                         check=True).stdout
    rows, flag = [], None
    for line in out.splitlines():
        m = re.match(r"  --([a-z-]+)", line)
        if m:
            flag = m.group(1)
        if line.endswith("[changeable at runtime]"):
            rows.append(flag)
    return rows


class RuntimeSettings(AdminCase):
    """Every row the option table marks runtime-changeable changes over the
    admin API and takes effect."""

    # flag -> (RouterConfig field, a value other than the default)
    NEW = {
        "policy": ("policy", "round_robin"),
        "cache-threshold": ("cache_threshold", 0.25),
        "cache-routing-prob": ("cache_routing_prob", 0.5),
        "eviction-interval": ("eviction_interval_secs", 30),
        "max-tree-size": ("max_tree_size", 1000),
        "balance-abs-threshold": ("balance_abs_threshold", 64),
        "balance-rel-threshold": ("balance_rel_threshold", 2.5),
        "cache-miss-margin": ("cache_miss_margin", 4),
        "cache-load-weight": ("cache_load_weight", 0.5),
        "cache-queue-weight": ("cache_queue_weight", 0.25),
        "load-decode-weight": ("load_decode_weight", 2.5),
        "log-level": ("log_level", "warn"),
        "log-requests": ("log_requests", True),
        "retry-max-retries": ("retry_max_retries", 0),
        "max-concurrent-requests": ("max_concurrent_requests", 64),
        "max-concurrent-per-worker": ("max_concurrent_per_worker", 8),
        "queue-size": ("queue_size", 1000),
        "queue-timeout-secs": ("queue_timeout_secs", 600),
    }

    def update(self, **fields):
        return self.admin.UpdateConfig(pb.UpdateConfigRequest(config=pb.RouterConfig(**fields)), timeout=5).config

    def settled(self):
        """Every request has finished (its log line, if any, is written)."""
        wait_until(lambda: self.admin.GetQueueStats(pb.GetQueueStatsRequest(), timeout=5).in_flight == 0,
                   what="no request in flight")

    def test_every_runtime_row_changes_over_the_api(self):
        rows = runtime_rows()
        self.assertEqual(sorted(rows), sorted(self.NEW))  # a new runtime row needs a value here
        self.assertEqual(sorted(f.name for f in pb.RouterConfig.DESCRIPTOR.fields),
                         sorted(field for field, _ in self.NEW.values()))
        self.start(self.workers(1))
        for flag in rows:
            field, value = self.NEW[flag]
            before = getattr(self.admin.GetConfig(pb.GetConfigRequest(), timeout=5).config, field)
            self.assertNotEqual(before, value, flag)
            after = self.update(**{field: value})
            self.assertEqual(getattr(after, field), value, flag)
            got = self.admin.GetConfig(pb.GetConfigRequest(), timeout=5).config
            self.assertEqual(getattr(got, field), value, flag)
            self.assertTrue(all(got.HasField(f.name) for f in pb.RouterConfig.DESCRIPTOR.fields))

    def test_retry_max_retries_at_runtime(self):
        bad = self.sim("--worker-id", "bad", "--zero-latency", "--fail-first-n", "1000", "--fail-status", "503")
        good = self.sim("--worker-id", "good", "--zero-latency")
        self.start([bad, good], "--policy", "round_robin", "--disable-circuit-breaker")

        def retries():
            return self.admin.GetQueueStats(pb.GetQueueStatsRequest(), timeout=5).retries

        self.assertEqual([worker_of(gen(self.r.port, "a%d" % i)) for i in range(4)], ["good"] * 4)
        self.assertGreater(retries(), 0)
        self.update(retry_max_retries=0)
        before = retries()
        statuses = [gen(self.r.port, "b%d" % i).status for i in range(4)]
        self.assertEqual(sorted(statuses), [200, 200, 503, 503])  # round robin: every other one
        self.assertEqual(retries(), before)
        self.update(retry_max_retries=1)
        self.assertEqual([worker_of(gen(self.r.port, "c%d" % i)) for i in range(4)], ["good"] * 4)
        self.assertGreater(retries(), before)

    def test_concurrency_limit_at_runtime(self):
        """A limit set while a request is in flight counts it; raising the
        limit starts the queued request at once, not when a slot frees; a
        smaller queue refuses at once; nothing is left counted afterwards."""
        self.start([self.sim("--worker-id", "w0", "--decode-step-ms", "100", "--decode-step-growth", "0")])

        def queues():
            return self.admin.GetQueueStats(pb.GetQueueStatsRequest(), timeout=5)

        slow = {"text": "slow", "stream": True, "sampling_params": {"max_new_tokens": 60}}
        held = post_stream(self.r.port, "/generate", slow)  # in flight for ~6 s
        self.addCleanup(held[0].close)
        self.assertEqual(held[1], 200)
        self.assertEqual(queues().concurrency_limit, 0)
        self.update(max_concurrent_requests=1, queue_size=4, queue_timeout_secs=30)
        self.assertEqual(queues().concurrency_limit, 1)

        done = {}

        def waiter():
            t0 = time.monotonic()
            done["status"] = gen(self.r.port, "waits for a slot").status
            done["secs"] = time.monotonic() - t0

        t = threading.Thread(target=waiter)
        t.start()
        wait_until(lambda: queues().queued == 1, what="the request queued behind the one in flight")
        time.sleep(0.3)
        self.assertNotIn("status", done)
        self.update(max_concurrent_requests=0)  # no limit: it goes now
        t.join(timeout=3)
        self.assertEqual(done.get("status"), 200)
        self.assertLess(done["secs"], 3)
        self.assertEqual((queues().in_flight, queues().queued), (1, 0))  # the slow one still streams

        self.update(max_concurrent_requests=1, queue_size=0)
        self.assertEqual(gen(self.r.port, "no room to wait").status, 429)
        held[0].close()
        self.settled()
        self.assertEqual(gen(self.r.port, "the slot is free again").status, 200)
        self.assertEqual(self.admin.GetConfig(pb.GetConfigRequest(), timeout=5).config.queue_size, 0)

    def test_log_requests_and_log_level_at_runtime(self):
        self.start(self.workers(1))
        line = "POST /generate 200 worker="

        def logged():
            self.settled()
            return self.r.stderr().count(line)

        gen(self.r.port, "quiet")
        self.assertEqual(logged(), 0)
        self.update(log_requests=True)
        gen(self.r.port, "loud")
        self.assertEqual(logged(), 1)
        self.update(log_level="warn")  # request lines are info
        gen(self.r.port, "filtered")
        self.assertEqual(logged(), 1)
        self.assertEqual(self.admin.GetConfig(pb.GetConfigRequest(), timeout=5).config.log_level, "warn")
        self.update(log_level="info")
        gen(self.r.port, "loud again")
        self.assertEqual(logged(), 2)
        self.update(log_requests=False)
        gen(self.r.port, "quiet again")
        self.assertEqual(logged(), 2)
        self.assertIn("admin: 1 setting(s) changed, log-requests first", self.r.stderr())


NATS_TOKEN = "nats-s3cret-token"


class ReplicaSync(AdminCase):
    """GetSync and SetSync against a real nats-server: a router started
    without sync flags joins, sees a peer, refuses bad settings, is refused
    by the server, and leaves; routing never waits for any of it."""

    def sync(self):
        return self.admin.GetSync(pb.GetSyncRequest(), timeout=5).status

    def set_sync(self, **settings):
        return self.admin.SetSync(pb.SetSyncRequest(settings=pb.SyncSettings(**settings)), timeout=5).status

    def until_state(self, state):
        st = poll(self.sync, lambda s: s.state == state, timeout=15)
        self.assertEqual(st.state, state, st)
        return st

    def test_join_see_a_peer_refuse_bad_settings_and_leave(self):
        nats = self.nats()
        ws = self.workers(1)
        self.start(ws)
        st = self.sync()
        self.assertEqual((st.state, st.group, list(st.servers), len(st.peers)), ("off", "", [], 0))
        self.assertRegex(st.replica_id, r"^[0-9a-f]{16}$")

        st = self.set_sync(nats_urls=[nats.nats_url], group="g1")
        self.assertIn(st.state, ("connecting", "up"))  # the new settings' state, at once
        self.assertEqual((st.group, list(st.servers)), ("g1", [nats.nats_url]))
        self.until_state("up")

        other = self.router("--sync-nats-url", nats.nats_url, "--sync-group", "g1",
                            "--worker-urls", ws[0].url)
        st = poll(self.sync, lambda s: len(s.peers) == 1, timeout=15)
        self.assertEqual(len(st.peers), 1, st)
        peer = st.peers[0]
        self.assertRegex(peer.replica_id, r"^[0-9a-f]{16}$")
        self.assertNotEqual(peer.replica_id, st.replica_id)
        self.assertLess(peer.last_seen_secs, 5)
        self.assertEqual(peer.in_flight, 0)
        self.assertEqual(gen(self.r.port, "routed while synced").status, 200)

        # Bad settings: INVALID_ARGUMENT naming the field; nothing changes.
        for bad, field in ((dict(nats_urls=["http://127.0.0.1:4222"]), "nats_urls: "),
                           (dict(nats_urls=[nats.nats_url], group="a.b"), "group: "),
                           (dict(nats_urls=[nats.nats_url], token="t", user="u", password="p"), "token: "),
                           (dict(nats_urls=[nats.nats_url], user="u"), "user: ")):
            with self.assertRaises(grpc.RpcError) as e:
                self.set_sync(**bad)
            self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertTrue(e.exception.details().startswith(field), e.exception.details())
        st = self.sync()
        self.assertEqual((st.state, st.group, list(st.servers), len(st.peers)), ("up", "g1", [nats.nats_url], 1))

        # Every WatchStats snapshot carries the sync status.
        watch = self.admin.WatchStats(pb.WatchStatsRequest(interval_ms=100), timeout=10)
        snap = next(watch)
        watch.cancel()
        self.assertEqual((snap.sync.state, len(snap.sync.peers)), ("up", 1))

        # No URL: off, at once; no settings at all is the same.
        st = self.set_sync()
        self.assertEqual((st.state, list(st.servers), st.HasField("last_error")), ("off", [], False))
        st = self.admin.SetSync(pb.SetSyncRequest(), timeout=5).status
        self.assertEqual(st.state, "off")
        self.assertEqual(self.until_state("off").state, "off")
        self.assertEqual(gen(self.r.port, "routed alone again").status, 200)
        self.assertTrue(other.alive())

    def test_wrong_token_is_refused_and_routing_goes_on(self):
        nats = self.nats("--auth", NATS_TOKEN)
        ws = self.workers(1)
        self.start(ws)
        self.set_sync(nats_urls=[nats.nats_url], token="wrong-" + NATS_TOKEN)
        st = self.until_state("refused")
        self.assertIn("authoriz", st.last_error.lower())
        self.assertEqual(gen(self.r.port, "routing does not wait for NATS").status, 200)
        st = self.set_sync(nats_urls=[nats.nats_url], token=NATS_TOKEN)
        self.assertIn(st.state, ("connecting", "up"))
        self.assertFalse(st.HasField("last_error"))  # the refusal was the old settings
        self.until_state("up")
        # The credentials go in, never out: not in an answer, not in the log.
        for text in (str(self.sync()), self.r.stderr()):
            self.assertNotIn(NATS_TOKEN, text)

    def test_credentials_in_a_url_are_never_shown(self):
        nats = self.nats("--user", "alice", "--pass", "hunter2-" + NATS_TOKEN)
        self.start(self.workers(1))
        url = "nats://alice:hunter2-%s@127.0.0.1:%d" % (NATS_TOKEN, nats.port)
        st = self.set_sync(nats_urls=[url])
        self.until_state("up")
        for text in (str(st), str(self.sync()), self.r.stderr()):
            self.assertNotIn(NATS_TOKEN, text)
        self.assertIn("127.0.0.1:%d" % nats.port, st.servers[0])

    def test_a_start_that_fails_after_the_sync_started_exits(self):
        """The sync's thread is started before the listening socket: a taken
        port made the router wait for ever for that thread to stop (a stop
        asked for before its loop ran was lost)."""
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        argv = [os.path.join(BIN, "sglang-router"), "--port", str(taken.getsockname()[1]),
                "--prometheus-port", "-1"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("Address already in use", p.stderr)


if __name__ == "__main__":
    unittest.main()
