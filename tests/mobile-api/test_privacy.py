#!/usr/bin/env python3
"""The patient's privacy rights end to end (issue 15, items 16 and 17; PIPL):

- the separate consent to processing health data: its wording is public and
  versioned, with a digest of what was shown; activation needs it, explicitly;
  it is kept with its time; withdrawing stops the phone's uploads (JSON and
  FHIR), nothing is stored, and granting again lets them through; an account
  that never decided is asked and cannot upload;
- the patient's own access log: who opened the record (role, name, clinic,
  never a username), refusals included, newest first, in pages;
- the export of the whole record as a FHIR Bundle, by the patient and by the
  clinic, audited, complete and self-consistent;
- anonymisation by the administrator: audited, identity and free text gone,
  the account closed, the record no longer shown or listed, once only.

usage: test_privacy.py CARELOOP_BINARY
"""
import datetime as dt
import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from careloop_server import Server, check, demo_db, run, summary  # noqa: E402

CST = dt.timezone(dt.timedelta(hours=8))
CONSENT = {"version": "1", "accepted": True}


def at(minutes_ago):
    return (dt.datetime.now(CST) - dt.timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat()


def bp(minutes_ago, sys_=134, dia=86):
    return {"client_id": str(uuid.uuid4()), "kind": "blood_pressure", "taken_at": at(minutes_ago),
            "systolic": sys_, "diastolic": dia, "unit": "mmHg"}


def bp_observation(client_id, minutes_ago):
    loinc = "http://loinc.org"
    q = lambda v: {"value": v, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}  # noqa: E731
    return {"resourceType": "Observation", "status": "final",
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:" + client_id}],
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"coding": [{"system": loinc, "code": "85354-9"}]}, "effectiveDateTime": at(minutes_ago),
            "component": [{"code": {"coding": [{"system": loinc, "code": "8480-6"}]}, "valueQuantity": q(128)},
                          {"code": {"coding": [{"system": loinc, "code": "8462-4"}]}, "valueQuantity": q(82)}]}


def pointers(answer):
    body = answer.json() or {}
    return [e.get("pointer") for e in body.get("errors", [])]


def consent_flow(srv, db_path):
    """Wording, activation with consent, withdrawal and grant; returns (patient id, patient token, username)."""
    w = srv.call("GET", "/api/v1/consent/health-data")
    check(w.status == 200, "the consent wording is public (200 without a token)", w)
    wording = w.json()
    shown = "\n".join([wording["title"]["zh-CN"], wording["text"]["zh-CN"], wording["title"]["en"],
                       wording["text"]["en"]])
    check(wording["version"] == "1" and wording["sha256"] == hashlib.sha256(shown.encode()).hexdigest(),
          "the wording names its version and the SHA-256 of exactly what is shown", wording.get("sha256"))
    check("敏感个人信息" in wording["text"]["zh-CN"] and "withdraw" in wording["text"]["en"],
          "the wording says the data is sensitive and how to withdraw")
    bad = srv.call("GET", "/api/v1/consent/health-data?version=0")
    check(bad.status == 422 and pointers(bad) == ["/query/version"], "an unknown version is named (422)", bad)

    doctor = srv.login("doctor01", "demo-doctor")
    reg = srv.call("POST", "/api/v1/clinic/patients", doctor,
                   {"name": "张三丰", "sex": "male", "birth_date": "1958-03-14", "phone": "139 0000 2222",
                    "diagnoses": [{"code": "hypertension", "diagnosed_on": "2018-04-01"}], "external_id": "PRIV-001"})
    check(reg.status == 201, "a doctor registers a patient", reg)
    pid, code = reg.json()["patient"]["id"], reg.json()["activation"]["code"]
    base = {"code": code, "username": "zhang.sanfeng", "password": "zhang-san-feng-1958"}
    a = srv.call("POST", "/api/v1/auth/activate", body=base)
    check(a.status == 422 and "/consent" in pointers(a), "activation without consent is refused, naming /consent", a)
    a = srv.call("POST", "/api/v1/auth/activate", body={**base, "consent": {"version": "1", "accepted": False}})
    check(a.status == 422 and "/consent/accepted" in pointers(a), "consent must be explicit (accepted: true)", a)
    a = srv.call("POST", "/api/v1/auth/activate", body={**base, "consent": {"version": "0", "accepted": True}})
    check(a.status == 422 and "/consent/version" in pointers(a), "consent to a wording not asked now is refused", a)
    check(srv.call("POST", "/api/v1/auth/login", body={"username": base["username"], "password": base["password"]})
          .status == 401, "a refused activation created no account")
    a = srv.call("POST", "/api/v1/auth/activate", body={**base, "consent": CONSENT})
    check(a.status == 201, "activation with consent creates the account (201)", a)
    token = a.json()["token"]
    me = srv.call("GET", "/api/v1/me", token).json()
    check(me["consent"] == {"purpose": "health-data", "current_version": "1", "status": "granted",
                            "granted_version": "1", "needs_decision": False},
          "/me says the consent is granted under the current wording", me.get("consent"))
    history = srv.call("GET", "/api/v1/me/consent", token).json()["history"]
    check(len(history) == 1 and history[0]["sha256"] == wording["sha256"] and history[0]["decision"] == "granted",
          "the decision is kept with its time and the digest of the wording", history)

    ok = srv.call("POST", "/api/v1/me/readings", token, {"readings": [bp(30)]})
    check(ok.status == 200 and ok.json()["results"][0]["status"] == "created", "with consent, a reading is stored", ok)

    w = srv.call("POST", "/api/v1/me/consent", token, {"version": "1", "decision": "withdrawn"})
    check(w.status == 201 and w.json()["status"] == "withdrawn", "the patient withdraws (201)", w)
    refused = bp(20)
    r = srv.call("POST", "/api/v1/me/readings", token, {"readings": [refused]})
    check(r.status == 403 and (r.json() or {}).get("type", "").endswith("consent-required"),
          "after withdrawal an upload is refused with consent-required (403)", r)
    obs_id = str(uuid.uuid4())
    f = srv.call("POST", "/fhir/Observation", token, bp_observation(obs_id, 15), content_type="application/fhir+json")
    check(f.status == 403 and (f.json() or {}).get("resourceType") == "OperationOutcome",
          "after withdrawal a FHIR upload is refused too (403 OperationOutcome)", f)
    db = sqlite3.connect(db_path)
    stored = {row[0] for row in db.execute("SELECT client_id FROM readings WHERE patient_id = ?", (pid,))}
    db.close()
    check(refused["client_id"] not in stored and obs_id not in stored, "nothing refused was stored", stored)
    check(srv.call("GET", "/api/v1/me/readings", token).status == 200,
          "the patient still reads the record after withdrawing (access is a right)")
    g = srv.call("POST", "/api/v1/me/consent", token, {"version": "1", "decision": "granted"})
    check(g.status == 201 and [h["decision"] for h in g.json()["history"]] == ["granted", "withdrawn", "granted"],
          "granting again is kept too, newest first", g)
    r = srv.call("POST", "/api/v1/me/readings", token, {"readings": [refused]})
    check(r.status == 200 and r.json()["results"][0]["status"] == "created",
          "after granting again the queued reading goes through", r)
    bad = srv.call("POST", "/api/v1/me/consent", token, {"version": "1", "decision": "maybe", "extra": 1})
    check(bad.status == 422 and set(pointers(bad)) == {"/decision", "/extra"}, "a bad decision names its fields", bad)
    check(srv.call("POST", "/api/v1/me/consent", doctor, {"version": "1", "decision": "granted"}).status == 403,
          "staff cannot decide for a patient (403)")

    # A patient account made without the app (the command line) has decided nothing.
    other = srv.call("POST", "/api/v1/clinic/patients", doctor,
                     {"name": "李四", "sex": "female", "birth_date": "1962-05-05"}).json()["patient"]
    run([srv.binary, "--db", db_path, "user", "add", "--role", "patient", "--username", "li.si",
         "--patient", str(other["id"]), "--clinic", str(other["clinic_id"])], stdin="li-si-password-1\n")
    li = srv.login("li.si", "li-si-password-1")
    c = srv.call("GET", "/api/v1/me", li).json()["consent"]
    check(c["status"] == "none" and c["needs_decision"] is True, "an account without a decision is asked for one", c)
    r = srv.call("POST", "/api/v1/me/readings", li, {"readings": [bp(10)]})
    check(r.status == 403, "and cannot upload until it decides (403)", r)
    return pid, token, base["username"]


def access_log_flow(srv, pid, token):
    doctor = srv.login("doctor01", "demo-doctor")
    stranger = srv.login("doctor03", "demo-doctor")
    check(srv.call("GET", f"/api/v1/clinic/patients/{pid}", doctor).status == 200, "the clinic's doctor opens the record")
    check(srv.call("GET", f"/api/v1/clinic/patients/{pid}", stranger).status == 404,
          "another clinic's doctor is refused (404)")
    # A refusal is noted without holding up the answer: its entry may land a moment later.
    deadline = time.monotonic() + 5
    while True:
        log = srv.call("GET", "/api/v1/me/access-log", token)
        entries = (log.json() or {}).get("entries", []) if log.status == 200 else []
        if any(e["outcome"] == "refused" for e in entries) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    check(log.status == 200, "the patient reads its access log", log)
    reads = [e for e in entries if e["action"] == "patient.read"]
    check(reads and reads[0]["actor"]["role"] == "doctor" and reads[0]["actor"]["display_name"]
          and reads[0]["actor"]["clinic"] and not reads[0]["actor"]["self"] and reads[0]["outcome"] == "allowed",
          "the doctor's opening is listed with role, name and clinic", reads[:1])
    refusals = [e for e in entries if e["outcome"] == "refused"]
    check(refusals and refusals[0]["actor"]["role"] == "doctor", "the refused attempt is listed as refused", refusals)
    check(any(e["action"] == "consent.granted" and e["actor"]["self"] for e in entries),
          "the patient's own consent decisions are in it, marked as its own")
    check("doctor01" not in log.raw.decode() and "doctor03" not in log.raw.decode(),
          "no username is shown, only names and roles")
    ids = [e["id"] for e in entries]
    check(ids == sorted(ids, reverse=True), "newest first", ids)
    first = srv.call("GET", "/api/v1/me/access-log?limit=2", token).json()
    check(len(first["entries"]) == 2 and first["next_before"] == first["entries"][-1]["id"], "a page of 2 says where next")
    second = srv.call("GET", f"/api/v1/me/access-log?limit=2&before={first['next_before']}", token).json()
    check(second["entries"] and all(e["id"] < first["next_before"] for e in second["entries"]),
          "the next page holds only older entries", second)
    check(srv.call("GET", "/api/v1/me/access-log?limit=0", token).status == 422, "a bad limit is refused (422)")
    check(srv.call("GET", "/api/v1/me/access-log", doctor).status == 403, "staff have no /me access log (403)")


def export_flow(srv, pid, token):
    doctor = srv.login("doctor01", "demo-doctor")
    check(srv.call("POST", f"/api/v1/clinic/patients/{pid}/messages", doctor, {"text": "张先生，周一请来复诊"}).status == 201,
          "the clinic sends the patient a message")
    readings = srv.call("GET", "/api/v1/me/readings?limit=1000", token).json()["readings"]
    ex = srv.call("GET", "/api/v1/me/export", token)
    check(ex.status == 200 and ex.headers.get("content-type", "").startswith("application/fhir+json"),
          "the patient downloads the record as FHIR JSON", ex)
    check("attachment" in ex.headers.get("content-disposition", "") and ex.headers.get("cache-control") == "no-store",
          "as a file, never cached", ex.headers)
    b = ex.json()
    check(b["resourceType"] == "Bundle" and b["type"] == "collection", "a Bundle of type collection")
    res = [e["resource"] for e in b["entry"]]
    kinds = {}
    for r in res:
        kinds.setdefault(r["resourceType"], []).append(r)
    keys = [(r["resourceType"], r["id"]) for r in res]
    check(len(keys) == len(set(keys)), "every resource has an id of its own")
    patients = kinds.get("Patient", [])
    check(len(patients) == 1 and patients[0]["name"][0]["text"] == "张三丰" and patients[0]["birthDate"] == "1958-03-14",
          "one Patient, with name and birth date", patients)
    obs = kinds.get("Observation", [])
    check(len(obs) == len(readings) and {o["id"] for o in obs} == {str(r["id"]) for r in readings},
          "every reading is an Observation", (len(obs), len(readings)))
    cond = kinds.get("Condition", [])
    check(any(c["code"]["coding"][0] == {"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10",
                                        "display": "Essential (primary) hypertension"} for c in cond),
          "the diagnosis is a Condition coded in ICD-10", cond)
    check(len(kinds.get("Consent", [])) == 3, "every consent decision is a Consent", len(kinds.get("Consent", [])))
    comms = kinds.get("Communication", [])
    check(len(comms) == 1 and comms[0]["payload"][0]["contentString"] == "张先生，周一请来复诊",
          "the clinic's message is a Communication", comms)
    refs = [r.get("subject", r.get("patient", {})).get("reference") for r in res if r["resourceType"] != "Patient"]
    check(refs and all(x == f"Patient/{pid}" for x in refs), "every resource points at the patient", set(refs))
    log = srv.call("GET", "/api/v1/me/access-log?limit=5", token).json()["entries"]
    check(log and log[0]["action"] == "record.export" and log[0]["actor"]["self"], "the export is in the access log")

    staff = srv.call("GET", f"/api/v1/clinic/patients/{pid}/export", doctor)
    check(staff.status == 200 and len(staff.json()["entry"]) == len(b["entry"]),
          "the clinic's export holds the same record", staff)
    log = srv.call("GET", "/api/v1/me/access-log?limit=5", token).json()["entries"]
    check(log[0]["action"] == "record.export" and log[0]["actor"]["role"] == "doctor", "and is audited as the doctor's")
    check(srv.call("GET", f"/api/v1/clinic/patients/{pid}/export", srv.login("doctor03", "demo-doctor")).status == 404,
          "another clinic's doctor cannot export it (404)")
    check(srv.call("GET", f"/api/v1/clinic/patients/{pid}/export", srv.login("authority", "demo-authority")).status == 403,
          "an authority cannot export a record (403)")


def anonymise_flow(srv, db_path, pid, token, username):
    admin = srv.login("admin", "demo-admin")
    doctor = srv.login("doctor01", "demo-doctor")
    path = f"/api/v1/admin/patients/{pid}/anonymise"
    listed = lambda: [p["id"] for p in srv.call("GET", "/api/v1/clinic/patients?limit=200", doctor).json()["items"]]  # noqa: E731
    check(pid in listed(), "before: the patient is in the clinic's list")
    db = sqlite3.connect(db_path)
    readings_before, = db.execute("SELECT count(*) FROM readings WHERE patient_id = ?", (pid,)).fetchone()
    db.close()
    check(srv.call("POST", path, doctor, {"reason": "x", "confirm_patient_id": pid}).status == 403,
          "a doctor cannot anonymise (403)")
    a = srv.call("POST", path, admin, {"reason": "患者 2026-12-07 书面申请删除", "confirm_patient_id": pid + 1})
    check(a.status == 422 and pointers(a) == ["/confirm_patient_id"], "the confirmation must repeat the id (422)", a)
    a = srv.call("POST", path, admin, {"confirm_patient_id": pid})
    check(a.status == 422 and pointers(a) == ["/reason"], "a reason is required (422)", a)
    a = srv.call("POST", path, admin, {"reason": "患者 2026-12-07 书面申请删除", "confirm_patient_id": pid})
    check(a.status == 200, "the administrator anonymises the record (200)", a)
    got = a.json()
    check(got["accounts_closed"] == 1 and got["sessions_revoked"] >= 1 and got["messages_deleted"] == 1,
          "the account is closed, its sessions ended, the message deleted", got)
    check(srv.call("GET", "/api/v1/me", token).status == 401, "the patient's session has ended (401)")
    check(srv.call("POST", "/api/v1/auth/login", body={"username": username, "password": "zhang-san-feng-1958"})
          .status == 401, "the account cannot log in again")
    g = srv.call("GET", f"/api/v1/clinic/patients/{pid}", doctor)
    check(g.status == 410, "the record is no longer shown to staff (410 Gone)", g)
    check(srv.call("GET", f"/api/v1/clinic/patients/{pid}/readings", doctor).status == 410, "nor its readings (410)")
    check(pid not in listed(), "nor listed")
    check(srv.call("POST", path, admin, {"reason": "again", "confirm_patient_id": pid}).status == 409,
          "anonymising twice is a conflict (409)")
    db = sqlite3.connect(db_path)
    name, phone, birth, ext, when = db.execute(
        "SELECT name, phone, birth_date, external_id, anonymised_at_ms FROM patients WHERE id = ?", (pid,)).fetchone()
    check((name, phone, birth, ext) == ("", "", "1958-03-01", None) and when,
          "stored: no name, phone or record number; the birth date kept to its month",
          (name, phone, birth, ext, when))
    user, = db.execute("SELECT username FROM users WHERE patient_id = ?", (pid,)).fetchone()
    check(user.startswith("anonymised-"), "the username is gone", user)
    messages, = db.execute("SELECT count(*) FROM messages WHERE patient_id = ?", (pid,)).fetchone()
    readings_after, = db.execute("SELECT count(*) FROM readings WHERE patient_id = ?", (pid,)).fetchone()
    check(messages == 0 and readings_after == readings_before,
          "free text is deleted, the readings' values stay for the aggregates", (messages, readings_after))
    audit = db.execute("SELECT actor_user_id, detail FROM audit_log WHERE action = 'patient.anonymise' "
                       "AND patient_id = ?", (pid,)).fetchall()
    db.close()
    check(len(audit) == 1 and "书面申请" in audit[0][1], "audited once, with the reason", audit)


def main(argv):
    binary = argv[1]
    with tempfile.TemporaryDirectory(prefix="careloop-privacy-") as workdir:
        db = demo_db(binary, workdir)
        with Server(binary, db) as srv:
            srv.binary = binary
            pid, token, username = consent_flow(srv, db)
            access_log_flow(srv, pid, token)
            export_flow(srv, pid, token)
            anonymise_flow(srv, db, pid, token, username)
    return summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
