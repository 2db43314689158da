"""Running the careloop binary from Python end-to-end tests (stdlib only).

    db = demo_db(binary, workdir, patients=40, clinics=2)
    with Server(binary, db) as srv:
        status, headers, body = srv.call("POST", "/api/v1/auth/login", body={...})
"""
import http.client
import json
import os
import re
import signal
import subprocess
import threading


def run(cmd, timeout=300, check=True, stdin=None):
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` exited with {p.returncode}: {p.stderr.strip() or p.stdout.strip()}")
    return p


def demo_db(binary, workdir, patients=40, clinics=2, days=5, end_date="2026-11-20", name="demo.db"):
    db = os.path.join(workdir, name)
    run([binary, "--db", db, "demo", "--patients", str(patients), "--clinics", str(clinics), "--days", str(days),
         "--end-date", end_date])
    return db


class Answer:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers  # lower-case names
        self.raw = raw

    def json(self):
        return json.loads(self.raw) if self.raw else None

    def __repr__(self):
        return f"{self.status} {self.raw[:300]!r}"


class Server:
    """`careloop serve --port 0` on a database, stopped with SIGTERM."""

    def __init__(self, binary, db, extra_args=(), env=None, tls=None):
        """tls: an ssl.SSLContext for a server started with --tls-cert/--tls-key."""
        self.tls = tls
        self.log = []
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen([binary, "--db", db, "serve", "--port", "0", *extra_args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env=full_env)
        self.port = None
        self._ready = threading.Event()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        if not self._ready.wait(30) or self.port is None:
            self.stop()
            raise RuntimeError("the server did not start:\n" + "\n".join(self.log[-20:]))

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            m = re.search(r"serving .* on https?://[^:]+:(\d+)", line)
            if m and not self._ready.is_set():
                self.port = int(m.group(1))
                self._ready.set()
        self._ready.set()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def call(self, method, target, token=None, body=None, content_type="application/json", headers=None):
        h = {"Accept": "*/*"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
            data = data.encode() if isinstance(data, str) else data
            h["Content-Type"] = content_type
        if self.tls:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=self.tls)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, target, body=data, headers=h)
            res = conn.getresponse()
            headers = {k.lower(): v for k, v in res.getheaders()}
            # A live event stream never ends: its status and headers are the answer.
            if headers.get("content-type", "").startswith("text/event-stream"):
                return Answer(res.status, headers, b"")
            return Answer(res.status, headers, res.read())
        finally:
            conn.close()

    def login(self, username, password):
        a = self.call("POST", "/api/v1/auth/login", body={"username": username, "password": password})
        if a.status != 200:
            raise RuntimeError(f"login {username}: {a}")
        return a.json()["token"]


# The checks of a test script: each prints a line; summary() ends the run.
failures = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what + (f": {detail}" if detail and not cond else ""))
    if not cond:
        failures.append(what + (f": {detail}" if detail else ""))
    return cond


def summary():
    """Prints the failures, if any; the script's exit status (0: all passed)."""
    if failures:
        print(f"\n{len(failures)} failure(s):")
        for f in failures:
            print("  - " + f)
        return 1
    print("\nall passed")
    return 0
