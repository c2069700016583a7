"""The public port over TLS: curl with a test CA made at test time, client
certificates, certificate reload on SIGHUP while a stream is open, bad
certificate files, plain HTTP sent to the TLS port."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import unittest

from harness import BIN, ProcTestCase, make_pki, request, wait_until

GEN = "/generate"


def curl(port, path, *args, body=None, host="localhost", timeout=20):
    argv = ["curl", "-sS", "--http1.1", "-o", "-", "-w", "\n%{http_code}", "--max-time", str(timeout)]
    if body is not None:
        argv += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    argv += list(args) + ["https://%s:%d%s" % (host, port, path)]
    p = subprocess.run(argv, input=json.dumps(body) if body is not None else None,
                       capture_output=True, text=True, timeout=timeout + 5)
    out, _, code = p.stdout.rpartition("\n")
    return p.returncode, int(code or 0), out, p.stderr


class TlsCase(ProcTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        one, two = os.path.join(cls.dir.name, "one"), os.path.join(cls.dir.name, "two")
        os.makedirs(one)
        os.makedirs(two)
        cls.pki, cls.pki2 = make_pki(one), make_pki(two)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def start(self, *args, cert=None, key=None):
        self.ws = [self.sim("--worker-id", "w0", "--zero-latency")]
        r = self.router("--tls-cert-path", cert or self.pki["server.pem"],
                        "--tls-key-path", key or self.pki["server.key"],
                        "--worker-urls", self.ws[0].url, *args, wait_ready=False)
        client = ("--cert", self.pki["client.pem"], "--key", self.pki["client.key"])
        wait_until(lambda: curl(r.port, "/readiness", *self.ca(), *client)[1] == 200, what="ready")
        return r

    def ca(self, pki=None):
        return ("--cacert", (pki or self.pki)["ca.pem"])


class Https(TlsCase):
    def test_requests_streams_and_big_bodies(self):
        r = self.start()
        rc, code, out, err = curl(r.port, "/health", *self.ca())
        self.assertEqual((rc, code), (0, 200), err)
        rc, code, out, err = curl(r.port, GEN, *self.ca(), body={"text": "hi", "sampling_params": {"max_new_tokens": 3}})
        self.assertEqual(code, 200, err)
        self.assertEqual(json.loads(out)["meta_info"]["completion_tokens"], 3)
        rc, code, out, err = curl(r.port, "/v1/chat/completions", *self.ca(), "-N", host="127.0.0.1", body={
            "model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 5})
        self.assertEqual(code, 200, err)
        self.assertEqual(out.strip().splitlines()[-1], "data: [DONE]")
        # 2 MB in, across many TLS records; the worker sees all of it.
        big = "x" * (2 * 1024 * 1024)
        rc, code, out, err = curl(r.port, GEN, *self.ca(), body={"text": big, "sampling_params": {"max_new_tokens": 1}})
        self.assertEqual(code, 200, err)
        self.assertEqual(json.loads(out)["meta_info"]["prompt_tokens"], len(big) // 4)

    def test_session_resumption_and_alpn(self):
        r = self.start()
        with tempfile.TemporaryDirectory() as d:
            sess = os.path.join(d, "session.pem")
            for version in ("-tls1_2", "-tls1_3"):
                base = ["openssl", "s_client", version, "-connect", "127.0.0.1:%d" % r.port,
                        "-CAfile", self.pki["ca.pem"], "-ign_eof"]
                # A whole request and response, so that a TLS 1.3 ticket (sent
                # after the handshake) has arrived before the client leaves.
                get = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                subprocess.run(base + ["-sess_out", sess], input=get, capture_output=True, timeout=10)
                p = subprocess.run(base + ["-sess_in", sess], input=get, capture_output=True, timeout=10)
                self.assertIn(b"\nReused, ", p.stdout, version)
            for offer, chosen in (("h2,http/1.1", b"h2"), ("http/1.1", b"http/1.1")):
                p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % r.port, "-alpn", offer,
                                    "-CAfile", self.pki["ca.pem"]], input=b"", capture_output=True, timeout=10)
                self.assertIn(b"ALPN protocol: " + chosen + b"\n", p.stdout, offer)

    def test_plain_http_to_the_tls_port(self):
        r = self.start()
        p = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "http://127.0.0.1:%d/health" % r.port],
                           capture_output=True, text=True, timeout=10)
        body, _, code = p.stdout.rpartition("\n")
        self.assertEqual(code, "400")
        self.assertIn("plain HTTP sent to the HTTPS port", json.loads(body)["error"]["message"])
        self.assertTrue(r.alive())

    def test_an_untrusted_certificate_is_refused_by_the_client(self):
        r = self.start()
        rc, code, out, err = curl(r.port, "/health", *self.ca(self.pki2))
        self.assertNotEqual(rc, 0)
        self.assertIn("certificate", err)

    def test_client_certificates(self):
        r = self.start("--tls-ca-path", self.pki["ca.pem"], "--tls-require-client-cert")
        mine = ("--cert", self.pki["client.pem"], "--key", self.pki["client.key"])
        rogue = ("--cert", self.pki["rogue-client.pem"], "--key", self.pki["rogue-client.key"])
        self.assertEqual(curl(r.port, "/health", *self.ca(), *mine)[1], 200)
        for args in ((), rogue):
            rc, code, out, err = curl(r.port, "/health", *self.ca(), *args)
            self.assertNotEqual(code, 200, args)
        self.assertTrue(r.alive())
        # Optional client certificates: none is fine, a bad one is not.
        r2 = self.start("--tls-ca-path", self.pki["ca.pem"])
        self.assertEqual(curl(r2.port, "/health", *self.ca())[1], 200)
        self.assertEqual(curl(r2.port, "/health", *self.ca(), *mine)[1], 200)
        self.assertNotEqual(curl(r2.port, "/health", *self.ca(), *rogue)[1], 200)

    def test_bad_files_stop_the_start(self):
        ws = [self.sim("--zero-latency")]
        base = [os.path.join(BIN, "sglang-router"), "--port", "0", "--prometheus-port", "-1",
                "--worker-urls", ws[0].url]
        cases = ((["--tls-cert-path", "/no/such.pem", "--tls-key-path", self.pki["server.key"]], "/no/such.pem"),
                 (["--tls-cert-path", self.pki["server.pem"], "--tls-key-path", self.pki["client.key"]],
                  self.pki["client.key"]),
                 (["--tls-cert-path", self.pki["server.key"], "--tls-key-path", self.pki["server.key"]],
                  self.pki["server.key"]),
                 (["--tls-cert-path", self.pki["server.pem"]], "--tls-key-path"),
                 (["--tls-cert-path", self.pki["server.pem"], "--tls-key-path", self.pki["server.key"],
                   "--tls-require-client-cert"], "--tls-ca-path"))
        for args, named in cases:
            p = subprocess.run(base + args, capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn(named, p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)


class Reload(TlsCase):
    def test_sighup_swaps_the_certificate_and_open_streams_go_on(self):
        live = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, live)
        cert, key = os.path.join(live, "cert.pem"), os.path.join(live, "key.pem")
        shutil.copy(self.pki["server.pem"], cert)
        shutil.copy(self.pki["server.key"], key)
        self.ws = [self.sim("--worker-id", "w0", "--decode-step-ms", "100")]
        r = self.router("--tls-cert-path", cert, "--tls-key-path", key, "--worker-urls", self.ws[0].url,
                        wait_ready=False)
        wait_until(lambda: curl(r.port, "/readiness", *self.ca())[1] == 200, what="ready")
        # A stream of 20 tokens x 100 ms, open across the reload.
        result = {}

        def stream():
            result["r"] = curl(r.port, "/v1/completions", *self.ca(), "-N", body={
                "model": "m", "prompt": "hello", "stream": True, "max_tokens": 20})
        t = threading.Thread(target=stream)
        t.start()
        wait_until(lambda: request(self.ws[0].port, "GET", "/get_load").json()[0]["num_reqs"] == 1,
                   what="the stream open at the worker")
        shutil.copy(self.pki2["server.pem"], cert)
        shutil.copy(self.pki2["server.key"], key)
        r.p.send_signal(signal.SIGHUP)
        wait_until(lambda: curl(r.port, "/health", *self.ca(self.pki2))[1] == 200, what="the new certificate")
        self.assertNotEqual(curl(r.port, "/health", *self.ca())[1], 200)  # the old CA no longer fits
        t.join()
        rc, code, out, err = result["r"]
        self.assertEqual(code, 200, err)
        self.assertEqual(out.strip().splitlines()[-1], "data: [DONE]")

        # A bad new certificate: the current one stays, and the log says why.
        with open(cert, "w") as f:
            f.write("not a certificate\n")
        r.p.send_signal(signal.SIGHUP)
        wait_until(lambda: "keeping the current TLS certificate" in r.stderr(), what="the reload refused")
        self.assertEqual(curl(r.port, "/health", *self.ca(self.pki2))[1], 200)
        status, err = r.stop()
        self.procs.remove(r)
        self.assertEqual(status, 0)
        self.assertIn("keeping the current TLS certificate", err)
        self.assertIn(cert, err)


if __name__ == "__main__":
    unittest.main()
