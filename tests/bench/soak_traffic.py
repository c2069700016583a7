#!/usr/bin/env python3
"""soak_traffic.py: the load, the sampler and the verdict of soak.sh (read
soak.sh's header first: what runs, what counts as an expected failure).

  soak_traffic.py run    --port P --cacert F --metrics-port M --router-pid PID --out DIR
                         --duration S [--rate R] [--sample-every S] [--request-timeout S] [--hold S]
  soak_traffic.py finish --metrics-port M --router-pid PID --out DIR --router-log FILE
                         --worker NAME=URL ... --killed NAME --hang NAME
                         --request-timeout S --warmup S [--strict-rss] [--settle S]

`run` sends the traffic for --duration seconds, samples the router into
DIR/samples.csv, then stops the load and closes every client connection.
Every request it sends carries X-Request-Id soak-<n> and ends as one line of
DIR/requests.jsonl. `finish` (after soak.sh has stopped the faults) waits
for the router's in-flight gauge to reach zero, takes the last samples,
classifies every client-side failure with the router's request log
(--log-requests: status and worker per request id) and DIR/events.log (kill
times), prints the SOAK summary lines and exits 1 when a check fails.
Python 3 standard library only; HTTP/2 requests go through curl --http2.
"""
import argparse
import concurrent.futures
import csv
import http.client
import json
import os
import random
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

CSV_FIELDS = ["t", "phase", "rss_kib", "tree_kib", "fds", "in_flight", "open_conns", "client_ok",
              "client_http_5xx", "client_http_other", "client_truncated", "client_conn_error", "client_timeout",
              "client_aborted_on_purpose", "never_read_open", "router_5xx", "router_worker_errors",
              "router_client_aborts", "router_retries", "router_circuit_opened", "kills", "replacements"]

# Client-side outcome kinds (requests.jsonl "outcome"); "aborted" and
# "not_read" are what the load does on purpose, never failures.
FAILURES = ("http_5xx", "http_other", "truncated", "conn_error", "timeout", "bad_body")


# ---- the router, seen from outside ----------------------------------------------

def proc_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def proc_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def metrics(port):
    """The router's /metrics as {name{labels}: value}; {} when it does not answer."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
    except (OSError, http.client.HTTPException):
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def metric_sum(m, prefix, label_filter=None):
    total = 0.0
    for k, v in m.items():
        if k == prefix or k.startswith(prefix + "{"):
            if label_filter is None or re.search(label_filter, k):
                total += v
    return total


def worker_connections(pid, ports):
    """Router sockets ESTABLISHED to one of the worker ports: its idle
    keep-alive pool (closed by upstream.c after 30 s idle) once traffic stops."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return -1
    n = 0
    for table in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    remote_port = int(cols[2].rsplit(":", 1)[1], 16)
                    if cols[3] == "01" and cols[9] in inodes and remote_port in ports:
                        n += 1
        except OSError:
            pass
    return n


def count_events(out, what=None):
    if what:
        try:
            with open(os.path.join(out, "events.log")) as f:
                return sum(1 for line in f if line.split()[1:2] == [what])
        except OSError:
            return 0
    kills = sets = 0
    try:
        with open(os.path.join(out, "events.log")) as f:
            for line in f:
                parts = line.split()
                if len(parts) > 1 and parts[1] == "kill":
                    kills += 1
                elif len(parts) > 1 and parts[1] == "set":
                    sets += 1
    except OSError:
        pass
    return kills, sets


class Sampler:
    """One CSV row per call: the router's RSS, fds, gauges and counters, and
    the client's counters so far."""

    def __init__(self, out, pid, metrics_port, stats, t0, append):
        self.out, self.pid, self.mport, self.stats, self.t0 = out, pid, metrics_port, stats, t0
        self.f = open(os.path.join(out, "samples.csv"), "a" if append else "w", newline="")
        self.w = csv.DictWriter(self.f, CSV_FIELDS)
        if not append:
            self.w.writeheader()

    def sample(self, phase):
        m = metrics(self.mport)
        kills, sets = count_events(self.out)
        row = {"t": "%.1f" % (time.time() - self.t0), "phase": phase, "rss_kib": proc_rss_kib(self.pid),
               "tree_kib": int(m.get("sglang_router_tree_memory_bytes", 0)) // 1024,
               "fds": proc_fds(self.pid),
               "in_flight": int(m.get("sglang_router_in_flight_requests", -1)),
               "open_conns": int(metric_sum(m, "sglang_router_open_connections")) if m else -1,
               "router_5xx": int(metric_sum(m, "sglang_router_requests_total", r'status="5')),
               "router_worker_errors": int(m.get("sglang_router_worker_errors_total", 0)),
               "router_client_aborts": int(m.get("sglang_router_client_aborts_total", 0)),
               "router_retries": int(m.get("sglang_router_retries_total", 0)),
               "router_circuit_opened": int(metric_sum(m, "sglang_router_worker_circuit_opened_total")),
               "kills": kills, "replacements": sets}
        for k in CSV_FIELDS:
            if k.startswith("client_") or k == "never_read_open":
                row[k] = self.stats.get(k, 0)
        self.w.writerow(row)
        self.f.flush()
        return row


# ---- the load ------------------------------------------------------------------

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()


class Load:
    def __init__(self, a):
        self.a = a
        self.ctx = ssl.create_default_context(cafile=a.cacert)
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.lock = threading.Lock()
        self.seq = 0
        self.stats = {}
        self.records = open(os.path.join(a.out, "requests.jsonl"), "w")
        self.local = threading.local()
        self.stop = threading.Event()
        self.never_read = []  # sockets held open without reading
        self.rng = random.Random(a.seed)
        self.client_timeout = a.request_timeout + 10

    def next_id(self):
        with self.lock:
            self.seq += 1
            return "soak-%d" % self.seq

    def prompt(self, rid):
        # unique: the id leads, so no two prompts share a prefix beyond "soak-"
        r = random.Random(rid)
        return "%s %s" % (rid, " ".join(r.choice(WORDS) for _ in range(r.randint(30, 150))))

    def body(self, rid, route, stream, tokens):
        if route == "/generate":
            return {"text": self.prompt(rid), "stream": stream, "sampling_params": {"max_new_tokens": tokens}}
        if route == "/v1/completions":
            return {"model": "m", "prompt": self.prompt(rid), "stream": stream, "max_tokens": tokens}
        return {"model": "m", "messages": [{"role": "user", "content": self.prompt(rid)}], "stream": stream,
                "max_tokens": tokens}

    def record(self, rec):
        with self.lock:
            self.records.write(json.dumps(rec) + "\n")
            o = rec["outcome"]
            key = {"ok": "client_ok", "aborted": "client_aborted_on_purpose"}.get(o, "client_" + o)
            if o != "not_read":
                self.stats[key] = self.stats.get(key, 0) + 1

    # -- HTTP/1.1 over TLS, keep-alive per thread --
    def conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPSConnection("localhost", self.a.port, context=self.ctx, timeout=self.client_timeout)
            self.local.conn = c
            self.local.used = False
        return c

    def drop_conn(self):
        c = getattr(self.local, "conn", None)
        if c is not None:
            c.close()
        self.local.conn = None

    def h1(self, kind, route, tokens):
        rid = self.next_id()
        stream = kind in ("stream", "abort")
        payload = json.dumps(self.body(rid, route, stream, tokens)).encode()
        rec = {"id": rid, "proto": "h1", "kind": kind, "route": route, "t0": time.time(), "status": None,
               "worker": None, "outcome": None, "detail": ""}
        for attempt in (0, 1):
            c = self.conn()
            reused = self.local.used
            try:
                c.request("POST", route, payload, {"Content-Type": "application/json", "X-Request-Id": rid})
                self.local.used = True
                resp = c.getresponse()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as e:
                self.drop_conn()
                if reused and attempt == 0:  # a keep-alive connection the router had closed: send again
                    with self.lock:
                        self.stats["stale_keepalive_resends"] = self.stats.get("stale_keepalive_resends", 0) + 1
                    continue
                rec.update(outcome="conn_error", detail=repr(e))
                break
            except socket.timeout:
                self.drop_conn()
                rec.update(outcome="timeout", detail="no response head")
                break
            except (OSError, http.client.HTTPException) as e:
                self.drop_conn()
                rec.update(outcome="conn_error", detail=repr(e))
                break
            rec["status"] = resp.status
            try:
                self.h1_body(resp, rec, kind)
            except socket.timeout:
                rec.update(outcome="timeout", detail="body")
            except (OSError, http.client.HTTPException) as e:
                rec.update(outcome="truncated", detail=repr(e))
            if rec["outcome"] != "ok" or resp.will_close:
                self.drop_conn()
            break
        rec["t1"] = time.time()
        self.record(rec)

    def h1_body(self, resp, rec, kind):
        if resp.status != 200:
            body = resp.read()
            rec.update(outcome="http_5xx" if resp.status >= 500 else "http_other", detail=body[:200].decode(errors="replace"))
            return
        if kind == "nonstream":
            body = resp.read()
            try:
                rec["worker"] = json.loads(body).get("worker_id")
                rec["outcome"] = "ok"
            except ValueError:
                rec.update(outcome="bad_body", detail=body[:200].decode(errors="replace"))
            return
        events = 0
        while True:
            line = resp.readline()
            if not line:
                rec.update(outcome="truncated", detail="stream ended without [DONE] after %d events" % events)
                return
            if not line.startswith(b"data: "):
                continue
            if line.strip() == b"data: [DONE]":
                rec["outcome"] = "ok"
                resp.read()
                return
            events += 1
            if rec["worker"] is None:
                try:
                    rec["worker"] = json.loads(line[6:]).get("worker_id")
                except ValueError:
                    pass
            if kind == "abort" and events >= 3:
                rec.update(outcome="aborted", detail="closed after 3 events")
                return  # the caller drops the connection

    # -- HTTP/2 over TLS: one curl, several streams on one connection --
    def h2_batch(self, abort):
        specs = [("nonstream", "/generate", self.rng.randint(8, 48)),
                 ("stream", "/v1/chat/completions", self.rng.randint(8, 48)),
                 ("nonstream", "/v1/completions", self.rng.randint(8, 48))]
        if abort:
            specs.append(("abort", "/v1/chat/completions", 2000))
        d = os.path.join(self.a.out, "h2")
        argv = ["curl", "-s", "-Z", "--parallel-max", "8"]
        recs = []
        for i, (kind, route, tokens) in enumerate(specs):
            rid = self.next_id()
            path = os.path.join(d, "%s.out" % rid)
            if i:
                argv.append("--next")
            argv += ["--http2", "--cacert", self.a.cacert, "-o", path, "-H", "Content-Type: application/json",
                     "-H", "X-Request-Id: " + rid, "--data-binary",
                     json.dumps(self.body(rid, route, kind != "nonstream", tokens)),
                     "-m", "0.3" if kind == "abort" else str(self.client_timeout),
                     "-w", "%s %%{http_code} %%{http_version} %%{exitcode} %%{errormsg}\\n" % rid,
                     "https://localhost:%d%s" % (self.a.port, route)]
            recs.append({"id": rid, "proto": "h2", "kind": kind, "route": route, "t0": time.time(), "status": None,
                         "worker": None, "outcome": None, "detail": "", "path": path})
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=self.client_timeout + 5)
            lines = {l.split(" ", 1)[0]: l.split(" ", 4) for l in p.stdout.splitlines() if l.strip()}
        except subprocess.TimeoutExpired:
            lines = {}
        t1 = time.time()
        for rec in recs:
            path = rec.pop("path")
            try:
                with open(path, "rb") as f:
                    body = f.read()
                os.unlink(path)
            except OSError:
                body = b""
            rec["t1"] = t1
            self.h2_classify(rec, lines.get(rec["id"]), body)
            self.record(rec)

    def h2_classify(self, rec, w, body):
        if w is None:
            rec.update(outcome="timeout", detail="curl gave no result")
            return
        code, version, exitcode = int(w[1]), w[2], int(w[3])
        rec["status"] = code or None
        rec["detail"] = "curl exit %d %s http/%s" % (exitcode, w[4] if len(w) > 4 else "", version)
        m = re.search(rb'"worker_id":"([^"]*)"', body)
        if m:
            rec["worker"] = m.group(1).decode()
        if rec["kind"] == "abort":
            if exitcode == 28:
                rec["outcome"] = "aborted"
                return
        if code == 0:
            rec["outcome"] = "timeout" if exitcode == 28 else "conn_error"
            return
        if version != "2":
            rec.update(outcome="conn_error", detail=rec["detail"] + " (not HTTP/2)")
            return
        if code != 200:
            rec["outcome"] = "http_5xx" if code >= 500 else "http_other"
            rec["detail"] += " " + body[:200].decode(errors="replace")
            return
        if exitcode != 0:
            rec["outcome"] = "timeout" if exitcode == 28 else "truncated"
            return
        if rec["kind"] == "nonstream":
            try:
                json.loads(body)
                rec["outcome"] = "ok"
            except ValueError:
                rec.update(outcome="bad_body", detail=body[:200].decode(errors="replace"))
            return
        rec["outcome"] = "ok" if b"data: [DONE]" in body else "truncated"

    # -- clients that never read --
    def never_read_h1(self, rid):
        s = self.ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.a.port)), server_hostname="localhost")
        body = json.dumps(self.body(rid, "/generate", True, 3000)).encode()
        s.sendall(b"POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  b"X-Request-Id: %s\r\nContent-Length: %d\r\n\r\n%s" % (rid.encode(), len(body), body))
        return s

    def never_read_h2(self, rid):
        ctx = ssl.create_default_context(cafile=self.a.cacert)
        ctx.set_alpn_protocols(["h2"])
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.a.port)), server_hostname="localhost")
        if s.selected_alpn_protocol() != "h2":
            raise OSError("ALPN did not pick h2")
        body = json.dumps(self.body(rid, "/generate", True, 3000)).encode()
        block = b""
        for name, value in ((b":method", b"POST"), (b":scheme", b"https"), (b":path", b"/generate"),
                            (b":authority", b"localhost"), (b"content-type", b"application/json"),
                            (b"x-request-id", rid.encode())):
            block += b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value  # HPACK literal, no index

        def frame(ftype, flags, stream, payload):
            return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + stream.to_bytes(4, "big") + payload

        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"") + frame(1, 4, 1, block) +
                  frame(0, 1, 1, body))
        return s

    def never_read_loop(self):
        """Every cycle: 2 HTTP/1.1 and 1 HTTP/2 connection each send a long
        stream (3,000 tokens of /generate, whose chunks repeat the text so
        far: ~18 MB) and never read; held --hold seconds, then closed."""
        while not self.stop.is_set():
            held = []
            for make in (self.never_read_h1, self.never_read_h1, self.never_read_h2):
                rid = self.next_id()
                rec = {"id": rid, "proto": "h2" if make == self.never_read_h2 else "h1", "kind": "never_read",
                       "route": "/generate", "t0": time.time(), "status": None, "worker": None,
                       "outcome": "not_read", "detail": ""}
                try:
                    held.append(make(rid))
                except (OSError, ssl.SSLError) as e:
                    rec.update(outcome="conn_error", detail="never-read client: " + repr(e))
                rec["t1"] = time.time()
                self.record(rec)
            with self.lock:
                self.never_read = held
                self.stats["never_read_open"] = len(held)
            self.stop.wait(self.a.hold)
            with self.lock:
                for s in held:
                    s.close()
                self.never_read = []
                self.stats["never_read_open"] = 0
            self.stop.wait(2)

    # -- the mix --
    def one(self):
        r = self.rng.random()
        if r < 0.20:
            self.h1("nonstream", "/generate", self.rng.randint(8, 48))
        elif r < 0.35:
            self.h1("nonstream", "/v1/chat/completions", self.rng.randint(8, 48))
        elif r < 0.55:
            self.h1("stream", "/v1/chat/completions", self.rng.randint(8, 48))
        elif r < 0.65:
            self.h1("stream", "/v1/completions", self.rng.randint(8, 48))
        elif r < 0.70:
            self.h1("abort", "/v1/chat/completions", 2000)
            self.drop_conn()
        else:
            self.h2_batch(abort=self.rng.random() < 0.3)

    def run(self):
        os.makedirs(os.path.join(self.a.out, "h2"), exist_ok=True)
        t0 = time.time()
        sampler = Sampler(self.a.out, self.a.router_pid, self.a.metrics_port, self.stats, t0, append=False)
        sampler.sample("load")
        nr = threading.Thread(target=self.never_read_loop, daemon=True)
        nr.start()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=128)
        pending = set()
        end = t0 + self.a.duration
        next_sample = t0 + self.a.sample_every
        next_send = t0
        # h2 batches carry ~3.3 requests: the job rate that gives --rate requests/s
        job_rate = self.a.rate / (0.7 + 0.3 * 3.3)
        while time.time() < end:
            now = time.time()
            if now >= next_sample:
                sampler.sample("load")
                next_sample += self.a.sample_every
            if now >= next_send:
                pending = {f for f in pending if not f.done()}
                if len(pending) < 400:  # open loop, bounded
                    pending.add(pool.submit(self.guarded))
                next_send += self.rng.expovariate(job_rate)
            time.sleep(max(0.0, min(next_send, next_sample, end) - time.time()))
        self.stop.set()
        pool.shutdown(wait=True)
        nr.join()
        self.records.close()
        sampler.sample("stopped")
        with open(os.path.join(self.a.out, "client_stats.json"), "w") as f:
            json.dump(dict(self.stats, started=t0), f)
        print("soak_traffic: load stopped after %.0f s, %d requests" % (time.time() - t0, self.seq), file=sys.stderr)

    def guarded(self):
        try:
            self.one()
        except Exception as e:  # a bug of this script must not end the soak quietly
            print("soak_traffic: client bug: %r" % e, file=sys.stderr)
            with self.lock:
                self.stats["client_bugs"] = self.stats.get("client_bugs", 0) + 1
            self.drop_conn()


# ---- the verdict --------------------------------------------------------------

LOG_RE = re.compile(r" (?:info|warn) +(\S+) (\S+) (\d+) worker=(\S+) id=(\S+) ([0-9.]+)s attempts=(\d+)")


def router_log(path):
    by_id = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = LOG_RE.search(line)
            if m:
                by_id[m.group(5)] = {"status": int(m.group(3)), "worker": m.group(4), "attempts": int(m.group(7))}
    return by_id


def kill_windows(out, url):
    """(kill time, restart time) of the worker at url, from events.log."""
    kills, cur = [], None
    with open(os.path.join(out, "events.log")) as f:
        for line in f:
            p = line.split()
            if len(p) >= 4 and p[3] == url and p[1] == "kill":
                cur = float(p[0])
            elif len(p) >= 4 and p[3] == url and p[1] == "restart" and cur is not None:
                kills.append((cur, float(p[0])))
                cur = None
    if cur is not None:
        kills.append((cur, float("inf")))
    return kills


def classify(rec, log, names, killed, hang, kills):
    """'ok', 'on_purpose', 'expected:<why>' or 'unexpected:<why>'."""
    o = rec["outcome"]
    if o == "ok":
        return "ok"
    if o in ("aborted", "not_read"):
        return "on_purpose"
    entry = log.get(rec["id"])
    url = entry["worker"] if entry else None
    worker = names.get(url) or rec.get("worker")
    if o == "http_5xx" and rec["status"] == 504 and worker == hang:
        return "expected:hanging worker, 504 at --request-timeout-secs"
    if o in ("truncated", "timeout") and worker == hang:
        return "expected:hanging worker"
    if o in ("truncated", "conn_error") and worker == killed and rec["status"] == 200:
        if any(k <= rec["t1"] + 1 and r >= rec["t0"] - 1 for k, r in kills):
            return "expected:worker killed mid-response"
    return "unexpected:%s status=%s worker=%s" % (o, rec["status"], worker)


def write_classes(out, timeline, times):
    """DIR/classes.csv: cumulative requests by class at every sample time."""
    classes = ["ok", "on_purpose", "expected_hang", "expected_kill", "unexpected"]
    timeline.sort()
    n = {c: 0 for c in classes}
    i = 0
    with open(os.path.join(out, "classes.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t"] + classes)
        for t in times:
            while i < len(timeline) and timeline[i][0] <= t:
                n[timeline[i][1]] += 1
                i += 1
            w.writerow(["%.1f" % t] + [n[c] for c in classes])


def finish(a):
    with open(os.path.join(a.out, "samples.csv")) as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(a.out, "client_stats.json")) as f:
        stats = json.load(f)
    t0 = stats["started"]
    sampler = Sampler(a.out, a.router_pid, a.metrics_port, stats, t0, append=True)
    alive = proc_rss_kib(a.router_pid) >= 0
    workers = dict(w.split("=", 1) for w in a.worker)
    ports = {int(u.rsplit(":", 1)[1].split("/")[0]) for u in workers.values()}

    # in flight back to zero
    deadline = time.time() + a.request_timeout + 20
    in_flight = None
    while alive and time.time() < deadline:
        row = sampler.sample("drain")
        in_flight = row["in_flight"]
        if in_flight == 0:
            break
        time.sleep(1)
    # descriptors back to the baseline (the workers' idle keep-alive pool may stay: 30 s idle timeout)
    baseline_fds = int(rows[0]["fds"])
    deadline = time.time() + a.settle
    while alive:
        row = sampler.sample("end")
        pool = worker_connections(a.router_pid, ports)
        if row["fds"] <= baseline_fds + a.fd_slack or time.time() >= deadline:
            break
        time.sleep(1)
    alive = proc_rss_kib(a.router_pid) >= 0
    end = row if alive else {"rss_kib": -1, "fds": -1, "in_flight": -1}
    if not alive:
        pool = 0

    with open(os.path.join(a.out, "samples.csv")) as f:
        rows = list(csv.DictReader(f))
    load_rows = [r for r in rows if r["phase"] == "load"]
    warm = next((r for r in load_rows if float(r["t"]) >= a.warmup), load_rows[-1])
    rss_warm = int(warm["rss_kib"])
    rss_max = max(int(r["rss_kib"]) for r in rows)

    # client failures, classified
    names = {u: n for n, u in workers.items()}
    log = router_log(a.router_log)
    kills = kill_windows(a.out, workers[a.killed])
    counts, unexpected, total, never_read = {}, [], 0, {}
    timeline = []  # (end time, class) for DIR/classes.csv
    with open(os.path.join(a.out, "requests.jsonl")) as f:
        for line in f:
            rec = json.loads(line)
            total += 1
            c = classify(rec, log, names, a.killed, a.hang, kills)
            key = c if not c.startswith("unexpected") else "unexpected"
            counts[key] = counts.get(key, 0) + 1
            if c.startswith("unexpected"):
                unexpected.append((rec, c))
            timeline.append((rec["t1"] - t0, "expected_hang" if "hanging" in c else "expected_kill" if
                             "killed" in c else c.split(":")[0]))
            if rec["kind"] == "never_read":
                entry = log.get(rec["id"])
                k = "router status %s" % (entry["status"] if entry else "not logged")
                never_read[k] = never_read.get(k, 0) + 1
    write_classes(a.out, timeline, [float(r["t"]) for r in rows])
    with open(os.path.join(a.out, "unexpected.jsonl"), "w") as f:
        for rec, c in unexpected:
            rec["why"] = c
            rec["router_log"] = log.get(rec["id"])
            f.write(json.dumps(rec) + "\n")
    nkills, nsets = count_events(a.out)

    # the summary
    say = lambda k, v: print("SOAK %s %s" % (k, v))
    say("duration_s", a.duration)
    say("requests", total)
    say("ok", counts.get("ok", 0))
    say("on_purpose", "%d (mid-stream disconnects and never-read clients)" % counts.get("on_purpose", 0))
    for k in sorted(counts):
        if k.startswith("expected:"):
            say("expected_failures", "%d %s" % (counts[k], k[9:]))
    say("never_read_clients", ", ".join("%d %s" % (v, k) for k, v in sorted(never_read.items())))
    say("unexpected_failures", len(unexpected))
    kinds = {}
    for _, c in unexpected:
        kinds[c.split(" ")[0][11:]] = kinds.get(c.split(" ")[0][11:], 0) + 1
    for k, v in sorted(kinds.items()):
        say("unexpected_by_kind", "%s %d" % (k, v))
    say("stale_keepalive_resends", stats.get("stale_keepalive_resends", 0))
    say("worker_kills", nkills)
    say("list_replacements", nsets)
    say("rss_kib_warmup", "%d (at t=%s s)" % (rss_warm, warm["t"]))
    say("rss_kib_end", end["rss_kib"])
    say("rss_kib_max", rss_max)
    growth = (end["rss_kib"] - rss_warm) / rss_warm if rss_warm > 0 else 0
    say("rss_growth_after_warmup", "%.1f%%" % (100 * growth))
    # a leak grows in both halves of the run; a heap finding its high-water mark only in the first
    half = min(load_rows, key=lambda r: abs(float(r["t"]) - a.duration / 2))
    if float(half["t"]) > float(warm["t"]) and int(half["rss_kib"]) > 0:
        say("rss_growth_second_half", "%.1f%% (from %s KiB at t=%s s; not checked)" % (
            100 * (end["rss_kib"] - int(half["rss_kib"])) / int(half["rss_kib"]), half["rss_kib"], half["t"]))
    say("fds_start", baseline_fds)
    say("fds_end", "%d (of which %d idle keep-alive connections to workers)" % (end["fds"], pool))
    say("in_flight_end", end["in_flight"])
    last = rows[-1]
    say("router_5xx_total", last["router_5xx"])
    say("router_worker_errors_total", last["router_worker_errors"])
    say("router_client_aborts_total", last["router_client_aborts"])
    say("router_retries_total", last["router_retries"])
    # The gauge sums the workers listed now (a list replacement makes new
    # records); the log has every ejection.
    with open(a.router_log, errors="replace") as f:
        ejections = sum(1 for line in f if "circuit breaker open" in line)
    say("breaker_ejections", "%d (router log: circuit breaker open)" % ejections)

    failed = []
    if not alive:
        failed.append("the router is gone (crashed?)")
    if end["in_flight"] != 0:
        failed.append("in-flight did not return to zero (%s)" % end["in_flight"])
    if end["fds"] - pool > baseline_fds + a.fd_slack or (a.strict_fds and end["fds"] > baseline_fds + a.fd_slack):
        failed.append("descriptors: %d at the end vs %d at the start" % (end["fds"], baseline_fds))
    if growth > 0.10:
        if a.strict_rss:
            failed.append("RSS grew %.1f%% after warm-up" % (100 * growth))
        else:
            print("SOAK note RSS grew %.1f%% after warm-up (not checked on runs under 600 s)" % (100 * growth))
    if unexpected:
        failed.append("%d unexpected client failures (%s/unexpected.jsonl)" % (len(unexpected), a.out))
    if nkills == 0:
        failed.append("no worker was killed")
    if any(r == float("inf") for _, r in kills):
        failed.append("the killed worker did not come back (see faults.err)")
    set_failed = count_events(a.out, "set_failed")
    if set_failed:
        failed.append("%d sglctl workers set calls failed (see sglctl.err)" % set_failed)
    if stats.get("client_bugs"):
        failed.append("the load generator hit %s bugs" % stats["client_bugs"])
    for f in failed:
        print("SOAK check_failed %s" % f)
    say("verdict", "fail" if failed else "pass")
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--cacert", required=True)
    r.add_argument("--rate", type=float, default=30)
    r.add_argument("--hold", type=float, default=15)
    r.add_argument("--seed", type=int, default=1)
    f = sub.add_parser("finish")
    f.add_argument("--router-log", required=True)
    f.add_argument("--worker", action="append", default=[])
    f.add_argument("--killed", required=True)
    f.add_argument("--hang", required=True)
    f.add_argument("--warmup", type=float, default=0)
    f.add_argument("--strict-rss", action="store_true")
    f.add_argument("--strict-fds", action="store_true")
    f.add_argument("--settle", type=float, default=3)
    f.add_argument("--fd-slack", type=int, default=8)
    for s in (r, f):
        s.add_argument("--metrics-port", type=int, required=True)
        s.add_argument("--router-pid", type=int, required=True)
        s.add_argument("--out", required=True)
        s.add_argument("--duration", type=float, required=True)
        s.add_argument("--request-timeout", type=float, default=5)
        s.add_argument("--sample-every", type=float, default=10)
    a = p.parse_args()
    if a.cmd == "run":
        Load(a).run()
        return 0
    return finish(a)


if __name__ == "__main__":
    sys.exit(main())
