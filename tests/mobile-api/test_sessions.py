#!/usr/bin/env python3
"""Sessions and sign-in under pressure (issue 15, items 7, 8 and 10), end to end:

- a live event stream ends when its session does: at logout, at a password
  change that ends the other sessions;
- wrong passwords sent at the same moment are throttled as if sent one by
  one: no more than the limit is ever checked;
- wrong activation codes from one address do not block activation from
  another;
- password hashing has threads of its own: a read answers while dozens of
  sign-ins are being hashed, and beyond the hashing queue a sign-in is told
  503 with Retry-After rather than left waiting;
- behind a trusted reverse proxy, the throttle and the audit log see the
  forwarded client, not the proxy; from other peers the header is ignored;
- a staff session unused for the idle time ends (item 9); a patient's does not.

usage: test_sessions.py CARELOOP_BINARY
"""
import concurrent.futures as cf
import http.client
import json
import os
import socket
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from careloop_server import Server, check, demo_db, summary  # noqa: E402

def call_from(srv, source, method, target, body=None, token=None):
    """A request whose client address is `source` (any 127.x.y.z reaches the server)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60, source_address=(source, 0))
    try:
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        conn.request(method, target, body=None if body is None else json.dumps(body), headers=h)
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


def open_stream(srv, token):
    """Opens GET /api/v1/clinic/events and returns the socket after the response head."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall((f"GET /api/v1/clinic/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
               "Accept: text/event-stream\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head


def ends_within(s, seconds):
    """True when the stream ends (EOF, or an `end` event then EOF) within `seconds`."""
    deadline = time.monotonic() + seconds
    seen = b""
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        except OSError:
            return True, seen
        if not chunk:
            return True, seen
        seen += chunk
    return False, seen


def stream_flow(srv):
    token = srv.login("doctor01", "demo-doctor")
    s, head = open_stream(srv, token)
    check(head.startswith(b"HTTP/1.1 200"), "a doctor opens the live event stream", head[:80])
    gone, _ = ends_within(s, 1.0)
    check(not gone, "the stream stays open while the session lives")
    check(srv.call("POST", "/api/v1/auth/logout", token).status == 204, "logout (204)")
    gone, seen = ends_within(s, 3.0)
    check(gone, "the stream closes within 3 s of logout", seen[-200:])
    check(b"event: end" in seen, "and says why: an `end` event", seen[-200:])
    s.close()

    keep = srv.login("doctor02", "demo-doctor")
    other = srv.login("doctor02", "demo-doctor")
    s, head = open_stream(srv, other)
    check(head.startswith(b"HTTP/1.1 200"), "a second session of doctor02 opens a stream")
    a = srv.call("POST", "/api/v1/auth/password", keep, {"current_password": "demo-doctor", "new_password": "another-pass-1"})
    check(a.status == 204, "doctor02 changes the password from the first session", a)
    gone, _ = ends_within(s, 3.0)
    check(gone, "the other session's stream closes within 3 s")
    s.close()


def concurrent_guesses(srv):
    # --login-lock-after 10: at most 10 wrong passwords are ever checked for an account.
    body = {"username": "doctor05", "password": "a-wrong-guess"}
    with cf.ThreadPoolExecutor(60) as pool:
        answers = list(pool.map(lambda _: call_from(srv, "127.0.0.5", "POST", "/api/v1/auth/login", body)[0], range(60)))
    checked = answers.count(401)
    check(checked <= 10, f"60 wrong passwords at once: at most 10 are checked (401), the rest refused (429)",
          f"{checked} x 401, {answers.count(429)} x 429, others {sorted(set(answers))}")
    status, headers, _ = call_from(srv, "127.0.0.5", "POST", "/api/v1/auth/login",
                                   {"username": "doctor05", "password": "demo-doctor"})
    check(status == 429 and headers.get("retry-after", "").isdigit(), "then even the right password waits", status)


def activation_by_address(srv):
    doctor = srv.login("doctor01", "demo-doctor")
    a = srv.call("POST", "/api/v1/clinic/patients", doctor,
                 {"name": "王秀英", "sex": "female", "birth_date": "1956-07-02"})
    check(a.status == 201, "a doctor registers a patient", a)
    code = a.json()["activation"]["code"]
    for i in range(12):
        call_from(srv, "127.0.0.7", "POST", "/api/v1/auth/activate",
                  {"code": f"WRONG{i:05d}", "username": f"guesser{i}", "password": "a-long-password", "consent": {"version": "1", "accepted": True}})
    status, _, _ = call_from(srv, "127.0.0.7", "POST", "/api/v1/auth/activate",
                             {"code": "WRONG99999", "username": "guesser99", "password": "a-long-password", "consent": {"version": "1", "accepted": True}})
    check(status == 429, "wrong codes from one address lock that address", status)
    status, _, raw = call_from(srv, "127.0.0.8", "POST", "/api/v1/auth/activate",
                               {"code": code, "username": "wang.xiuying", "password": "a-long-password", "consent": {"version": "1", "accepted": True}})
    check(status == 201, "a patient at another address still activates with the right code", (status, raw[:200]))


def hashing_pool(srv):
    token = srv.login("doctor03", "demo-doctor")
    # Right passwords of several accounts (a reserved attempt counts against its
    # account until it is proven right, so one account is not signed in 48 times at once).
    accounts = [("doctor01", "demo-doctor"), ("doctor03", "demo-doctor"), ("doctor04", "demo-doctor"),
                ("patient01", "demo-patient"), ("patient02", "demo-patient"), ("authority", "demo-authority"),
                ("admin", "demo-admin")]
    done_at = []

    def sign_in(i):
        username, password = accounts[i % len(accounts)]
        body = {"username": username, "password": password}
        status, headers, _ = call_from(srv, "127.0.0.9", "POST", "/api/v1/auth/login", body)
        done_at.append(time.monotonic())
        return status, headers

    with cf.ThreadPoolExecutor(48) as pool:
        futures = [pool.submit(sign_in, i) for i in range(48)]
        time.sleep(0.2)  # the sign-ins are queued for hashing
        started = time.monotonic()
        read = srv.call("GET", "/api/v1/clinic/patients?limit=5", token)
        read_at = time.monotonic()
        answers = [f.result() for f in futures]
    statuses = [s for s, _ in answers]
    check(read.status == 200, "a read during 48 sign-ins answers", read)
    took, span = read_at - started, max(done_at) - started
    check(took < span / 2, "it answers long before the sign-ins are done (hashing has threads of its own)",
          f"the read took {took:.2f} s; the sign-ins ended {span:.2f} s after it began")
    busy = [h for s, h in answers if s == 503]
    check(statuses.count(200) >= 1 and all(s in (200, 503) for s in statuses),
          "each sign-in is served or told 503", sorted(set(statuses)))
    check(len(busy) > 0 and all(h.get("retry-after", "").isdigit() for h in busy),
          "beyond the hashing queue: 503 with Retry-After", f"{len(busy)} x 503")


def proxy_flow(srv, db):
    """Behind a trusted proxy (127.0.0.1 here): the throttle and the audit see the forwarded client."""
    def login_via_proxy(client, username, password):
        return srv.call("POST", "/api/v1/auth/login", body={"username": username, "password": password},
                        headers={"X-Forwarded-For": f"198.51.100.1, {client}"})
    # --login-lock-after 3: the address locks after 5 x 3 = 15 failures.
    for i in range(16):
        login_via_proxy("203.0.113.66", f"nobody{i}", "guess")
    a = login_via_proxy("203.0.113.66", "doctor04", "demo-doctor")
    check(a.status == 429, "a client that guessed too often is refused, though the proxy forwards it", a)
    a = login_via_proxy("203.0.113.77", "doctor04", "demo-doctor")
    check(a.status == 200, "another client behind the same proxy still signs in", a)
    token = a.json()["token"]
    # The audit names the client, not the proxy.
    patients = srv.call("GET", "/api/v1/clinic/patients?limit=1", token,
                        headers={"X-Forwarded-For": "203.0.113.77"}).json()["items"]
    check(bool(patients), "the doctor lists its patients")
    pid = patients[0]["id"]
    srv.call("GET", f"/api/v1/clinic/patients/{pid}", token, headers={"X-Forwarded-For": "203.0.113.77"})
    conn = sqlite3.connect(db)
    addrs = {r[0] for r in conn.execute("SELECT remote_addr FROM audit_log WHERE action = 'patient.read' AND patient_id = ?",
                                        (pid,))}
    conn.close()
    check("203.0.113.77" in addrs and "127.0.0.1" not in addrs, "the audit log names the forwarded client", addrs)
    # From a peer that is not a trusted proxy the header is ignored: 127.0.0.4 is throttled as itself.
    status, _, _ = call_from(srv, "127.0.0.4", "POST", "/api/v1/auth/login",
                             {"username": "doctor03", "password": "demo-doctor"})
    check(status == 200, "an untrusted peer signs in as itself", status)


def idle_flow(srv):
    """--staff-idle-minutes 0.05 (3 s): a doctor's unused session ends; a patient's phone keeps its own."""
    doctor = srv.login("doctor03", "demo-doctor")
    patient = srv.login("patient02", "demo-patient")
    check(srv.call("GET", "/api/v1/clinic/patients?limit=1", doctor).status == 200, "a fresh staff session works")
    time.sleep(4)
    a = srv.call("GET", "/api/v1/clinic/patients?limit=1", doctor)
    check(a.status == 401, "after the idle time the staff session has ended (401)", a)
    check(srv.call("GET", "/api/v1/me", patient).status == 200, "a patient's session is not ended by idling")
    check(srv.call("GET", "/api/v1/clinic/patients?limit=1", srv.login("doctor03", "demo-doctor")).status == 200,
          "signing in again works")


def main(argv):
    binary = argv[1]
    with tempfile.TemporaryDirectory(prefix="careloop-sessions-") as workdir:
        db = demo_db(binary, workdir, patients=40, clinics=2)
        with Server(binary, db, ["--login-slow-after", "100", "--login-lock-after", "10"]) as srv:
            stream_flow(srv)
            concurrent_guesses(srv)
            hashing_pool(srv)
        with Server(binary, db, ["--login-slow-after", "100", "--login-lock-after", "3"]) as srv:
            activation_by_address(srv)
        with Server(binary, db, ["--login-slow-after", "100", "--login-lock-after", "3",
                                 "--trusted-proxy", "127.0.0.1/32"]) as srv:
            proxy_flow(srv, db)
        with Server(binary, db, ["--staff-idle-minutes", "0.05"]) as srv:
            idle_flow(srv)
    return summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
