#!/usr/bin/env python3
"""Population reports end to end (issue 6, proof 7 and 8).

1. Consistency: on a demo county, for every month from January to November
   2026 and every region and clinic, each published cell of the indicators,
   trend and cohorts tables equals a brute-force computation over the raw
   readings written here, independently of reports/ (Python over sqlite3);
   every count of 1-4 is suppressed and listed as small (the only cells a
   client may show as "<5"), a cell suppressed to protect another is not
   listed as small, and no sum relation published in a report has exactly
   one suppressed cell (the subtraction case; test_suppression_audit.py
   attacks every month and cohort together).
2. A late reading (taken months ago, sent now) changes its past month.
3. Scopes: who may read which region's and clinic's report.
4. JSON, CSV, FHIR and the command line carry the same numbers; no report
   carries a name, phone or birth date.

usage: test_reports.py CARELOOP_BINARY
"""
import csv
import datetime as dt
import io
import json
import os
import sqlite3
import sys
import tempfile
import uuid
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from careloop_server import Server, demo_db, run  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
MIN_PUBLISHED = 5
CONDS = ("htn", "dm")
COUNTS = ("registered_month", "registered_cumulative", "cohort", "under_care", "ltfu", "controlled", "uncontrolled",
          "visit_no_measure", "missed_visit")
AGE_BANDS = ("<30", "30-39", "40-49", "50-59", "60-69", "70-79", "80+")
FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        if len(FAILURES) < 40:
            print("FAIL:", what)


def mi(year, month):
    return year * 12 + month - 1


def fmt(m):
    return f"{m // 12:04d}-{m % 12 + 1:02d}"


def start_ms(m):
    return int(dt.datetime(m // 12, m % 12 + 1, 1, tzinfo=TZ).timestamp() * 1000)


def month_of(ms):
    d = dt.datetime.fromtimestamp(ms / 1000, TZ)
    return mi(d.year, d.month)


def last_day(m):
    return dt.date((m + 1) // 12, (m + 1) % 12 + 1, 1) - dt.timedelta(days=1)


def age_band(birth, on):
    by, bm, bd = map(int, birth.split("-"))
    age = on.year - by - ((on.month, on.day) < (bm, bd))
    d = age // 10
    return "<30" if d < 3 else "80+" if d >= 8 else f"{d * 10}-{d * 10 + 9}"


class Truth:
    """The indicators computed straight from the raw tables."""

    def __init__(self, db):
        con = sqlite3.connect(db)
        self.regions = {rid: parent for rid, parent in con.execute("SELECT id, parent_id FROM regions")}
        self.clinics = {cid: rid for cid, rid in con.execute("SELECT id, region_id FROM clinics")}
        dx = {}
        for pid, code in con.execute("SELECT patient_id, code FROM patient_diagnoses"):
            dx.setdefault(pid, set()).add(code)
        self.patients = [(pid, clinic, sex, birth, reg, "hypertension" in dx.get(pid, ()), "diabetes_t2" in dx.get(pid, ()))
                         for pid, clinic, sex, birth, reg in
                         con.execute("SELECT id, clinic_id, sex, birth_date, registered_at_ms FROM patients")]
        self.readings = {}
        for row in con.execute("SELECT patient_id, taken_at_ms, id, kind, systolic_mmhg, diastolic_mmhg, glucose_mmol_l, "
                               "glucose_context, hba1c_percent FROM readings"):
            self.readings.setdefault(row[0], []).append(row[1:])
        self.scores = {}
        for pid, model, band, at, rid in con.execute("SELECT patient_id, model_id, band, computed_at_ms, id FROM risk_scores"):
            self.scores.setdefault(pid, []).append((model, band, at, rid))
        con.close()

    def ancestors(self, clinic):
        out = [("clinic", clinic)]
        r = self.clinics[clinic]
        while r is not None:
            out.append(("region", r))
            r = self.regions[r]
        return out

    def status(self, pid, m, measure):
        """'' (lost to follow-up), missed_visit, no measure, controlled, uncontrolled at the end of month m."""
        end = start_ms(m + 1)
        w12, w3 = start_ms(m - 11), start_ms(m - 2)
        rs = [r for r in self.readings.get(pid, ()) if w12 <= r[0] < end]
        if not rs:
            return ""
        recent = [r for r in rs if r[0] >= w3]
        if not recent:
            return "missed_visit"
        if measure == "bp":
            bps = [r for r in recent if r[2] == "blood_pressure" and r[3] is not None and r[4] is not None]
            if not bps:
                return "visit_no_measure"
            t, _id, _k, sys_, dia, *_ = max(bps, key=lambda r: (r[0], r[1]))
            return "controlled" if sys_ < 140 and dia < 90 else "uncontrolled"
        gl = [r for r in recent if (r[2] == "glucose" and r[6] == "fasting" and r[5] is not None)
              or (r[2] == "hba1c" and r[7] is not None)]
        if not gl:
            return "visit_no_measure"
        r = max(gl, key=lambda r: (r[0], r[1]))
        value = r[5] if r[2] == "glucose" else r[7]
        return "controlled" if value < 7.0 else "uncontrolled"

    def risk(self, pid, before):
        newest = {}
        for model, band, at, rid in self.scores.get(pid, ()):
            if at < before and (model not in newest or (at, rid) > newest[model][0]):
                newest[model] = ((at, rid), band)
        bands = {b for _, b in newest.values()}
        for b in ("high", "moderate", "low"):
            if b in bands:
                return "risk_" + b
        return "risk_unscored"

    def table(self, m, reg_from=None, reg_to=None, outcome=None):
        """{(unit_type, id): {group: {column: count}}} for month m (or a quarter cohort seen at `outcome`)."""
        out = {}
        end = start_ms(m + 1)
        seen = m if outcome is None else outcome
        for pid, clinic, sex, birth, reg, htn, dm in self.patients:
            if reg_from is not None:
                if not (reg_from <= reg < reg_to):
                    continue
            elif reg >= end:
                continue
            c = {}
            for cond, has, measure in (("htn", htn, "bp"), ("dm", dm, "glycemic")):
                if not has:
                    continue
                c[cond + "_registered_cumulative"] = 1
                if reg_from is None and month_of(reg) == m:
                    c[cond + "_registered_month"] = 1
                if reg_from is None and reg >= start_ms(m - 2):
                    continue
                c[cond + "_cohort"] = 1
                s = self.status(pid, seen, measure)
                if s == "":
                    c[cond + "_ltfu"] = 1
                else:
                    c[cond + "_under_care"] = 1
                    c[cond + "_" + s] = 1
            c["patients_registered"] = 1
            c[self.risk(pid, start_ms(seen + 1))] = 1
            groups = ("all", sex, age_band(birth, last_day(seen)))
            for unit in self.ancestors(clinic):
                u = out.setdefault(unit, {})
                for g in groups:
                    cell = u.setdefault(g, {})
                    for k, v in c.items():
                        cell[k] = cell.get(k, 0) + v
        return out


def truth_value(tab, unit, group, column):
    cells = tab.get(unit, {}).get(group, {})
    if column.endswith("_rate") or column.endswith("_rate_excl_ltfu"):
        return None
    return cells.get(column, 0)


def rate_parts(column):
    for cond in CONDS:
        if column.startswith(cond + "_") and column.endswith("_rate_excl_ltfu"):
            return column[:-len("_rate_excl_ltfu")], cond + "_under_care"
        if column.startswith(cond + "_") and column.endswith("_rate"):
            return column[:-len("_rate")], cond + "_cohort"
    if column.startswith("risk_") and column.endswith("_rate"):
        return column[:-len("_rate")], "patients_registered"
    return None


class Stats:
    published = 0
    suppressed = 0


def compare_row(tab, row, columns, where):
    unit = (row["unit"]["type"], row["unit"]["id"])
    group = row["group"] if row["breakdown"] in ("all", "sex", "age") else "all"
    values, hidden = row["values"], set(row["suppressed"])
    # Only a count of 1-4 may be shown as "<5"; a cell hidden to protect another says nothing of its size.
    small = set(row.get("suppressed_small", ()))
    check(small <= hidden, f"{where}: small but not suppressed: {sorted(small - hidden)}")
    for col in columns:
        v = values[col]
        parts = rate_parts(col)
        if parts:
            num, den = (tab.get(unit, {}).get(group, {}).get(p, 0) for p in parts)
            if col in hidden:
                check(v is None and (parts[0] in hidden or parts[1] in hidden), f"{where} {col}: rate hidden alone")
                check(col not in small, f"{where} {col}: a rate suppressed as a small count")
            elif den == 0:
                check(v is None, f"{where} {col}: {v} but the denominator is 0")
            else:
                check(v is not None and abs(v - round(num / den, 4)) < 1e-9, f"{where} {col}: {v} != {num}/{den}")
            continue
        truth = truth_value(tab, unit, group, col)
        if col in hidden:
            Stats.suppressed += 1
            check(v is None, f"{where} {col}: suppressed but has a value")
            if col in small:
                check(1 <= truth < MIN_PUBLISHED, f"{where} {col}: {truth} suppressed as small")
            else:
                check(not (1 <= truth < MIN_PUBLISHED), f"{where} {col}: {truth} suppressed without saying it is small")
        else:
            Stats.published += 1
            check(v == truth, f"{where} {col}: report {v}, raw readings {truth}")
            check(not (1 <= truth < MIN_PUBLISHED), f"{where} {col}: {truth} published")


def row_equations(columns):
    eqs = []
    for c in CONDS:
        p = lambda n: f"{c}_{n}"  # noqa: E731
        eqs.append([p("cohort"), p("under_care"), p("ltfu")])
        eqs.append([p("under_care"), p("controlled"), p("uncontrolled"), p("visit_no_measure"), p("missed_visit")])
        eqs.append([p("cohort"), p("controlled"), p("uncontrolled"), p("visit_no_measure"), p("missed_visit"), p("ltfu")])
    eqs.append(["patients_registered", "risk_high", "risk_moderate", "risk_low", "risk_unscored"])
    return [[x for x in e if x in columns] for e in eqs]


def check_subtraction(report, where):
    """No sum relation the report publishes has exactly one suppressed cell."""
    ind = report["indicators"]
    cols = ind["columns"]
    counts = [c for c in cols if rate_parts(c) is None]
    rows = ind["rows"]
    for r in rows + report["trend"]["rows"] + report["cohorts"]["rows"]:
        for eq in row_equations(cols):
            eq = [x for x in eq if x in r["values"]]
            hidden = [x for x in eq if x in r["suppressed"]]
            check(len(hidden) != 1, f"{where} {r['group']}: {hidden[0] if hidden else ''} recoverable within its row")
    self_rows = {r["group"]: r for r in rows if (r["unit"]["type"], r["unit"]["id"]) == (report["unit"]["type"], report["unit"]["id"])}
    children = [r for r in rows if (r["unit"]["type"], r["unit"]["id"]) != (report["unit"]["type"], report["unit"]["id"])]
    for col in counts:
        for eq in ([self_rows["all"], self_rows["female"], self_rows["male"]],
                   [self_rows["all"]] + [self_rows[b] for b in AGE_BANDS],
                   [self_rows["all"]] + children if children else []):
            hidden = [r for r in eq if col in r["suppressed"]]
            check(len(hidden) != 1, f"{where} {col}: recoverable by subtraction in its column")


def consistency(srv, token, truth, months, units):
    for m in months:
        tables = {k: truth.table(k) for k in range(m - 11, m + 1)}
        for unit_type, uid in units:
            a = srv.call("GET", f"/api/v1/reports/{unit_type}s/{uid}?month={fmt(m)}", token)
            check(a.status == 200, f"{unit_type} {uid} {fmt(m)}: {a}")
            if a.status != 200:
                continue
            rep = a.json()
            where = f"{unit_type} {uid} {fmt(m)}"
            for row in rep["indicators"]["rows"]:
                compare_row(tables[m], row, rep["indicators"]["columns"], f"{where} {row['unit']['id']}/{row['group']}")
            for row in rep["trend"]["rows"]:
                k = int(row["group"][:4]) * 12 + int(row["group"][5:]) - 1
                compare_row(tables[k], row, rep["trend"]["columns"], f"{where} trend {row['group']}")
            for row in rep["cohorts"]["rows"]:
                y, q = int(row["group"][:4]), int(row["group"][6])
                first = mi(y, 3 * q - 2)
                cohort = truth.table(first, reg_from=start_ms(first), reg_to=start_ms(first + 3), outcome=first + 5)
                compare_row(cohort, row, rep["cohorts"]["columns"], f"{where} cohort {row['group']}")
            check_subtraction(rep, where)


def csv_rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def formats_agree(srv, token, binary, db, region, month):
    base = f"/api/v1/reports/regions/{region}?month={month}"
    rep = srv.call("GET", base, token).json()
    for table in ("indicators", "trend", "cohorts", "alerts"):
        a = srv.call("GET", f"{base}&format=csv&table={table}", token)
        check(a.status == 200 and a.headers["content-type"].startswith("text/csv"), f"csv {table}: {a}")
        text = a.raw.decode("utf-8")
        check(text.splitlines()[0].split(",")[6:] == rep[table]["columns"], f"csv {table}: header differs")
        rows = csv_rows(text)
        check(len(rows) == len(rep[table]["rows"]), f"csv {table}: {len(rows)} rows, json {len(rep[table]['rows'])}")
        for c, j in zip(rows, rep[table]["rows"]):
            check(c["unit_id"] == str(j["unit"]["id"]) and c["group"] == j["group"], f"csv {table}: row order")
            for col in rep[table]["columns"]:
                v = j["values"][col]
                want = "suppressed" if col in j["suppressed"] else "" if v is None else json.dumps(v)
                check(c[col] == want, f"csv {table} {j['group']} {col}: {c[col]!r} vs json {want!r}")
    a = srv.call("GET", f"{base}&format=fhir", token)
    check(a.status == 200 and a.headers["content-type"].startswith("application/fhir+json"), f"fhir: {a}")
    bundle = a.json()
    check(bundle["resourceType"] == "Bundle", "fhir: not a Bundle")
    all_rows = [r for r in rep["indicators"]["rows"] if r["group"] == "all"]
    check(len(bundle["entry"]) == len(all_rows), "fhir: one MeasureReport per unit")
    for e, j in zip(bundle["entry"], all_rows):
        mr = e["resource"]
        check(mr["resourceType"] == "MeasureReport" and mr["type"] == "summary", "fhir: MeasureReport summary")
        check(mr["reporter"]["identifier"]["value"] == str(j["unit"]["id"]), "fhir: unit order")
        groups = {g["id"]: g for g in mr["group"]}
        for col in rep["indicators"]["columns"]:
            g, v = groups[col], j["values"][col]
            pops = {p["code"]["coding"][0]["code"]: p for p in g["population"]}
            parts = rate_parts(col)
            if parts:
                score = g["measureScore"].get("value")
                check(score == v, f"fhir {col}: score {score} vs json {v}")
                for code, part in zip(("numerator", "denominator"), parts):
                    pv = j["values"][part]
                    check(pops[code].get("count") == pv, f"fhir {col} {code}: {pops[code].get('count')} vs json {pv}")
                    if part in j["suppressed"]:
                        ext = pops[code]["_count"]["extension"]
                        check(ext[0]["valueCode"] == "masked", f"fhir {col}: masked")
                        reason = "small-count" if part in j["suppressed_small"] else "complementary"
                        check(ext[1]["valueCode"] == reason, f"fhir {col} {code}: {ext[1:]} but {reason}")
            else:
                check(pops["initial-population"].get("count") == v, f"fhir {col}: {pops['initial-population']} vs {v}")
                if col in j["suppressed"]:
                    reason = "small-count" if col in j["suppressed_small"] else "complementary"
                    ext = pops["initial-population"]["_count"]["extension"]
                    check([e["valueCode"] for e in ext] == ["masked", reason], f"fhir {col}: {ext}, want masked {reason}")
    # The command line gives the same report.
    p = run([binary, "--db", db, "report", "--region", str(region), "--month", month, "--format", "json"])
    cli = json.loads(p.stdout)
    for k in ("indicators", "trend", "cohorts", "alerts"):
        check(cli[k] == rep[k], f"cli json {k} differs from the API's")
    p = run([binary, "--db", db, "report", "--region", str(region), "--month", month, "--format", "csv"])
    check(p.stdout.replace("\r\n", "\n") == srv.call("GET", f"{base}&format=csv", token).raw.decode().replace("\r\n", "\n"),
          "cli csv differs from the API's")
    return [json.dumps(rep, ensure_ascii=False), a.raw.decode("utf-8"), p.stdout]


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as workdir:
        db = demo_db(binary, workdir, patients=400, clinics=3, days=120, end_date="2026-11-20")
        con = sqlite3.connect(db)
        county, = con.execute("SELECT region_id FROM users WHERE username = 'authority'").fetchone()
        clinic_a, region_a = con.execute("SELECT c.id, c.region_id FROM users u JOIN clinics c ON c.id = u.clinic_id "
                                         "WHERE u.username = 'doctor01'").fetchone()
        clinic_b, region_b = con.execute("SELECT id, region_id FROM clinics WHERE id <> ? ORDER BY id LIMIT 1",
                                         (clinic_a,)).fetchone()
        check(con.execute("SELECT count(*) FROM patient_months").fetchone()[0] > 0, "the demo built no month rows")
        con.close()
        run([binary, "--db", db, "user", "add", "--role", "authority", "--username", "authority-b", "--region",
             str(region_b)], stdin="authority-b-password\n")
        truth = Truth(db)
        units = [("region", r) for r in truth.regions] + [("clinic", c) for c in truth.clinics]
        months = list(range(mi(2026, 1), mi(2026, 11) + 1))

        with Server(binary, db) as srv:
            admin = srv.login("admin", "demo-admin")
            consistency(srv, admin, truth, months, units)
            check(Stats.published > 3 * Stats.suppressed, f"too few published cells to test: {Stats.published} "
                  f"published, {Stats.suppressed} suppressed")
            print(f"consistency: {Stats.published} published count cells equal the raw readings, "
                  f"{Stats.suppressed} suppressed")

            # Scopes.
            tokens = {u: srv.login(u, pw) for u, pw in (("authority", "demo-authority"), ("authority-b", "authority-b-password"),
                                                        ("doctor01", "demo-doctor"), ("patient01", "demo-patient"))}
            expect = [("authority", f"regions/{county}", 200), ("authority", f"regions/{region_a}", 200),
                      ("authority", f"clinics/{clinic_b}", 200), ("authority-b", f"regions/{region_b}", 200),
                      ("authority-b", f"clinics/{clinic_b}", 200), ("authority-b", f"regions/{county}", 403),
                      ("authority-b", f"regions/{region_a}", 403), ("authority-b", f"clinics/{clinic_a}", 403),
                      ("doctor01", f"clinics/{clinic_a}", 200), ("doctor01", f"clinics/{clinic_b}", 403),
                      ("doctor01", f"regions/{region_a}", 403), ("patient01", f"clinics/{clinic_a}", 403),
                      ("patient01", f"regions/{county}", 403), (None, f"regions/{county}", 401),
                      ("authority", "regions/999999", 404), ("authority", f"regions/{county}?month=2026-13", 422),
                      ("authority", f"regions/{county}?format=xml", 422), ("authority", f"regions/{county}?month=2099-01", 422)]
            for who, target, want in expect:
                a = srv.call("GET", f"/api/v1/reports/{target}", tokens.get(who))
                check(a.status == want, f"{who} GET {target}: {a.status}, want {want}")

            # Every export is in the audit log: who took which unit's figures, in which format.
            srv.call("GET", f"/api/v1/reports/regions/{county}?month=2026-10&format=csv", tokens["authority"])
            con = sqlite3.connect(db)
            exports = con.execute(
                "SELECT a.detail FROM audit_log a JOIN users u ON u.id = a.actor_user_id "
                "WHERE a.action = 'report.export' AND u.username = 'authority'").fetchall()
            con.close()
            check(any(json.loads(d).get("format") == "csv" and json.loads(d).get("id") == county for d, in exports),
                  f"the authority's CSV export of the county is audited: {exports[-3:]}")

            # The three formats and the command line agree; no identity leaks.
            texts = formats_agree(srv, admin, binary, db, county, "2026-10")
            con = sqlite3.connect(db)
            for name, phone, birth in con.execute("SELECT name, phone, birth_date FROM patients"):
                for t in texts:
                    check(name not in t and phone not in t and birth not in t, f"a patient's identity in a report: {name}")
            con.close()

            # A late reading: taken on the last evening of July, sent now, for a hypertensive patient of
            # clinic A whose July blood pressure was controlled; it becomes uncontrolled in July.
            july = mi(2026, 7)
            candidates = [p for p in truth.patients if p[1] == clinic_a and p[5] and p[4] < start_ms(july - 2)
                          and truth.status(p[0], july, "bp") == "controlled"]
            check(candidates, "no controlled hypertensive patient in July to send a late reading for")
            if candidates:
                pid = candidates[0][0]
                before = srv.call("GET", f"/api/v1/reports/regions/{county}?month=2026-07", admin).json()
                body = {"readings": [{"client_id": str(uuid.uuid4()), "kind": "blood_pressure",
                                      "taken_at": "2026-07-31T23:50:00+08:00", "systolic": 172, "diastolic": 104,
                                      "unit": "mmHg"}]}
                a = srv.call("POST", f"/api/v1/clinic/patients/{pid}/readings", tokens["doctor01"], body=body)
                check(a.status == 200 and a.json()["results"][0]["status"] == "created", f"late reading: {a}")
                rid = a.json()["results"][0]["id"]
                con = sqlite3.connect(db)
                row = con.execute("SELECT bp_reading_id, bp_status FROM patient_months WHERE patient_id = ? AND month = ?",
                                  (pid, july)).fetchone()
                con.close()
                check(row == (rid, "uncontrolled"), f"the July row after the late reading: {row}")
                after = srv.call("GET", f"/api/v1/reports/regions/{county}?month=2026-07", admin).json()
                b, c = before["indicators"]["rows"][0]["values"], after["indicators"]["rows"][0]["values"]
                if None not in (b["htn_controlled"], c["htn_controlled"], b["htn_uncontrolled"], c["htn_uncontrolled"]):
                    check(c["htn_controlled"] == b["htn_controlled"] - 1, "July controlled did not drop by one")
                    check(c["htn_uncontrolled"] == b["htn_uncontrolled"] + 1, "July uncontrolled did not rise by one")
                else:
                    check(False, "the county's July control counts are suppressed: the demo is too small")
                # And the past months still equal the raw readings (which now hold the late one).
                truth = Truth(db)
                consistency(srv, admin, truth, range(july, mi(2026, 11) + 1), [("region", county), ("clinic", clinic_a)])

    if FAILURES:
        print(f"{len(FAILURES)} failures")
        sys.exit(1)
    print("reports end to end: ok")


if __name__ == "__main__":
    main()
