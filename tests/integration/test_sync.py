"""Replica sync over NATS (sync/), end to end: several real routers, a real
nats-server, simulated workers, plain HTTP clients. A prompt routed through
one replica must go to the same worker through any other; NATS going away
never costs a request; a late replica warms up from a peer's snapshot; bad
messages are dropped and counted; bad credentials leave the router routing
alone, with a clear message."""
import json
import socket
import struct
import threading
import time
import unittest

from harness import ProcTestCase, metrics, poll, post_stream, request, start_nats, wait_until

GROUP = "itest"


def prompt(group, n, size=3000):
    """A long system prompt per group (several key blocks) and a question."""
    system = ("Group %d system prompt: you are assistant number %d. " % (group, group)) * (size // 50)
    return "%s\nQuestion %d: what now?" % (system, n)


def generate(port, text):
    r = request(port, "POST", "/generate", {"text": text, "sampling_params": {"max_new_tokens": 4}})
    return r.status, r.headers.get("x-worker-id")


class NatsClient:
    """The NATS text protocol, enough to publish what a broken or hostile
    peer would."""

    def __init__(self, port, token=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.s.makefile("rb")
        assert self.f.readline().startswith(b"INFO ")
        opts = {"verbose": False, "pedantic": False, "name": "itest"}
        if token:
            opts["auth_token"] = token
        self.s.sendall(b"CONNECT " + json.dumps(opts).encode() + b"\r\n")

    def publish(self, subject, payload):
        self.s.sendall(b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(payload), payload))

    def flush(self):
        self.s.sendall(b"PING\r\n")
        while True:
            line = self.f.readline()
            if line.startswith(b"PONG") or not line:
                return
            assert not line.startswith(b"-ERR"), line

    def next_message(self, subject):
        """Subscribes to `subject` and returns the first payload published
        there (the connection is for this alone: payloads are binary)."""
        self.s.sendall(b"SUB %s 1\r\n" % subject.encode())
        while True:
            line = self.f.readline()
            assert line, "the server closed the connection"
            if line.startswith(b"PING"):
                self.s.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG "):
                size = int(line.split()[-1])
                return self.f.read(size + 2)[:size]

    def close(self):
        self.s.close()


def header(kind, group_tag=None, replica=0x5EED):
    if group_tag is None:
        group_tag = fnv32(GROUP)
    return struct.pack("<HBBIQQ", 0x5253, 1, kind, group_tag, replica, int(time.time() * 1000))


def fnv32(s):
    h = 2166136261
    for c in s.encode():
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


class SyncTest(ProcTestCase):
    def nats(self, *args, **kw):
        p = start_nats(*args, **kw)
        self.procs.append(p)
        return p

    def replica(self, nats_url, workers, *extra):
        return self.router("--prometheus-port", "0", "--worker-urls", *[w.url for w in workers],
                           "--sync-nats-url", nats_url, "--sync-group", GROUP, *extra)

    def synced(self, routers, peers):
        """Every replica is joined and hears from `peers` others."""
        def ok():
            m = [metrics(r.metrics_port) for r in routers]
            return all(x["sglang_router_sync_up"] == 1 and x["sglang_router_sync_peers"] == peers
                       for x in m)
        wait_until(ok, 15, "every replica joined with %d peers" % peers)

    def assert_converged(self, routers, groups, first=0):
        """Each group's first prompt through one replica, its follow-up
        through each other one: the same worker every time."""
        for g in range(first, first + groups):
            home = routers[g % len(routers)]
            status, worker = generate(home.port, prompt(g, 0))
            self.assertEqual(status, 200)
            for k, r in enumerate(routers):
                if r is home:
                    continue
                # The placement travels over NATS: poll for its arrival,
                # then it must stick.
                got = poll(lambda: generate(r.port, prompt(g, 1 + k))[1], lambda w: w == worker, 5)
                self.assertEqual(got, worker, "group %d: replica %d chose another worker" % (g, k))

    def test_two_and_three_replicas_route_as_one(self):
        nats = self.nats()
        sims = [self.sim() for _ in range(4)]
        a = self.replica(nats.nats_url, sims)
        b = self.replica(nats.nats_url, sims)
        self.synced([a, b], 1)
        self.assert_converged([a, b], 12)
        c = self.replica(nats.nats_url, sims)
        self.synced([a, b, c], 2)
        self.assert_converged([a, b, c], 12, first=100)
        # The groups spread over the workers (placement is not one worker).
        used = {generate(a.port, prompt(g, 9))[1] for g in range(100, 112)}
        self.assertGreater(len(used), 1)
        # Every replica learned the others' placements, and sent its own.
        for r in (a, b, c):
            m = metrics(r.metrics_port)
            self.assertGreater(m["sglang_router_sync_placements_learned_total"], 0)
            self.assertGreater(m["sglang_router_sync_bytes_sent_total"], 0)

    def test_nats_lost_mid_load_costs_no_request(self):
        nats = self.nats()
        port = nats.port
        sims = [self.sim() for _ in range(3)]
        a = self.replica(nats.nats_url, sims)
        b = self.replica(nats.nats_url, sims)
        self.synced([a, b], 1)
        statuses, stop = [], threading.Event()

        def load(router, seed):
            n = 0
            while not stop.is_set():
                statuses.append(generate(router.port, prompt(seed * 1000 + n % 20, n))[0])
                n += 1
        threads = [threading.Thread(target=load, args=(r, i)) for i, r in enumerate((a, b))]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: len(statuses) > 40, 20, "traffic")
            nats.stop()  # SIGTERM, then SIGKILL
            for r in (a, b):
                wait_until(lambda: metrics(r.metrics_port)["sglang_router_sync_up"] == 0, 15,
                           "sync reported down")
                self.assertEqual(metrics(r.metrics_port)['sglang_router_sync_state{state="down"}'], 1)
            before = len(statuses)
            wait_until(lambda: len(statuses) > before + 40, 20, "traffic without NATS")
            restarted = self.nats(port)
            self.assertEqual(restarted.port, port)
            self.synced([a, b], 1)
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual([s for s in statuses if s != 200], [])
        # Re-converged: new placements travel again.
        self.assert_converged([a, b], 6, first=500)
        self.assertIn("lost the NATS connection", a.stderr())

    def test_late_replica_is_warm_from_a_snapshot(self):
        nats = self.nats()
        sims = [self.sim() for _ in range(4)]
        a = self.replica(nats.nats_url, sims)
        wait_until(lambda: metrics(a.metrics_port)["sglang_router_sync_up"] == 1, 15, "a joined")
        homes = {}
        for g in range(16):
            status, homes[g] = generate(a.port, prompt(g, 0))
            self.assertEqual(status, 200)
        late = self.replica(nats.nats_url, sims)
        wait_until(lambda: metrics(late.metrics_port)["sglang_router_sync_snapshots_received_total"] >= 1,
                   15, "the late replica's snapshot")
        self.assertGreaterEqual(metrics(late.metrics_port)["sglang_router_sync_placements_learned_total"], 16)
        # Warm: every group's follow-up goes where a sent it, first time.
        for g in range(16):
            self.assertEqual(generate(late.port, prompt(g, 1))[1], homes[g], "group %d" % g)
        self.assertGreaterEqual(metrics(a.metrics_port)["sglang_router_sync_snapshots_served_total"], 1)

    def test_peers_decode_tokens_weigh_in_the_choice(self):
        """Replica a holds one streaming request on each of two workers,
        one with 1,600 tokens still to generate, the other with 400. Replica
        b, choosing by shortest queue, sees one request on each (a tie) and
        breaks it by the work its peer reported (TOKENS): every one of its
        requests goes to the worker with less left to generate."""
        nats = self.nats()
        sims = [self.sim("--worker-id", "w%d" % i, "--decode-step-ms", "50") for i in range(2)]
        a = self.replica(nats.nats_url, sims, "--policy", "shortest_queue")
        b = self.replica(nats.nats_url, sims, "--policy", "shortest_queue")
        self.synced([a, b], 1)
        streams = {}
        for tokens in (1600, 400):
            c, status, hdrs = post_stream(a.port, "/generate", {
                "text": "hold %d" % tokens, "stream": True, "sampling_params": {"max_new_tokens": tokens}})
            self.assertEqual(status, 200)
            next(c.sse_events())
            streams[tokens] = (c, hdrs.get("x-worker-id"))
        self.assertEqual({w for _, w in streams.values()}, {"w0", "w1"})
        # a reports every 50 ms while its streams count down: once two
        # more LOAD + TOKENS pairs have arrived, b's view is a's.
        def received():
            return metrics(b.metrics_port)["sglang_router_sync_messages_received_total"]
        seen = received()
        wait_until(lambda: received() >= seen + 4, 10, "a's load reports reached b")
        # On a slow machine (TSan) the messages counted may be older ones:
        # wait until b acts on a's tokens, then every choice must hold.
        wait_until(lambda: generate(b.port, "probe")[1] == streams[400][1], 10,
                   "b to weigh a's decode tokens")
        chosen = [generate(b.port, "short %d" % i)[1] for i in range(8)]
        self.assertEqual(chosen, [streams[400][1]] * 8)
        for c, _ in streams.values():
            c.close()

    def test_bad_messages_are_dropped_and_counted(self):
        nats = self.nats()
        sims = [self.sim()]
        a = self.replica(nats.nats_url, sims)
        wait_until(lambda: metrics(a.metrics_port)["sglang_router_sync_up"] == 1, 15, "a joined")
        subject = "sglang-router.sync.%s.state" % GROUP
        # "Up" means a has sent its SUB, not that the server has read it. The
        # server reads each connection in order, so once a's own heartbeat
        # reaches another subscriber, a's subscription is in force.
        probe = NatsClient(nats.port)
        probe.next_message(subject)
        probe.close()
        client = NatsClient(nats.port)
        client.publish(subject, b"not a sync message at all")
        client.publish(subject, header(1)[:10])  # truncated header
        key = b"abcd" * 4

        def batch(*entries):
            return struct.pack("<II", 0, len(entries)) + b"".join(
                struct.pack("<QII", w, pre, len(k)) + k for w, pre, k in entries)
        place = batch((12345, 100, key))  # a worker nobody knows
        client.publish(subject, header(1) + place)
        client.publish(subject, header(1, group_tag=fnv32("elsewhere")) + place)
        client.publish(subject, header(2) + struct.pack("<I", 3))  # a load report that lies
        # TOKENS: a count that lies, and LOAD-sized entries; then a good one
        # for a worker nobody knows, twice: kept, harmless, not a drop.
        client.publish(subject, header(5) + struct.pack("<IQI", 3, 1, 7))
        client.publish(subject, header(5) + struct.pack("<IQII", 1, 1, 7, 0))
        tokens = header(5) + struct.pack("<IQI", 1, 12345, 900)
        client.publish(subject, tokens)
        client.publish(subject, tokens)
        client.publish(subject, header(1) + struct.pack("<IIQII", 0, 1, 1, 1, 5 << 20) + b"x" * 64)
        client.flush()
        client.close()

        def dropped(reason):
            return metrics(a.metrics_port)['sglang_router_sync_dropped_total{reason="%s"}' % reason]
        wait_until(lambda: dropped("malformed") >= 6 and dropped("worker") >= 1 and dropped("group") >= 1,
                   10, "drops counted")
        self.assertEqual(dropped("malformed"), 6)
        self.assertEqual(dropped("worker"), 1)
        self.assertEqual(dropped("group"), 1)
        self.assertEqual(metrics(a.metrics_port)["sglang_router_sync_placements_learned_total"], 0)
        self.assertEqual(generate(a.port, prompt(1, 1))[0], 200)
        self.assertTrue(a.alive())

    def test_wrong_credentials_leave_the_router_routing_alone(self):
        nats = self.nats(None, "--auth", "s3cret-token")
        sims = [self.sim()]
        a = self.replica(nats.nats_url, sims, "--sync-nats-token", "wrong-token")
        wait_until(lambda: metrics(a.metrics_port)['sglang_router_sync_state{state="refused"}'] == 1, 15,
                   "refused")
        self.assertEqual(generate(a.port, prompt(1, 1))[0], 200)
        self.assertIn("Authorization Violation", a.stderr())
        self.assertNotIn("wrong-token", a.stderr())
        # The right token, from a file: joined.
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".token") as f:
            f.write("s3cret-token\n")
            f.flush()
            b = self.replica(nats.nats_url, sims, "--sync-nats-token-file", f.name)
            wait_until(lambda: metrics(b.metrics_port)["sglang_router_sync_up"] == 1, 15, "b joined")
        self.assertNotIn("s3cret-token", b.stderr())

    def test_mutual_tls_to_nats(self):
        """TLS with client certificates (--sync-nats-tls-*): the replicas
        join a nats-server that verifies them; a replica with a certificate
        from another CA is refused at the handshake and routes alone."""
        import tempfile
        from harness import make_pki
        with tempfile.TemporaryDirectory() as d:
            pki = make_pki(d)
            nats = self.nats(None, "--tls", "--tlscert", pki["server.pem"], "--tlskey", pki["server.key"],
                             "--tlscacert", pki["ca.pem"], "--tlsverify")
            url = "tls://127.0.0.1:%d" % nats.port
            sims = [self.sim() for _ in range(2)]
            tls = ("--sync-nats-tls-ca", pki["ca.pem"], "--sync-nats-tls-cert", pki["client.pem"],
                   "--sync-nats-tls-key", pki["client.key"])
            a = self.replica(url, sims, *tls)
            b = self.replica(url, sims, *tls)
            self.synced([a, b], 1)
            self.assert_converged([a, b], 4)
            rogue = self.replica(url, sims, "--sync-nats-tls-ca", pki["ca.pem"], "--sync-nats-tls-cert",
                                 pki["rogue-client.pem"], "--sync-nats-tls-key", pki["rogue-client.key"])
            joined = poll(lambda: "cannot join NATS" in rogue.stderr(), bool, 15)
            self.assertTrue(joined, "the rogue replica was not refused:\n" + rogue.stderr()[-2000:])
            self.assertIn("check --sync-nats-tls-", rogue.stderr())
            self.assertEqual(metrics(rogue.metrics_port)["sglang_router_sync_up"], 0)
            self.assertEqual(generate(rogue.port, prompt(1, 1))[0], 200)
            self.assertEqual(metrics(a.metrics_port)["sglang_router_sync_peers"], 1)

    def test_bad_sync_flags_are_refused_at_start(self):
        import subprocess
        from harness import BIN
        import os
        for args, words in ((["--sync-nats-url", "http://x:1"], "--sync-nats-url"),
                            (["--sync-nats-url", "nats://x:1", "--sync-group", "a.b"], "--sync-group"),
                            (["--sync-nats-url", "nats://x:1", "--sync-nats-token", "t",
                              "--sync-nats-user", "u", "--sync-nats-password", "p"], "--sync-nats-token"),
                            (["--sync-nats-url", "nats://x:1", "--sync-nats-token-file", "/nonexistent"],
                             "--sync-nats-token-file"),
                            (["--sync-nats-url", "tls://x:1", "--sync-nats-tls-ca", "/dev/null"],
                             "--sync-nats-tls-ca /dev/null: empty"),
                            (["--sync-nats-url", "tls://x:1", "--sync-nats-tls-cert", __file__],
                             "--sync-nats-tls-cert")):
            p = subprocess.run([os.path.join(BIN, "sglang-router"), "--port", "0", "--prometheus-port", "-1"] + args,
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(words, p.stderr)


if __name__ == "__main__":
    unittest.main()
