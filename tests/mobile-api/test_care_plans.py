#!/usr/bin/env python3
"""Care plans end to end (issue 4 items 1, 4 and 5), through HTTP against a demo database.

`careloop plans propose --all` proposes a plan for every patient and, run
again, nothing new; a clinic's protocol choice (`careloop clinic protocols`)
decides the protocols its plans name. Over HTTP: a week of high readings
makes the debounced re-planning propose a new version (the old one
superseded); the patient never sees a proposal (GET /api/v1/me/care-plan and
the sync feed); the doctor's invalid edit is a 422 naming the field, a valid
one a new approved version with its JSON Patch, which the patient then sees
in plain words (zh-CN and en) and in the sync feed; a rejection needs a
reason; another clinic's doctor is refused; each decision is in the audit log.

usage: test_care_plans.py CARELOOP_BINARY
"""
import datetime as dt
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from careloop_server import Server, demo_db, run  # noqa: E402

CST = dt.timezone(dt.timedelta(hours=8))
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
    return ok


def week_of_bp(systolic, diastolic):
    now = dt.datetime.now(CST).replace(microsecond=0)
    return [{"client_id": str(uuid.uuid4()), "kind": "blood_pressure",
             "taken_at": (now - dt.timedelta(hours=12 * i + 1)).isoformat(),
             "systolic": systolic + i % 3, "diastolic": diastolic + i % 2, "unit": "mmHg"} for i in range(14)]


def plans_of(srv, token, patient):
    a = srv.call("GET", f"/api/v1/clinic/patients/{patient}/care-plans", token=token)
    assert a.status == 200, a
    return a.json()


def patient_sees_no_proposal(srv, token, what):
    mine = srv.call("GET", "/api/v1/me/care-plan", token=token).json()
    sync = srv.call("GET", "/api/v1/me/sync?since=0&limit=1000", token=token).json()
    plans = [c for c in sync["changes"] if c["entity"] == "care_plan"]
    check(mine["care_plan"] is None and not plans, f"{what}: the patient sees no plan (me/care-plan and sync)")


def main(binary):
    with tempfile.TemporaryDirectory(prefix="careloop-plans-") as workdir:
        db = demo_db(binary, workdir, patients=30, clinics=2, days=10)
        conn = sqlite3.connect(db)
        (patient, clinic), = conn.execute(
            "SELECT p.id, p.clinic_id FROM users u JOIN patients p ON p.id = u.patient_id WHERE u.username = 'patient01'")
        doctor, = conn.execute("SELECT username FROM users WHERE role = 'doctor' AND clinic_id = ? ORDER BY id LIMIT 1",
                               (clinic,)).fetchone()
        other_doctor, = conn.execute("SELECT username FROM users WHERE role = 'doctor' AND clinic_id <> ? "
                                     "ORDER BY id LIMIT 1", (clinic,)).fetchone()
        other_clinic, = conn.execute("SELECT id FROM clinics WHERE id <> ? ORDER BY id LIMIT 1", (clinic,)).fetchone()
        total, = conn.execute("SELECT count(*) FROM patients").fetchone()

        # --- the command line: every patient, then nothing new; a clinic's own protocols
        out = run([binary, "--db", db, "plans", "propose", "--all"]).stdout
        check(f"planned {total} patients: {total} new proposals" in out, f"plans propose --all: {out.strip()}")
        out = run([binary, "--db", db, "plans", "propose", "--all"]).stdout
        check(f"0 new proposals, {total} unchanged" in out, f"run again, nothing new: {out.strip()}")
        out = run([binary, "--db", db, "clinic", "protocols", "--clinic", str(other_clinic)]).stdout
        check("the deployment's set" in out and "cn-hypertension-primary-2020" in out, "a clinic without a choice")
        out = run([binary, "--db", db, "clinic", "protocols", "--clinic", str(other_clinic), "--set",
                   "who-hearts-hypertension-2021,cn-diabetes-primary-2022"]).stdout
        check("its own choice" in out and "who-hearts-hypertension-2021" in out, "a clinic chooses WHO HEARTS")
        bad = subprocess.run([binary, "--db", db, "clinic", "protocols", "--clinic", str(other_clinic), "--set",
                              "who-hearts-hypertension-2021,cn-hypertension-primary-2020"], capture_output=True, text=True)
        check(bad.returncode == 1 and "one protocol per programme" in bad.stderr, "two hypertension protocols refused")
        run([binary, "--db", db, "plans", "propose", "--all"])
        named = {r[0] for r in conn.execute(
            "SELECT protocol_id FROM care_plans WHERE clinic_id = ? AND status = 'proposed'", (other_clinic,))}
        check(any("who-hearts-hypertension-2021" in n for n in named)
              and not any("cn-hypertension-primary-2020" in n for n in named),
              f"the other clinic's proposals name its protocols: {sorted(named)}")
        spare = [r[0] for r in conn.execute(
            "SELECT patient_id FROM care_plans WHERE clinic_id = ? AND status = 'proposed' AND patient_id <> ? "
            "ORDER BY patient_id LIMIT 1", (clinic, patient))]
        conn.close()

        with Server(binary, db) as srv:
            me = srv.login("patient01", "demo-patient")
            doc = srv.login(doctor, "demo-doctor")
            other = srv.login(other_doctor, "demo-doctor")

            listed = plans_of(srv, doc, patient)
            check(listed["proposed"] is not None and listed["current"] is None, "a proposal waits, nothing approved")
            first = listed["proposed"]["version"]
            check(listed["proposed"]["rationale"] and listed["proposed"]["protocols"],
                  "a version names its protocols and the rules that fired")
            patient_sees_no_proposal(srv, me, "after the proposal")
            check(srv.call("GET", f"/api/v1/clinic/patients/{patient}/care-plans", token=other).status == 404,
                  "another clinic's doctor may not list (404: as for an unknown id)")

            # --- a week far above target: the re-planning (2 s after the upload) proposes anew
            a = srv.call("POST", "/api/v1/me/readings", token=me, body={"readings": week_of_bp(172, 104)})
            check(a.status == 200, f"a week of high readings stored ({a.status})")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                listed = plans_of(srv, doc, patient)
                if listed["proposed"] and listed["proposed"]["version"] > first:
                    break
                time.sleep(0.3)
            check(listed["proposed"] and listed["proposed"]["version"] > first,
                  "a new proposed version after the readings, without asking")
            statuses = {v["version"]: v["status"] for v in listed["items"]}
            check(statuses.get(first) == "superseded", f"the older proposal is superseded: {statuses}")
            proposal = listed["proposed"]
            patient_sees_no_proposal(srv, me, "after the new proposal")
            again = srv.call("POST", f"/api/v1/clinic/patients/{patient}/care-plans/evaluate", token=doc).json()
            check(again["changed"] is False and again["proposed"]["version"] == proposal["version"],
                  "evaluating again changes nothing")

            # --- the doctor edits: invalid first, then a sooner follow-up
            base = f"/api/v1/clinic/patients/{patient}/care-plans/{proposal['version']}"
            bad_step = dict(proposal["plan"])
            bad_step["medication"] = [dict(m) for m in proposal["plan"]["medication"]]
            bad_step["medication"][0]["suggested_step"] = {"id": "seven_drugs"}
            a = srv.call("POST", base + "/edit", token=doc, body={"plan": bad_step})
            pointers = [e.get("pointer") for e in (a.json() or {}).get("errors", [])]
            check(a.status == 422 and pointers == ["/plan/medication/0/suggested_step/id"],
                  f"a step not in the ladder: 422 naming it ({a.status} {pointers})")
            a = srv.call("POST", base + "/edit", token=doc, body={"plan": {"targets": [
                {"target": "bp.home_systolic_lt", "value": 125}, {"target": "bp.home_diastolic_lt", "value": 130}]}})
            check(a.status == 422 and (a.json().get("errors") or [{}])[0].get("pointer") == "/plan/targets/1/value",
                  f"an insane target: 422 naming it ({a.status})")
            check(plans_of(srv, doc, patient)["current"] is None, "an invalid edit stored nothing")
            a = srv.call("POST", base + "/edit", token=other, body={"plan": {"follow_up": {"within_days": 9}}})
            check(a.status == 404, "another clinic's doctor may not edit (404: as for an unknown id)")
            a = srv.call("POST", base + "/edit", token=doc,
                         body={"plan": {"follow_up": {"within_days": 9}}, "note": "本周复诊"})
            check(a.status == 200, f"the edit is accepted ({a.status} {a.raw[:200]!r})")
            edited = a.json()
            check(edited["status"] == "approved" and edited["version"] == proposal["version"] + 1
                  and edited["edited_from"] == proposal["version"], "a new approved version, edited from the proposal")
            check({"op": "replace", "path": "/follow_up/within_days", "value": 9} in edited["diff"],
                  f"the diff says what changed: {edited['diff']}")
            check(edited["decided_by"] and edited["decided_by"]["name"] and edited["decision_note"] == "本周复诊",
                  "who decided and the note")
            a = srv.call("POST", base + "/approve", token=doc, body={})
            check(a.status == 409, f"the edited proposal can no longer be approved ({a.status})")

            mine = srv.call("GET", "/api/v1/me/care-plan", token=me).json()["care_plan"]
            check(mine is not None and mine["version"] == edited["version"], "the patient sees the approved edit")
            check(mine and "下次随访" in mine["text"]["zh-CN"] and "Next visit" in mine["text"]["en"]
                  and edited["plan"]["follow_up"]["due"] in mine["text"]["en"], "in plain words, zh-CN and en")
            sync = srv.call("GET", "/api/v1/me/sync?since=0&limit=1000", token=me).json()
            plans = [c for c in sync["changes"] if c["entity"] == "care_plan"]
            check(len(plans) == 1 and plans[0]["data"]["version"] == edited["version"], "and in the sync feed")
            me_json = srv.call("GET", "/api/v1/me", token=me).json()
            check(me_json["care_plan"]["version"] == edited["version"] and me_json["targets"]["source"] == "care_plan",
                  "/api/v1/me shows the approved plan's targets")

            # --- a rejection needs a reason
            if check(bool(spare), "another patient of the clinic has a proposal"):
                version = plans_of(srv, doc, spare[0])["proposed"]["version"]
                target = f"/api/v1/clinic/patients/{spare[0]}/care-plans/{version}/reject"
                a = srv.call("POST", target, token=doc, body={"reason": "  "})
                check(a.status == 422 and a.json()["errors"][0]["pointer"] == "/reason", "a blank reason: 422 /reason")
                a = srv.call("POST", target, token=doc, body={"reason": "患者已转上级医院"})
                check(a.status == 200 and a.json()["status"] == "rejected"
                      and a.json()["decision_note"] == "患者已转上级医院", "rejected with the reason")
                check(srv.call("POST", target, token=doc, body={"reason": "again"}).status == 409, "only once")

        conn = sqlite3.connect(db)
        actions = [r[0] for r in conn.execute(
            "SELECT a.action FROM audit_log a JOIN users u ON u.id = a.actor_user_id WHERE u.username = ? "
            "AND a.action LIKE 'care_plan%' ORDER BY a.id", (doctor,))]
        conn.close()
        check("care_plan.edit" in actions and "care_plan.reject" in actions and "care_plans.read" in actions,
              f"the decisions and reads are audited: {sorted(set(actions))}")

    if failures:
        print(f"\n{len(failures)} failure(s):")
        for f in failures:
            print("  - " + f)
        return 1
    print("\ncare plans: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
