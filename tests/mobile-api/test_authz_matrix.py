#!/usr/bin/env python3
"""The authorization matrix: every route the server answers, called by eight
principals, against the answer each must get.

Principals: anonymous, patient A, patient B (A's clinic), the doctor of A's
clinic, a doctor of another clinic, the authority of A's region, an authority
of another region, and the administrator. The route list comes from
`careloop routes`; a route without a row here fails the test, so a new route
cannot ship without its row.

Also checked: a refused write stores nothing (every write carries fresh
client ids, looked up in the database afterwards), and every allowed staff
access to A's record is in the audit log with who, what, which patient and
from where.

usage: test_authz_matrix.py CARELOOP_BINARY
"""
import datetime as dt
import json
import os
import sqlite3
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from careloop_server import Server, demo_db, run  # noqa: E402

PRINCIPALS = ["anonymous", "patient_a", "patient_b", "doctor_a", "doctor_other", "authority_a",
              "authority_other", "admin"]
CST = dt.timezone(dt.timedelta(hours=8))


def now_iso(minutes_ago=0):
    return (dt.datetime.now(CST) - dt.timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat()


# Expected answers: a status per principal. The common shapes:
def everyone(status):
    return {p: status for p in PRINCIPALS}


def own_record(ok):
    """/me: the patient's own record; staff have none."""
    return {"anonymous": 401, "patient_a": ok, "patient_b": ok, "doctor_a": 403, "doctor_other": 403,
            "authority_a": 403, "authority_other": 403, "admin": 403}


def staff_of_a(ok):
    """A's record through the clinic routes: A's clinic and the administrator only.
    Authorities see aggregates, never a record (DESIGN §4)."""
    return {"anonymous": 401, "patient_a": 403, "patient_b": 403, "doctor_a": ok, "doctor_other": 403,
            "authority_a": 403, "authority_other": 403, "admin": ok}


def record_of_a(ok):
    """One of A's records by its id (the patient, an alert): as staff_of_a, but another clinic's
    doctor is answered as for an id that does not exist (404), so it learns nothing of A."""
    return dict(staff_of_a(ok), doctor_other=404)


def a_or_staff_of_a(ok, staff_ok=None):
    """FHIR: the patient itself, or the staff of its clinic."""
    return {"anonymous": 401, "patient_a": ok, "patient_b": 403, "doctor_a": staff_ok or ok, "doctor_other": 403,
            "authority_a": 403, "authority_other": 403, "admin": staff_ok or ok}


class Ctx:
    pass


_counter = iter(range(10**6))


def reading_item(client_id):
    # Distinct values each time: the same reading twice would rightly be a duplicate of the first.
    n = next(_counter)
    return {"client_id": client_id, "kind": "blood_pressure", "taken_at": now_iso(5 + n), "systolic": 120 + n % 60,
            "diastolic": 80, "unit": "mmHg"}


def bp_observation(ctx, client_id, subject=True):
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": "urn:careloop:test", "value": client_id}],
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "effectiveDateTime": now_iso(200 + next(_counter)),
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
             "valueQuantity": {"value": 128, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
             "valueQuantity": {"value": 82, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
        ],
    }
    if subject:
        obs["subject"] = {"reference": f"Patient/{ctx.patient_a}"}
    return obs


def rows(ctx):
    """(method, path, expected, build) per route. build(ctx, principal) → (target, body, write_client_ids)."""
    A = ctx.patient_a
    r = []

    def add(method, path, expected, build=None):
        r.append((method, path, expected, build or (lambda c, p, path=path: (path, None, []))))

    # Built-in and public routes: the same answer whoever asks.
    add("GET", "/healthz", everyone(200))
    add("GET", "/readyz", everyone(200))
    add("GET", "/metrics", everyone(200))
    add("GET", "/api/v1/openapi.json", everyone(200))
    add("GET", "/fhir/metadata", everyone(200))
    add("POST", "/api/v1/auth/login", everyone(200),
        lambda c, p: ("/api/v1/auth/login", {"username": "doctor02", "password": "demo-doctor"}, []))
    # A code nobody issued: refused on its merits (422), never for lack of a login.
    add("POST", "/api/v1/auth/activate", everyone(422),
        lambda c, p: ("/api/v1/auth/activate", {"code": "ZZZZZZZZZZ", "username": f"u{uuid.uuid4().hex[:8]}",
                                                "password": "long-enough-pw", "consent": {"version": "1", "accepted": True}}, []))
    # Any account may log out and change its password; a wrong current password is 422, not 403.
    logout = everyone(204)
    logout["anonymous"] = 401
    add("POST", "/api/v1/auth/logout", logout, lambda c, p: ("/api/v1/auth/logout", None, ["fresh-session"]))
    password = everyone(422)
    password["anonymous"] = 401
    add("POST", "/api/v1/auth/password", password,
        lambda c, p: ("/api/v1/auth/password", {"current_password": "not-the-password",
                                                "new_password": "a-new-password-1"}, []))

    add("GET", "/api/v1/me", own_record(200))
    # Before the uploads below: patient B's account was made by the CLI and has decided nothing yet.
    add("GET", "/api/v1/me/consent", own_record(200))
    add("POST", "/api/v1/me/consent", own_record(201),
        lambda c, p: ("/api/v1/me/consent", {"version": "1", "decision": "granted"}, []))
    add("GET", "/api/v1/me/readings", own_record(200))
    add("GET", "/api/v1/me/sync", own_record(200))

    def me_post(c, p):
        cid = str(uuid.uuid4())
        return ("/api/v1/me/readings", {"readings": [reading_item(cid)]}, [cid])
    add("POST", "/api/v1/me/readings", own_record(200), me_post)

    add("GET", "/api/v1/me/risk", own_record(200))
    staff = everyone(200)
    staff.update({"anonymous": 401, "patient_a": 403, "patient_b": 403})
    add("GET", "/api/v1/models", staff)
    add("GET", "/api/v1/clinic/patients/{id}/risk", record_of_a(200),
        lambda c, p: (f"/api/v1/clinic/patients/{A}/risk", None, []))

    # The web app: public files (a small stand-in app is served, see setup()).
    add("GET", "/", everyone(200))
    add("GET", "/patient", everyone(200))
    add("GET", "/assets/{*file}", everyone(200), lambda c, p: ("/assets/app-Ab12Cd34.js", None, []))
    add("GET", "/patient.webmanifest", everyone(200))
    add("GET", "/patient-sw.js", everyone(200))
    add("GET", "/icons/{*file}", everyone(200), lambda c, p: ("/icons/icon-192.png", None, []))

    # The patient list of A's clinic: its doctors and the administrator.
    add("GET", "/api/v1/clinic/patients", staff_of_a(200),
        lambda c, p: (f"/api/v1/clinic/patients?clinic_id={c.clinic_a}&limit=5", None, []))

    register = staff_of_a(201)
    add("POST", "/api/v1/clinic/patients", register,
        lambda c, p: ("/api/v1/clinic/patients", {"name": "矩阵测试", "sex": "female", "birth_date": "1960-05-01",
                                                  "clinic_id": c.clinic_a}, []))
    add("GET", "/api/v1/clinic/patients/{id}", record_of_a(200),
        lambda c, p: (f"/api/v1/clinic/patients/{A}", None, []))
    add("POST", "/api/v1/clinic/patients/{id}/activation", record_of_a(201),
        lambda c, p: (f"/api/v1/clinic/patients/{c.spare_patient}/activation", None, []))
    add("GET", "/api/v1/clinic/patients/{id}/readings", record_of_a(200),
        lambda c, p: (f"/api/v1/clinic/patients/{A}/readings?limit=5", None, []))

    def clinic_post(c, p):
        cid = str(uuid.uuid4())
        return (f"/api/v1/clinic/patients/{A}/readings", {"readings": [reading_item(cid)]}, [cid])
    add("POST", "/api/v1/clinic/patients/{id}/readings", record_of_a(200), clinic_post)
    add("POST", "/api/v1/clinic/patients/{id}/messages", record_of_a(201),
        lambda c, p: (f"/api/v1/clinic/patients/{A}/messages", {"text": "请明早空腹测血糖"}, []))

    # Alerts: two critical alerts of patient A (bp_high and bp_low), opened before the matrix runs.
    alerts_q = lambda c, p: (f"/api/v1/clinic/alerts?clinic_id={c.clinic_a}", None, [])  # noqa: E731
    add("GET", "/api/v1/clinic/alerts", staff_of_a(200), alerts_q)
    add("POST", "/api/v1/clinic/alerts/{id}/acknowledge", record_of_a(200),
        lambda c, p: (f"/api/v1/clinic/alerts/{c.alert_x}/acknowledge", {"action": "called_patient"}, []))
    add("POST", "/api/v1/clinic/alerts/{id}/snooze", record_of_a(200),
        lambda c, p: (f"/api/v1/clinic/alerts/{c.alert_x}/snooze",
                      {"until": (dt.datetime.now(CST) + dt.timedelta(hours=1)).replace(microsecond=0).isoformat()}, []))
    # Each allowed principal resolves its own alert: a resolved one cannot be resolved again (409).
    add("POST", "/api/v1/clinic/alerts/{id}/resolve", record_of_a(200),
        lambda c, p: (f"/api/v1/clinic/alerts/{c.alert_y if p == 'admin' else c.alert_x}/resolve", {}, []))
    add("GET", "/api/v1/clinic/events", staff_of_a(200),
        lambda c, p: (f"/api/v1/clinic/events?clinic_id={c.clinic_a}", None, []))

    # Care plans: every patient got a proposal (`plans propose --all`) before the matrix; each
    # allowed principal decides its own patient's proposal (patients nobody sends readings for).
    add("GET", "/api/v1/clinic/patients/{id}/care-plans", record_of_a(200),
        lambda c, p: (f"/api/v1/clinic/patients/{A}/care-plans", None, []))
    add("POST", "/api/v1/clinic/patients/{id}/care-plans/evaluate", record_of_a(200),
        lambda c, p: (f"/api/v1/clinic/patients/{A}/care-plans/evaluate", None, []))

    def decision(kind, body):
        def build(c, p):
            patient, version = c.plan_targets[kind][1 if p == "admin" else 0]
            return (f"/api/v1/clinic/patients/{patient}/care-plans/{version}/{kind}", body, [])
        return build
    add("POST", "/api/v1/clinic/patients/{id}/care-plans/{version}/approve", record_of_a(200),
        decision("approve", {"note": "同意"}))
    add("POST", "/api/v1/clinic/patients/{id}/care-plans/{version}/edit", record_of_a(200),
        decision("edit", {"plan": {"follow_up": {"within_days": 11}}}))
    add("POST", "/api/v1/clinic/patients/{id}/care-plans/{version}/reject", record_of_a(200),
        decision("reject", {"reason": "患者下周复诊时再定"}))
    add("GET", "/api/v1/me/care-plan", own_record(200))
    # Follow-up visits: A's clinic and the administrator record (each its own visit) and list them.
    add("GET", "/api/v1/clinic/patients/{id}/visits", record_of_a(200),
        lambda c, p: (f"/api/v1/clinic/patients/{A}/visits", None, []))
    add("POST", "/api/v1/clinic/patients/{id}/visits", record_of_a(201),
        lambda c, p: (f"/api/v1/clinic/patients/{A}/visits",
                      {"client_id": f"matrix-visit-{p.replace('_', '-')}",
                       "visited_at": (dt.datetime.now(CST) - dt.timedelta(hours=1)).replace(microsecond=0).isoformat(),
                       "kind": "clinic", "classification": "controlled"}, []))
    # Clinic measurements: A's clinic and the administrator record (each its own client id) and list them.
    add("GET", "/api/v1/clinic/patients/{id}/measurements", record_of_a(200),
        lambda c, p: (f"/api/v1/clinic/patients/{A}/measurements", None, []))
    add("POST", "/api/v1/clinic/patients/{id}/measurements", record_of_a(201),
        lambda c, p: (f"/api/v1/clinic/patients/{A}/measurements",
                      {"client_id": f"matrix-measure-{p.replace('_', '-')}",
                       "measured_at": (dt.datetime.now(CST) - dt.timedelta(hours=1)).replace(microsecond=0).isoformat(),
                       "values": {"waist_cm": 88}}, []))
    # Reports: aggregates of a region (authorities covering it, the administrator) or of a clinic
    # (also its own doctors); never a patient.
    region_report = {"anonymous": 401, "patient_a": 403, "patient_b": 403, "doctor_a": 403, "doctor_other": 403,
                     "authority_a": 200, "authority_other": 403, "admin": 200}
    add("GET", "/api/v1/reports/regions/{id}", region_report,
        lambda c, p: (f"/api/v1/reports/regions/{c.region_a}?month=2026-10", None, []))
    clinic_report = dict(region_report, doctor_a=200)
    add("GET", "/api/v1/reports/clinics/{id}", clinic_report,
        lambda c, p: (f"/api/v1/reports/clinics/{c.clinic_a}?month=2026-10&format=csv", None, []))
    # A clinic's webhook: the administrator only. An https URL under .invalid (RFC 6761: never resolves): deliveries retry until it is removed.
    admin_only = {p: 403 for p in PRINCIPALS}
    admin_only["anonymous"] = 401
    hook = "/api/v1/admin/clinics/{id}/webhook"
    add("PUT", hook, {**admin_only, "admin": 200},
        lambda c, p: (hook.format(id=c.clinic_a), {"url": "https://hooks.example.invalid/careloop", "secret": "matrix-secret-0123456"}, []))
    add("GET", hook, {**admin_only, "admin": 200}, lambda c, p: (hook.format(id=c.clinic_a), None, []))
    add("DELETE", hook, {**admin_only, "admin": 204}, lambda c, p: (hook.format(id=c.clinic_a), None, []))
    # User accounts: the administrator only. The target is a doctor no principal signs in as.
    add("GET", "/api/v1/admin/users", {**admin_only, "admin": 200})
    for what in ("deactivate", "reactivate", "revoke-sessions"):
        route = "/api/v1/admin/users/{id}/" + what
        add("POST", route, {**admin_only, "admin": 200},
            lambda c, p, route=route: (route.format(id=c.spare_doctor), None, []))

    def fhir_post(c, p):
        cid = str(uuid.uuid4())
        return ("/fhir/Observation", bp_observation(c, cid), [cid])
    # Another clinic's doctor: A is answered as a patient that does not exist.
    add("POST", "/fhir/Observation", dict(a_or_staff_of_a(201), doctor_other=404), fhir_post)

    def fhir_bundle(c, p):
        cids = [str(uuid.uuid4()) for _ in range(2)]
        bundle = {"resourceType": "Bundle", "type": "transaction",
                  "entry": [{"resource": bp_observation(c, cid), "request": {"method": "POST", "url": "Observation"}}
                            for cid in cids]}
        return ("/fhir", bundle, cids)
    add("POST", "/fhir", dict(a_or_staff_of_a(200), doctor_other=422), fhir_bundle)
    add("GET", "/fhir/Observation", dict(a_or_staff_of_a(200), doctor_other=200),
        lambda c, p: (f"/fhir/Observation?patient={A}&_count=5", None, []))
    add("GET", "/fhir/Observation/{id}", dict(a_or_staff_of_a(200), doctor_other=404),
        lambda c, p: (f"/fhir/Observation/{c.reading_a}", None, []))

    # Privacy (issue 15, items 16 and 17): the consent wording is public; the
    # patient's consent, access log and export are its own; the clinic's export
    # is A's clinic's; anonymising is the administrator's (a patient no other
    # row uses, last).
    add("GET", "/api/v1/consent/health-data", everyone(200))
    add("GET", "/api/v1/me/access-log", own_record(200))
    add("GET", "/api/v1/me/export", own_record(200))
    add("GET", "/api/v1/clinic/patients/{id}/export", record_of_a(200),
        lambda c, p: (f"/api/v1/clinic/patients/{A}/export", None, []))
    add("POST", "/api/v1/admin/patients/{id}/anonymise", {**admin_only, "admin": 200},
        lambda c, p: (f"/api/v1/admin/patients/{c.leaving_patient}/anonymise",
                      {"reason": "authorization matrix", "confirm_patient_id": c.leaving_patient}, []))
    return r


def open_alerts(srv, ctx, tokens):
    """Patient A sends a very high and a very low blood pressure: two critical alerts in A's clinic."""
    ids = []
    for systolic, diastolic, signal in ((185, 122, "bp_high"), (75, 50, "bp_low")):
        cid = str(uuid.uuid4())
        a = srv.call("POST", "/api/v1/me/readings", token=tokens["patient_a"],
                     body={"readings": [{"client_id": cid, "kind": "blood_pressure", "taken_at": now_iso(1),
                                         "systolic": systolic, "diastolic": diastolic, "unit": "mmHg"}]})
        assert a.status == 200, a
        listed = srv.call("GET", "/api/v1/clinic/alerts", token=tokens["doctor_a"]).json()["alerts"]
        ids.append(next(x["id"] for x in listed if x["signal"] == signal))
    return ids


def setup(binary, workdir):
    ctx = Ctx()
    ctx.binary = binary
    ctx.db = demo_db(binary, workdir, patients=40, clinics=2)
    db = sqlite3.connect(ctx.db)
    (ctx.patient_a, ctx.clinic_a), = db.execute(
        "SELECT p.id, p.clinic_id FROM users u JOIN patients p ON p.id = u.patient_id WHERE u.username = 'patient01'")
    others = [r[0] for r in db.execute(
        "SELECT id FROM patients WHERE clinic_id = ? AND id <> ? AND id NOT IN "
        "(SELECT patient_id FROM users WHERE patient_id IS NOT NULL) ORDER BY id LIMIT 3", (ctx.clinic_a, ctx.patient_a))]
    ctx.patient_b, ctx.spare_patient, ctx.leaving_patient = others
    region_a, = db.execute("SELECT region_id FROM clinics WHERE id = ?", (ctx.clinic_a,)).fetchone()
    other_region, = db.execute("SELECT c.region_id FROM clinics c WHERE c.id <> ? ORDER BY id LIMIT 1",
                               (ctx.clinic_a,)).fetchone()
    authority_region, = db.execute("SELECT region_id FROM users WHERE username = 'authority'").fetchone()
    # Six proposals of clinic A's patients without accounts (no readings arrive for them during the matrix).
    run([binary, "--db", ctx.db, "plans", "propose", "--all"])
    proposals = db.execute(
        "SELECT patient_id, version FROM care_plans WHERE clinic_id = ? AND status = 'proposed' AND patient_id NOT IN "
        "(?, ?, ?, ?) AND patient_id NOT IN (SELECT patient_id FROM users WHERE patient_id IS NOT NULL) "
        "ORDER BY patient_id LIMIT 6", (ctx.clinic_a, ctx.patient_a, *others)).fetchall()
    assert len(proposals) == 6, proposals
    ctx.plan_targets = {"approve": proposals[0:2], "edit": proposals[2:4], "reject": proposals[4:6]}
    # A doctor no principal signs in as (doctor_a is doctor01, doctor_other doctor03).
    ctx.spare_doctor, = db.execute("SELECT id FROM users WHERE username = 'doctor04'").fetchone()
    ctx.reading_a, = db.execute("SELECT id FROM readings WHERE patient_id = ? AND kind = 'blood_pressure' "
                                "ORDER BY id LIMIT 1", (ctx.patient_a,)).fetchone()
    db.close()
    # The demo authority must cover A's region (it is the county's); the other one gets a sibling community.
    assert authority_region != other_region
    run([binary, "--db", ctx.db, "user", "add", "--role", "patient", "--username", "patient-b",
         "--patient", str(ctx.patient_b), "--clinic", str(ctx.clinic_a)], stdin="patient-b-password\n")
    run([binary, "--db", ctx.db, "user", "add", "--role", "authority", "--username", "authority-other",
         "--region", str(other_region)], stdin="authority-other-pw\n")
    ctx.credentials = {
        "patient_a": ("patient01", "demo-patient"), "patient_b": ("patient-b", "patient-b-password"),
        "doctor_a": ("doctor01", "demo-doctor"), "doctor_other": ("doctor03", "demo-doctor"),
        "authority_a": ("authority", "demo-authority"), "authority_other": ("authority-other", "authority-other-pw"),
        "admin": ("admin", "demo-admin"),
    }
    ctx.region_a = region_a
    ctx.web_dir = os.path.join(workdir, "web")
    os.makedirs(os.path.join(ctx.web_dir, "assets"))
    os.makedirs(os.path.join(ctx.web_dir, "icons"))
    for name, text in (("index.html", "<!doctype html><title>dashboard</title>"),
                       ("patient.html", "<!doctype html><title>patient</title>"),
                       ("assets/app-Ab12Cd34.js", "export {};"),
                       ("patient.webmanifest", "{}"),
                       ("patient-sw.js", ""),
                       ("icons/icon-192.png", "PNG")):
        with open(os.path.join(ctx.web_dir, name), "w") as f:
            f.write(text)
    return ctx


def main(argv):
    binary = argv[1]
    failures = []
    with tempfile.TemporaryDirectory(prefix="careloop-authz-") as workdir:
        ctx = setup(binary, workdir)
        listed = json.loads(run([binary, "--db", ctx.db, "routes"]).stdout)
        served = {(r["method"], r["path"]) for r in listed}
        table = rows(ctx)
        covered = {(m, p) for (m, p, _, _) in table}
        for m, p in sorted(served - covered):
            failures.append(f"route without a row in the matrix: {m} {p}")
        for m, p in sorted(covered - served):
            failures.append(f"row for a route the server does not have: {m} {p}")

        allowed_writes, refused_writes = [], []
        staff_allowed = {"doctor_a": 0, "admin": 0}
        with Server(binary, ctx.db, extra_args=["--web-dir", ctx.web_dir]) as srv:
            tokens = {p: srv.login(*ctx.credentials[p]) for p in ctx.credentials}
            tokens["anonymous"] = None
            ctx.alert_x, ctx.alert_y = open_alerts(srv, ctx, tokens)
            for method, path, expected, build in table:
                for who in PRINCIPALS:
                    target, body, writes = build(ctx, who)
                    token = tokens[who]
                    if writes == ["fresh-session"]:  # logging out must not end the matrix's own session
                        writes = []
                        if who != "anonymous":
                            token = srv.login(*ctx.credentials[who])
                    ans = srv.call(method, target, token=token, body=body)
                    want = expected[who]
                    ok = ans.status == want
                    mark = "ok  " if ok else "FAIL"
                    print(f"{mark} {method:5} {path:45} {who:16} -> {ans.status} (want {want})")
                    if not ok:
                        failures.append(f"{method} {path} as {who}: {ans.status}, expected {want}: {ans.raw[:200]!r}")
                    if ans.status >= 400:
                        ctype = ans.headers.get("content-type", "")
                        fhir = path.startswith("/fhir")
                        if fhir and "application/fhir+json" not in ctype:
                            failures.append(f"{method} {path} as {who}: refusal is {ctype}, not OperationOutcome")
                        if not fhir and "application/problem+json" not in ctype:
                            failures.append(f"{method} {path} as {who}: refusal is {ctype}, not problem+json")
                    (allowed_writes if 200 <= ans.status < 300 else refused_writes).extend(writes)
                    about_a = f"/clinic/patients/{ctx.patient_a}" in target or target.startswith("/fhir/Observation") \
                        or target == "/fhir"
                    if 200 <= ans.status < 300 and who in staff_allowed and about_a:
                        staff_allowed[who] += 1

        db = sqlite3.connect(ctx.db)
        stored = {r[0] for r in db.execute("SELECT client_id FROM readings")}
        # Every write carried fresh UUIDs (FHIR identifiers that are UUIDs are the client id itself).
        for cid in refused_writes:
            if cid in stored:
                failures.append(f"a refused write was stored: client id {cid}")
        for cid in allowed_writes:
            if cid not in stored:
                failures.append(f"an acknowledged write is missing: client id {cid}")
        print(f"writes: {len(allowed_writes)} allowed and stored, {len(refused_writes)} refused and absent")
        # The audit trail: every allowed staff access to A's record, with who and where from.
        users = dict(db.execute("SELECT username, id FROM users"))
        for who, n in staff_allowed.items():
            uid = users[ctx.credentials[who][0]]
            entries = db.execute("SELECT action, patient_id, remote_addr FROM audit_log WHERE actor_user_id = ? "
                                 "AND patient_id = ?", (uid, ctx.patient_a)).fetchall()
            print(f"audit: {who} made {n} allowed accesses to patient A's record; {len(entries)} audit entries")
            if len(entries) < n:
                failures.append(f"{who}: {n} accesses to A's record but {len(entries)} audit entries")
            for action, pid, addr in entries:
                if addr != "127.0.0.1":
                    failures.append(f"audit entry {action} of {who} has remote address {addr!r}")
        for who in ("doctor_other", "authority_a", "authority_other", "patient_b"):
            uid = users[ctx.credentials[who][0]]
            n, = db.execute("SELECT count(*) FROM audit_log WHERE actor_user_id = ? AND patient_id = ? "
                            "AND action <> 'access.refused'", (uid, ctx.patient_a)).fetchone()
            if n:
                failures.append(f"{who} was refused everything about A, yet has {n} audit entries as if served")
        # Refusals are kept too: another clinic's doctor knocked on A's record.
        uid = users[ctx.credentials["doctor_other"][0]]
        refused, = db.execute("SELECT count(*) FROM audit_log WHERE actor_user_id = ? AND patient_id = ? "
                              "AND action = 'access.refused'", (uid, ctx.patient_a)).fetchone()
        print(f"audit: doctor_other's refused accesses to A's record: {refused}")
        if refused == 0:
            failures.append("doctor_other was refused A's record, but no access.refused entry was written")
        db.close()

    if failures:
        print(f"\n{len(failures)} failure(s):")
        for f in failures:
            print("  - " + f)
        return 1
    print(f"\nauthorization matrix: {len(table)} routes x {len(PRINCIPALS)} principals as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
