"""The seed's Python entry points (deploy/python): python -m
sglang_router.launch_router / launch_server run our C binaries with the
right arguments, from the source tree and after pip install."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

from harness import BIN, Proc, ProcTestCase, free_port, output_file, request, wait_until

PKG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "python")
sys.path.insert(0, PKG)
from sglang_router.launch_server import translate  # noqa: E402

ENV = dict(os.environ, PYTHONPATH=PKG, SGLANG_ROUTER_BIN_DIR=BIN)


class Shims(ProcTestCase):
    def test_translate_keeps_launcher_and_router_flags_and_passes_the_rest(self):
        own, workers = translate(["--model-path", "org/m", "--dp-size", "8", "--tp-size=2",
                                  "--mem-fraction-static", "0.85", "--router-policy", "cache_cost",
                                  "--enable-torch-compile", "--router-worker-startup-timeout-secs", "9",
                                  "--port", "30000", "--chunked-prefill-size", "4096", "--", "--x", "1"])
        self.assertEqual(own, ["--model-path", "org/m", "--dp-size", "8", "--tp-size=2", "--router-policy",
                               "cache_cost", "--router-worker-startup-timeout-secs", "9", "--port", "30000"])
        self.assertEqual(workers, ["--mem-fraction-static", "0.85", "--enable-torch-compile",
                                   "--chunked-prefill-size", "4096", "--x", "1"])

    def test_launch_router(self):
        w = self.sim("--worker-id", "w0", "--zero-latency")
        r = Proc([sys.executable, "-m", "sglang_router.launch_router", "--port", "0", "--prometheus-port", "-1",
                  "--policy", "cache_aware", "--worker-urls", w.url], env=ENV)
        self.procs.append(r)
        wait_until(lambda: request(r.port, "GET", "/readiness").status == 200, what="ready")
        resp = request(r.port, "POST", "/generate", {"text": "hi"})
        self.assertEqual(resp.headers["x-worker-id"], "w0")
        p = subprocess.run([sys.executable, "-m", "sglang_router.launch_router", "--cache-threshold", "3"],
                           env=ENV, capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 2)  # the router's own exit status and message
        self.assertIn("--cache-threshold", p.stderr)

    def test_launch_server(self):
        port = free_port()
        with output_file() as out:
            p = subprocess.Popen([sys.executable, "-m", "sglang_router.launch_server", "--model-path", "m",
                                  "--dp-size", "2", "--backend", "sim", "--port", str(port),
                                  "--worker-base-port", str(free_port()), "--router-policy", "round_robin",
                                  "--router-prometheus-port", "-1", "--zero-latency"],
                                 env=ENV, stdout=out, stderr=subprocess.STDOUT, text=True)
            try:
                def ready():
                    out.seek(0)
                    return "ready: http" in out.read() or p.poll() is not None
                wait_until(ready, timeout=20, what="ready")
                self.assertIsNone(p.poll())
                served = {request(port, "POST", "/generate", {"text": str(i)}).headers["x-worker-id"]
                          for i in range(4)}
                self.assertEqual(served, {"rank-0", "rank-1"})
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(timeout=30), 0)
            finally:
                if p.poll() is None:
                    p.kill()

    def test_pip_install(self):
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "src")  # pip builds in the tree it is given: not ours
            shutil.copytree(PKG, src)
            subprocess.run(["/usr/bin/python3", "-m", "venv", os.path.join(d, "venv")], check=True)
            d = os.path.join(d, "venv")
            p = subprocess.run([os.path.join(d, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
                                src], capture_output=True, text=True, timeout=300)
            if p.returncode != 0:
                raise unittest.SkipTest("cannot pip install (PyPI for setuptools?): " + p.stderr[-300:])
            env = dict(os.environ, SGLANG_ROUTER_BIN_DIR=BIN)
            env.pop("PYTHONPATH", None)
            p = subprocess.run([os.path.join(d, "bin", "python"), "-m", "sglang_router.launch_router", "--help"],
                               env=env, capture_output=True, text=True, timeout=20, cwd=d)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("usage: sglang-router", p.stdout)


if __name__ == "__main__":
    unittest.main()
