#!/usr/bin/env python3
"""Suppression audit: can an authority undo a suppression by combining reports? (issue 15, item 13)

On the demo county (`careloop demo`, 2,000 patients, 10 clinics), fetch the
JSON report of every unit (each region and clinic) for every month from
before the first registration to the current month: the indicators (the
unit by sex and age band, and each child), the 12-month trend, the quarterly
cohorts and the alerts. Then attack them as an authority could:

- every published relation between cells is a sum equation: within a row
  (cohort = under care + ltfu, ...), within a column (a unit = its children,
  all = female + male = the age bands, all alert types = the types), across
  months (registered_cumulative(m) = registered_cumulative(m-1) +
  registered_month(m); cohort(m) = registered_cumulative(m-3), for all, female
  and male: ages move between bands, so age bands have no exact relation
  across months) and across cohorts (a quarter's cohort = the three months'
  registered_month = registered_cumulative(end of the quarter) -
  registered_cumulative(the month before it)); and a published rate gives its
  numerator or denominator when the other is known and only one integer
  rounds to it;
- solve every equation with one unknown, repeat to a fixed point;
- FAIL if any suppressed cell is recovered, or if two reports publish the
  same cell differently (two views that disagree combine into a leak).

It also checks the labels: a cell listed in `suppressed_small` (a count of
1-4, the only cells a client may show as "<5") must be a count cell, and a
complementary cell (suppressed, not small) must not be one the rules would
call small: its recovered value, if any, and its neighbours are checked by
the leak test itself; test_reports.py checks the labels against the raw data.

usage: test_suppression_audit.py CARELOOP_BINARY
"""
import datetime as dt
import os
import sqlite3
import sys
import tempfile
import time
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from careloop_server import Server, demo_db  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
CONDS = ("htn", "dm")
OUTCOMES = ("controlled", "uncontrolled", "visit_no_measure", "missed_visit")
AGE_BANDS = ("<30", "30-39", "40-49", "50-59", "60-69", "70-79", "80+")
GROUPS = ("all", "female", "male") + AGE_BANDS
COUNTS = tuple(f"{p}_{n}" for p in CONDS for n in ("registered_month", "registered_cumulative", "cohort", "under_care", "ltfu")
               + OUTCOMES) + ("patients_registered", "risk_high", "risk_moderate", "risk_low", "risk_unscored")
COHORT_COUNTS = tuple(f"{p}_{n}" for p in CONDS for n in ("cohort", "under_care", "ltfu") + OUTCOMES)


def mi(year, month):
    return year * 12 + month - 1


def fmt(m):
    return f"{m // 12:04d}-{m % 12 + 1:02d}"


def parse_month(s):
    return int(s[:4]) * 12 + int(s[5:7]) - 1


def parse_quarter(s):  # 2026-Q2 -> the quarter's first month
    return int(s[:4]) * 12 + 3 * (int(s[6]) - 1)


def month_of(ms):
    d = dt.datetime.fromtimestamp(ms / 1000, TZ)
    return mi(d.year, d.month)


def rate_parts(column):
    for cond in CONDS:
        if column.startswith(cond + "_") and column.endswith("_rate_excl_ltfu"):
            return column[:-len("_rate_excl_ltfu")], cond + "_under_care"
        if column.startswith(cond + "_") and column.endswith("_rate"):
            return column[:-len("_rate")], cond + "_cohort"
    if column.startswith("risk_") and column.endswith("_rate"):
        return column[:-len("_rate")], "patients_registered"
    if column == "action_rate":
        return "acted", "alerts"
    return None


class Published:
    """Every cell of every report: key -> (value or None, hidden, small)."""

    def __init__(self):
        self.cells = {}
        self.rates = []  # (rate value, numerator key, denominator key)
        self.disagreements = []
        self.small_not_count = []

    def put(self, key, value, hidden, small):
        seen = self.cells.get(key)
        if seen is not None and seen != (value, hidden, small):
            self.disagreements.append((key, seen, (value, hidden, small)))
            # Both views are public: keep whichever publishes a value.
            if seen[0] is not None:
                return
        self.cells[key] = (value, hidden, small)

    def add_row(self, table, unit, group, row, columns):
        hidden = set(row["suppressed"])
        small = set(row.get("suppressed_small", ()))
        for col in columns:
            v = row["values"][col]
            parts = rate_parts(col)
            if parts:
                if col in small:
                    self.small_not_count.append((table, unit, group, col))
                if v is not None:
                    self.rates.append((v, (table, unit, group, parts[0]), (table, unit, group, parts[1])))
                continue
            self.put((table, unit, group, col), v, col in hidden, col in small)


def fetch(srv, token, units, months):
    pub = Published()
    for m in months:
        for unit_type, uid in units:
            a = srv.call("GET", f"/api/v1/reports/{unit_type}s/{uid}?month={fmt(m)}", token)
            if a.status != 200:
                raise RuntimeError(f"{unit_type} {uid} {fmt(m)}: {a}")
            rep = a.json()
            for row in rep["indicators"]["rows"]:
                u = (row["unit"]["type"], row["unit"]["id"])
                pub.add_row(("m", m), u, row["group"], row, rep["indicators"]["columns"])
            for row in rep["trend"]["rows"]:
                pub.add_row(("m", parse_month(row["group"])), (unit_type, uid), "all", row, rep["trend"]["columns"])
            for row in rep["cohorts"]["rows"]:
                pub.add_row(("q", parse_quarter(row["group"])), (unit_type, uid), "all", row, rep["cohorts"]["columns"])
            for row in rep["alerts"]["rows"]:
                pub.add_row(("a", m), (unit_type, uid), row["group"], row, rep["alerts"]["columns"])
    return pub


def equations(pub, children, units, months):
    """Each equation as (total, [parts]) of cell keys; only cells some report published or suppressed."""
    eqs = []

    def add(total, parts):
        if total in pub.cells and all(p in pub.cells for p in parts):
            eqs.append((total, parts))

    quarters = sorted({t[1] for (t, *_rest) in pub.cells if t[0] == "q"})
    alert_types = {}
    for (t, u, g, c) in pub.cells:
        if t[0] == "a":
            alert_types.setdefault(t[1], set()).add(g)
    for u in units:
        for m in months:
            t = ("m", m)
            for g in GROUPS:
                k = lambda c: (t, u, g, c)  # noqa: E731
                for p in CONDS:
                    add(k(p + "_cohort"), [k(p + "_under_care"), k(p + "_ltfu")])
                    add(k(p + "_under_care"), [k(f"{p}_{o}") for o in OUTCOMES])
                    add(k(p + "_cohort"), [k(f"{p}_{o}") for o in OUTCOMES] + [k(p + "_ltfu")])
                add(k("patients_registered"), [k(r) for r in ("risk_high", "risk_moderate", "risk_low", "risk_unscored")])
            for c in COUNTS:
                add((t, u, "all", c), [(t, u, "female", c), (t, u, "male", c)])
                add((t, u, "all", c), [(t, u, b, c) for b in AGE_BANDS])
                for g in GROUPS:
                    if children[u]:
                        add((t, u, g, c), [(t, ch, g, c) for ch in children[u]])
            # Across months: the same unit and sex (ages move between bands).
            for g in ("all", "female", "male"):
                for p in CONDS:
                    add((t, u, g, p + "_registered_cumulative"),
                        [(("m", m - 1), u, g, p + "_registered_cumulative"), (t, u, g, p + "_registered_month")])
                    add((t, u, g, p + "_cohort"), [(("m", m - 3), u, g, p + "_registered_cumulative")])
            # Alerts of the month: all types = the types; a unit = its children.
            types = alert_types.get(m, set())
            for c in ("alerts", "acted"):
                add((("a", m), u, "all", c), [(("a", m), u, ty, c) for ty in types if ty != "all"])
                for ty in types:
                    if children[u]:
                        add((("a", m), u, ty, c), [(("a", m), ch, ty, c) for ch in children[u]])
        for q in quarters:
            t = ("q", q)
            k = lambda c: (t, u, "all", c)  # noqa: E731
            for p in CONDS:
                add(k(p + "_cohort"), [k(p + "_under_care"), k(p + "_ltfu")])
                add(k(p + "_under_care"), [k(f"{p}_{o}") for o in OUTCOMES])
                add(k(p + "_cohort"), [k(f"{p}_{o}") for o in OUTCOMES] + [k(p + "_ltfu")])
                # The quarter's registrations, month by month and as a difference of cumulative counts.
                add(k(p + "_cohort"), [(("m", q + i), u, "all", p + "_registered_month") for i in range(3)])
                add((("m", q + 2), u, "all", p + "_registered_cumulative"),
                    [(("m", q - 1), u, "all", p + "_registered_cumulative"), k(p + "_cohort")])
            if children[u]:
                for c in COHORT_COUNTS:
                    add((t, u, "all", c), [(t, ch, "all", c) for ch in children[u]])
    return eqs


def attack(pub, eqs):
    """Solve every equation with one unknown (and every rate with one unknown part) until nothing changes.

    Returns {key: value} of the suppressed cells recovered."""
    known = {k: v for k, (v, hidden, _small) in pub.cells.items() if not hidden}
    by_cell = {}
    for i, (total, parts) in enumerate(eqs):
        for c in [total] + parts:
            by_cell.setdefault(c, []).append(i)
    recovered = {}
    queue = list(range(len(eqs)))
    rates_by_cell = {}
    for i, (_r, num, den) in enumerate(pub.rates):
        rates_by_cell.setdefault(num, []).append(i)
        rates_by_cell.setdefault(den, []).append(i)

    def learn(cell, value):
        known[cell] = value
        if pub.cells[cell][1]:
            recovered[cell] = value
        queue.extend(by_cell.get(cell, ()))
        for i in rates_by_cell.get(cell, ()):
            solve_rate(i)

    def solve_rate(i):
        r, num, den = pub.rates[i]
        if num in known and den in known:
            return
        if den in known and num in pub.cells:
            d = known[den]
            fits = [n for n in range(0, d + 1) if round(n / d, 4) == r] if d else []
            if len(fits) == 1:
                learn(num, fits[0])
        elif num in known and den in pub.cells and r > 0:
            n = known[num]
            centre = round(n / r)
            fits = [d for d in range(max(n, 1, centre - 50), centre + 51) if round(n / d, 4) == r]
            if len(fits) == 1:
                learn(den, fits[0])

    for i in range(len(pub.rates)):
        solve_rate(i)
    while queue:
        total, parts = eqs[queue.pop()]
        unknown = [c for c in [total] + parts if c not in known]
        if len(unknown) != 1:
            continue
        u = unknown[0]
        if u == total:
            learn(u, sum(known[p] for p in parts))
        else:
            learn(u, known[total] - sum(known[p] for p in parts if p != u))
    return recovered


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as workdir:
        db = demo_db(binary, workdir, patients=2000, clinics=10, days=90, end_date="2026-11-20")
        con = sqlite3.connect(db)
        regions = dict(con.execute("SELECT id, parent_id FROM regions"))
        clinics = dict(con.execute("SELECT id, region_id FROM clinics"))
        first_ms, = con.execute("SELECT min(registered_at_ms) FROM patients").fetchone()
        con.close()
        units = [("region", r) for r in regions] + [("clinic", c) for c in clinics]
        children = {u: [] for u in units}
        for r, parent in regions.items():
            if parent is not None:
                children[("region", parent)].append(("region", r))
        for c, r in clinics.items():
            children[("region", r)].append(("clinic", c))
        now = dt.datetime.now(TZ)
        months = list(range(month_of(first_ms) - 3, mi(now.year, now.month) + 1))

        started = time.monotonic()
        with Server(binary, db) as srv:
            admin = srv.login("admin", "demo-admin")
            pub = fetch(srv, admin, units, months)
        seconds = time.monotonic() - started
        eqs = equations(pub, children, units, months)
        recovered = attack(pub, eqs)

        hidden = [k for k, (_v, h, _s) in pub.cells.items() if h]
        small = [k for k, (_v, h, s) in pub.cells.items() if h and s]
        print(f"{len(units)} units x {len(months)} months ({fmt(months[0])} .. {fmt(months[-1])}) in {seconds:.0f} s: "
              f"{len(pub.cells)} count cells, {len(hidden)} suppressed ({len(small)} small, "
              f"{len(hidden) - len(small)} complementary), {len(eqs)} equations")
        county = ("region", next(r for r, parent in regions.items()
                                 if parent is not None and len(children[("region", r)]) > 1))
        top = [k for k in hidden if k[1] == county and k[2] == "all" and k[0][0] == "m"]
        print(f"the county ({county[1]}), all, every month: {len(top)} suppressed "
              f"({sum(1 for k in top if pub.cells[k][2])} small)")
        failures = 0
        for key, seen, other in pub.disagreements[:10]:
            print(f"FAIL: two reports disagree on {key}: {seen} vs {other}")
        failures += len(pub.disagreements)
        for key in pub.small_not_count[:10]:
            print(f"FAIL: a rate is labelled small: {key}")
        failures += len(pub.small_not_count)
        for (t, u, g, c), v in sorted(recovered.items(), key=str)[:40]:
            where = fmt(t[1]) if t[0] != "q" else f"quarter from {fmt(t[1])}"
            print(f"FAIL: recovered {t[0]} {where} {u[0]} {u[1]} {g} {c} = {v}")
        if recovered:
            print(f"{len(recovered)} suppressed cells recovered from published ones")
        failures += len(recovered)
        if failures:
            print(f"{failures} failures")
            sys.exit(1)
        print("suppression audit: ok, no suppressed cell is recovered")


if __name__ == "__main__":
    main()
