"""sglctl end to end: a real router with simulated workers, every command,
and each change checked where it matters, in the routing itself."""
import json
import os
import signal
import socket
import subprocess
import time
import unittest

import tempfile

from harness import BIN, ProcTestCase, make_pki, poll, request, wait_until

GEN = "/generate"
TOKEN = "ctl-token-123"


def gen(port, text):
    return request(port, "POST", GEN, {"text": text, "sampling_params": {"max_new_tokens": 2}})


class CtlCase(ProcTestCase):
    def start(self, workers, *args):
        r = self.router("--admin-port", "0", "--health-check-interval-secs", "1",
                        "--worker-urls", *[w.url for w in workers], *args)
        self.addr = "127.0.0.1:%d" % r.admin_port
        return r

    def ctl(self, *args, env=None, check=True):
        e = dict(os.environ)
        e.pop("SGLCTL_TOKEN", None)
        e.update(env or {})
        p = subprocess.run([os.path.join(BIN, "sglctl"), "--addr", self.addr, *args],
                           capture_output=True, text=True, timeout=30, env=e)
        if check:
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p

    def ctl_json(self, *args):
        return json.loads(self.ctl("--json", *args).stdout)

    def workers(self, n):
        return [self.sim("--worker-id", "w%d" % i, "--zero-latency") for i in range(n)]



class Sglctl(CtlCase):
    def test_workers_commands_change_routing(self):
        a, b, c = self.workers(3)
        r = self.start([a], "--policy", "round_robin")
        out = self.ctl("workers", "list").stdout
        self.assertRegex(out, r"URL +HEALTH +CIRCUIT +IN_FLIGHT")
        self.assertRegex(out, a.url + r" +healthy +closed +0 +0 +0")
        # Role, bootstrap port, model and decode tokens come last (the
        # columns before keep their places).
        self.assertRegex(out, r" +EXTERNAL_LOAD +ROLE +BOOTSTRAP +MODEL +DECODE_TOKENS\n")
        self.assertRegex(out, a.url + r" .* +regular +- +- +0\n")
        out = self.ctl("workers", "set", b.url, c.url).stdout
        self.assertIn("added " + b.url, out)
        self.assertIn("removed " + a.url, out)
        wait_until(lambda: all(w["health"] == "WORKER_HEALTH_HEALTHY"
                               for w in self.ctl_json("workers", "list")["workers"]), what="new workers healthy")
        served = {gen(r.port, "prompt %d" % i).headers.get("x-worker-id") for i in range(12)}
        self.assertEqual(served, {"w1", "w2"})
        self.ctl("workers", "remove", c.url)
        served = {gen(r.port, "again %d" % i).headers.get("x-worker-id") for i in range(6)}
        self.assertEqual(served, {"w1"})
        out = self.ctl("workers", "add", a.url).stdout
        self.assertIn("added " + a.url, out)
        p = self.ctl("workers", "add", a.url, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("ALREADY_EXISTS", p.stderr)
        p = self.ctl("workers", "remove", "http://127.0.0.1:9", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("NOT_FOUND", p.stderr)
        p = self.ctl("workers", "add", check=False)
        self.assertEqual(p.returncode, 2)

    def test_workers_with_roles_ports_and_models(self):
        a, b, c, d = self.workers(4)
        self.start([a])
        out = self.ctl("workers", "set", a.url + "@org/llama-8b", "--prefill", b.url + "@org/llama-8b", "8998",
                       "--prefill", c.url, "none", "--decode", d.url + "@org/llama-8b").stdout
        for w in (b, c, d):
            self.assertIn("added " + w.url, out)
        self.assertRegex(out, a.url + r" .* +regular +- +org/llama-8b +0\n")
        self.assertRegex(out, b.url + r" .* +prefill +8998 +org/llama-8b +0\n")
        self.assertRegex(out, c.url + r" .* +prefill +none +- +0\n")
        self.assertRegex(out, d.url + r" .* +decode +- +org/llama-8b +0\n")
        got = {w["url"]: w for w in self.ctl_json("workers", "list")["workers"]}
        self.assertEqual((got[b.url]["role"], got[b.url]["bootstrap_port"], got[b.url]["model_id"],
                          got[b.url]["model_pinned"]), ("WORKER_ROLE_PREFILL", 8998, "org/llama-8b", True))
        self.assertNotIn("bootstrap_port", got[c.url])  # none: null
        self.assertNotIn("model_id", got[c.url])  # not known yet
        self.assertEqual(got[d.url]["role"], "WORKER_ROLE_DECODE")
        # The table of stats queues has the same columns.
        self.assertRegex(self.ctl("stats", "queues").stdout, b.url + r" .* +prefill +8998 +org/llama-8b +0\n")
        # --decode takes every URL up to the next option; --prefill's port is optional.
        self.ctl("workers", "set", "--decode", a.url, b.url, "--prefill", c.url, "--worker-urls", d.url)
        roles = {w["url"]: w["role"] for w in self.ctl_json("workers", "list")["workers"]}
        self.assertEqual(roles, {a.url: "WORKER_ROLE_DECODE", b.url: "WORKER_ROLE_DECODE",
                                 c.url: "WORKER_ROLE_PREFILL", d.url: "WORKER_ROLE_REGULAR"})
        # workers model pins one worker's model, keeping the rest.
        out = self.ctl("workers", "model", c.url, "qwen-7b").stdout
        self.assertRegex(out, c.url + r" .* +prefill +none +qwen-7b +0\n")
        self.assertEqual(len(out.splitlines()), 2)  # the header and that worker
        one = self.ctl_json("workers", "model", c.url, "qwen-7b")["worker"]
        self.assertEqual((one["model_id"], one["model_pinned"]), ("qwen-7b", True))
        p = self.ctl("workers", "add", "--decode", a.url, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("ALREADY_EXISTS: workers[0].url: " + a.url, p.stderr)
        p = self.ctl("workers", "model", "http://127.0.0.1:9", "m", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("NOT_FOUND: url: http://127.0.0.1:9", p.stderr)
        # Bad input never reaches the router: usage errors naming the argument.
        for bad, says in ((("workers", "add", "--prefill", a.url, "70000"), "bootstrap port"),
                          (("workers", "add", "--decode", a.url + "@bad\"model"), "model id"),
                          (("workers", "add", a.url + "@"), "model id"),
                          (("workers", "add", "ftp://x:1"), "ftp://x:1"),
                          (("workers", "add", "--prefill"), "--prefill needs a URL"),
                          (("workers", "add", "--decode", "--prefill", a.url), "--decode needs"),
                          (("workers", "set", "--bootstrap", "1"), "unexpected option '--bootstrap'"),
                          (("workers", "add"), "at least one worker"),
                          (("workers", "model", a.url), "a URL and a model id"),
                          (("workers", "model", a.url, "two words"), None)):
            p = self.ctl(*bad, check=False)
            if says is None:  # the router refuses it
                self.assertEqual(p.returncode, 1, bad)
                self.assertIn("INVALID_ARGUMENT: model_id:", p.stderr)
                continue
            self.assertEqual(p.returncode, 2, (bad, p.stderr))
            self.assertIn(says, p.stderr)
        self.assertEqual(len(self.ctl_json("workers", "list")["workers"]), 4)  # nothing changed

    def test_config_commands(self):
        ws = self.workers(4)
        r = self.start(ws, "--policy", "cache_aware")
        cfg = self.ctl_json("config", "get")["config"]
        self.assertEqual((cfg["policy"], cfg["cache_threshold"]), ("cache_aware", 0.5))
        text = "one prompt, sent many times, that a cache-aware router keeps on one worker"
        self.assertEqual(len({gen(r.port, text).headers.get("x-worker-id") for _ in range(10)}), 1)
        out = self.ctl("config", "set", "--cache-routing-prob", "0", "--cache-threshold=0.3").stdout
        self.assertRegex(out, r"cache-routing-prob +0\n")
        self.assertRegex(out, r"cache-threshold +0.3\n")
        # Now cache_aware is shortest-queue: idle workers tie, ties are random.
        self.assertGreater(len({gen(r.port, text).headers.get("x-worker-id") for _ in range(40)}), 2)
        # Every runtime row of the router's option table is a flag and a line.
        out = self.ctl("config", "set", "--log-requests", "--retry-max-retries", "2", "--log-level=warn").stdout
        self.assertRegex(out, r"log-requests +true\n")
        self.assertRegex(out, r"retry-max-retries +2\n")
        self.assertRegex(out, r"log-level +warn\n")
        self.assertRegex(self.ctl("config", "set", "--log-requests=false").stdout, r"log-requests +false\n")
        # The concurrency limit too, in force at once: 3 for each of 4 healthy workers.
        out = self.ctl("config", "set", "--max-concurrent-per-worker", "3", "--queue-size", "500").stdout
        self.assertRegex(out, r"max-concurrent-per-worker +3\n")
        self.assertEqual(len({line.index(line.split()[1], len(line.split()[0])) for line in out.splitlines()}), 1,
                         "one column of values:\n" + out)
        self.assertIn("at most 12 at once", self.ctl("stats", "queues").stdout)
        help_text = subprocess.run([os.path.join(BIN, "sglang-router"), "--help"], capture_output=True,
                                   text=True, check=True).stdout
        self.assertEqual(len(self.ctl("config", "get").stdout.splitlines()),
                         help_text.count("[changeable at runtime]"))
        p = self.ctl("config", "set", "--port", "1", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("not a runtime flag '--port'", p.stderr)
        p = self.ctl("config", "set", "--cache-threshold", "2", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("INVALID_ARGUMENT: cache_threshold:", p.stderr)
        for bad in (("config", "set", "--no-such-flag", "1"), ("config", "set", "--cache-threshold", "high"),
                    ("config", "set"), ("config", "nope")):
            p = self.ctl(*bad, check=False)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("sglctl:", p.stderr)

    def test_stats_evict_flush_health(self):
        ws = self.workers(2)
        r = self.start(ws)
        for i in range(5):
            gen(r.port, "a question about routers, number %d" % i)
        queues = self.ctl_json("stats", "queues")
        self.assertEqual(sum(w["processed"] for w in queues["workers"]), 5)
        self.assertIn("router: 0 in flight, 0 queued, 0 retries, no concurrency limit\n",
                      self.ctl("stats", "queues").stdout)
        trees = self.ctl_json("stats", "trees")
        self.assertTrue(trees["has_tree"])
        self.assertGreater(trees["total_text_bytes"], 30)
        self.assertRegex(self.ctl("stats", "trees").stdout, r"total: \d+ text bytes, \d+ nodes")
        lines = self.ctl("--json", "stats", "watch", "--interval-ms", "100", "--count", "3").stdout.splitlines()
        self.assertEqual(len(lines), 3)
        stamps = [json.loads(line)["unix_ms"] for line in lines]
        self.assertEqual(stamps, sorted(stamps))
        self.assertRegex(self.ctl("evict").stdout, r"^evicted \d+ bytes\n$")
        out = self.ctl("flush-cache", "--workers").stdout
        self.assertEqual(sorted(line.split()[1] for line in out.splitlines() if line.startswith("flushed")),
                         sorted(w.url for w in ws))
        self.assertEqual(self.ctl_json("stats", "trees")["total_text_bytes"], 0)
        self.assertEqual(self.ctl("health").stdout, "SERVING\n")
        p = self.ctl("health", "--service", "nope", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("NOT_FOUND", p.stderr)

    def test_stats_show_the_concurrency_limit(self):
        ws = self.workers(2)
        self.start(ws, "--max-concurrent-per-worker", "5")
        wait_until(lambda: "at most 10 at once\n" in self.ctl("stats", "queues").stdout,
                   what="5 for each of 2 healthy workers")
        line = self.ctl("stats", "watch", "--interval-ms", "100", "--count", "1").stdout
        self.assertIn("in_flight=0 queued=0 limit=10", line)
        self.assertEqual(int(self.ctl_json("stats", "queues")["concurrency_limit"]), 10)

    def test_token_help_and_errors(self):
        ws = self.workers(1)
        self.start(ws, "--admin-token", TOKEN)
        p = self.ctl("workers", "list", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("UNAUTHENTICATED", p.stderr)
        self.assertIn(ws[0].url, self.ctl("--token", TOKEN, "workers", "list").stdout)
        self.assertIn(ws[0].url, self.ctl("workers", "list", env={"SGLCTL_TOKEN": TOKEN}).stdout)
        for cmd in ((), ("workers",), ("config",), ("stats",), ("evict",), ("flush-cache",), ("health",),
                    ("sync",), ("sync", "set")):
            p = self.ctl(*cmd, "--help", check=False)
            self.assertEqual(p.returncode, 0, cmd)
            self.assertIn("usage: sglctl", p.stdout)
        for bad in (("--bogus", "workers", "list"), ("frobnicate",), ("--timeout", "x", "evict")):
            p = self.ctl(*bad, check=False)
            self.assertEqual(p.returncode, 2, bad)
        p = subprocess.run([os.path.join(BIN, "sglctl"), "--addr", "127.0.0.1:1", "workers", "list"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("UNAVAILABLE", p.stderr)

    def test_token_file_and_reload(self):
        """--admin-token-file: the token stays out of the command line, and
        SIGHUP swaps it (an empty file keeps the one in force)."""
        ws = self.workers(1)
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        d = tmp.name
        token_file, ctl_file = os.path.join(d, "admin-token"), os.path.join(d, "ctl-token")

        def write(path, text):
            with open(path, "w") as f:
                f.write(text)

        write(token_file, TOKEN + "\n")
        r = self.start(ws, "--admin-token-file", token_file)
        with open("/proc/%d/cmdline" % r.p.pid, "rb") as f:
            self.assertNotIn(TOKEN.encode(), f.read())

        def works(*auth):
            p = self.ctl(*auth, "workers", "list", check=False)
            self.assertIn(p.returncode, (0, 1), p.stderr)
            if p.returncode == 1:
                self.assertIn("UNAUTHENTICATED", p.stderr)
            return p.returncode == 0

        write(ctl_file, TOKEN + "\n")
        self.assertIn(ws[0].url, self.ctl("--token-file", ctl_file, "workers", "list").stdout)
        self.assertTrue(works("--token", TOKEN))
        self.assertFalse(works("--token", "wrong"))
        self.assertFalse(works())
        # A new token in the file, then SIGHUP: the new one in, the old one out.
        write(token_file, "rotated-token-456\n")
        self.assertTrue(works("--token", TOKEN))  # only SIGHUP rereads
        r.p.send_signal(signal.SIGHUP)
        wait_until(lambda: works("--token", "rotated-token-456"), what="the new token")
        self.assertFalse(works("--token", TOKEN))
        # An empty file on SIGHUP: a warning, the token in force stays.
        write(token_file, "")
        r.p.send_signal(signal.SIGHUP)
        wait_until(lambda: "keeping the current admin token" in r.stderr(), what="the warning")
        self.assertTrue(works("--token", "rotated-token-456"))
        os.unlink(token_file)
        r.p.send_signal(signal.SIGHUP)
        wait_until(lambda: "No such file" in r.stderr(), what="the warning")
        self.assertTrue(works("--token", "rotated-token-456"))
        for secret in (TOKEN, "rotated-token-456"):
            self.assertNotIn(secret, r.stderr())
        # sglctl --token-file: errors are usage errors naming the file, not its content.
        for content, says in (("", "empty"), (None, "No such file"), ("a\nb\n", "control character")):
            if content is None:
                os.unlink(ctl_file)
            else:
                write(ctl_file, content)
            p = self.ctl("--token-file", ctl_file, "workers", "list", check=False)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(ctl_file, p.stderr)
            self.assertIn(says, p.stderr)
        write(ctl_file, "x")
        p = self.ctl("--token", "x", "--token-file", ctl_file, "workers", "list", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("give one of them", p.stderr)

    def test_deadline(self):
        mute = socket.socket()
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        self.addCleanup(mute.close)
        self.start(self.workers(1), "--health-check-timeout-secs", "30")
        self.ctl("workers", "add", "http://127.0.0.1:%d" % mute.getsockname()[1])
        mute.settimeout(5)
        first = mute.accept()[0]  # its health check: the address is resolved
        self.addCleanup(first.close)
        t0 = time.monotonic()
        p = self.ctl("--timeout", "0.5", "flush-cache", "--workers", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("DEADLINE_EXCEEDED", p.stderr)
        self.assertLess(time.monotonic() - t0, 3)


class SglctlTls(CtlCase):
    def test_mutual_tls(self):
        with tempfile.TemporaryDirectory() as d:
            pki = make_pki(d)
            ws = self.workers(1)
            self.start(ws, "--admin-tls-cert-path", pki["server.pem"], "--admin-tls-key-path", pki["server.key"],
                       "--admin-tls-ca-path", pki["ca.pem"])
            mine = ("--ca", pki["ca.pem"], "--cert", pki["client.pem"], "--key", pki["client.key"])
            self.assertIn(ws[0].url, self.ctl(*mine, "workers", "list").stdout)
            self.addr = self.addr.replace("127.0.0.1", "localhost")  # the certificate names both
            self.assertEqual(self.ctl(*mine, "health").stdout, "SERVING\n")
            for args, says in (((), "UNAVAILABLE"),  # cleartext to a TLS port
                               (("--ca", pki["ca.pem"]), "UNAVAILABLE"),  # no client certificate
                               (("--ca", pki["ca.pem"], "--cert", pki["rogue-client.pem"],
                                 "--key", pki["rogue-client.key"]), "UNAVAILABLE"),
                               (("--ca", pki["rogue-ca.pem"], "--cert", pki["client.pem"],
                                 "--key", pki["client.key"]), "certificate")):  # the server is not trusted
                p = self.ctl(*args, "--timeout", "3", "workers", "list", check=False)
                self.assertEqual(p.returncode, 1, args)
                self.assertIn(says, p.stderr, args)
            p = self.ctl("--ca", pki["ca.pem"], "--cert", pki["client.pem"], "workers", "list", check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("private key", p.stderr)


NATS_TOKEN = "nats-ctl-token-789"


class SglctlSync(CtlCase):
    """sglctl sync and sync set against a router and a real nats-server."""

    def sync(self):
        return self.ctl_json("sync")["status"]

    def until(self, what, cond):
        st = poll(self.sync, cond, timeout=15)
        self.assertTrue(cond(st), "%s: %s" % (what, st))
        return st

    def test_sync_and_sync_set(self):
        nats = self.nats("--auth", NATS_TOKEN)
        ws = self.workers(1)
        self.start(ws)
        out = self.ctl("sync").stdout
        self.assertRegex(out, r"(?m)^state +off$")
        self.assertRegex(out, r"(?m)^replica +[0-9a-f]{16}$")
        self.assertRegex(out, r"(?m)^peers +0$")

        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        token_file = os.path.join(tmp.name, "nats-token")
        with open(token_file, "w") as f:
            f.write(NATS_TOKEN + "\n")
        out = self.ctl("sync", "set", "--nats-url", nats.nats_url, "--group", "ctl",
                       "--token-file", token_file).stdout
        self.assertRegex(out, r"(?m)^state +(connecting|up)$")
        self.assertRegex(out, r"(?m)^group +ctl$")
        self.assertRegex(out, r"(?m)^server +%s$" % nats.nats_url)
        self.until("up", lambda st: st["state"] == "up")

        # A second replica, joined by its flags: one line per peer.
        self.router("--sync-nats-url", nats.nats_url, "--sync-group", "ctl",
                    "--sync-nats-token-file", token_file, "--worker-urls", ws[0].url)
        st = self.until("a peer", lambda st: len(st["peers"]) == 1)
        out = self.ctl("sync").stdout
        self.assertRegex(out, r"(?m)^peers +1$")
        self.assertRegex(out, r"(?m)^PEER +LAST_SEEN_SECS +IN_FLIGHT$")
        self.assertRegex(out, r"(?m)^%s +\d+\.\d +0$" % st["peers"][0]["replica_id"])
        line = self.ctl("stats", "watch", "--interval-ms", "100", "--count", "1").stdout
        self.assertIn("sync=up peers=1", line)
        self.assertNotIn(NATS_TOKEN, out + line + json.dumps(st))

        # Refused by the router: exit 1 with the field; by sglctl: exit 2.
        p = self.ctl("sync", "set", "--nats-url", "http://127.0.0.1:4222", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("INVALID_ARGUMENT: nats_urls: --sync-nats-url:", p.stderr)
        for bad, says in ((("sync", "set"), "--nats-url"),
                          (("sync", "set", "--off", "--group", "x"), "--off"),
                          (("sync", "set", "--nats-url", nats.nats_url, "--token-file", token_file + ".nope"),
                           "No such file"),
                          (("sync", "set", "--nats-url", nats.nats_url, "--tls-ca", token_file + ".nope"),
                           "No such file"),
                          (("sync", "set", "--nats-url"), "unexpected"),
                          (("sync", "get"), "unknown sync command")):
            p = self.ctl(*bad, check=False)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn(says, p.stderr, bad)
        self.assertEqual(self.sync()["state"], "up")

        out = self.ctl("sync", "set", "--off").stdout
        self.assertRegex(out, r"(?m)^state +off$")
        self.assertNotRegex(out, r"(?m)^server")

    def test_sync_over_mutual_tls_from_pem_files(self):
        """--tls-ca, --tls-cert and --tls-key are read by sglctl and sent as
        PEM text; the router verifies the server and presents the client
        certificate."""
        with tempfile.TemporaryDirectory() as d:
            pki = make_pki(d)
            nats = self.nats("--tls", "--tlscert", pki["server.pem"], "--tlskey", pki["server.key"],
                             "--tlsverify", "--tlscacert", pki["ca.pem"])
            self.start(self.workers(1))
            url = "tls://127.0.0.1:%d" % nats.port
            self.ctl("sync", "set", "--nats-url", url, "--tls-ca", pki["ca.pem"],
                     "--tls-cert", pki["client.pem"], "--tls-key", pki["client.key"])
            self.until("up over TLS", lambda st: st["state"] == "up")
            # Without the client certificate the server turns the router down.
            self.ctl("sync", "set", "--nats-url", url, "--tls-ca", pki["ca.pem"])
            st = self.until("down", lambda st: st["state"] in ("down", "refused") and "last_error" in st)
            self.assertNotIn("PRIVATE KEY", json.dumps(st))


if __name__ == "__main__":
    unittest.main()
