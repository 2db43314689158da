#!/usr/bin/env python3
"""Webhooks end to end (issue 4 items 8 and 10).

A clinic's webhook is set on the command line; its receiver (http.server on
127.0.0.1, checking every signature with hmac) is DOWN while patient A
posts critical readings; the server is SIGKILLed and restarted, one more
critical reading comes in; then the receiver comes UP, answers its first
request with a 500 (retried) and then gets every event of the clinic since
the webhook was set, none lost, in order (duplicates allowed, deduplicated
by CareLoop-Event-Id). Also: the admin API (validation naming the field,
GET without the secret, delivery status, DELETE), another clinic's
receiver gets nothing, a disabled webhook sends nothing, and the changes
are audited. The receivers live on 127.0.0.1, which the server reaches only
because --webhook-allow names it (and --webhook-allow-http for plain http);
a last phase without those settings shows http://, loopback and link-local
targets refused (issue 15 item 12), a name resolving to loopback refused at
the connection, and that the receiver's answer is never echoed.

usage: test_webhooks.py CARELOOP_BINARY
"""
import datetime as dt
import hashlib
import hmac
import http.server
import json
import os
import socket
import ssl
import sqlite3
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from careloop_server import Server, demo_db, run  # noqa: E402

CST = dt.timezone(dt.timedelta(hours=8))
SECRET_A = "clinic-a-webhook-secret-0123"
SECRET_B = "clinic-b-webhook-secret-4567"
FAST = ["--webhook-retry-first", "0.2", "--webhook-retry-max", "1", "--webhook-poll", "0.5", "--webhook-timeout", "1"]
# The test's receivers are on loopback, over http as well as https: both must be allowed by name.
ALLOW = ["--webhook-allow-http", "--webhook-allow", "127.0.0.1"]
# What a receiver's error page may hold; it must never reach the status, the log or the audit.
ECHO = "Traceback: patient 王芳 110101195001011234 internal"
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
    return ok


def bp(systolic, diastolic, minutes_ago):
    taken = (dt.datetime.now(CST) - dt.timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat()
    return {"client_id": str(uuid.uuid4()), "kind": "blood_pressure", "taken_at": taken,
            "systolic": systolic, "diastolic": diastolic, "unit": "mmHg"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(f, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if f():
            return True
        time.sleep(0.05)
    return f()


class Receiver:
    """A webhook receiver on 127.0.0.1:port. Answers `script` statuses first, then 200."""

    def __init__(self, port, secret, script=(), tls=None):
        self.got = []          # (event id, signature valid, body) per request, in arrival order
        self.arrived = {}      # event id -> time.monotonic() of its first arrival
        self.script = list(script)
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sig = dict(p.split("=", 1) for p in self.headers.get("CareLoop-Signature", "").split(",") if "=" in p)
                event_id = self.headers.get("CareLoop-Event-Id", "")
                signed = sig.get("t", "").encode() + b"." + event_id.encode() + b"." + body
                want = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(want, sig.get("v2", "")) and \
                    abs(time.time() - int(sig.get("t", "0"))) < 300 and \
                    self.headers.get("Content-Type") == "application/json"
                with receiver.lock:
                    receiver.got.append((int(self.headers.get("CareLoop-Event-Id", "-1")), valid, body))
                    receiver.arrived.setdefault(receiver.got[-1][0], time.monotonic())
                    status = receiver.script.pop(0) if receiver.script else 200
                answer = b"" if status < 300 else ECHO.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        if tls:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def requests(self):
        with self.lock:
            return list(self.got)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def make_certificates(work):
    """A test CA, a certificate for 127.0.0.1 and one for another name, both signed by it (openssl CLI)."""
    def openssl(*args):
        run(["openssl", *args])
    ca_key, ca = os.path.join(work, "ca.key"), os.path.join(work, "ca.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key,
            "-out", ca, "-days", "2", "-subj", "/CN=CareLoop test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    out = {}
    for name, san in (("good", "IP:127.0.0.1"), ("wrong", "DNS:wrong.example")):
        key, csr, pem, ext = (os.path.join(work, f"{name}.{x}") for x in ("key", "csr", "pem", "ext"))
        with open(ext, "w") as f:
            f.write(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                "-out", csr, "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", pem, "-days", "2",
                "-extfile", ext)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pem, key)
        out[name] = ctx
    return ca, out


def clinic_seqs(db_path, clinic, after):
    db = sqlite3.connect(db_path)
    try:
        return [r[0] for r in db.execute("SELECT seq FROM clinic_events WHERE clinic_id = ? AND seq > ? ORDER BY seq",
                                          (clinic, after))]
    finally:
        db.close()


def main(binary):
    with tempfile.TemporaryDirectory(prefix="careloop-webhooks-") as work:
        db_path = demo_db(binary, work, patients=40, clinics=2)
        db = sqlite3.connect(db_path)
        (patient_a, clinic_a), = db.execute(
            "SELECT p.id, p.clinic_id FROM users u JOIN patients p ON p.id = u.patient_id WHERE u.username = 'patient01'")
        clinic_b, = db.execute("SELECT id FROM clinics WHERE id <> ? ORDER BY id LIMIT 1", (clinic_a,)).fetchone()
        db.close()
        port_a, port_b = free_port(), free_port()
        url_a = f"http://127.0.0.1:{port_a}/careloop/events"

        # --- the command line sets clinic A's webhook; the receiver is not there yet
        secret_file = os.path.join(work, "secret-a")
        with open(secret_file, "w") as f:
            f.write(SECRET_A + "\n")
        bad = run([binary, "--db", db_path, "clinic", "webhook", "--clinic", str(clinic_a), "--url", url_a,
                   "--secret-file", secret_file], check=False)
        check(bad.returncode != 0 and "/url" in bad.stderr and "https://" in bad.stderr and "--webhook-allow-http" in bad.stderr,
              "the command line refuses an http:// URL without --webhook-allow-http: " + bad.stderr.strip().splitlines()[-1])
        bad = run([binary, "--db", db_path, "clinic", "webhook", "--clinic", str(clinic_a), "--url",
                   f"https://169.254.169.254/latest", "--secret-file", secret_file], check=False)
        check(bad.returncode != 0 and "169.254.169.254 is link-local" in bad.stderr,
              "and the cloud metadata address: " + bad.stderr.strip().splitlines()[-1])
        out = run([binary, "--db", db_path, "clinic", "webhook", "--clinic", str(clinic_a), "--url", url_a,
                   "--secret-file", secret_file, *ALLOW]).stdout
        check(url_a in out and "enabled" in out and SECRET_A not in out, "careloop clinic webhook sets it: " + out.splitlines()[0])
        short = os.path.join(work, "short")
        with open(short, "w") as f:
            f.write("too-short\n")
        bad = run([binary, "--db", db_path, "clinic", "webhook", "--clinic", str(clinic_a), "--url", url_a,
                   "--secret-file", short, *ALLOW], check=False)
        check(bad.returncode != 0 and "16" in bad.stderr, "a short secret file is refused")
        bad = run([binary, "--db", db_path, "clinic", "webhook", "--clinic", str(clinic_a), "--url", "ftp://x/y",
                   "--secret-file", secret_file], check=False)
        check(bad.returncode != 0 and "/url" in bad.stderr, "an ftp:// URL is refused naming /url")
        db = sqlite3.connect(db_path)
        start_seq, = db.execute("SELECT delivered_seq FROM clinic_webhooks WHERE clinic_id = ?", (clinic_a,)).fetchone()
        db.close()
        check(start_seq == (clinic_seqs(db_path, clinic_a, -1) or [0])[-1],
              f"a new webhook starts after the clinic's newest event (seq {start_seq})")

        receiver_b = Receiver(port_b, SECRET_B)
        srv = Server(binary, db_path, extra_args=FAST + ALLOW)
        try:
            admin = srv.login("admin", "demo-admin")
            patient = srv.login("patient01", "demo-patient")
            doctor = srv.login("doctor01", "demo-doctor")
            path_b = f"/api/v1/admin/clinics/{clinic_b}/webhook"

            # --- the admin API: validation names the field, nothing stored
            a = srv.call("PUT", path_b, token=admin, body={"url": "gopher://x", "secret": "short"})
            pointers = sorted(e["pointer"] for e in (a.json() or {}).get("errors", []))
            check(a.status == 422 and pointers == ["/secret", "/url"] and
                  a.headers.get("content-type", "").startswith("application/problem+json"),
                  f"PUT with a bad URL and a short secret: 422 naming /secret and /url ({a.status} {pointers})")
            check(srv.call("GET", path_b, token=admin).status == 404, "nothing was stored: GET is 404")
            a = srv.call("PUT", path_b, token=admin, body={"url": f"http://127.0.0.1:{port_b}/b", "secret": SECRET_B,
                                                           "colour": "red"})
            check(a.status == 422 and any(e["pointer"] == "/colour" for e in a.json()["errors"]),
                  "an unknown field is refused")
            check(srv.call("PUT", path_b, token=doctor, body={"url": f"http://127.0.0.1:{port_b}/b",
                                                              "secret": SECRET_B}).status == 403,
                  "a doctor may not set a webhook")
            check(srv.call("PUT", "/api/v1/admin/clinics/999999/webhook", token=admin,
                           body={"url": f"http://127.0.0.1:{port_b}/b", "secret": SECRET_B}).status == 404,
                  "an unknown clinic is 404")
            a = srv.call("PUT", path_b, token=admin, body={"url": f"http://127.0.0.1:{port_b}/b", "secret": SECRET_B})
            check(a.status == 200 and "secret" not in a.raw.decode() and SECRET_B not in a.raw.decode(),
                  "PUT sets clinic B's webhook; the answer never carries the secret")

            # --- receiver A down: critical readings of patient A
            posted = 0
            for i, (s, d) in enumerate(((185, 122), (190, 125), (75, 50))):
                a = srv.call("POST", "/api/v1/me/readings", token=patient, body={"readings": [bp(s, d, 30 - i)]})
                posted += a.status == 200
            check(posted == 3, "three critical readings stored while the receiver is down")
            pending = clinic_seqs(db_path, clinic_a, start_seq)
            check(len(pending) >= 3, f"{len(pending)} clinic events committed for clinic A")

            def status_a():
                return srv.call("GET", f"/api/v1/admin/clinics/{clinic_a}/webhook", token=admin).json()
            check(wait_until(lambda: status_a()["delivery"]["last_error"] is not None, 10),
                  "the refused connection shows as the last error")
            st = status_a()
            print("     status while down:", json.dumps(st["delivery"]))
            check(st["delivery"]["pending"] == len(pending) and st["delivery"]["delivered_seq"] == start_seq and
                  st["delivery"]["next_attempt_at"] is not None and st["delivery"]["attempts"] >= 1,
                  "GET shows the pending count, the unmoved cursor and the next attempt")
            check("secret" not in json.dumps(st) and SECRET_A not in json.dumps(st), "GET never shows the secret")
        finally:
            # --- SIGKILL: no graceful anything
            srv.proc.kill()
            srv.proc.wait()
            srv.stop()

        # The restarted server trusts the test CA for webhook receivers (--webhook-ca).
        ca, tls = make_certificates(work)
        srv = Server(binary, db_path, extra_args=FAST + ALLOW + ["--webhook-ca", ca])
        receiver_a = receiver_tls = None
        try:
            patient = srv.login("patient01", "demo-patient")
            admin = srv.login("admin", "demo-admin")
            a = srv.call("POST", "/api/v1/me/readings", token=patient, body={"readings": [bp(195, 128, 10)]})
            check(a.status == 200, "one more critical reading after the restart")
            expected = clinic_seqs(db_path, clinic_a, start_seq)
            print(f"     events to deliver: {expected}")

            # --- the receiver comes up: a 500 first (retried), then 200s
            receiver_a = Receiver(port_a, SECRET_A, script=[500])
            got_all = wait_until(lambda: {r[0] for r in receiver_a.requests()} >= set(expected), 30)
            reqs = receiver_a.requests()
            check(got_all, f"the receiver got every event ({len(reqs)} requests for {len(expected)} events)")
            first_seen = []
            for eid, _, _ in reqs:
                if eid not in first_seen:
                    first_seen.append(eid)
            check(first_seen == expected, f"in seq order, deduplicated by CareLoop-Event-Id: {first_seen}")
            check(all(valid for _, valid, _ in reqs), "every signature verifies (HMAC-SHA256 over '<t>.<event id>.<body>')")
            check(len(reqs) >= 2 and reqs[0][0] == reqs[1][0] == expected[0],
                  "the event answered with 500 was sent again")
            bodies = {eid: json.loads(body) for eid, _, body in reqs}
            db = sqlite3.connect(db_path)
            payloads = dict(db.execute("SELECT seq, payload_json FROM clinic_events WHERE clinic_id = ?", (clinic_a,)))
            db.close()
            check(all(bodies[e] == json.loads(payloads[e]) for e in expected),
                  "each body is the event the SSE stream sends")
            check(all(b["alert"]["patient_id"] == patient_a for b in bodies.values() if "alert" in b),
                  "the events are patient A's alerts")
            check(wait_until(lambda: srv.call("GET", f"/api/v1/admin/clinics/{clinic_a}/webhook",
                                              token=admin).json()["delivery"]["pending"] == 0, 10),
                  "GET: nothing pending once delivered")
            st = srv.call("GET", f"/api/v1/admin/clinics/{clinic_a}/webhook", token=admin).json()
            check(st["delivery"]["delivered_seq"] == expected[-1] and st["delivery"]["attempts"] == 0 and
                  st["delivery"]["next_attempt_at"] is None, "the cursor is at the last event; back-off reset")
            check(st["delivery"]["last_error"] == "HTTP 500" and not any("王芳" in line for line in srv.log),
                  f"the 500's answer is not echoed: last_error {st['delivery']['last_error']!r}, nothing of it in the log")
            check(receiver_b.requests() == [], "clinic B's receiver got none of clinic A's events")

            # --- disabled on the command line (the server keeps running): nothing more is sent
            out = run([binary, "--db", db_path, "clinic", "webhook", "--clinic", str(clinic_a), "--disable"]).stdout
            check("disabled" in out, "careloop clinic webhook --disable")
            time.sleep(1.5)  # the deliverer sees the setting at its next look (poll 0.5 s)
            before = len(receiver_a.requests())
            a = srv.call("POST", "/api/v1/me/readings", token=patient, body={"readings": [bp(200, 130, 5)]})
            check(a.status == 200 and len(clinic_seqs(db_path, clinic_a, expected[-1])) >= 1,
                  "a critical reading after disabling makes an event")
            time.sleep(2)
            check(len(receiver_a.requests()) == before, "a disabled webhook sends nothing")

            metrics = srv.call("GET", "/metrics").raw.decode()
            delivered = [int(line.split()[-1]) for line in metrics.splitlines()
                         if line.startswith('careloop_webhook_posts_total{outcome="delivered"}')]
            check(delivered and delivered[0] >= len(expected), f"/metrics counts the deliveries: {delivered}")

            # --- a receiver that accepts the connection and never answers: the read deadline (1 s here)
            silent = socket.socket()
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            a = srv.call("PUT", path_b, token=admin,
                         body={"url": f"http://127.0.0.1:{silent.getsockname()[1]}/b", "secret": SECRET_B})
            check(a.status == 200, "clinic B's webhook moves to a receiver that never answers")
            db = sqlite3.connect(db_path)
            patient_b, = db.execute("SELECT id FROM patients WHERE clinic_id = ? ORDER BY id LIMIT 1", (clinic_b,)).fetchone()
            doctor_b, = db.execute("SELECT username FROM users WHERE role = 'doctor' AND clinic_id = ? ORDER BY id LIMIT 1",
                                   (clinic_b,)).fetchone()
            db.close()
            doctor_b = srv.login(doctor_b, "demo-doctor")
            t0 = time.monotonic()
            a = srv.call("POST", f"/api/v1/clinic/patients/{patient_b}/readings", token=doctor_b,
                         body={"readings": [bp(186, 121, 4)]})
            err = {}
            timed_out = wait_until(lambda: "timeout" in (err.update(srv.call("GET", path_b, token=admin).json()["delivery"])
                                                          or err.get("last_error") or ""), 10)
            check(a.status == 200 and timed_out and time.monotonic() - t0 < 5,
                  f"no answer within the deadline is a failure: {err.get('last_error')!r} after {time.monotonic() - t0:.1f} s")
            silent.close()

            # --- https: the peer is verified (test CA) and must carry the URL's host name
            port_tls = free_port()
            receiver_tls = Receiver(port_tls, SECRET_B, tls=tls["good"])
            a = srv.call("PUT", path_b, token=admin, body={"url": f"https://127.0.0.1:{port_tls}/b", "secret": SECRET_B})
            check(a.status == 200, "clinic B's webhook moves to https")
            time.sleep(1)  # the silent receiver's pending event goes first; then the latency of a new one
            t_post = time.monotonic()
            a = srv.call("POST", f"/api/v1/clinic/patients/{patient_b}/readings", token=doctor_b,
                         body={"readings": [bp(188, 124, 3)]})
            check(a.status == 200, "a critical reading in clinic B")
            want_b = clinic_seqs(db_path, clinic_b, 0)[-1]  # the cursor kept the silent receiver's events pending
            check(wait_until(lambda: want_b in {r[0] for r in receiver_tls.requests()}, 15) and
                  all(v for _, v, _ in receiver_tls.requests()),
                  f"delivered over https to a certificate for 127.0.0.1 (event {want_b}), signature valid")
            if want_b in receiver_tls.arrived:
                print(f"     reading posted -> event received over https (new TLS connection): "
                      f"{(receiver_tls.arrived[want_b] - t_post) * 1000:.0f} ms")
            receiver_tls.close()
            receiver_tls = Receiver(port_tls, SECRET_B, tls=tls["wrong"])
            a = srv.call("PUT", path_b, token=admin, body={"url": f"https://127.0.0.1:{port_tls}/b", "secret": SECRET_B})
            srv.call("POST", f"/api/v1/clinic/patients/{patient_b}/readings", token=doctor_b,
                     body={"readings": [bp(192, 126, 2)]})
            err = {}
            check(wait_until(lambda: (err.update(srv.call("GET", path_b, token=admin).json()["delivery"]) or
                                      err.get("last_error") or "").startswith("TLS"), 15) and
                  receiver_tls.requests() == [],
                  f"a certificate for another name is refused: {err.get('last_error')!r}, nothing sent")

            # --- DELETE
            check(srv.call("DELETE", f"/api/v1/admin/clinics/{clinic_b}/webhook", token=admin).status == 204,
                  "DELETE removes clinic B's webhook")
            check(srv.call("GET", f"/api/v1/admin/clinics/{clinic_b}/webhook", token=admin).status == 404,
                  "then GET is 404")
            check(srv.call("DELETE", f"/api/v1/admin/clinics/{clinic_b}/webhook", token=admin).status == 404,
                  "and DELETE again is 404")
        finally:
            srv.stop()
            for r in (receiver_a, receiver_tls):
                if r:
                    r.close()
            receiver_b.close()
        check(srv.proc.returncode == 0, f"the server stopped cleanly on SIGTERM (exit {srv.proc.returncode})")

        # --- without --webhook-allow-http and --webhook-allow: https only, nothing inside the deployment
        srv = Server(binary, db_path, extra_args=FAST)
        receiver_c = Receiver(free_port(), SECRET_B)
        try:
            admin = srv.login("admin", "demo-admin")
            path_b = f"/api/v1/admin/clinics/{clinic_b}/webhook"
            for url, why in ((f"http://gw.example.cn/careloop", "https://"),
                             (f"https://127.0.0.1:{receiver_c.httpd.server_port}/c", "127.0.0.1 is loopback"),
                             ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is link-local"),
                             ("https://[::ffff:10.0.0.1]/c", "10.0.0.1 is private")):
                a = srv.call("PUT", path_b, token=admin, body={"url": url, "secret": SECRET_B})
                errs = (a.json() or {}).get("errors", [])
                check(a.status == 422 and [e["pointer"] for e in errs] == ["/url"] and why in errs[0]["detail"],
                      f"PUT {url}: 422 naming /url ({a.status} {errs[0]['detail'] if errs else ''})")
            # A name is judged by the addresses it resolves to, at the connection.
            a = srv.call("PUT", path_b, token=admin,
                         body={"url": f"https://localhost:{receiver_c.httpd.server_port}/c", "secret": SECRET_B})
            check(a.status == 200, "a host name is accepted when set")
            db = sqlite3.connect(db_path)
            # Another patient of clinic B: a new alert, so a new event.
            patient_b, = db.execute("SELECT id FROM patients WHERE clinic_id = ? ORDER BY id LIMIT 1 OFFSET 1",
                                    (clinic_b,)).fetchone()
            doctor_b, = db.execute("SELECT username FROM users WHERE role = 'doctor' AND clinic_id = ? ORDER BY id LIMIT 1",
                                   (clinic_b,)).fetchone()
            db.close()
            doctor_b = srv.login(doctor_b, "demo-doctor")
            srv.call("POST", f"/api/v1/clinic/patients/{patient_b}/readings", token=doctor_b,
                     body={"readings": [bp(191, 127, 1)]})
            err = {}
            check(wait_until(lambda: "loopback" in (err.update(srv.call("GET", path_b, token=admin).json()["delivery"])
                                                     or err.get("last_error") or ""), 10) and
                  receiver_c.requests() == [],
                  f"localhost resolves to loopback: refused at the connection, nothing sent: {err.get('last_error')!r}")
        finally:
            srv.stop()
            receiver_c.close()

        db = sqlite3.connect(db_path)
        actions = [r for r in db.execute("SELECT action, actor_user_id, clinic_id, remote_addr, detail FROM audit_log "
                                         "WHERE action LIKE 'clinic.webhook.%' ORDER BY id")]
        db.close()
        kinds = [(a, c) for a, _, c, _, _ in actions]
        check(("clinic.webhook.set", clinic_a) in kinds and ("clinic.webhook.disable", clinic_a) in kinds and
              ("clinic.webhook.set", clinic_b) in kinds and ("clinic.webhook.delete", clinic_b) in kinds,
              f"the changes are audited: {kinds}")
        check(not any(SECRET_A in d or SECRET_B in d for *_, d in actions), "no audit entry carries a secret")

    if failures:
        print(f"\n{len(failures)} failure(s):\n  - " + "\n  - ".join(failures))
        return 1
    print("\nwebhooks: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
