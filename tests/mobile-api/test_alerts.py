#!/usr/bin/env python3
"""Critical alerts end to end (issue 4 items 6, 8 and 10).

A critical blood pressure posted through POST /api/v1/me/readings: the alert
is in GET /api/v1/clinic/alerts as soon as the upload is answered, a
connected SSE stream gets it within 1 s, a repeat folds into the same alert
(count 2), a reconnect with Last-Event-ID misses nothing and repeats nothing,
the patient's sync feed tells what to do now, a normal reading raises
nothing, and acknowledging works, is scoped to the clinic and is audited.
(That server runs the warning-tier review an hour after an upload, so only
the critical tier is in play.)

Then, with the review 0.3 s after an upload, the timers every 0.2 s and
escalation after 1.8 s: the first sweep opens a stale-data warning for a
patient whose readings stopped 30 days ago; three high readings reach the
stream as a warning alert (alert.opened) and auto-resolve the stale-data
alert (alert.resolved, auto); a critical reading raises the warning's tier
and, unacknowledged, escalates (alert.escalated) on the stream.

usage: test_alerts.py CARELOOP_BINARY
"""
import datetime as dt
import http.client
import json
import os
import queue
import sqlite3
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from careloop_server import Server, demo_db  # noqa: E402

CST = dt.timezone(dt.timedelta(hours=8))
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
    return ok


def taken(minutes_ago):
    return (dt.datetime.now(CST) - dt.timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat()


def bp(systolic, diastolic, minutes_ago):
    return {"client_id": str(uuid.uuid4()), "kind": "blood_pressure", "taken_at": taken(minutes_ago),
            "systolic": systolic, "diastolic": diastolic, "unit": "mmHg"}


class Stream:
    """GET /api/v1/clinic/events read line by line on a thread; events land in a queue with their arrival time."""

    def __init__(self, port, token, last_event_id=None):
        self.events = queue.Queue()
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", "/api/v1/clinic/events", headers=headers)
        self.sock = self.conn.sock
        self.res = self.conn.getresponse()
        self.status = self.res.status
        self.content_type = self.res.getheader("Content-Type", "")
        self.heartbeats = 0
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        event = {}
        try:
            while True:
                line = self.res.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line == "":
                    if "data" in event:
                        event["arrived"] = time.monotonic()
                        self.events.put(event)
                    event = {}
                elif line.startswith(":"):
                    self.heartbeats += 1
                else:
                    field, _, val = line.partition(":")
                    val = val[1:] if val.startswith(" ") else val
                    event[field] = event.get(field, "") + val if field == "data" else val
        except (OSError, ValueError, http.client.HTTPException):
            return

    def next(self, timeout):
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self, quiet=0.5):
        out = []
        while (e := self.next(quiet)) is not None:
            out.append(e)
        return out

    def close(self):
        try:
            self.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


def wait_for_event(stream, want, timeout):
    """The first event for which want(kind, payload) holds, within timeout seconds; None if none."""
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        e = stream.next(timeout=left)
        if e is None:
            return None
        payload = json.loads(e["data"])
        if want(e.get("event"), payload):
            return payload
    return None


def warning_and_escalation(binary, workdir):
    ended = (dt.datetime.now(CST) - dt.timedelta(days=30)).date().isoformat()
    db_path = demo_db(binary, workdir, patients=12, clinics=2, days=10, end_date=ended, name="stale.db")
    db = sqlite3.connect(db_path)
    patient_id, = db.execute("SELECT p.id FROM users u JOIN patients p ON p.id = u.patient_id "
                             "WHERE u.username = 'patient01'").fetchone()
    db.close()
    args = ("--review-delay", "0.3", "--alert-sweep", "0.2", "--escalate-after", "0.03")
    with Server(binary, db_path, extra_args=args) as srv:
        patient = srv.login("patient01", "demo-patient")
        doctor = srv.login("doctor01", "demo-doctor")

        def mine(signal):
            listed = srv.call("GET", "/api/v1/clinic/alerts", token=doctor).json()["alerts"]
            return [a for a in listed if a["patient_id"] == patient_id and a["signal"] == signal]

        stale = []
        for _ in range(50):
            if (stale := mine("stale_data")):
                break
            time.sleep(0.1)
        check(len(stale) == 1 and stale[0]["tier"] == "warning",
              f"the first sweep opens a stale-data warning for a patient silent for 30 days: {stale}")

        stream = Stream(srv.port, doctor)
        check(stream.status == 200, "the doctor's stream opens")
        time.sleep(0.3)
        now = dt.datetime.now(CST)

        def at(days_ago):
            return (now - dt.timedelta(days=days_ago)).replace(microsecond=0).isoformat()

        week = [{"client_id": str(uuid.uuid4()), "kind": "blood_pressure", "taken_at": at(d),
                 "systolic": s, "diastolic": 96, "unit": "mmHg"} for d, s in ((3, 150), (2, 156), (1, 162))]
        # A glucose reading too: with diabetes, no glucose for 14 days is stale data as well.
        week.append({"client_id": str(uuid.uuid4()), "kind": "glucose", "taken_at": at(1), "value": 6.1,
                     "unit": "mmol/L", "context": "fasting"})
        up = srv.call("POST", "/api/v1/me/readings", token=patient, body={"readings": week})
        check(up.status == 200 and all(r["status"] == "created" for r in up.json()["results"]),
              f"three high readings are stored: {up}")
        check(mine("bp_high") == [], "no alert in the upload's own transaction (150-162 is not critical)")
        opened = wait_for_event(stream, lambda k, p: k == "alert.opened" and p["alert"]["patient_id"] == patient_id
                                and p["alert"]["signal"] == "bp_high", 5)
        check(opened is not None and opened["alert"]["tier"] == "warning",
              f"the review after the commit puts a warning on the stream: {opened}")
        listed = mine("bp_high")
        check(len(listed) == 1 and listed[0]["tier"] == "warning" and listed[0]["status"] == "open",
              f"... and in the list: {listed}")
        for _ in range(20):  # the review that opened the warning resolved it in the same job
            if not mine("stale_data"):
                break
            time.sleep(0.1)
        check(mine("stale_data") == [], f"the new readings cleared the stale-data alert: {mine('stale_data')}")

        crit = srv.call("POST", "/api/v1/me/readings", token=patient, body={"readings": [bp(186, 124, 0)]})
        check(crit.status == 200, f"a critical reading is stored: {crit}")
        raised = wait_for_event(stream, lambda k, p: k == "alert.tier_raised" and p["alert"]["patient_id"] == patient_id, 3)
        check(raised is not None and raised["alert"]["tier"] == "critical",
              f"the warning becomes critical on the stream: {raised}")
        escalated = wait_for_event(stream, lambda k, p: k == "alert.escalated" and p["alert"]["patient_id"] == patient_id, 8)
        check(escalated is not None and escalated["alert"]["escalated_at"] is not None
              and escalated["alert"]["status"] == "open",
              f"unacknowledged, it escalates and is delivered again: {escalated}")
        stream.close()

        # The stale-data alert's resolution is on a resumed stream (it may have come before the first one opened).
        replay = Stream(srv.port, doctor, last_event_id=0)
        resolved = wait_for_event(replay, lambda k, p: k == "alert.resolved" and p["alert"]["patient_id"] == patient_id
                                  and p["alert"]["signal"] == "stale_data", 3)
        check(resolved is not None and resolved.get("auto") is True,
              f"the stale-data alert resolved itself (auto) on the stream: {resolved}")
        replay.close()


def main(argv):
    binary = argv[1]
    with tempfile.TemporaryDirectory(prefix="careloop-alerts-") as workdir:
        db_path = demo_db(binary, workdir, patients=40, clinics=2)
        db = sqlite3.connect(db_path)
        patient_id, clinic_id = db.execute(
            "SELECT p.id, p.clinic_id FROM users u JOIN patients p ON p.id = u.patient_id "
            "WHERE u.username = 'patient01'").fetchone()
        dx = {r[0] for r in db.execute("SELECT code FROM patient_diagnoses WHERE patient_id = ?", (patient_id,))}
        doctor_clinic, = db.execute("SELECT clinic_id FROM users WHERE username = 'doctor01'").fetchone()
        db.close()
        check(doctor_clinic == clinic_id, "doctor01 works in patient01's clinic")
        check("hypertension" in dx, f"patient01 has hypertension (diagnoses {sorted(dx)})")

        with Server(binary, db_path, extra_args=("--review-delay", "3600")) as srv:
            patient = srv.login("patient01", "demo-patient")
            doctor = srv.login("doctor01", "demo-doctor")
            other_doctor = srv.login("doctor03", "demo-doctor")
            authority = srv.login("authority", "demo-authority")

            before = srv.call("GET", "/api/v1/clinic/alerts", token=doctor)
            check(before.status == 200 and before.json()["alerts"] == [], f"no open alert yet: {before}")

            stream = Stream(srv.port, doctor)
            check(stream.status == 200 and stream.content_type.startswith("text/event-stream"),
                  f"the doctor's event stream opens ({stream.status} {stream.content_type})")
            time.sleep(0.3)  # let the stream subscribe

            # A normal reading raises nothing.
            normal = srv.call("POST", "/api/v1/me/readings", token=patient, body={"readings": [bp(128, 82, 30)]})
            check(normal.status == 200 and normal.json()["results"][0]["status"] == "created", "a normal reading is stored")
            check(srv.call("GET", "/api/v1/clinic/alerts", token=doctor).json()["alerts"] == [],
                  "a normal reading opens no alert")

            # The critical reading.
            up = srv.call("POST", "/api/v1/me/readings", token=patient, body={"readings": [bp(185, 122, 3)]})
            answered = time.monotonic()
            check(up.status == 200 and up.json()["results"][0]["status"] == "created", f"185/122 is stored: {up}")
            listed = srv.call("GET", "/api/v1/clinic/alerts?status=open", token=doctor)
            alerts = listed.json()["alerts"] if listed.status == 200 else []
            check(len(alerts) == 1 and alerts[0]["signal"] == "bp_high" and alerts[0]["tier"] == "critical"
                  and alerts[0]["count"] == 1 and alerts[0]["patient_id"] == patient_id,
                  f"the alert is listed right after the 200: {listed}")
            alert_id = alerts[0]["id"] if alerts else None
            first = stream.next(timeout=2)
            check(first is not None and first.get("event") == "alert.opened", f"the stream gets alert.opened: {first}")
            if first:
                delay = first["arrived"] - answered
                check(delay < 1.0, f"... within 1 s of the upload's answer ({delay * 1000:.0f} ms)")
                payload = json.loads(first["data"])
                check(payload["alert"]["id"] == alert_id and payload["alert"]["signal"] == "bp_high",
                      "... carrying the alert")

            # A repeat within 15 minutes confirms: the same alert, count 2.
            srv.call("POST", "/api/v1/me/readings", token=patient, body={"readings": [bp(188, 118, 1)]})
            alerts = srv.call("GET", "/api/v1/clinic/alerts", token=doctor).json()["alerts"]
            check(len(alerts) == 1 and alerts[0]["count"] == 2, f"a repeat folds into the alert (count 2): {alerts}")
            second = stream.next(timeout=2)
            check(second is not None and second.get("event") == "alert.updated", f"the stream gets alert.updated: {second}")
            seen = [e["id"] for e in (first, second) if e]
            stream.close()

            # While disconnected: two more critical readings (and so two more events).
            srv.call("POST", "/api/v1/me/readings", token=patient, body={"readings": [bp(190, 125, 0)]})
            srv.call("POST", "/api/v1/me/readings", token=patient, body={"readings": [bp(192, 126, 0)]})
            resumed = Stream(srv.port, doctor, last_event_id=seen[-1] if seen else 0)
            replay = resumed.drain(quiet=1.0)
            ids = [int(e["id"]) for e in replay]
            check(len(replay) == 2 and all(e["event"] == "alert.updated" for e in replay)
                  and all(i > int(seen[-1]) for i in ids) and ids == sorted(set(ids)),
                  f"a reconnect with Last-Event-ID gets exactly the two missed events: {ids}")
            check(json.loads(replay[-1]["data"])["alert"]["count"] == 4 if replay else False, "... the last with count 4")

            # The patient's sync feed: what to do now.
            sync = srv.call("GET", "/api/v1/me/sync?since=0&limit=500", token=patient).json()
            told = [c for c in sync["changes"] if c["entity"] == "alert" and c["id"] == alert_id]
            check(len(told) >= 1, f"the patient's sync feed has the alert ({len(told)} entries)")
            if told:
                data = told[-1]["data"]
                check("5分钟" in data["message"] and "120" in data["message"] and "医生" in data["message"],
                      f"... in zh-CN: re-measure after 5 minutes, hospital at once, the doctor knows: {data['message']}")
                en = data.get("messages", {}).get("en", "")
                check("5 minutes" in en and "hospital" in en and "notified" in en, f"... and in English: {en}")

            # Scope: another clinic's doctor and the authority are refused.
            check(srv.call("GET", "/api/v1/clinic/alerts", token=authority).status == 403, "an authority may not list alerts")
            check(Stream(srv.port, authority).status == 403, "an authority may not follow the stream")
            check(srv.call("POST", f"/api/v1/clinic/alerts/{alert_id}/acknowledge", token=other_doctor,
                           body={"action": "called_patient"}).status == 404,
                  "another clinic's doctor may not acknowledge (404: as for an unknown alert)")
            other_list = srv.call("GET", "/api/v1/clinic/alerts", token=other_doctor).json()["alerts"]
            check(all(a["clinic_id"] != clinic_id for a in other_list), "another clinic's list does not show it")
            check(srv.call("POST", f"/api/v1/clinic/alerts/{alert_id}/acknowledge", token=doctor,
                           body={"action": "phoned"}).status == 422, "an unknown action is refused (422)")

            # Acknowledge.
            ack = srv.call("POST", f"/api/v1/clinic/alerts/{alert_id}/acknowledge", token=doctor,
                           body={"action": "called_patient", "note": "已电话联系，嘱复测"})
            body = ack.json() if ack.status == 200 else {}
            check(ack.status == 200 and body["alert"]["status"] == "acknowledged"
                  and body["alert"]["acknowledgement"]["action"] == "called_patient",
                  f"the doctor acknowledges: {ack}")
            ev = resumed.next(timeout=2)
            check(ev is not None and ev.get("event") == "alert.acknowledged", f"the stream gets alert.acknowledged: {ev}")
            check(srv.call("GET", "/api/v1/clinic/alerts", token=doctor).json()["alerts"] == [], "no open alert remains")
            acked = srv.call("GET", "/api/v1/clinic/alerts?status=acknowledged", token=doctor).json()["alerts"]
            check([a["id"] for a in acked] == [alert_id], "it is listed as acknowledged")
            res = srv.call("POST", f"/api/v1/clinic/alerts/{alert_id}/resolve", token=doctor, body={"note": "复测正常"})
            check(res.status == 200 and res.json()["alert"]["status"] == "resolved", f"the doctor resolves it: {res}")
            again = srv.call("POST", f"/api/v1/clinic/alerts/{alert_id}/acknowledge", token=doctor,
                             body={"action": "no_action"})
            check(again.status == 409, f"a resolved alert cannot be acknowledged (409): {again.status}")
            resumed.close()

        db = sqlite3.connect(db_path)
        doctor_id, = db.execute("SELECT id FROM users WHERE username = 'doctor01'").fetchone()
        audited = db.execute("SELECT action, patient_id, clinic_id, detail, remote_addr FROM audit_log "
                             "WHERE actor_user_id = ? AND action LIKE 'alert.%' ORDER BY id", (doctor_id,)).fetchall()
        check([a[0] for a in audited] == ["alert.acknowledge", "alert.resolve"]
              and all(a[1] == patient_id and a[2] == clinic_id and a[4] == "127.0.0.1" for a in audited),
              f"acknowledge and resolve are audited with patient, clinic and address: {audited}")
        check("called_patient" in audited[0][3] if audited else False, "... the action in the entry's detail")
        state = db.execute("SELECT coalesce(state_bin, state_json) IS NOT NULL, alerts_json FROM patient_state WHERE patient_id = ?",
                           (patient_id,)).fetchone()
        check(state is not None and state[0] == 1, "the writer keeps the patient's state")
        db.close()

        warning_and_escalation(binary, workdir)

    if failures:
        print(f"\n{len(failures)} failure(s):")
        for f in failures:
            print("  - " + f)
        return 1
    print("\nalerts end to end: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
