"""sglang-launch-server: the co-launch mode end to end: simulated workers,
a fake `sglang` package that records the exact command line, failures at
startup and while serving, and no orphan processes whatever happens."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

from harness import BIN, free_port, output_file, request, wait_until

LAUNCH = os.path.join(BIN, "sglang-launch-server")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


HANDED_OUT = set()  # ports base_port gave out: a later run never overlaps an earlier one


def base_port(n):
    """A run of n free ports (checked now), disjoint from every run handed out before.

    The ports are not held, so two runs asked for in a row (a metrics port, then the
    launcher's worker ports) must not be the same free ports found twice."""
    while True:
        start = free_port()
        if start + n >= 65000:
            continue
        run = set(range(start, start + n + 2))
        if run & HANDED_OUT:
            continue
        ok = True
        for p in sorted(run):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            s.close()
        if ok:
            HANDED_OUT.update(run)
            return start


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid) as f:
            return f.read().split("\0")[:-1]  # each argument ends with a NUL
    except FileNotFoundError:
        return []


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


class Launch(unittest.TestCase):
    def launch(self, *args, env=None, port=None, exe=LAUNCH):
        self.port = port or base_port(1)
        argv = [exe, "--port", str(self.port), "--worker-base-port", str(base_port(8)),
                "--router-prometheus-port", "-1", *args]
        self.out = output_file()
        self.addCleanup(self.out.close)
        p = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT, text=True,
                             env=dict(os.environ, **(env or {})))
        self.addCleanup(self.kill_all, p)
        return p

    def output(self):
        self.out.seek(0)
        return self.out.read()

    def kill_all(self, p):
        kids = children(p.pid)
        if p.poll() is None:
            p.kill()
            p.wait()
        for k in kids:
            try:
                os.killpg(k, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait_ready(self, p, timeout=20):
        wait_until(lambda: "ready: http://" in self.output() or p.poll() is not None, timeout=timeout,
                   what="the launcher ready")
        self.assertIsNone(p.poll(), self.output())

    def test_sim_workers_serve_and_sigterm_stops_everything(self):
        p = self.launch("--model-path", "m", "--dp-size", "4", "--backend", "sim",
                        "--router-policy", "round_robin", "--", "--zero-latency")
        self.wait_ready(p)
        served = [request(self.port, "POST", "/generate", {"text": "x%d" % i}).headers["x-worker-id"]
                  for i in range(8)]
        self.assertEqual(sorted(set(served)), ["rank-0", "rank-1", "rank-2", "rank-3"])
        kids = children(p.pid)
        self.assertEqual(len(kids), 5)  # 4 workers + the router
        self.assertIn("[rank 2] ", self.output())  # worker output, prefixed
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=30), 0, self.output())
        self.assertEqual([k for k in kids if alive(k)], [])

    def test_the_exact_sglang_command_line(self):
        with tempfile.TemporaryDirectory() as d:
            pkg = os.path.join(d, "sglang")
            os.makedirs(pkg)
            open(os.path.join(pkg, "__init__.py"), "w").close()
            with open(os.path.join(pkg, "launch_server.py"), "w") as f:
                f.write(textwrap.dedent("""
                    import http.server, json, os, sys
                    args = sys.argv[1:]
                    port = int(args[args.index("--port") + 1])
                    with open(os.path.join(os.environ["RECORD_DIR"], "argv-%d.json" % port), "w") as f:
                        json.dump(args, f)
                    class H(http.server.BaseHTTPRequestHandler):
                        def do_GET(self):
                            self.send_response(200)
                            self.send_header("Content-Length", "2")
                            self.end_headers()
                            self.wfile.write(b"ok")
                        def log_message(self, *a):
                            pass
                    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
                """))
            p = self.launch("--model-path", "org/model", "--dp-size", "2", "--tp-size", "2",
                            "--backend", "sglang", "--", "--mem-fraction-static", "0.8",
                            env={"PYTHONPATH": d, "RECORD_DIR": d})
            self.wait_ready(p)
            argvs = {}
            for name in os.listdir(d):
                if name.startswith("argv-"):
                    with open(os.path.join(d, name)) as f:
                        args = json.load(f)
                    argvs[int(args[args.index("--base-gpu-id") + 1])] = args
            self.assertEqual(sorted(argvs), [0, 2])  # rank * tp-size
            for gpu, args in argvs.items():
                self.assertEqual(args[:2], ["--model-path", "org/model"])
                self.assertEqual(args[args.index("--host") + 1], "127.0.0.1")
                self.assertEqual(args[args.index("--tp-size") + 1], "2")
                self.assertEqual(args[-2:], ["--mem-fraction-static", "0.8"])
            ports = sorted(int(a[a.index("--port") + 1]) for a in argvs.values())
            self.assertEqual(ports[1], ports[0] + 1)
            p.send_signal(signal.SIGINT)
            self.assertEqual(p.wait(timeout=30), 0)

    def test_a_taken_port_is_skipped(self):
        start = base_port(4)
        squat = socket.socket()
        squat.bind(("127.0.0.1", start))
        squat.listen(1)
        self.addCleanup(squat.close)
        self.port = base_port(1)
        out = output_file()
        self.addCleanup(out.close)
        p = subprocess.Popen([LAUNCH, "--port", str(self.port), "--worker-base-port", str(start),
                              "--router-prometheus-port", "-1", "--model-path", "m", "--dp-size", "2",
                              "--backend", "sim"],
                             stdout=out, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(self.kill_all, p)
        self.out = out
        self.wait_ready(p)
        self.assertIn("ports %d..%d" % (start + 1, start + 2), self.output())
        p.terminate()
        self.assertEqual(p.wait(timeout=30), 0)

    def test_a_worker_that_exits_at_startup(self):
        p = self.launch("--dp-size", "2", "--worker-cmd",
                        "sh -c 'if [ {rank} = 1 ]; then echo boom from {rank}; exit 3; fi; exec sleep 60'")
        self.assertEqual(p.wait(timeout=30), 1)
        out = self.output()
        self.assertIn("worker rank 1", out)
        self.assertIn("exited during startup", out)
        self.assertIn("boom from 1", out)

    def test_a_worker_that_never_becomes_healthy(self):
        p = self.launch("--dp-size", "1", "--worker-startup-timeout-secs", "2", "--worker-cmd",
                        "sh -c 'echo loading weights; exec sleep 60' # {port}")
        kids = []
        wait_until(lambda: children(p.pid) or p.poll() is not None, what="a worker")
        kids = children(p.pid)
        self.assertEqual(p.wait(timeout=30), 1)
        out = self.output()
        self.assertIn("not healthy after 2s", out)
        self.assertIn("loading weights", out)
        self.assertEqual([k for k in kids if alive(k)], [])

    def test_a_worker_killed_while_serving_is_restarted(self):
        with tempfile.TemporaryDirectory() as logs:
            p = self.launch("--model-path", "m", "--dp-size", "2", "--backend", "sim", "--restart-workers",
                            "--log-dir", logs, "--router-policy", "round_robin",
                            "--router-health-check-interval-secs", "1", "--", "--zero-latency")
            self.wait_ready(p)
            self.assertTrue(os.path.exists(os.path.join(logs, "worker-1.log")))
            self.assertTrue(os.path.exists(os.path.join(logs, "router.log")))
            victim = next(k for k in children(p.pid)
                          if "rank-0" in " ".join(cmdline(k)))
            os.kill(victim, signal.SIGKILL)
            # The router keeps serving through the other worker.
            for i in range(10):
                self.assertEqual(request(self.port, "POST", "/generate", {"text": "a%d" % i}).status, 200)
            wait_until(lambda: "worker rank 0 restarted" in self.output(), what="the restart")
            wait_until(lambda: "rank-0" in {request(self.port, "POST", "/generate", {"text": "b%d" % i})
                                            .headers.get("x-worker-id") for i in range(4)},
                       timeout=15, what="rank 0 serving again")
            p.terminate()
            self.assertEqual(p.wait(timeout=30), 0)

    def test_sigkill_of_the_launcher_leaves_no_orphans(self):
        p = self.launch("--model-path", "m", "--dp-size", "3", "--backend", "sim")
        self.wait_ready(p)
        kids = children(p.pid)
        self.assertEqual(len(kids), 4)
        p.kill()
        p.wait()
        wait_until(lambda: not any(alive(k) for k in kids), timeout=15, what="every child gone")

    def launch_replicas(self, n, *args, **kw):
        p = self.launch("--model-path", "m", "--dp-size", "2", "--backend", "sim",
                        "--router-replicas", str(n), *args, port=base_port(n), **kw)
        self.wait_ready(p)
        return p

    def nats_of(self, p):
        """(pid, port) of the launcher's nats-server."""
        for k in children(p.pid):
            argv = cmdline(k)
            if argv and os.path.basename(argv[0]) == "nats-server":
                return k, int(argv[argv.index("-p") + 1])
        return None, None

    def test_router_replicas_serve_and_sigterm_stops_everything(self):
        p = self.launch_replicas(3, "--", "--zero-latency")
        out = self.output()
        nats_pid, nats_port = self.nats_of(p)
        self.assertIsNotNone(nats_pid, out)
        self.assertTrue(accepts(nats_port))
        self.assertIn("nats-server: nats://127.0.0.1:%d (--sync-group launch)" % nats_port, out)
        kids = children(p.pid)
        self.assertEqual(len(kids), 6)  # 2 workers, nats-server, 3 routers
        for i in range(3):
            self.assertIn("router replica %d: http://127.0.0.1:%d" % (i, self.port + i), out)
            r = request(self.port + i, "POST", "/generate", {"text": "replica %d" % i})
            self.assertEqual(r.status, 200, (i, r.body))
            self.assertIn(r.headers["x-worker-id"], ("rank-0", "rank-1"))
        routers = [cmdline(k) for k in kids if "sglang-router" in cmdline(k)[0]]
        self.assertEqual(len(routers), 3)
        for argv in routers:
            self.assertEqual(argv[argv.index("--sync-nats-url") + 1], "nats://127.0.0.1:%d" % nats_port)
            self.assertEqual(argv[argv.index("--sync-group") + 1], "launch")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=30), 0, self.output())
        self.assertEqual([k for k in kids if alive(k)], [])
        self.assertFalse(accepts(nats_port))
        # The routers drain first, then nats-server stops.
        lines = self.output().splitlines()
        stopped = [n for n, line in enumerate(lines) if line.startswith("[router ") and line.endswith(" stopped")]
        exiting = [n for n, line in enumerate(lines) if line.startswith("[nats] ") and "Server Exiting" in line]
        self.assertEqual(len(stopped), 3, lines)
        self.assertEqual(len(exiting), 1, lines)
        self.assertLess(max(stopped), exiting[0])

    def metric(self, port, name):
        """The value of an unlabelled metric on a /metrics listener, or None."""
        try:
            body = request(port, "GET", "/metrics", timeout=2).body.decode()
        except OSError:
            return None
        m = re.search(r"^%s (\S+)$" % re.escape(name), body, re.M)
        return float(m.group(1)) if m else None

    def test_router_replicas_join_their_sync_group(self):
        metrics = base_port(3)
        p = self.launch_replicas(3, "--router-prometheus-port", str(metrics), "--", "--zero-latency")
        for i in range(3):  # a fixed metrics port P: replica i on P + i
            wait_until(lambda: self.metric(metrics + i, "sglang_router_sync_up") == 1, timeout=20,
                       what="replica %d joined (sglang_router_sync_up 1)" % i)
        for i in range(3):
            wait_until(lambda: self.metric(metrics + i, "sglang_router_sync_peers") == 2, timeout=20,
                       what="replica %d hearing its 2 peers" % i)
        p.terminate()
        self.assertEqual(p.wait(timeout=30), 0, self.output())

    def test_nats_server_missing(self):
        p = subprocess.run([LAUNCH, "--model-path", "m", "--backend", "sim", "--router-replicas", "2",
                            "--port", str(base_port(2))],
                           capture_output=True, text=True, timeout=20,
                           env=dict(os.environ, SR_NATS_SERVER="/nonexistent"))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("SR_NATS_SERVER=/nonexistent", p.stderr)
        self.assertNotIn("starting", p.stderr)  # nothing was started
        # One router needs no nats-server.
        p = self.launch("--model-path", "m", "--backend", "sim", env={"SR_NATS_SERVER": "/nonexistent"})
        self.wait_ready(p)
        p.terminate()
        self.assertEqual(p.wait(timeout=30), 0)

    def test_a_taken_replica_port(self):
        start = base_port(3)
        squat = socket.socket()
        squat.bind(("127.0.0.1", start + 2))
        squat.listen(1)
        self.addCleanup(squat.close)
        p = subprocess.run([LAUNCH, "--model-path", "m", "--backend", "sim", "--router-replicas", "3",
                            "--port", str(start)], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("port %d (router replica 2) is taken" % (start + 2), p.stderr)

    def test_nats_server_killed_is_restarted_and_routers_carry_on(self):
        with tempfile.TemporaryDirectory() as logs:
            metrics = base_port(2)
            p = self.launch_replicas(2, "--log-dir", logs, "--router-prometheus-port", str(metrics),
                                     "--", "--zero-latency")
            nats_pid, nats_port = self.nats_of(p)
            for i in range(2):
                wait_until(lambda: self.metric(metrics + i, "sglang_router_sync_up") == 1, timeout=20,
                           what="replica %d joined" % i)
            self.assertTrue(os.path.exists(os.path.join(logs, "nats-server.log")))
            self.assertTrue(os.path.exists(os.path.join(logs, "router-1.log")))
            os.kill(nats_pid, signal.SIGKILL)
            for i in range(4):  # the replicas route on alone
                self.assertEqual(request(self.port + i % 2, "POST", "/generate", {"text": "a%d" % i}).status,
                                 200)
            wait_until(lambda: "nats-server restarted" in self.output(), what="the restart")
            self.assertIn("nats-server (port %d) killed by signal 9" % nats_port, self.output())
            wait_until(lambda: accepts(nats_port), what="nats-server on its port again")
            self.assertNotEqual(self.nats_of(p)[0], nats_pid)
            for i in range(2):  # the replicas reconnect by themselves
                wait_until(lambda: self.metric(metrics + i, "sglang_router_sync_up") == 1, timeout=30,
                           what="replica %d joined again" % i)
            p.terminate()
            self.assertEqual(p.wait(timeout=30), 0, self.output())

    def test_a_replica_that_dies_stops_everything(self):
        p = self.launch_replicas(2)
        kids = children(p.pid)
        victim = next(k for k in kids if "--port" in cmdline(k) and
                      cmdline(k)[cmdline(k).index("--port") + 1] == str(self.port + 1) and
                      "sglang-router" in cmdline(k)[0])
        os.kill(victim, signal.SIGKILL)
        self.assertEqual(p.wait(timeout=30), 1)
        self.assertIn("sglang-router replica 1 (port %d) exited" % (self.port + 1), self.output())
        self.assertEqual([k for k in kids if alive(k)], [])

    def test_sigkill_of_the_launcher_leaves_no_orphan_replicas(self):
        p = self.launch_replicas(2)
        kids = children(p.pid)
        self.assertEqual(len(kids), 5)
        p.kill()
        p.wait()
        wait_until(lambda: not any(alive(k) for k in kids), timeout=15, what="every child gone")

    def pd_fleet_check(self, workers, router, n_prefill, n_decode):
        """The worker and router command lines of a disaggregated fleet: prefill
        ranks first, each with its own bootstrap port, then decode ranks; the
        router in PD mode with every URL and port."""
        self.assertEqual(len(workers), n_prefill + n_decode, self.output())
        workers = sorted(workers, key=lambda a: int(a[a.index("--worker-id") + 1].split("-")[1]))
        ports, bootstrap = [], []
        for rank, argv in enumerate(workers):
            self.assertEqual(argv[argv.index("--worker-id") + 1], "rank-%d" % rank)
            ports.append(int(argv[argv.index("--port") + 1]))
            mode = argv[argv.index("--disaggregation-mode") + 1]
            self.assertEqual(mode, "prefill" if rank < n_prefill else "decode")
            if rank < n_prefill:
                bootstrap.append(int(argv[argv.index("--disaggregation-bootstrap-port") + 1]))
            else:
                self.assertNotIn("--disaggregation-bootstrap-port", argv)
            self.assertEqual(argv[-1], "--zero-latency")  # what follows "--" comes last
        self.assertEqual(len(set(ports + bootstrap)), n_prefill + n_decode + n_prefill)  # all distinct
        self.assertIn("--pd-disaggregation", router)
        self.assertNotIn("--worker-urls", router)
        prefill = [(router[i + 1], int(router[i + 2])) for i, a in enumerate(router) if a == "--prefill"]
        decode = [router[i + 1] for i, a in enumerate(router) if a == "--decode"]
        self.assertEqual(prefill, [("http://127.0.0.1:%d" % ports[i], bootstrap[i]) for i in range(n_prefill)])
        self.assertEqual(decode, ["http://127.0.0.1:%d" % q for q in ports[n_prefill:]])
        self.assertIn("starting %d prefill + %d decode sim workers" % (n_prefill, n_decode), self.output())
        self.assertIn("(%d prefill + %d decode workers)" % (n_prefill, n_decode), self.output())

    def router_argv(self, kids):
        return next(a for a in map(cmdline, kids) if a and os.path.basename(a[0]) == "sglang-router")

    def test_prefill_and_decode_sims_serve(self):
        p = self.launch("--model-path", "m", "--backend", "sim", "--prefill-size", "2", "--decode-size", "2",
                        "--router-policy", "round_robin", "--", "--zero-latency")
        self.wait_ready(p)
        kids = children(p.pid)
        workers = [a for a in map(cmdline, kids) if "--worker-id" in a]
        self.pd_fleet_check(workers, self.router_argv(kids), 2, 2)
        # The client gets the decode worker's answer; both decode workers serve
        # once both are healthy.
        wait_until(lambda: request(self.port, "GET", "/readiness").json().get("healthy_decode_workers") == 2,
                   what="both decode workers healthy")
        served = set()
        for i in range(8):
            r = request(self.port, "POST", "/generate", {"text": "pd %d" % i})
            self.assertEqual(r.status, 200, r.body)
            served.add(r.headers["x-worker-id"])
        self.assertEqual(served, {"rank-2", "rank-3"})
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=30), 0, self.output())
        self.assertEqual([k for k in kids if alive(k)], [])

    def test_every_flag_is_in_the_readme(self):
        """The launcher's equivalent of the router's README flag table test."""
        h = subprocess.run([LAUNCH, "--help"], capture_output=True, text=True, timeout=20).stdout
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")) as f:
            readme = f.read()
        section = readme[readme.index("## Co-launch"):]
        section = section[:section.index("\n## ", 1)]
        flags = set(re.findall(r"^  (?:-h, )?(--[a-z][a-z0-9-]+)", h, re.M)) - {"--help"}
        self.assertIn("--router-replicas", flags)
        self.assertEqual(sorted(f for f in flags if not re.search(re.escape(f) + "(?![a-z0-9-])", section)),
                         [])

    def test_bad_arguments(self):
        for args, says in ((["--dp-size", "2", "--backend", "sim"], "--model-path"),
                           (["--model-path", "m", "--router-cache-threshold", "2"], "--cache-threshold"),
                           (["--model-path", "m", "--router-port", "1"], "--port"),
                           (["--model-path", "m", "--dp-size", "0"], "--dp-size"),
                           (["--model-path", "m", "--router-replicas", "0"], "--router-replicas"),
                           (["--model-path", "m", "--router-replicas", "65"], "--router-replicas"),
                           (["--model-path", "m", "--router-replicas", "3", "--port", "65534"],
                            "--port 65534"),
                           (["--model-path", "m", "--backend", "vllm"], "--backend"),
                           (["--model-path", "m", "--prefill-size", "2"], "go together"),
                           (["--model-path", "m", "--decode-size", "2"], "go together"),
                           (["--model-path", "m", "--backend", "sim", "--prefill-size", "1", "--decode-size", "1",
                             "--dp-size", "2"], "--dp-size and --prefill-size/--decode-size: give one"),
                           (["--worker-cmd", "x {port}", "--prefill-size", "1", "--decode-size", "1"],
                            "not --worker-cmd"),
                           (["--model-path", "m", "--backend", "sim", "--prefill-size", "200", "--decode-size",
                             "100"], "at most 256 workers"),
                           (["--model-path", "m", "--router-prefill", "http://127.0.0.1:1"],
                            "--router-prefill: set by the launcher (use --prefill-size)"),
                           (["--model-path", "m", "--router-decode", "http://127.0.0.1:1"],
                            "--router-decode: set by the launcher (use --decode-size)"),
                           (["--model-path", "m", "--router-pd-disaggregation"],
                            "--router-pd-disaggregation: set by the launcher"),
                           (["--model-path", "m", "--router-worker-urls", "http://127.0.0.1:1"],
                            "(use --dp-size)")):
            p = subprocess.run([LAUNCH, *args], capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn(says, p.stderr)
        p = subprocess.run([LAUNCH, "--help"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--worker-cmd", p.stdout)


if __name__ == "__main__":
    unittest.main()
