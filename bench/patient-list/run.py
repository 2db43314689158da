#!/usr/bin/env python3
"""How long GET /api/v1/clinic/patients takes on the demo county (issue 5).

Builds a demo county (default 2,000 patients in 10 clinics, 90 days of
readings), scores it, starts `careloop serve` and times, alternating round
by round after a warm-up round:

  subject  GET /api/v1/clinic/patients?limit=50 (priority sort) as a doctor
           (one clinic) and as the admin (every clinic)
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

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "support"))
from careloop_server import Server, run  # noqa: E402


def timed(srv, target, token, calls):
    out = []
    for _ in range(calls):
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
            first = srv.call("GET", "/api/v1/clinic/patients?limit=1", token=tokens["doctor"]).json()
            clinic = first["clinics"][0]["id"]
            total_doctor = first["total"]
            total_admin = srv.call("GET", "/api/v1/clinic/patients?limit=1", token=tokens["admin"]).json()["total"]
            cases = {
                "doctor": (f"/api/v1/clinic/patients?limit=50", f"/api/v1/clinic/alerts?limit=50"),
                "admin": (f"/api/v1/clinic/patients?limit=50",
                          f"/api/v1/clinic/alerts?limit=50&clinic_id={clinic}"),
            }
            samples = {(who, kind): [] for who in cases for kind in ("list", "ceiling")}
            for rnd in range(o.rounds + 1):
                for who, (subject, ceiling) in cases.items():
                    s = timed(srv, subject, tokens[who], o.calls)
                    c = timed(srv, ceiling, tokens[who], o.calls)
                    if rnd > 0:  # round 0 warms caches up and is thrown away
                        samples[(who, "list")].append(statistics.median(s))
                        samples[(who, "ceiling")].append(statistics.median(c))
            print(f"patients listed: doctor {total_doctor} (one clinic), admin {total_admin} (every clinic)")
            print(f"{'who':8} {'list ms':>9} {'ceiling ms':>11} {'ratio':>7}   (medians of {o.rounds} rounds x {o.calls} calls)")
            for who in cases:
                lm = statistics.median(samples[(who, "list")])
                cm = statistics.median(samples[(who, "ceiling")])
                print(f"{who:8} {lm:9.1f} {cm:11.1f} {lm / cm:7.1f}x")


if __name__ == "__main__":
    main()
