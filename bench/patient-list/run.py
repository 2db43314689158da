#!/usr/bin/env python3
"""How long GET /api/v1/clinic/patients takes on the demo county (issue 5).

Builds a demo county (default 2,000 patients in 10 clinics, 90 days of
readings), scores it, starts `careloop serve` and times, alternating round
by round after a warm-up round:

  subject  GET /api/v1/clinic/patients?limit=50 (priority sort) as a doctor
           (one clinic) and as the admin (every clinic), twice: unchanged data
           (the rows come from the list's cache) and right after a reading was
           uploaded to the clinic (the cache is stale: the rows are read again)
  ceiling  GET /api/v1/clinic/alerts?limit=50 as the same account: the same
           authentication, audit write and offload, and one indexed query —
           the least an audited staff read can cost

Reports the median of each and the ratio subject / ceiling.

usage: bench/patient-list/run.py CARELOOP_BINARY [--patients 2000] [--rounds 5] [--calls 20]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "support"))
from careloop_server import Server, run  # noqa: E402


def upload(srv, token, n=[0]):
    n[0] += 1
    taken = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 60 - n[0]))
    a = srv.call("POST", "/api/v1/me/readings", token=token, body={"readings": [{
        "client_id": str(uuid.uuid4()), "kind": "weight", "taken_at": taken, "value": 60 + n[0] % 20 / 10, "unit": "kg"}]})
    assert a.status == 200, a


def timed(srv, target, token, calls, before=None):
    out = []
    for _ in range(calls):
        if before:
            before()
        t0 = time.perf_counter()
        a = srv.call("GET", target, token=token)
        out.append((time.perf_counter() - t0) * 1000)
        assert a.status == 200, a
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--clinics", type=int, default=10)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=20)
    o = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="careloop-bench-list-") as work:
        db = os.path.join(work, "county.db")
        t0 = time.time()
        run([o.binary, "--db", db, "demo", "--patients", str(o.patients), "--clinics", str(o.clinics),
             "--days", str(o.days)], timeout=1800)
        run([o.binary, "--db", db, "score", "--all"], timeout=1800)
        print(f"county: {o.patients} patients, {o.clinics} clinics, {o.days} days ({time.time() - t0:.0f} s to build)")
        with Server(o.binary, db) as srv:
            tokens = {"doctor": srv.login("doctor01", "demo-doctor"), "admin": srv.login("admin", "demo-admin")}
            patient = srv.login("patient01", "demo-patient")  # doctor01's clinic
            first = srv.call("GET", "/api/v1/clinic/patients?limit=1", token=tokens["doctor"]).json()
            clinic = first["clinics"][0]["id"]
            total_doctor = first["total"]
            total_admin = srv.call("GET", "/api/v1/clinic/patients?limit=1", token=tokens["admin"]).json()["total"]
            cases = {
                "doctor": (f"/api/v1/clinic/patients?limit=50", f"/api/v1/clinic/alerts?limit=50"),
                "admin": (f"/api/v1/clinic/patients?limit=50",
                          f"/api/v1/clinic/alerts?limit=50&clinic_id={clinic}"),
            }
            kinds = ("unchanged", "after upload", "ceiling")
            samples = {(who, kind): [] for who in cases for kind in kinds}
            for rnd in range(o.rounds + 1):
                for who, (subject, ceiling) in cases.items():
                    s = timed(srv, subject, tokens[who], o.calls)
                    m = timed(srv, subject, tokens[who], o.calls, before=lambda: upload(srv, patient))
                    c = timed(srv, ceiling, tokens[who], o.calls)
                    if rnd > 0:  # round 0 warms caches up and is thrown away
                        for kind, xs in zip(kinds, (s, m, c)):
                            samples[(who, kind)].append(statistics.median(xs))
            print(f"patients listed: doctor {total_doctor} (one clinic), admin {total_admin} (every clinic)")
            print(f"medians of {o.rounds} rounds x {o.calls} calls, ms (ratio to the ceiling)")
            print(f"{'who':8} {'unchanged':>16} {'after upload':>16} {'ceiling':>9}")
            for who in cases:
                u, m, c = (statistics.median(samples[(who, k)]) for k in kinds)
                print(f"{who:8} {u:8.1f} ({u / c:4.1f}x) {m:8.1f} ({m / c:4.1f}x) {c:9.1f}")


if __name__ == "__main__":
    main()
