#!/usr/bin/env python3
"""The patient list end to end: it follows the data at once, although its
rows are cached between requests (mobile_api::PatientListCache), and its
search, filters and pages agree with the database.

usage: test_patient_list.py CARELOOP_BINARY
"""
import datetime as dt
import os
import sqlite3
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from careloop_server import Server, demo_db  # noqa: E402

CST = dt.timezone(dt.timedelta(hours=8))
failures = []
checks = [0]


def check(cond, what):
    checks[0] += 1
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def main(binary):
    with tempfile.TemporaryDirectory(prefix="careloop-list-") as work:
        db = demo_db(binary, work, patients=60, clinics=2, days=10,
                     end_date=dt.datetime.now(CST).date().isoformat())
        con = sqlite3.connect(db)
        (pid, clinic), = con.execute("SELECT p.id, p.clinic_id FROM users u JOIN patients p ON p.id = u.patient_id "
                                     "WHERE u.username = 'patient01'")
        in_clinic, = con.execute("SELECT count(*) FROM patients WHERE clinic_id = ?", (clinic,)).fetchone()
        con.close()
        with Server(binary, db) as srv:
            doctor = srv.login("doctor01", "demo-doctor")
            patient = srv.login("patient01", "demo-patient")

            def page(q=""):
                a = srv.call("GET", "/api/v1/clinic/patients" + q, token=doctor)
                assert a.status == 200, a
                return a.json()

            first = page()
            check(first["total"] == in_clinic, f"the doctor's list holds the clinic's {in_clinic} patients")
            # Resolve what is open so the reading below opens a new alert.
            for a in srv.call("GET", f"/api/v1/clinic/alerts?patient_id={pid}", token=doctor).json()["alerts"]:
                srv.call("POST", f"/api/v1/clinic/alerts/{a['id']}/resolve", token=doctor, body={})
            taken = (dt.datetime.now(CST) - dt.timedelta(minutes=1)).replace(microsecond=0).isoformat()
            up = srv.call("POST", "/api/v1/me/readings", token=patient, body={"readings": [{
                "client_id": str(uuid.uuid4()), "kind": "blood_pressure", "taken_at": taken,
                "systolic": 195, "diastolic": 118, "unit": "mmHg"}]})
            check(up.status == 200, "a critical reading is stored")
            top = page("?limit=1")["items"][0]
            check(top["id"] == pid and top["alerts"]["critical"] == 1 and "open_alerts" in top["flags"],
                  "right after it, the patient is first with an open critical alert (no stale cache)")
            alert = next(a for a in srv.call("GET", f"/api/v1/clinic/alerts?patient_id={pid}", token=doctor)
                         .json()["alerts"] if a["tier"] == "critical")
            srv.call("POST", f"/api/v1/clinic/alerts/{alert['id']}/acknowledge", token=doctor,
                     body={"action": "called_patient"})
            me = next(x for x in page(f"?q={pid}")["items"] if x["id"] == pid)
            check("open_alerts" not in me["flags"] and me["alerts"]["critical"] == 1,
                  "acknowledged: no longer an open alert, still unresolved")
            reg = srv.call("POST", "/api/v1/clinic/patients", token=doctor, body={
                "name": "列表测试", "sex": "male", "birth_date": "1958-03-04", "phone": "139 0000 1234"})
            check(reg.status == 201, "a patient is registered")
            check(page()["total"] == in_clinic + 1, "the new patient is counted at once")
            found = page("?q=00001234")["items"]
            check([x["name"] for x in found] == ["列表测试"], "found by the digits of its phone")
            # Pages of 7 cover everyone once, in priority order.
            seen, cursor, prio = [], None, []
            while True:
                p = page("?limit=7" + (f"&cursor={cursor}" if cursor else ""))
                seen += [x["id"] for x in p["items"]]
                prio += [x["priority"] for x in p["items"]]
                cursor = p["next"]
                if not cursor:
                    break
            check(len(seen) == len(set(seen)) == in_clinic + 1, "pages neither skip nor repeat")
            check(prio == sorted(prio, reverse=True), "pages come in priority order")
            silent = page("?filter=no_data&limit=200")["items"]
            check(all("no_data" in x["flags"] for x in silent) and any(x["name"] == "列表测试" for x in silent),
                  "no_data holds the patient without readings")
    print(f"{checks[0] - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
