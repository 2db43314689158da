#!/usr/bin/env python3
"""Clinic measurements end to end (issue 7; mobile-api/README.md "Clinic measurements").

A hypertensive patient without diabetes, with home blood pressure and weight,
gets no diabetes-8y score until the clinic records waist, fasting glucose,
HDL and triglycerides; once it does (HDL and triglycerides sent in mg/dL),
the server rescores the patient within seconds and GET .../risk shows a
diabetes-8y score. Bad input is refused with 422 naming each field, and
nothing is stored.

    python3 tests/mobile-api/test_measurements.py build/app/careloop
"""
import datetime as dt
import os
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from careloop_server import Server, demo_db  # noqa: E402

CST = dt.timezone(dt.timedelta(hours=8))
failures = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what + (f": {detail}" if detail and not cond else ""))
    if not cond:
        failures.append(what + (f": {detail}" if detail else ""))
    return cond


def at(minutes_ago):
    return (dt.datetime.now(CST) - dt.timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat()


def models_of(srv, token, pid):
    return {s["model_id"]: s for s in srv.call("GET", f"/api/v1/clinic/patients/{pid}/risk", token).json()["scores"]}


def flow(srv):
    doctor = srv.login("doctor01", "demo-doctor")
    a = srv.call("POST", "/api/v1/clinic/patients", doctor,
                 {"name": "周德明", "sex": "male", "birth_date": "1971-05-02", "height_cm": 170,
                  "diagnoses": [{"code": "hypertension", "diagnosed_on": "2021-03-01"}]})
    check(a.status == 201, "a doctor registers a hypertensive patient without diabetes", a)
    pid = a.json()["patient"]["id"]
    readings = [{"client_id": str(uuid.uuid4()), "kind": "blood_pressure", "taken_at": at(60 * (i + 1)),
                 "systolic": 138 + i, "diastolic": 86, "unit": "mmHg"} for i in range(3)]
    readings += [{"client_id": str(uuid.uuid4()), "kind": "weight", "taken_at": at(30 + 60 * i),
                  "value": 80.5 + 0.1 * i, "unit": "kg"} for i in range(3)]
    a = srv.call("POST", f"/api/v1/clinic/patients/{pid}/readings", doctor, {"readings": readings})
    check(a.status in (200, 201), "the clinic records three blood pressures and three weights", a)
    time.sleep(3)  # the rescorer's debounce (2 s) has passed: any score it would give is there
    check("diabetes-8y" not in models_of(srv, doctor, pid), "no diabetes-8y score without waist and lipids")

    url = f"/api/v1/clinic/patients/{pid}/measurements"
    # Bad input: every bad field named, nothing stored.
    bad = srv.call("POST", url, doctor, {
        "client_id": str(uuid.uuid4()), "measured_at": at(-24 * 60),
        "values": {"waist_cm": 9.2, "ldl": 3.1, "hdl_mmol_l": 1.1, "triglycerides_mmol_l": "high"},
        "units": {"hdl_mmol_l": "g/L"}, "extra": 1})
    pointers = {e["pointer"] for e in (bad.json() or {}).get("errors", [])}
    check(bad.status == 422 and bad.headers.get("content-type", "").startswith("application/problem+json"),
          "bad measurements: 422 problem+json", bad)
    check({"/measured_at", "/values/waist_cm", "/values/ldl", "/units/hdl_mmol_l", "/values/triglycerides_mmol_l",
           "/extra"} <= pointers, "each bad field is named", pointers)
    check(srv.call("GET", url, doctor).json()["items"] == [], "nothing was stored")

    # Waist and glucose first: still no score (the lipids are missing).
    first = {"client_id": str(uuid.uuid4()), "measured_at": at(120), "values": {"waist_cm": 97, "fasting_glucose_mmol_l": 6.3}}
    a = srv.call("POST", url, doctor, first)
    check(a.status == 201, "waist and a lab fasting glucose recorded (201)", a)
    check(srv.call("POST", url, doctor, first).status == 200, "a resend returns the stored record (200)")
    changed = dict(first, values={"waist_cm": 99, "fasting_glucose_mmol_l": 6.3})
    check(srv.call("POST", url, doctor, changed).status == 409, "the same client id with another value: 409")
    time.sleep(3)
    check("diabetes-8y" not in models_of(srv, doctor, pid), "still no diabetes-8y score without HDL and triglycerides")

    # The lab's lipids, in mg/dL.
    a = srv.call("POST", url, doctor, {"client_id": str(uuid.uuid4()), "measured_at": at(110),
                                       "values": {"hdl_mmol_l": 35, "triglycerides_mmol_l": 210},
                                       "units": {"hdl_mmol_l": "mg/dL", "triglycerides_mmol_l": "mg/dL"}})
    check(a.status == 201, "HDL and triglycerides recorded in mg/dL (201)", a)
    got = {i["kind"]: i for i in a.json()["items"]} if a.status == 201 else {}
    check(abs(got.get("hdl_mmol_l", {}).get("value", 0) - 35 / 38.67) < 1e-9 and
          abs(got.get("triglycerides_mmol_l", {}).get("value", 0) - 210 / 88.57) < 1e-9,
          "stored in mmol/L (÷ 38.67, ÷ 88.57)", got)
    deadline = time.monotonic() + 20
    scores = {}
    while time.monotonic() < deadline and "diabetes-8y" not in scores:
        time.sleep(0.5)
        scores = models_of(srv, doctor, pid)
    check("diabetes-8y" in scores, "after the measurements the patient is rescored: a diabetes-8y score", scores.keys())
    if "diabetes-8y" in scores:
        s = scores["diabetes-8y"]
        check(s["band"] in ("low", "moderate", "high") and len(s["factors"]) == 3,
              "the score has a band and its top three factors", s)
    listed = srv.call("GET", url, doctor).json()["items"]
    check(len(listed) == 4 and {i["loinc"]["code"] for i in listed} == {"8280-0", "14771-0", "14646-4", "14927-8"},
          "the history lists the four values with their LOINC codes", listed)
    other = srv.login("doctor03", "demo-doctor")  # the second clinic's
    check(srv.call("GET", url, other).status == 404, "another clinic's doctor may not read them (404: as for an unknown id)")


def main(argv):
    binary = argv[1]
    with tempfile.TemporaryDirectory(prefix="careloop-measure-") as workdir:
        db = demo_db(binary, workdir, patients=20, clinics=2)
        with Server(binary, db) as srv:
            flow(srv)
    if failures:
        print(f"\n{len(failures)} failure(s):")
        for f in failures:
            print("  - " + f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
