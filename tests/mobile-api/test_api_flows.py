#!/usr/bin/env python3
"""The mobile API's flows end to end, against the careloop binary:

- a clinic registers a patient and hands out a code; the patient activates an
  account with it once; a reissued code voids the old one; a lost phone is
  handled by activating again (old sessions end);
- password change: the other sessions end, the old password stops working;
  a wrong current password is 422 and, repeated, 429;
- failed logins are refused for a while with 429 and Retry-After, per account
  and per address;
- two devices of one patient: duplicates by client id and by content return
  the original id; the sync feed brings each device the other's readings and
  the clinic's messages, in seq order, paged, with a late reading after every
  earlier cursor.

usage: test_api_flows.py CARELOOP_BINARY
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


def bp(cid, minutes_ago, sys_=132, dia=84):
    return {"client_id": cid, "kind": "blood_pressure", "taken_at": at(minutes_ago), "systolic": sys_,
            "diastolic": dia, "unit": "mmHg"}


def activation_flow(srv):
    doctor = srv.login("doctor01", "demo-doctor")
    a = srv.call("POST", "/api/v1/clinic/patients", doctor,
                 {"name": "李建华", "sex": "male", "birth_date": "1958-03-14", "phone": "138 0000 1111", "height_cm": 168,
                  "diagnoses": [{"code": "diabetes_t2", "diagnosed_on": "2019-06-01"}], "external_id": "HT-0001"})
    check(a.status == 201, "a doctor registers a patient (201)", a)
    body = a.json()
    pid, code = body["patient"]["id"], body["activation"]["code"]
    check(a.headers.get("location") == f"/api/v1/clinic/patients/{pid}", "Location names the new patient")
    check(len(code) == 10 and body["activation"]["expires_at"].endswith("Z"), "a 10-character code with its expiry")
    again = srv.call("POST", "/api/v1/clinic/patients", doctor,
                     {"name": "李建华", "sex": "male", "birth_date": "1958-03-14", "external_id": "HT-0001"})
    check(again.status == 409, "the clinic's record number is unique (409)", again)
    bad = srv.call("POST", "/api/v1/clinic/patients", doctor,
                   {"name": "", "sex": "x", "birth_date": "2999-01-01", "diagnoses": [{"code": "flu"}]})
    pointers = {e["pointer"] for e in bad.json().get("errors", [])}
    check(bad.status == 422 and {"/name", "/sex", "/birth_date", "/diagnoses/0/code"} <= pointers,
          "every bad registration field is named", pointers)

    # Typed from paper: lower case and dashes still work.
    typed = code[:5].lower() + "-" + code[5:]
    a = srv.call("POST", "/api/v1/auth/activate", body={"code": typed, "username": "lijianhua", "password": "short", "consent": {"version": "1", "accepted": True}})
    check(a.status == 422 and a.json()["errors"][0]["pointer"] == "/password", "password rules apply at activation", a)
    a = srv.call("POST", "/api/v1/auth/activate", body={"code": typed, "username": "doctor02", "password": "li-jian-hua-1958", "consent": {"version": "1", "accepted": True}})
    check(a.status == 409, "a taken username is a conflict, and the code survives", a)
    a = srv.call("POST", "/api/v1/auth/activate", body={"code": typed, "username": "lijianhua", "password": "li-jian-hua-1958", "consent": {"version": "1", "accepted": True}})
    check(a.status == 201 and a.json()["user"]["patient_id"] == pid and a.json()["user"]["role"] == "patient",
          "activation creates the patient's account and logs it in (201)", a)
    phone1 = a.json()["token"]
    me = srv.call("GET", "/api/v1/me", phone1)
    check(me.status == 200 and me.json()["patient"]["name"] == "李建华", "the new account reads its own record", me)
    a = srv.call("POST", "/api/v1/auth/activate", body={"code": code, "username": "someone", "password": "li-jian-hua-1958", "consent": {"version": "1", "accepted": True}})
    check(a.status == 422 and a.json()["errors"][0]["pointer"] == "/code", "a used code is refused", a)

    # Lost phone: the clinic reissues; the first reissued code is voided by the second.
    first = srv.call("POST", f"/api/v1/clinic/patients/{pid}/activation", doctor).json()["code"]
    second = srv.call("POST", f"/api/v1/clinic/patients/{pid}/activation", doctor).json()["code"]
    a = srv.call("POST", "/api/v1/auth/activate", body={"code": first, "username": "lijianhua2", "password": "new-phone-2026", "consent": {"version": "1", "accepted": True}})
    check(a.status == 422, "a reissued code voids the earlier one", a)
    a = srv.call("POST", "/api/v1/auth/activate", body={"code": second, "username": "lijianhua2", "password": "new-phone-2026", "consent": {"version": "1", "accepted": True}})
    check(a.status == 201 and a.json()["user"]["patient_id"] == pid, "activating again takes over the same account", a)
    check(srv.call("GET", "/api/v1/me", phone1).status == 401, "the lost phone's session has ended")
    check(srv.call("POST", "/api/v1/auth/login", body={"username": "lijianhua", "password": "li-jian-hua-1958", "consent": {"version": "1", "accepted": True}}).status == 401,
          "the old username and password no longer work")
    phone2 = srv.login("lijianhua2", "new-phone-2026")

    # Risk: 2 s after an upload the patient is rescored; a diabetic patient gets no
    # diabetes-risk score (the model is for people without it), the hypertension model
    # applies once it has every input (home blood pressure, BMI from the weight): none
    # of its features was ever missing in training, so none may be missing here.
    a = srv.call("POST", "/api/v1/me/readings", phone2, {"readings": [bp(str(uuid.uuid4()), 60 * (i + 1), 128 + i, 82)
                                                                      for i in range(3)]})
    check(a.status == 200, "the new patient uploads three readings", a)
    time.sleep(3)
    check(srv.call("GET", "/api/v1/me/risk", phone2).json()["scores"] == [],
          "no score while BMI is unknown (no weight yet)")
    a = srv.call("POST", "/api/v1/me/readings", phone2, {"readings": [
        {"client_id": str(uuid.uuid4()), "kind": "weight", "taken_at": at(30 + 60 * i), "value": 72.5 + i * 0.2,
         "unit": "kg"} for i in range(3)]})
    check(a.status == 200, "the new patient uploads three weights (a home mean needs three)", a)
    deadline = time.monotonic() + 15
    scores = []
    while time.monotonic() < deadline and not scores:
        time.sleep(0.5)
        scores = srv.call("GET", "/api/v1/me/risk", phone2).json()["scores"]
    models = {x["model_id"] for x in scores}
    check(models == {"hypertension-4y"}, "the upload is scored within seconds, by the models that apply only", models)
    if scores:
        x = scores[0]
        check(x["text"]["en"].startswith("About ") and "in 100 people" in x["text"]["en"] and x["text"]["zh-CN"],
              "the patient reads the score in words, in both languages", x["text"])
    clinic = srv.call("GET", f"/api/v1/clinic/patients/{pid}/risk", doctor).json()
    check(len(clinic["scores"]) == 1 and len(clinic["scores"][0]["factors"]) == 3 and
          clinic["scores"][0]["band"] in ("low", "moderate", "high"),
          "the doctor sees the score with its top three factors and band", clinic)

    other_clinic = srv.login("doctor03", "demo-doctor")
    check(srv.call("POST", f"/api/v1/clinic/patients/{pid}/activation", other_clinic).status == 404,
          "another clinic's doctor cannot issue codes for this patient (404: as for an unknown id)")
    return pid


def password_flow(srv):
    t1 = srv.login("patient01", "demo-patient")
    t2 = srv.login("patient01", "demo-patient")
    a = srv.call("POST", "/api/v1/auth/password", t1, {"current_password": "demo-patient", "new_password": "short"})
    check(a.status == 422 and a.json()["errors"][0]["pointer"] == "/new_password", "new password rules", a)
    a = srv.call("POST", "/api/v1/auth/password", t1, {"current_password": "wrong-one", "new_password": "a-better-pass"})
    check(a.status == 422 and a.json()["errors"][0]["pointer"] == "/current_password", "wrong current password is 422", a)
    a = srv.call("POST", "/api/v1/auth/password", t1, {"current_password": "demo-patient", "new_password": "a-better-pass"})
    check(a.status == 204, "password changed (204)", a)
    check(srv.call("GET", "/api/v1/me", t1).status == 200, "the session that changed it goes on")
    check(srv.call("GET", "/api/v1/me", t2).status == 401, "every other session has ended")
    check(srv.call("POST", "/api/v1/auth/login", body={"username": "patient01", "password": "demo-patient"}).status == 401,
          "the old password no longer works")
    srv.login("patient01", "a-better-pass")


def throttle_flow(srv):
    # The server runs with --login-slow-after 100 --login-lock-after 3: no slowing, a lock after 3 failures.
    for i in range(3):
        a = srv.call("POST", "/api/v1/auth/login", body={"username": "doctor04", "password": f"guess-{i}"})
        check(a.status == 401, f"failed login {i + 1} is 401", a)
    a = srv.call("POST", "/api/v1/auth/login", body={"username": "DOCTOR04", "password": "demo-doctor"})
    retry = a.headers.get("retry-after", "")
    check(a.status == 429 and retry.isdigit() and int(retry) > 0,
          "after 3 failures the account is refused with 429 and Retry-After, even with the right password "
          "and another spelling of the name", a)
    check(a.headers.get("content-type", "").startswith("application/problem+json"), "the 429 is problem+json")
    check(srv.call("POST", "/api/v1/auth/login", body={"username": "doctor02", "password": "demo-doctor"}).status == 200,
          "another account from the same address still logs in")
    # The address: 5 x 3 = 15 failures from one address over any accounts lock the address.
    for i in range(15):
        srv.call("POST", "/api/v1/auth/login", body={"username": f"nobody{i}", "password": "guess"})
    a = srv.call("POST", "/api/v1/auth/login", body={"username": "doctor02", "password": "demo-doctor"})
    check(a.status == 429 and a.headers.get("retry-after", "").isdigit(), "then the address itself is refused", a)


def sync_flow(srv, binary, db):
    phone = srv.login("patient02", "demo-patient")
    tablet = srv.login("patient02", "demo-patient")
    # The tablet drains the feed first.
    cursor = 0
    while True:
        page = srv.call("GET", f"/api/v1/me/sync?since={cursor}&limit=1000", tablet).json()
        cursor = page["next"]
        if not page["more"]:
            break

    ids = [str(uuid.uuid4()) for _ in range(5)]
    a = srv.call("POST", "/api/v1/me/readings", phone, {"readings": [bp(ids[i], 30 + i, 130 + i) for i in range(5)]})
    check(a.status == 200 and [r["status"] for r in a.json()["results"]] == ["created"] * 5, "the phone uploads 5", a)
    created = {r["client_id"]: r["id"] for r in a.json()["results"]}
    # The phone retries the same batch blindly; a second app uploads the same meter reading under its own id.
    again = srv.call("POST", "/api/v1/me/readings", phone, {"readings": [bp(ids[i], 30 + i, 130 + i) for i in range(5)]})
    check([r["status"] for r in again.json()["results"]] == ["duplicate"] * 5 and
          all(r["id"] == created[r["client_id"]] for r in again.json()["results"]),
          "a blind retry gives duplicates with the original ids", again)
    twin = srv.call("POST", "/api/v1/me/readings", tablet, {"readings": [bp(str(uuid.uuid4()), 30, 130)]})
    r = twin.json()["results"][0]
    check(r["status"] == "duplicate" and r["id"] == created[ids[0]],
          "the same reading from another app (same instant and values) is a duplicate of the original", twin)

    # A batch with nothing valid is refused as a whole (422), its items still answered one by one.
    bad = [bp(str(uuid.uuid4()), 10, 80, 95), dict(bp(str(uuid.uuid4()), 11), taken_at="2026-11-20T08:00:00")]
    a = srv.call("POST", "/api/v1/me/readings", phone, {"readings": bad})
    body = a.json()
    check(a.status == 422 and a.headers.get("content-type", "").startswith("application/problem+json") and
          [r["status"] for r in body["results"]] == ["rejected", "rejected"] and
          {e["pointer"] for e in body["errors"]} == {"/readings/0/systolic", "/readings/1/taken_at"},
          "a batch with no valid reading is 422, naming each item's field", a)

    doctor = srv.login("doctor03", "demo-doctor")
    me = srv.call("GET", "/api/v1/me", phone).json()
    msg = srv.call("POST", f"/api/v1/clinic/patients/{me['patient']['id']}/messages", doctor, {"text": "血压偏高，请来门诊复查"})
    check(msg.status == 201, "the clinic sends a message", msg)

    # The tablet pulls in pages of 2 and sees the 5 readings and the message, in seq order, once each.
    seen, seqs, pages = [], [], 0
    while True:
        page = srv.call("GET", f"/api/v1/me/sync?since={cursor}&limit=2", tablet).json()
        pages += 1
        for c in page["changes"]:
            seen.append((c["entity"], c["id"]))
            seqs.append(c["seq"])
        check(page["next"] >= cursor, "the cursor never goes back")
        cursor = page["next"]
        if not page["more"]:
            break
    check(sorted(seqs) == seqs and len(set(seqs)) == len(seqs), "changes come in strictly increasing seq order", seqs)
    readings_seen = {i for (e, i) in seen if e == "reading"}
    check(readings_seen == set(created.values()), "the tablet receives each of the phone's readings once",
          f"{readings_seen} vs {set(created.values())}")
    check(("message", msg.json()["id"]) in seen, "and the clinic's message")
    check(pages >= 3, "in several pages", pages)

    # A reading taken days ago but uploaded now (an offline phone) lands after the cursor.
    late = str(uuid.uuid4())
    srv.call("POST", "/api/v1/me/readings", phone, {"readings": [bp(late, 3 * 24 * 60, 141, 92)]})
    page = srv.call("GET", f"/api/v1/me/sync?since={cursor}", tablet).json()
    check([c["data"]["client_id"] for c in page["changes"] if c["entity"] == "reading"] == [late],
          "a late upload of an old reading appears after every earlier cursor", page)
    bad = srv.call("GET", "/api/v1/me/sync?since=-1", tablet)
    check(bad.status == 422 and bad.json()["errors"][0]["pointer"] == "/query/since", "a bad cursor is named", bad)


def main(argv):
    binary = argv[1]
    with tempfile.TemporaryDirectory(prefix="careloop-flows-") as workdir:
        db = demo_db(binary, workdir, patients=40, clinics=2)
        started = time.monotonic()
        with Server(binary, db, ["--login-slow-after", "100", "--login-lock-after", "3"]) as srv:
            activation_flow(srv)
            password_flow(srv)
            sync_flow(srv, binary, db)
            throttle_flow(srv)  # last: it locks the test's own address
        print(f"({time.monotonic() - started:.1f} s)")
    if failures:
        print(f"\n{len(failures)} failure(s):")
        for f in failures:
            print("  - " + f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
