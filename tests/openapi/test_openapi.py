#!/usr/bin/env python3
"""Checks mobile-api/openapi.json against itself and against the real server.

    test_openapi.py document  CARELOOP_BIN OPENAPI_JSON   the document is valid OpenAPI 3.1
    test_openapi.py routes    CARELOOP_BIN OPENAPI_JSON   it lists exactly the routes the server answers
    test_openapi.py responses CARELOOP_BIN OPENAPI_JSON   real answers match it, operation by operation

Python 3 standard library plus jsonschema (Debian's python3-jsonschema 4.10
or newer); no RefResolver, no `referencing`: a schema is validated as a $ref
into the whole document, which every version resolves the same way.
"""
import copy
import datetime as dt
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from careloop_server import Server, run  # noqa: E402

try:
    import jsonschema
    from jsonschema import Draft202012Validator, FormatChecker
except ImportError:  # pragma: no cover
    sys.exit("test_openapi.py needs jsonschema (apt-get install python3-jsonschema)")

JSON = "application/json"
FHIR = "application/fhir+json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# ----------------------------------------------------------------------------- the document


def pointer_escape(key):
    return key.replace("~", "~0").replace("/", "~1")


def resolve_pointer(doc, ref):
    """The value at a local reference '#/a/b', or KeyError."""
    if not ref.startswith("#"):
        raise KeyError(f"{ref}: only local references are used in this document")
    node = doc
    for part in [p for p in ref[1:].split("/")][1:] if ref != "#" else []:
        part = urllib.parse.unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(ref)
    return node


def follow(doc, obj, ptr):
    """(object, pointer) after following a chain of Reference Objects."""
    seen = set()
    while isinstance(obj, dict) and "$ref" in obj:
        ptr = obj["$ref"]
        if ptr in seen:
            raise KeyError(f"reference cycle at {ptr}")
        seen.add(ptr)
        obj = resolve_pointer(doc, ptr)
    return obj, ptr


def make_format_checker():
    """date-time, date and uuid checked here: 4.10 checks date-time only with optional packages."""
    checker = FormatChecker(())
    date_time = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

    @checker.checks("date-time", raises=ValueError)
    def is_date_time(value):
        if not isinstance(value, str):
            return True
        if not date_time.match(value):
            return False
        text = re.sub(r"\.\d+", "", value.upper().replace("Z", "+00:00"))
        dt.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")  # a real calendar date and time
        return True

    @checker.checks("date", raises=ValueError)
    def is_date(value):
        if not isinstance(value, str):
            return True
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
            return False
        dt.date.fromisoformat(value)
        return True

    @checker.checks("uuid")
    def is_uuid(value):
        return not isinstance(value, str) or bool(
            re.match(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", value))

    return checker


class Document:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.text = f.read()
        self.doc = json.loads(self.text)
        self.format_checker = make_format_checker()
        self._validators = {}
        self.operations = {}  # operationId -> (METHOD, path template, operation, pointer)
        for path, item in self.doc.get("paths", {}).items():
            for method in METHODS:
                if method in item:
                    o = item[method]
                    ptr = f"#/paths/{pointer_escape(path)}/{method}"
                    self.operations[o.get("operationId", f"{method.upper()} {path}")] = (method.upper(), path, o, ptr)

    def errors(self, schema_ptr, instance, limit=3):
        """Messages of what is wrong with `instance` under the schema at `schema_ptr`; [] when valid."""
        v = self._validators.get(schema_ptr)
        if v is None:
            root = copy.copy(self.doc)
            root["$ref"] = schema_ptr
            v = self._validators[schema_ptr] = Draft202012Validator(root, format_checker=self.format_checker)
        found = list(v.iter_errors(instance))
        if not found:
            return []
        leaves = [leaf for e in found for leaf in leaf_errors(e)]
        # A member that failed its own schema also reads as "unevaluated": say only the first.
        if any(e.validator != "unevaluatedProperties" for e in leaves):
            leaves = [e for e in leaves if e.validator != "unevaluatedProperties"]
        leaves.sort(key=lambda e: len(e.absolute_path))
        out = [f"at /{'/'.join(str(p) for p in e.absolute_path)}: {shorten(e.message)}" for e in leaves[:limit]]
        if len(leaves) > limit:
            out.append(f"... and {len(leaves) - limit} more")
        return out

    def parameters(self, op_id):
        """name -> (parameter object, pointer of its schema) for query, path and header parameters."""
        method, path, o, ptr = self.operations[op_id]
        out = {}
        item_ptr = ptr.rsplit("/", 1)[0]
        sources = [(p, f"{item_ptr}/parameters/{i}") for i, p in enumerate(self.doc["paths"][path].get("parameters", []))]
        sources += [(p, f"{ptr}/parameters/{i}") for i, p in enumerate(o.get("parameters", []))]
        for p, p_ptr in sources:
            p, p_ptr = follow(self.doc, p, p_ptr)
            out[(p["in"], p["name"])] = (p, p_ptr + "/schema")
        return out

    def response(self, op_id, status):
        """(response object, pointer) documented for a status, or (None, None)."""
        method, path, o, ptr = self.operations[op_id]
        responses = o.get("responses", {})
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in responses:
                return follow(self.doc, responses[key], f"{ptr}/responses/{key}")
        return None, None


DISCRIMINATORS = ("kind", "entity", "status", "resourceType", "type", "relation")


def leaf_errors(error):
    """The errors that say what is wrong. For a oneOf/anyOf, those of the branch the instance meant: the one
    whose discriminating member (kind, entity, ...) matched, else the one that came closest."""
    if not error.context:
        return [error]
    branches = {}
    for e in error.context:
        branches.setdefault(e.relative_schema_path[0] if e.relative_schema_path else None, []).append(e)

    def mismatched(errors):
        return any(e.validator in ("const", "enum") and list(e.relative_path)[-1:] and
                   list(e.relative_path)[-1] in DISCRIMINATORS and len(e.relative_path) == 1 for e in errors)

    meant = [errs for errs in branches.values() if not mismatched(errs)]
    if not meant:
        return [jsonschema.exceptions.best_match(error.context)]
    chosen = min(meant, key=len)
    return [leaf for e in chosen for leaf in leaf_errors(e)]


def shorten(text, n=160):
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def walk(node, ptr="#"):
    """Every (value, pointer) in a JSON tree."""
    yield node, ptr
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{ptr}/{pointer_escape(k)}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{ptr}/{i}")


def check_document(d):
    """The document on its own: version, references, schemas, operations, examples."""
    doc, failures = d.doc, []
    if doc.get("openapi") != "3.1.0":
        failures.append(f"openapi is {doc.get('openapi')!r}, expected '3.1.0'")

    for node, ptr in walk(doc):
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            try:
                resolve_pointer(doc, node["$ref"])
            except (KeyError, IndexError, ValueError) as e:
                failures.append(f"{ptr}: $ref {node['$ref']} does not resolve ({e})")

    schema_ptrs = [f"#/components/schemas/{pointer_escape(k)}" for k in doc.get("components", {}).get("schemas", {})]
    for node, ptr in walk(doc.get("paths", {}), "#/paths"):
        if isinstance(node, dict) and isinstance(node.get("schema"), (dict, bool)):
            schema_ptrs.append(ptr + "/schema")
    for k, h in doc.get("components", {}).get("headers", {}).items():
        schema_ptrs.append(f"#/components/headers/{pointer_escape(k)}/schema")
    for node, ptr in walk(doc.get("components", {}).get("responses", {}), "#/components/responses"):
        if isinstance(node, dict) and isinstance(node.get("schema"), (dict, bool)):
            schema_ptrs.append(ptr + "/schema")
    for k in doc.get("components", {}).get("parameters", {}):
        schema_ptrs.append(f"#/components/parameters/{pointer_escape(k)}/schema")
    checked = 0
    for ptr in dict.fromkeys(schema_ptrs):
        try:
            schema = resolve_pointer(doc, ptr)
        except KeyError:
            continue
        try:
            Draft202012Validator.check_schema(schema)
            checked += 1
        except jsonschema.exceptions.SchemaError as e:
            failures.append(f"{ptr}: not a valid JSON Schema 2020-12: {shorten(e.message)}")

    op_ids = {}
    schemes = doc.get("components", {}).get("securitySchemes", {})
    for path, item in doc.get("paths", {}).items():
        names = re.findall(r"\{([^}]+)\}", path)
        for method in METHODS:
            if method not in item:
                continue
            o = item[method]
            where = f"{method.upper()} {path}"
            op_id = o.get("operationId")
            if not op_id:
                failures.append(f"{where}: no operationId")
            elif op_id in op_ids:
                failures.append(f"operationId {op_id} is used by {op_ids[op_id]} and {where}")
            else:
                op_ids[op_id] = where
            params = d.parameters(op_id) if op_id else {}
            declared = sorted(n for (where_in, n) in params if where_in == "path")
            if sorted(names) != declared:
                failures.append(f"{where}: path parameters {declared} do not match the template {sorted(names)}")
            responses = o.get("responses", {})
            if not any(k.startswith("2") for k in responses):
                failures.append(f"{where}: no 2xx response")
            security = o.get("security", doc.get("security", []))
            for requirement in security:
                for name in requirement:
                    if name not in schemes:
                        failures.append(f"{where}: security scheme {name} is not defined")
            if security and "401" not in responses:
                failures.append(f"{where}: needs a token but documents no 401")

    # Every example must validate against the schema beside it.
    examples = 0
    for node, ptr in walk(doc):
        if not isinstance(node, dict) or "schema" not in node or not isinstance(node["schema"], dict):
            continue
        found = []
        if "example" in node:
            found.append((node["example"], ptr + "/example"))
        for name, ex in node.get("examples", {}).items() if isinstance(node.get("examples"), dict) else []:
            ex, ex_ptr = follow(doc, ex, f"{ptr}/examples/{pointer_escape(name)}")
            if "value" in ex:
                found.append((ex["value"], ex_ptr + "/value"))
        for value, ex_ptr in found:
            examples += 1
            for message in d.errors(ptr + "/schema", value):
                failures.append(f"{ex_ptr}: example does not match its schema: {message}")
    print(f"document: {len(d.operations)} operations, {checked} schemas, {examples} examples checked")
    return failures


# ----------------------------------------------------------------------------- the routes


def check_routes(d, binary, workdir):
    db = os.path.join(workdir, "routes.db")
    run([binary, "--db", db, "init"])
    p = run([binary, "--db", db, "routes"], check=False)
    if p.returncode != 0:
        return [f"`careloop --db DB routes` failed (exit {p.returncode}); it must print the router's routes as "
                f"a JSON array of {{\"method\", \"path\"}}: {shorten(p.stderr.strip() or p.stdout.strip(), 300)}"]
    try:
        listed = json.loads(p.stdout)
        # The web app's routes serve files, not the API: `routes` marks them "static" and they are
        # not documented here. Only these may be static, so no API route can hide behind the mark.
        static = {(r["method"].upper(), r["path"]) for r in listed if r.get("static")}
        served = {(r["method"].upper(), r["path"]) for r in listed if not r.get("static")}
    except (ValueError, TypeError, KeyError) as e:
        return [f"`careloop routes` did not print a JSON array of {{method, path}} ({e}): {shorten(p.stdout, 300)}"]

    def shape(path):
        return re.sub(r"\{[^}]*\}", "{}", path)

    documented = {(m, path) for (m, path, _, _) in d.operations.values()}
    doc_by_shape = {(m, shape(p)): p for (m, p) in documented}
    served_by_shape = {(m, shape(p)): p for (m, p) in served}
    # HEAD is answered by every GET handler; it needs no operation of its own.
    served_shapes = {k for k in served_by_shape if not (k[0] == "HEAD" and ("GET", k[1]) in served_by_shape)}
    failures = []
    for key in sorted(served_shapes - doc_by_shape.keys()):
        failures.append(f"served but not documented: {key[0]} {served_by_shape[key]}")
    for key in sorted(doc_by_shape.keys() - served_by_shape.keys()):
        failures.append(f"documented but not served: {key[0]} {doc_by_shape[key]}")
    for key in sorted(doc_by_shape.keys() & served_by_shape.keys()):
        if doc_by_shape[key] != served_by_shape[key]:
            failures.append(f"{key[0]} {served_by_shape[key]} is documented as {doc_by_shape[key]} "
                            f"(path parameters named differently)")
    allowed_static = {("GET", "/"), ("GET", "/patient"), ("GET", "/assets/{*file}"),
                      ("GET", "/patient.webmanifest"), ("GET", "/patient-sw.js"), ("GET", "/icons/{*file}")}
    for m, path in sorted(static - allowed_static):
        failures.append(f"marked static but not a web app route: {m} {path}")
    print(f"routes: {len(served)} served, {len(documented)} documented, {len(static)} static (web app)")
    return failures


# ----------------------------------------------------------------------------- the server


def request(port, method, target, token=None, body=None, content_type=None):
    headers = {"Accept": "*/*"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
        data = data.encode() if isinstance(data, str) else data
        headers["Content-Type"] = content_type or JSON
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, target, body=data, headers=headers)
        res = conn.getresponse()
        headers = {k.lower(): v for k, v in res.getheaders()}
        # A live event stream never ends: its first event (the retry hint) stands for the body.
        if headers.get("content-type", "").startswith("text/event-stream"):
            return res.status, headers, res.readline() + res.readline()
        return res.status, headers, res.read()
    finally:
        conn.close()


# ----------------------------------------------------------------------------- the calls

# Times relative to now: a reading taken more than 10 minutes ahead is rejected.
CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime.now(CST).replace(microsecond=0)


def ago(**kw):
    return (NOW - dt.timedelta(**kw)).isoformat()


def new_id():
    return str(uuid.uuid4())


def save_spare_user(ctx, a):
    """The administrator's id, and a doctor's that no call signs in as (deactivating it breaks nothing)."""
    signed_in = {v for k, v in ctx.items() if k.startswith("username:")}
    users = a.json["users"]
    ctx["admin_user"] = str(next(u["id"] for u in users if u["username"] == ctx["username:admin"]))
    ctx["spare_user"] = str(next(u["id"] for u in reversed(users) if u["role"] == "doctor" and u["username"] not in signed_in))


class Call:
    """One request and what must come back. Values may be functions of the context (earlier answers)."""

    def __init__(self, op, title, expect, who=None, path=None, query=None, body=None, content_type=None,
                 valid=None, save=None, check=None):
        self.op, self.title, self.who = op, title, who
        self.expect = expect if isinstance(expect, (set, frozenset)) else {expect}
        self.path, self.query, self.body, self.content_type = path or {}, query or [], body, content_type
        self.valid = valid      # True/False: the request itself must (not) match the document
        self.save = save        # f(ctx, answer): keep ids and tokens for later calls
        self.check = check      # f(ctx, answer) -> message or None: what the schema cannot say


class Answer:
    def __init__(self, status, headers, raw):
        self.status, self.headers, self.raw = status, headers, raw
        self.json = None
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            pass


def value(v, ctx):
    if callable(v):
        return v(ctx)
    if isinstance(v, dict):
        return {k: value(x, ctx) for k, x in v.items()}
    if isinstance(v, list):
        return [value(x, ctx) for x in v]
    if isinstance(v, tuple):
        return tuple(value(x, ctx) for x in v)
    return v


def c(key):
    """A context value, looked up when the call is made."""
    return lambda ctx: ctx[key]


def login_save(role):
    def save(ctx, a):
        ctx["token:" + role] = a.json["token"]
        ctx["user:" + role] = a.json["user"]
    return save


def reading(kind, **fields):
    return {"client_id": new_id(), "kind": kind, "taken_at": ago(hours=2), **fields}


SIX_KINDS = [
    reading("blood_pressure", systolic=138, diastolic=86, pulse=71, unit="mmHg", source="openapi-test"),
    reading("glucose", value=118, unit="mg/dL", context="fasting"),
    reading("weight", value=64.2, unit="kg", note="after breakfast"),
    reading("heart_rate", value=72),
    reading("hba1c", value=52, unit="mmol/mol"),
    reading("medication", name="amlodipine", status="taken"),
    reading("blood_pressure", systolic=80, diastolic=95, unit="mmHg"),  # rejected: systolic below diastolic
]
LOINC, UCUM = "http://loinc.org", "http://unitsofmeasure.org"


def observation(code, subject, quantity=None, components=None):
    o = {"resourceType": "Observation", "status": "final",
         "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:" + new_id()}],
         "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                   "code": "vital-signs"}]}],
         "code": {"coding": [{"system": LOINC, "code": code}]},
         "effectiveDateTime": ago(hours=1)}
    if subject is not None:
        o["subject"] = {"reference": f"Patient/{subject}"}
    if quantity:
        o["valueQuantity"] = {"value": quantity[0], "unit": quantity[1], "system": UCUM, "code": quantity[1]}
    if components:
        o["component"] = [{"code": {"coding": [{"system": LOINC, "code": k}]},
                           "valueQuantity": {"value": v, "unit": u, "system": UCUM, "code": u}}
                          for k, v, u in components]
    return o


def bp_observation(subject):
    return observation("85354-9", subject, components=[("8480-6", 132, "mm[Hg]"), ("8462-4", 84, "mm[Hg]"),
                                                       ("8867-4", 70, "/min")])


def entry(resource):
    return {"resource": resource, "request": {"method": "POST", "url": "Observation"}}


def results_are(*want):
    def check(ctx, a):
        got = [r.get("status") for r in (a.json or {}).get("results", [])]
        return None if got == list(want) else f"results {got}, expected {list(want)}"
    return check


def bundle_statuses(*prefixes):
    def check(ctx, a):
        got = [e.get("response", {}).get("status", "") for e in (a.json or {}).get("entry", [])]
        ok = len(got) == len(prefixes) and all(g.startswith(p) for g, p in zip(got, prefixes))
        return None if ok else f"entry statuses {got}, expected {list(prefixes)}"
    return check


def save_next_cursor(key, field):
    def save(ctx, a):
        if field == "next_cursor":
            ctx[key] = a.json.get("next_cursor")
        else:  # FHIR: the _cursor of the next link
            for link in a.json.get("link", []):
                if link.get("relation") == "next":
                    q = urllib.parse.parse_qs(urllib.parse.urlsplit(link["url"]).query)
                    ctx[key] = q.get("_cursor", [None])[0]
        if ctx.get(key) is None:
            del ctx[key]
    return save


def need(key):
    """A check that an answer gave a later call what it needs."""
    return lambda ctx, a: None if ctx.get(key) is not None else f"no {key} in the answer"


PID = c("patient_id")
UNKNOWN = 999999999
CONSENT = {"version": "1", "accepted": True}
EXTERNAL_ID = "OA-" + uuid.uuid4().hex[:10]
NEW_USERNAME = "oa" + uuid.uuid4().hex[:8]


def calls():
    """Every documented operation: a success, and its 401, 403, 404 and 422 where documented."""
    pw = {"patient": "demo-patient", "patient2": "demo-patient",
          "doctor": "demo-doctor", "other_doctor": "demo-doctor", "authority": "demo-authority",
          "admin": "demo-admin"}

    def login(role):
        return Call("login", f"{role} logs in", 200, body={"username": c("username:" + role), "password": pw[role]},
                    valid=True, save=login_save(role))

    def own_patient(ctx, a):
        ctx["patient_id"] = a.json["user"]["patient_id"]
        ctx["patient_clinic"] = a.json["user"].get("clinic_id")
        doctors = ctx["doctors"]  # username -> clinic id, from `careloop user list`
        own = [u for u, cl in doctors.items() if cl == ctx["patient_clinic"]]
        other = [u for u, cl in doctors.items() if cl != ctx["patient_clinic"]]
        if own:
            ctx["username:doctor"] = own[0]
        if other:
            ctx["username:other_doctor"] = other[0]

    return [
        # --- auth: logins every later call uses
        Call("login", "patient logs in", 200, body={"username": c("username:patient"), "password": pw["patient"]},
             valid=True, save=lambda ctx, a: (login_save("patient")(ctx, a), own_patient(ctx, a))),
        login("patient2"), login("doctor"), login("other_doctor"), login("authority"), login("admin"),
        Call("login", "wrong password", 401, body={"username": c("username:patient2"), "password": "not-it"},
             valid=True),
        Call("login", "no password", 422, body={"username": "patient01"}, valid=False),
        Call("login", "malformed JSON", 400, body=b'{"username": "patient01",'),
        Call("login", "not JSON", 415, body=b"username=patient01", content_type="text/plain"),

        # --- clinic
        Call("registerPatient", "doctor registers a patient", 201, who="doctor", valid=True,
             body={"name": "欧阳测试", "sex": "female", "birth_date": "1960-02-29", "phone": "13800138000",
                   "height_cm": 160.5, "diagnoses": [{"code": "hypertension", "diagnosed_on": "2020-01-15"}],
                   "comorbidities": ["ckd"], "external_id": EXTERNAL_ID},
             save=lambda ctx, a: ctx.update(new_patient_id=a.json["patient"]["id"],
                                            first_code=a.json["activation"]["code"])),
        Call("registerPatient", "admin registers a patient in a clinic", 201, who="admin", valid=True,
             body={"name": "Admin Test", "sex": "male", "birth_date": "1955-07-01", "clinic_id": c("patient_clinic"),
                   "diagnoses": [{"code": "diabetes_t2", "diagnosed_on": "2021-03-01"}]},
             save=lambda ctx, a: ctx.update(admin_patient_id=a.json["patient"]["id"])),
        Call("registerPatient", "external_id already used", 409, who="doctor", valid=True,
             body={"name": "Twin", "sex": "male", "birth_date": "1950-01-01", "external_id": EXTERNAL_ID}),
        Call("registerPatient", "invalid sex, no birth_date", 422, who="doctor", valid=False,
             body={"name": "X", "sex": "unknown"}),
        Call("registerPatient", "a patient may not", 403, who="patient", valid=True,
             body={"name": "X", "sex": "male", "birth_date": "1950-01-01"}),
        Call("registerPatient", "an authority may not", 403, who="authority", valid=True,
             body={"name": "X", "sex": "male", "birth_date": "1950-01-01"}),
        Call("registerPatient", "no token", 401, body={"name": "X", "sex": "male", "birth_date": "1950-01-01"}),

        Call("issueActivationCode", "new code voids the first", 201, who="doctor", path={"id": c("new_patient_id")},
             save=lambda ctx, a: ctx.update(code=a.json["code"])),
        Call("issueActivationCode", "another clinic's doctor: as an unknown id", 404, who="other_doctor",
             path={"id": c("new_patient_id")}),
        Call("issueActivationCode", "an authority may not", 403, who="authority",
             path={"id": c("new_patient_id")}),
        Call("issueActivationCode", "unknown patient", 404, who="doctor", path={"id": UNKNOWN}),
        Call("issueActivationCode", "no token", 401, path={"id": c("new_patient_id")}),

        Call("listModels", "a doctor sees the cards", 200, who="doctor",
             check=lambda ctx, a: None if a.json["models"] else "no model in service"),
        Call("listModels", "an authority too", 200, who="authority"),
        Call("listModels", "a patient may not", 403, who="patient"),
        Call("listModels", "no token", 401),
        Call("getPatientRisk", "own doctor", 200, who="doctor", path={"id": PID}),
        Call("getPatientRisk", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": PID}),
        Call("getPatientRisk", "an authority may not", 403, who="authority", path={"id": PID}),
        Call("getPatientRisk", "a patient may not", 403, who="patient", path={"id": PID}),
        Call("getPatientRisk", "unknown patient", 404, who="doctor", path={"id": UNKNOWN}),
        Call("getPatientRisk", "no token", 401, path={"id": PID}),
        Call("getMyRisk", "a patient", 200, who="patient"),
        Call("getMyRisk", "a doctor may not", 403, who="doctor"),
        Call("getMyRisk", "no token", 401),

        Call("getClinicPatient", "own doctor reads an activated patient", 200, who="doctor", path={"id": PID},
             check=lambda ctx, a: None if a.json.get("account") else "account is null for an activated patient"),
        Call("getClinicPatient", "admin reads a patient without account", 200, who="admin",
             path={"id": c("new_patient_id")}),
        Call("getClinicPatient", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": PID}),
        Call("getClinicPatient", "an authority may not", 403, who="authority", path={"id": PID}),
        Call("getClinicPatient", "a patient may not", 403, who="patient", path={"id": PID}),
        Call("getClinicPatient", "unknown patient", 404, who="doctor", path={"id": UNKNOWN}),
        Call("getClinicPatient", "no token", 401, path={"id": PID}),

        Call("listPatientReadings", "own doctor, a page", 200, who="doctor", path={"id": PID},
             query=[("limit", "5"), ("kind", "blood_pressure")], valid=True),
        Call("listPatientReadings", "limit 0", 422, who="doctor", path={"id": PID}, query=[("limit", "0")],
             valid=False),
        Call("listPatientReadings", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": PID}),
        Call("listPatientReadings", "an authority may not", 403, who="authority", path={"id": PID}),
        Call("listPatientReadings", "unknown patient", 404, who="doctor", path={"id": UNKNOWN}),
        Call("listPatientReadings", "no token", 401, path={"id": PID}),

        Call("postPatientReadings", "own doctor records a reading", 200, who="doctor", path={"id": PID}, valid=True,
             body={"readings": [reading("blood_pressure", systolic=150, diastolic=92, unit="mmHg", source="clinic")]},
             check=results_are("created")),
        Call("postPatientReadings", "empty batch", 422, who="doctor", path={"id": PID}, body={"readings": []},
             valid=False),
        Call("postPatientReadings", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": PID},
             body={"readings": [reading("heart_rate", value=70)]}),
        Call("postPatientReadings", "an authority may not", 403, who="authority", path={"id": PID},
             body={"readings": [reading("heart_rate", value=70)]}),
        Call("postPatientReadings", "unknown patient", 404, who="doctor", path={"id": UNKNOWN},
             body={"readings": [reading("heart_rate", value=70)]}),
        Call("postPatientReadings", "no token", 401, path={"id": PID},
             body={"readings": [reading("heart_rate", value=70)]}),

        Call("sendPatientMessage", "own doctor writes", 201, who="doctor", path={"id": PID}, valid=True,
             body={"text": "请周五带血压计来诊所。Please bring your meter on Friday."}),
        Call("sendPatientMessage", "empty text", 422, who="doctor", path={"id": PID}, body={"text": ""}, valid=False),
        Call("sendPatientMessage", "2001 characters", 422, who="doctor", path={"id": PID}, body={"text": "药" * 2001},
             valid=False),
        Call("sendPatientMessage", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": PID},
             body={"text": "hello"}),
        Call("sendPatientMessage", "an authority may not", 403, who="authority", path={"id": PID},
             body={"text": "hello"}),
        Call("sendPatientMessage", "unknown patient", 404, who="doctor", path={"id": UNKNOWN}, body={"text": "hello"}),
        Call("sendPatientMessage", "no token", 401, path={"id": PID}, body={"text": "hello"}),

        # --- alerts: a critical reading opens one; the doctor lists, follows and acts on it
        Call("postMyReadings", "a critical blood pressure", 200, who="patient", valid=True,
             body={"readings": [reading("blood_pressure", systolic=186, diastolic=121, unit="mmHg")]},
             check=results_are("created")),
        Call("listClinicAlerts", "own clinic, open", 200, who="doctor", valid=True,
             save=lambda ctx, a: ctx.update({"alert_id": a.json["alerts"][0]["id"]}), check=need("alert_id")),
        Call("listClinicAlerts", "admin names the clinic", 200, who="admin", valid=True,
             query=[("clinic_id", c("patient_clinic")), ("status", "acknowledged"), ("limit", "10")]),
        Call("listClinicAlerts", "one patient's history, every status", 200, who="doctor", valid=True,
             query=[("patient_id", PID), ("status", "all")],
             check=lambda ctx, a: None if a.json["alerts"] and all(x["patient_id"] == ctx["patient_id"]
                                                                   for x in a.json["alerts"])
             else "not exactly the patient's alerts"),
        Call("listClinicAlerts", "an unknown status", 422, who="doctor", query=[("status", "closed")], valid=False),
        Call("listClinicAlerts", "an authority may not", 403, who="authority"),
        Call("listClinicAlerts", "no token", 401),

        # --- the patient list: ranked, searched, filtered, paged
        Call("listPatients", "own clinic, first page", 200, who="doctor", valid=True, query=[("limit", "5")],
             save=lambda ctx, a: ctx.update(patients_next=a.json["next"]),
             check=lambda ctx, a: None if a.json["items"] and a.json["items"][0]["alerts"]["critical"] >= 1
             else "the patient with a critical alert is not first"),
        Call("listPatients", "the next page", 200, who="doctor", valid=True,
             query=[("limit", "5"), ("cursor", c("patients_next"))], check=need("patients_next")),
        Call("listPatients", "search by id, filtered", 200, who="doctor", valid=True,
             query=[("q", lambda ctx: str(ctx["patient_id"])), ("filter", "open_alerts"), ("sort", "name")],
             check=lambda ctx, a: None if [x["id"] for x in a.json["items"]] == [ctx["patient_id"]]
             else f"search by id found {[x['id'] for x in a.json['items']]}"),
        Call("listPatients", "admin, every clinic", 200, who="admin", valid=True,
             query=[("sort", "last_reading"), ("filter", "no_data,high_risk")]),
        Call("listPatients", "an unknown filter", 422, who="doctor", query=[("filter", "sickest")], valid=False),
        Call("listPatients", "a foreign cursor", 422, who="doctor", query=[("cursor", "name.0..1")], valid=True),
        Call("listPatients", "another clinic named", 403, who="other_doctor", query=[("clinic_id", c("patient_clinic"))]),
        Call("listPatients", "a patient may not", 403, who="patient"),
        Call("listPatients", "no token", 401),
        Call("streamClinicEvents", "own clinic, from an event id", 200, who="doctor", valid=True,
             query=[("last_event_id", "0")],
             check=lambda ctx, a: None if a.raw.startswith(b"retry:") else f"stream began {a.raw[:40]!r}"),
        Call("streamClinicEvents", "a negative event id", 422, who="doctor", query=[("last_event_id", "-1")], valid=False),
        Call("streamClinicEvents", "another clinic", 403, who="other_doctor",
             query=[("clinic_id", c("patient_clinic"))]),
        Call("streamClinicEvents", "no token", 401),
        Call("acknowledgeAlert", "own doctor called the patient", 200, who="doctor", path={"id": c("alert_id")},
             valid=True, body={"action": "called_patient", "note": "已电话联系"}),
        Call("acknowledgeAlert", "an unknown action", 422, who="doctor", path={"id": c("alert_id")},
             body={"action": "phoned"}, valid=False),
        Call("acknowledgeAlert", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": c("alert_id")},
             body={"action": "no_action"}),
        Call("acknowledgeAlert", "an authority may not", 403, who="authority", path={"id": c("alert_id")},
             body={"action": "no_action"}),
        Call("acknowledgeAlert", "unknown alert", 404, who="doctor", path={"id": UNKNOWN}, body={"action": "no_action"}),
        Call("acknowledgeAlert", "no token", 401, path={"id": c("alert_id")}, body={"action": "no_action"}),
        Call("snoozeAlert", "until tomorrow", 200, who="doctor", path={"id": c("alert_id")}, valid=True,
             body={"until": ago(days=-1)}),
        Call("snoozeAlert", "until the past", 422, who="doctor", path={"id": c("alert_id")},
             body={"until": ago(days=1)}),
        Call("snoozeAlert", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": c("alert_id")},
             body={"until": ago(days=-1)}),
        Call("snoozeAlert", "an authority may not", 403, who="authority", path={"id": c("alert_id")},
             body={"until": ago(days=-1)}),
        Call("snoozeAlert", "unknown alert", 404, who="doctor", path={"id": UNKNOWN}, body={"until": ago(days=-1)}),
        Call("snoozeAlert", "no token", 401, path={"id": c("alert_id")}, body={"until": ago(days=-1)}),
        Call("resolveAlert", "a note too long", 422, who="doctor", path={"id": c("alert_id")},
             body={"note": "药" * 2001}, valid=False),
        Call("resolveAlert", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": c("alert_id")}, body={}),
        Call("resolveAlert", "an authority may not", 403, who="authority", path={"id": c("alert_id")}, body={}),
        Call("resolveAlert", "unknown alert", 404, who="doctor", path={"id": UNKNOWN}, body={}),
        Call("resolveAlert", "no token", 401, path={"id": c("alert_id")}, body={}),
        Call("resolveAlert", "own doctor resolves", 200, who="doctor", path={"id": c("alert_id")}, valid=True,
             body={"note": "复测正常"}),
        Call("resolveAlert", "again: already resolved", 409, who="doctor", path={"id": c("alert_id")}, body={}),

        # --- follow-up visits
        Call("recordVisit", "a clinic visit", 201, who="doctor", path={"id": PID}, valid=True,
             body={"client_id": "5d7e0c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6", "visited_at": ago(hours=2), "kind": "clinic",
                   "classification": "uncontrolled", "note": "诊室血压 152/96"}),
        Call("recordVisit", "the same visit resent", 200, who="doctor", path={"id": PID}, valid=True,
             body={"client_id": "5d7e0c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6", "visited_at": ago(hours=2), "kind": "clinic",
                   "classification": "uncontrolled", "note": "诊室血压 152/96"}),
        Call("recordVisit", "the same id, another visit", 409, who="doctor", path={"id": PID},
             body={"client_id": "5d7e0c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6", "visited_at": ago(hours=2), "kind": "phone",
                   "classification": "controlled"}),
        Call("recordVisit", "a kind the form does not have", 422, who="doctor", path={"id": PID}, valid=False,
             body={"client_id": new_id(), "visited_at": ago(hours=1), "kind": "video", "classification": "controlled"}),
        Call("recordVisit", "a visit tomorrow", 422, who="doctor", path={"id": PID}, valid=True,
             body={"client_id": new_id(), "visited_at": ago(days=-1), "kind": "home", "classification": "controlled"}),
        Call("recordVisit", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": PID},
             body={"client_id": new_id(), "visited_at": ago(hours=1), "kind": "clinic", "classification": "controlled"}),
        Call("recordVisit", "an authority may not", 403, who="authority", path={"id": PID},
             body={"client_id": new_id(), "visited_at": ago(hours=1), "kind": "clinic", "classification": "controlled"}),
        Call("recordVisit", "a patient may not", 403, who="patient", path={"id": PID},
             body={"client_id": new_id(), "visited_at": ago(hours=1), "kind": "clinic", "classification": "controlled"}),
        Call("recordVisit", "unknown patient", 404, who="doctor", path={"id": UNKNOWN},
             body={"client_id": new_id(), "visited_at": ago(hours=1), "kind": "clinic", "classification": "controlled"}),
        Call("recordVisit", "no token", 401, path={"id": PID},
             body={"client_id": new_id(), "visited_at": ago(hours=1), "kind": "clinic", "classification": "controlled"}),
        Call("listVisits", "the visit recorded", 200, who="doctor", path={"id": PID}, valid=True,
             check=lambda ctx, a: None if len(a.json["items"]) == 1 and a.json["consecutive_uncontrolled"] == 1
             else f"visits {a.json}"),
        Call("listVisits", "a limit out of range", 422, who="doctor", path={"id": PID}, query=[("limit", "0")],
             valid=False),
        Call("listVisits", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": PID}),
        Call("listVisits", "an authority may not", 403, who="authority", path={"id": PID}),
        Call("listVisits", "unknown patient", 404, who="doctor", path={"id": UNKNOWN}),
        Call("listVisits", "no token", 401, path={"id": PID}),

        # --- clinic measurements (an annual health check; lipids sent in mg/dL)
        Call("recordMeasurements", "an annual health check", 201, who="doctor", path={"id": PID}, valid=True,
             body={"client_id": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d", "measured_at": ago(hours=3),
                   "values": {"waist_cm": 92, "fasting_glucose_mmol_l": 6.1, "hdl_mmol_l": 38.67,
                              "triglycerides_mmol_l": 177.14},
                   "units": {"hdl_mmol_l": "mg/dL", "triglycerides_mmol_l": "mg/dL"}},
             check=lambda ctx, a: None if {i["kind"]: round(i["value"], 6) for i in a.json["items"]} ==
             {"waist_cm": 92, "fasting_glucose_mmol_l": 6.1, "hdl_mmol_l": 1.0, "triglycerides_mmol_l": 2.0}
             else f"values not converted to mmol/L: {a.json}"),
        Call("recordMeasurements", "the same values resent", 200, who="doctor", path={"id": PID}, valid=True,
             body={"client_id": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d", "measured_at": ago(hours=3),
                   "values": {"waist_cm": 92, "fasting_glucose_mmol_l": 6.1, "hdl_mmol_l": 38.67,
                              "triglycerides_mmol_l": 177.14},
                   "units": {"hdl_mmol_l": "mg/dL", "triglycerides_mmol_l": "mg/dL"}}),
        Call("recordMeasurements", "the same id, another value", 409, who="doctor", path={"id": PID}, valid=True,
             body={"client_id": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d", "measured_at": ago(hours=3),
                   "values": {"waist_cm": 95}}),
        Call("recordMeasurements", "a kind the check does not have", 422, who="doctor", path={"id": PID}, valid=False,
             body={"client_id": new_id(), "measured_at": ago(hours=1), "values": {"bmi": 24}}),
        Call("recordMeasurements", "a waist out of range, a unit HDL does not take", 422, who="doctor",
             path={"id": PID}, valid=True,
             body={"client_id": new_id(), "measured_at": ago(hours=1), "values": {"waist_cm": 900, "hdl_mmol_l": 1.2},
                   "units": {"hdl_mmol_l": "g/L"}},
             check=lambda ctx, a: None if {e["pointer"] for e in a.json.get("errors", [])} >=
             {"/values/waist_cm", "/units/hdl_mmol_l"} else f"fields not named: {a.json}"),
        Call("recordMeasurements", "measured tomorrow", 422, who="doctor", path={"id": PID}, valid=True,
             body={"client_id": new_id(), "measured_at": ago(days=-1), "values": {"waist_cm": 90}}),
        Call("recordMeasurements", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": PID},
             body={"client_id": new_id(), "measured_at": ago(hours=1), "values": {"waist_cm": 90}}),
        Call("recordMeasurements", "an authority may not", 403, who="authority", path={"id": PID},
             body={"client_id": new_id(), "measured_at": ago(hours=1), "values": {"waist_cm": 90}}),
        Call("recordMeasurements", "a patient may not", 403, who="patient", path={"id": PID},
             body={"client_id": new_id(), "measured_at": ago(hours=1), "values": {"waist_cm": 90}}),
        Call("recordMeasurements", "unknown patient", 404, who="doctor", path={"id": UNKNOWN},
             body={"client_id": new_id(), "measured_at": ago(hours=1), "values": {"waist_cm": 90}}),
        Call("recordMeasurements", "no token", 401, path={"id": PID},
             body={"client_id": new_id(), "measured_at": ago(hours=1), "values": {"waist_cm": 90}}),
        Call("listMeasurements", "the values recorded", 200, who="doctor", path={"id": PID}, valid=True,
             check=lambda ctx, a: None if {i["loinc"]["code"] for i in a.json["items"]} >=
             {"8280-0", "14771-0", "14646-4", "14927-8"} else f"measurements {a.json}"),
        Call("listMeasurements", "a limit out of range", 422, who="doctor", path={"id": PID}, query=[("limit", "0")],
             valid=False),
        Call("listMeasurements", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": PID}),
        Call("listMeasurements", "an authority may not", 403, who="authority", path={"id": PID}),
        Call("listMeasurements", "unknown patient", 404, who="doctor", path={"id": UNKNOWN}),
        Call("listMeasurements", "no token", 401, path={"id": PID}),

        # --- care plans: proposals made on demand, then each decision
        Call("getMyCarePlan", "nothing approved yet", 200, who="patient", valid=True,
             check=lambda ctx, a: None if a.json["care_plan"] is None else "a plan before any approval"),
        Call("getMyCarePlan", "no token", 401),
        Call("getMyCarePlan", "a doctor may not", 403, who="doctor"),
        Call("evaluateCarePlan", "the registered patient", 200, who="doctor", path={"id": c("new_patient_id")},
             save=lambda ctx, a: ctx.update(edit_version=a.json["proposed"]["version"])),
        Call("evaluateCarePlan", "again: unchanged", 200, who="doctor", path={"id": c("new_patient_id")},
             check=lambda ctx, a: None if not a.json["changed"] else "a second version without any change"),
        Call("evaluateCarePlan", "the admin's patient", 200, who="admin", path={"id": c("admin_patient_id")},
             save=lambda ctx, a: ctx.update(approve_version=a.json["proposed"]["version"])),
        Call("evaluateCarePlan", "the patient", 200, who="doctor", path={"id": PID},
             save=lambda ctx, a: ctx.update(reject_version=a.json["proposed"]["version"])),
        Call("evaluateCarePlan", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": PID}),
        Call("evaluateCarePlan", "an authority may not", 403, who="authority", path={"id": PID}),
        Call("evaluateCarePlan", "unknown patient", 404, who="doctor", path={"id": UNKNOWN}),
        Call("evaluateCarePlan", "no token", 401, path={"id": PID}),
        Call("listCarePlans", "a proposal waits", 200, who="doctor", path={"id": c("new_patient_id")},
             check=lambda ctx, a: None if a.json["proposed"] and a.json["current"] is None else "no proposal listed"),
        Call("listCarePlans", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": PID}),
        Call("listCarePlans", "an authority may not", 403, who="authority", path={"id": PID}),
        Call("listCarePlans", "unknown patient", 404, who="doctor", path={"id": UNKNOWN}),
        Call("listCarePlans", "no token", 401, path={"id": PID}),
        Call("editCarePlan", "a target out of range", 422, who="doctor", valid=True,
             path={"id": c("new_patient_id"), "version": c("edit_version")},
             body={"plan": {"targets": [{"target": "bp.home_systolic_lt", "value": 300}]}},
             check=lambda ctx, a: None if a.json["errors"][0]["pointer"] == "/plan/targets/0/value" else "wrong field"),
        Call("editCarePlan", "no plan", 422, who="doctor", valid=False,
             path={"id": c("new_patient_id"), "version": c("edit_version")}, body={"note": "x"}),
        Call("editCarePlan", "another clinic's doctor: as an unknown id", 404, who="other_doctor",
             path={"id": c("new_patient_id"), "version": c("edit_version")}, body={"plan": {}}),
        Call("editCarePlan", "an authority may not", 403, who="authority",
             path={"id": c("new_patient_id"), "version": c("edit_version")}, body={"plan": {}}),
        Call("editCarePlan", "unknown version", 404, who="doctor", path={"id": c("new_patient_id"), "version": UNKNOWN},
             body={"plan": {"follow_up": {"within_days": 11}}}),
        Call("editCarePlan", "no token", 401, path={"id": c("new_patient_id"), "version": c("edit_version")},
             body={"plan": {}}),
        Call("editCarePlan", "a sooner follow-up", 200, who="doctor", valid=True,
             path={"id": c("new_patient_id"), "version": c("edit_version")},
             body={"plan": {"follow_up": {"within_days": 11}}, "note": "复诊提前"},
             check=lambda ctx, a: None if a.json["status"] == "approved" and a.json["diff"]
             and a.json["edited_from"] == ctx["edit_version"] else "not an approved edit with its diff"),
        Call("approveCarePlan", "the edited proposal is superseded", 409, who="doctor", valid=True,
             path={"id": c("new_patient_id"), "version": c("edit_version")}, body={}),
        Call("approveCarePlan", "another clinic's doctor: as an unknown id", 404, who="other_doctor",
             path={"id": c("admin_patient_id"), "version": c("approve_version")}, body={}),
        Call("approveCarePlan", "an authority may not", 403, who="authority",
             path={"id": c("admin_patient_id"), "version": c("approve_version")}, body={}),
        Call("approveCarePlan", "unknown patient", 404, who="doctor", path={"id": UNKNOWN, "version": 1}, body={}),
        Call("approveCarePlan", "a note too long", 422, who="doctor", valid=False,
             path={"id": c("admin_patient_id"), "version": c("approve_version")}, body={"note": "药" * 2001}),
        Call("approveCarePlan", "no token", 401, path={"id": c("admin_patient_id"), "version": c("approve_version")},
             body={}),
        Call("approveCarePlan", "admin approves", 200, who="admin", valid=True,
             path={"id": c("admin_patient_id"), "version": c("approve_version")}, body={"note": "同意"}),
        Call("rejectCarePlan", "no reason", 422, who="doctor", valid=False,
             path={"id": PID, "version": c("reject_version")}, body={}),
        Call("rejectCarePlan", "another clinic's doctor: as an unknown id", 404, who="other_doctor",
             path={"id": PID, "version": c("reject_version")}, body={"reason": "x"}),
        Call("rejectCarePlan", "an authority may not", 403, who="authority",
             path={"id": PID, "version": c("reject_version")}, body={"reason": "x"}),
        Call("rejectCarePlan", "unknown version", 404, who="doctor", path={"id": PID, "version": UNKNOWN},
             body={"reason": "x"}),
        Call("rejectCarePlan", "no token", 401, path={"id": PID, "version": c("reject_version")}, body={"reason": "x"}),
        Call("rejectCarePlan", "with a reason", 200, who="doctor", valid=True,
             path={"id": PID, "version": c("reject_version")}, body={"reason": "患者本周将转诊"}),
        Call("listCarePlans", "the rejected version", 200, who="admin", path={"id": PID}, valid=True,
             check=lambda ctx, a: None if a.json["items"][0]["status"] == "rejected" else "not rejected"),

        # --- auth: activation and password
        Call("activateAccount", "voided first code", 422, valid=True,
             body={"code": c("first_code"), "username": NEW_USERNAME, "password": "a long password", "consent": CONSENT},
             check=lambda ctx, a: None if any(e.get("pointer") == "/code" for e in a.json.get("errors", []))
             else "no error at /code"),
        Call("activateAccount", "username taken", 409, valid=True,
             body={"code": c("code"), "username": c("username:patient"), "password": "a long password", "consent": CONSENT}),
        Call("activateAccount", "password too short", 422, valid=False,
             body={"code": c("code"), "username": NEW_USERNAME, "password": "short", "consent": CONSENT}),
        Call("activateAccount", "without the consent to processing health data", 422, valid=False,
             body={"code": c("code"), "username": NEW_USERNAME, "password": "a long password"},
             check=lambda ctx, a: None if any(e.get("pointer") == "/consent" for e in a.json.get("errors", []))
             else "the error does not name /consent"),
        Call("activateAccount", "consent not given", 422, valid=False,
             body={"code": c("code"), "username": NEW_USERNAME, "password": "a long password",
                   "consent": {"version": "1", "accepted": False}}),
        Call("activateAccount", "patient activates", 201, valid=True,
             body={"code": c("code"), "username": NEW_USERNAME, "password": "a long password", "consent": CONSENT},
             save=login_save("new_account")),
        Call("activateAccount", "code already used", 422, valid=True,
             body={"code": c("code"), "username": NEW_USERNAME + "x", "password": "a long password", "consent": CONSENT}),

        Call("changePassword", "wrong current password", 422, who="new_account", valid=True,
             body={"current_password": "not it at all", "new_password": "another long one"}),
        Call("changePassword", "new password too short", 422, who="new_account", valid=False,
             body={"current_password": "a long password", "new_password": "short"}),
        Call("changePassword", "no token", 401, body={"current_password": "a long password",
                                                       "new_password": "another long one"}),
        Call("changePassword", "changed", 204, who="new_account", valid=True,
             body={"current_password": "a long password", "new_password": "another long one"}),
        Call("getMyCarePlan", "the doctor's edit, in plain words", 200, who="new_account", valid=True,
             check=lambda ctx, a: None if a.json["care_plan"] and "zh-CN" in a.json["care_plan"]["text"]
             else "no approved plan for the patient whose plan was edited"),

        # --- me
        Call("getMe", "patient", 200, who="patient"),
        Call("getMe", "no token", 401),
        Call("getMe", "a doctor may not", 403, who="doctor"),

        Call("postMyReadings", "six kinds and one rejected", 200, who="patient", body={"readings": SIX_KINDS},
             check=results_are(*["created"] * 6, "rejected")),
        Call("postMyReadings", "the same again: duplicates", 200, who="patient", body={"readings": SIX_KINDS},
             check=results_are(*["duplicate"] * 6, "rejected")),
        Call("postMyReadings", "no readings array", 422, who="patient", body={"reading": []}, valid=False),
        Call("postMyReadings", "501 readings", 422, who="patient", valid=False,
             body={"readings": [reading("heart_rate", value=70) for _ in range(501)]}),
        Call("postMyReadings", "no token", 401, body={"readings": [reading("heart_rate", value=70)]}),
        Call("postMyReadings", "a doctor may not", 403, who="doctor", body={"readings": [reading("heart_rate", value=70)]}),

        Call("listMyReadings", "first page", 200, who="patient", query=[("limit", "3")], valid=True,
             save=save_next_cursor("cursor", "next_cursor"), check=need("cursor")),
        Call("listMyReadings", "everything the demo stored", 200, who="patient", query=[("limit", "1000")], valid=True),
        Call("listMyReadings", "next page", 200, who="patient", query=[("limit", "3"), ("cursor", c("cursor"))],
             valid=True),
        Call("listMyReadings", "glucose over a window", 200, who="patient", valid=True,
             query=[("kind", "glucose"), ("from", ago(days=30)), ("to", ago(seconds=-3600))]),
        Call("listMyReadings", "limit 0", 422, who="patient", query=[("limit", "0")], valid=False),
        Call("listMyReadings", "unknown kind", 422, who="patient", query=[("kind", "sugar")], valid=False),
        Call("listMyReadings", "no token", 401),
        Call("listMyReadings", "a doctor may not", 403, who="doctor"),

        Call("syncMe", "from the start", 200, who="patient", query=[("since", "0"), ("limit", "1000")], valid=True,
             save=lambda ctx, a: ctx.update(sync_next=a.json["next"]),
             check=lambda ctx, a: None if a.json["more"] or any(ch["entity"] == "message" for ch in a.json["changes"])
             else "the clinic's message is not among the changes"),
        Call("syncMe", "resume", 200, who="patient", query=[("since", lambda ctx: str(ctx["sync_next"]))], valid=True),
        Call("syncMe", "negative since", 422, who="patient", query=[("since", "-1")], valid=False),
        Call("syncMe", "limit too large", 422, who="patient", query=[("limit", "1001")], valid=False),
        Call("syncMe", "no token", 401),
        Call("syncMe", "a doctor may not", 403, who="doctor"),

        # --- FHIR
        Call("createObservation", "patient posts a BP panel", 201, who="patient", content_type=FHIR, valid=True,
             body=lambda ctx: ctx.setdefault("bp_obs", bp_observation(ctx["patient_id"])),
             save=lambda ctx, a: ctx.update(obs_id=a.json["id"])),
        Call("createObservation", "the same again", 200, who="patient", content_type=FHIR, valid=True,
             body=c("bp_obs")),
        Call("createObservation", "own doctor posts glucose", 201, who="doctor", content_type=FHIR, valid=True,
             body=lambda ctx: observation("15074-8", ctx["patient_id"], quantity=(6.4, "mmol/L"))),
        Call("createObservation", "another clinic's doctor: as an unknown id", 404, who="other_doctor", content_type=FHIR,
             body=lambda ctx: bp_observation(ctx["patient_id"])),
        Call("createObservation", "an authority may not", 403, who="authority", content_type=FHIR,
             body=lambda ctx: bp_observation(ctx["patient_id"])),
        Call("createObservation", "unknown subject", 404, who="doctor", content_type=FHIR, valid=True,
             body=bp_observation(UNKNOWN)),
        Call("createObservation", "moles code with mg/dL", 422, who="patient", content_type=FHIR, valid=True,
             body=lambda ctx: observation("15074-8", ctx["patient_id"], quantity=(115, "mg/dL"))),
        Call("createObservation", "no code", 422, who="patient", content_type=FHIR, valid=False,
             body={"resourceType": "Observation", "status": "final", "identifier": [{"value": "x-1"}],
                   "effectiveDateTime": ago(hours=1)}),
        Call("createObservation", "no token", 401, content_type=FHIR, body=lambda ctx: bp_observation(ctx["patient_id"])),

        Call("processBundle", "batch: two created, one refused", 200, who="patient", content_type=FHIR, valid=True,
             body=lambda ctx: {"resourceType": "Bundle", "type": "batch", "entry": [
                 # Not bp_observation(): the same instant and values as the BP posted above would be a
                 # duplicate of it under the store's rule, whatever the identifier (200 OK, not 201).
                 entry(observation("85354-9", ctx["patient_id"], components=[("8480-6", 136, "mm[Hg]"),
                                                                             ("8462-4", 88, "mm[Hg]")])),
                 entry(observation("29463-7", ctx["patient_id"], quantity=(63.5, "kg"))),
                 entry(observation("2339-0", ctx["patient_id"], quantity=(6.1, "mmol/L")))]},
             check=bundle_statuses("201", "201", "422")),
        Call("processBundle", "transaction: all stored", 200, who="doctor", content_type=FHIR, valid=True,
             body=lambda ctx: {"resourceType": "Bundle", "type": "transaction", "entry": [
                 entry(observation("8867-4", ctx["patient_id"], quantity=(66, "/min"))),
                 entry(observation("4548-4", ctx["patient_id"], quantity=(7.1, "%")))]},
             check=bundle_statuses("201", "201")),
        Call("processBundle", "transaction with a bad entry: nothing stored", {400, 422}, who="patient",
             content_type=FHIR, valid=True,
             body=lambda ctx: {"resourceType": "Bundle", "type": "transaction", "entry": [
                 entry(observation("8867-4", ctx["patient_id"], quantity=(66, "/min"))),
                 entry(observation("14749-6", ctx["patient_id"], quantity=(99, "mg/dL")))]}),
        Call("processBundle", "an authority may not", 403, who="authority", content_type=FHIR,
             body=lambda ctx: {"resourceType": "Bundle", "type": "batch",
                               "entry": [entry(bp_observation(ctx["patient_id"]))]}),
        Call("processBundle", "no token", 401, content_type=FHIR,
             body=lambda ctx: {"resourceType": "Bundle", "type": "batch",
                               "entry": [entry(bp_observation(ctx["patient_id"]))]}),

        Call("readObservation", "patient reads its own", 200, who="patient", path={"id": c("obs_id")}),
        Call("readObservation", "another patient", 403, who="patient2", path={"id": c("obs_id")}),
        Call("readObservation", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": c("obs_id")}),
        Call("readObservation", "an authority may not", 403, who="authority", path={"id": c("obs_id")}),
        Call("readObservation", "unknown id", 404, who="patient", path={"id": str(UNKNOWN)}),
        Call("readObservation", "no token", 401, path={"id": c("obs_id")}),

        Call("searchObservations", "own doctor, a page", 200, who="doctor", valid=True,
             query=[("patient", lambda ctx: f"Patient/{ctx['patient_id']}"), ("_count", "2")],
             save=save_next_cursor("fhir_cursor", "link"), check=need("fhir_cursor")),
        Call("searchObservations", "next page", 200, who="doctor", valid=True,
             query=[("patient", lambda ctx: str(ctx["patient_id"])), ("_count", "2"), ("_cursor", c("fhir_cursor"))]),
        Call("searchObservations", "patient: own, by code and dates", 200, who="patient", valid=True,
             query=[("code", "85354-9,15074-8"), ("date", "ge" + ago(days=30)[:10]),
                    ("date", "lt" + ago(days=-1)[:10])]),
        Call("searchObservations", "staff without patient", 422, who="doctor", valid=True),
        Call("searchObservations", "_count 0", 422, who="patient", query=[("_count", "0")], valid=False),
        Call("searchObservations", "another clinic's doctor: as an unknown patient, nothing", 200, who="other_doctor",
             query=[("patient", lambda ctx: str(ctx["patient_id"]))],
             check=lambda ctx, a: None if not a.json.get("entry") else "another clinic's observations were listed"),
        Call("searchObservations", "an authority may not", 403, who="authority",
             query=[("patient", lambda ctx: str(ctx["patient_id"]))]),
        Call("searchObservations", "no token", 401, query=[("patient", lambda ctx: str(ctx["patient_id"]))]),

        Call("getCapabilityStatement", "no token needed", 200),

        # --- reports: the patient's clinic, then the county above it (found in the clinic report's path)
        Call("getClinicReport", "admin, JSON", 200, who="admin", valid=True,
             path={"id": lambda ctx: ctx["patient_clinic"]}, query=[("month", "2026-10")],
             save=lambda ctx, a: ctx.update(county=[u["id"] for u in a.json["path"] if u["level"] == "district"][0]),
             check=lambda ctx, a: None if a.json["unit"]["id"] == ctx["patient_clinic"] else "another unit"),
        Call("getClinicReport", "own doctor, CSV", 200, who="doctor", valid=True,
             path={"id": lambda ctx: ctx["patient_clinic"]}, query=[("month", "2026-10"), ("format", "csv")]),
        Call("getClinicReport", "authority, FHIR", 200, who="authority", valid=True,
             path={"id": lambda ctx: ctx["patient_clinic"]}, query=[("month", "2026-09"), ("format", "fhir")]),
        Call("getClinicReport", "another clinic's doctor", 403, who="other_doctor",
             path={"id": lambda ctx: ctx["patient_clinic"]}),
        Call("getClinicReport", "a patient", 403, who="patient", path={"id": lambda ctx: ctx["patient_clinic"]}),
        Call("getClinicReport", "unknown clinic", 404, who="admin", path={"id": str(UNKNOWN)}),
        Call("getClinicReport", "no token", 401, path={"id": lambda ctx: ctx["patient_clinic"]}),
        Call("getClinicReport", "month 13", 422, who="admin", valid=False,
             path={"id": lambda ctx: ctx["patient_clinic"]}, query=[("month", "2026-13")]),
        Call("getRegionReport", "authority, its county", 200, who="authority", valid=True,
             path={"id": c("county")}, query=[("month", "2026-10")],
             check=lambda ctx, a: None if a.json["children"] else "the county has no children to drill down to"),
        Call("getRegionReport", "CSV of the trend", 200, who="authority", valid=True, path={"id": c("county")},
             query=[("month", "2026-10"), ("format", "csv"), ("table", "trend")]),
        Call("getRegionReport", "FHIR MeasureReports", 200, who="admin", valid=True, path={"id": c("county")},
             query=[("format", "fhir")]),
        Call("getRegionReport", "a doctor", 403, who="doctor", path={"id": c("county")}),
        Call("getRegionReport", "unknown region", 404, who="admin", path={"id": str(UNKNOWN)}),
        Call("getRegionReport", "no token", 401, path={"id": c("county")}),
        Call("getRegionReport", "format xml", 422, who="authority", valid=False, path={"id": c("county")},
             query=[("format", "xml")]),
        # --- admin: a clinic's webhook (.invalid never resolves, RFC 6761: deliveries just retry until it is removed)
        Call("setClinicWebhook", "admin sets it", 200, who="admin", path={"id": c("patient_clinic")}, valid=True,
             body={"url": "https://hooks.example.invalid/careloop", "secret": "openapi-test-secret-0123"},
             check=lambda ctx, a: "the answer carries the secret" if "openapi-test-secret" in a.raw.decode() else None),
        Call("setClinicWebhook", "ftp URL and a short secret", 422, who="admin", path={"id": c("patient_clinic")},
             valid=False, body={"url": "ftp://127.0.0.1/x", "secret": "short"}),
        Call("setClinicWebhook", "http:// without --webhook-allow-http", 422, who="admin", path={"id": c("patient_clinic")},
             valid=True, body={"url": "http://hooks.example.invalid/careloop", "secret": "openapi-test-secret-0123"}),
        Call("setClinicWebhook", "the cloud metadata address", 422, who="admin", path={"id": c("patient_clinic")},
             valid=True, body={"url": "https://169.254.169.254/latest", "secret": "openapi-test-secret-0123"}),
        Call("setClinicWebhook", "unknown clinic", 404, who="admin", path={"id": str(UNKNOWN)}, valid=True,
             body={"url": "https://hooks.example.invalid/careloop", "secret": "openapi-test-secret-0123"}),
        Call("setClinicWebhook", "a doctor may not", 403, who="doctor", path={"id": c("patient_clinic")},
             body={"url": "https://hooks.example.invalid/careloop", "secret": "openapi-test-secret-0123"}),
        Call("setClinicWebhook", "no token", 401, path={"id": c("patient_clinic")},
             body={"url": "https://hooks.example.invalid/careloop", "secret": "openapi-test-secret-0123"}),
        Call("getClinicWebhook", "admin reads it", 200, who="admin", path={"id": c("patient_clinic")}),
        Call("getClinicWebhook", "a doctor may not", 403, who="doctor", path={"id": c("patient_clinic")}),
        Call("getClinicWebhook", "no token", 401, path={"id": c("patient_clinic")}),
        Call("deleteClinicWebhook", "a doctor may not", 403, who="doctor", path={"id": c("patient_clinic")}),
        Call("deleteClinicWebhook", "no token", 401, path={"id": c("patient_clinic")}),
        Call("deleteClinicWebhook", "admin removes it", 204, who="admin", path={"id": c("patient_clinic")}),
        Call("deleteClinicWebhook", "already gone", 404, who="admin", path={"id": c("patient_clinic")}),
        Call("getClinicWebhook", "none set", 404, who="admin", path={"id": c("patient_clinic")}),
        # --- admin: user accounts (a doctor no other call signs in as)
        Call("listUsers", "admin lists them", 200, who="admin", save=save_spare_user),
        Call("listUsers", "a doctor may not", 403, who="doctor"),
        Call("listUsers", "no token", 401),
        Call("deactivateUser", "admin deactivates a doctor", 200, who="admin", path={"id": c("spare_user")},
             check=lambda ctx, a: None if a.json["active"] is False else "the answer says it is still active"),
        Call("deactivateUser", "the administrator's own account", 409, who="admin", path={"id": c("admin_user")}),
        Call("deactivateUser", "unknown user", 404, who="admin", path={"id": str(UNKNOWN)}),
        Call("deactivateUser", "a doctor may not", 403, who="doctor", path={"id": c("spare_user")}),
        Call("deactivateUser", "no token", 401, path={"id": c("spare_user")}),
        Call("reactivateUser", "admin reactivates it", 200, who="admin", path={"id": c("spare_user")},
             check=lambda ctx, a: None if a.json["active"] is True else "the answer says it is not active"),
        Call("reactivateUser", "unknown user", 404, who="admin", path={"id": str(UNKNOWN)}),
        Call("reactivateUser", "a doctor may not", 403, who="doctor", path={"id": c("spare_user")}),
        Call("reactivateUser", "no token", 401, path={"id": c("spare_user")}),
        Call("revokeUserSessions", "admin signs it out everywhere", 200, who="admin", path={"id": c("spare_user")}),
        Call("revokeUserSessions", "the administrator's own account", 409, who="admin", path={"id": c("admin_user")}),
        Call("revokeUserSessions", "unknown user", 404, who="admin", path={"id": str(UNKNOWN)}),
        Call("revokeUserSessions", "a doctor may not", 403, who="doctor", path={"id": c("spare_user")}),
        Call("revokeUserSessions", "no token", 401, path={"id": c("spare_user")}),

        # --- privacy (issue 15, items 16 and 17)
        Call("getConsentWording", "the current wording", 200, valid=True,
             check=lambda ctx, a: None if a.json["version"] == "1" else "not version 1"),
        Call("getConsentWording", "an unknown version", 422, query=[("version", "no-such-version")]),
        Call("getMyConsent", "the demo patient consented", 200, who="patient",
             check=lambda ctx, a: None if a.json["status"] == "granted" and a.json["history"] else "not granted"),
        Call("getMyConsent", "a doctor has no consent of its own", 403, who="doctor"),
        Call("getMyConsent", "no token", 401),
        Call("decideMyConsent", "granted again", 201, who="patient", valid=True,
             body={"version": "1", "decision": "granted"}),
        Call("decideMyConsent", "an unknown decision", 422, who="patient", valid=False,
             body={"version": "1", "decision": "maybe"}),
        Call("decideMyConsent", "a doctor may not", 403, who="doctor", body={"version": "1", "decision": "granted"}),
        Call("decideMyConsent", "no token", 401, body={"version": "1", "decision": "granted"}),
        Call("getMyAccessLog", "who opened the record", 200, who="patient", valid=True, query=[("limit", "5")],
             check=lambda ctx, a: None if any(not e["actor"]["self"] for e in a.json["entries"])
             else "no staff access listed, though doctors read the record above"),
        Call("getMyAccessLog", "limit 0", 422, who="patient", valid=False, query=[("limit", "0")]),
        Call("getMyAccessLog", "a doctor has none", 403, who="doctor"),
        Call("getMyAccessLog", "no token", 401),
        Call("exportMyRecord", "the whole record", 200, who="patient",
             check=lambda ctx, a: None if a.json["entry"][0]["resource"]["resourceType"] == "Patient"
             and "attachment" in a.headers.get("content-disposition", "") else "not a download starting with Patient"),
        Call("exportMyRecord", "a doctor has none", 403, who="doctor"),
        Call("exportMyRecord", "no token", 401),
        Call("exportClinicPatient", "the clinic's doctor", 200, who="doctor", path={"id": PID}),
        Call("exportClinicPatient", "a patient may not", 403, who="patient", path={"id": PID}),
        Call("exportClinicPatient", "another clinic's doctor: as an unknown id", 404, who="other_doctor", path={"id": PID}),
        Call("exportClinicPatient", "no token", 401, path={"id": PID}),
        Call("anonymisePatient", "the confirmation names another patient", 422, who="admin",
             path={"id": c("admin_patient_id")}, body={"reason": "test", "confirm_patient_id": UNKNOWN}),
        Call("anonymisePatient", "a doctor may not", 403, who="doctor", path={"id": c("admin_patient_id")},
             body={"reason": "test", "confirm_patient_id": c("admin_patient_id")}),
        Call("anonymisePatient", "no token", 401, path={"id": c("admin_patient_id")},
             body={"reason": "test", "confirm_patient_id": c("admin_patient_id")}),
        Call("anonymisePatient", "unknown patient", 404, who="admin", path={"id": str(UNKNOWN)},
             body={"reason": "test", "confirm_patient_id": UNKNOWN}),
        Call("anonymisePatient", "admin anonymises the patient it registered", 200, who="admin", valid=True,
             path={"id": c("admin_patient_id")}, body={"reason": "the patient's request", "confirm_patient_id": c("admin_patient_id")}),
        Call("anonymisePatient", "once only", 409, who="admin", path={"id": c("admin_patient_id")},
             body={"reason": "again", "confirm_patient_id": c("admin_patient_id")}),
        Call("exportClinicPatient", "an anonymised record is no longer shown", 410, who="admin",
             path={"id": c("admin_patient_id")}),

        # --- operations
        Call("healthz", "alive", 200),
        Call("readyz", "ready", 200),
        Call("metrics", "Prometheus text", 200,
             check=lambda ctx, a: None if b"# TYPE" in a.raw else "no '# TYPE' line"),
        Call("getOpenApi", "this document", 200,
             check=lambda ctx, a: None if a.json == ctx["document"] else "differs from mobile-api/openapi.json"),

        # --- logout last: it revokes a token
        Call("logout", "no token", 401),
        Call("login", "patient logs in again: a second session", 200, valid=True,
             body={"username": c("username:patient"), "password": pw["patient"]}, save=login_save("session2")),
        Call("logout", "revokes the second session", 204, who="session2"),
        Call("getMe", "with the revoked token", 401, who="session2"),
        Call("getMe", "the first session still works", 200, who="patient"),
    ]


def media_type(header):
    return (header or "").split(";")[0].strip().lower()


def coerce(schema, text):
    """A query or header value as its schema's type, for validation."""
    t = schema.get("type") if isinstance(schema, dict) else None
    try:
        if t == "integer":
            return int(text)
        if t == "number":
            return float(text)
    except ValueError:
        pass
    return text


def request_problems(d, op_id, path, query, body, content_type):
    """Whether the request matches the document: a list of what does not."""
    method, template, o, ptr = d.operations[op_id]
    params = d.parameters(op_id)
    problems = []
    grouped = {}
    for k, v in query:
        grouped.setdefault(k, []).append(v)
    for name, values in grouped.items():
        if ("query", name) not in params:
            problems.append(f"query parameter {name} is not documented")
            continue
        p, schema_ptr = params[("query", name)]
        schema, _ = follow(d.doc, resolve_pointer(d.doc, schema_ptr), schema_ptr)
        if schema.get("type") == "array":
            item = schema.get("items", {})
            v = [coerce(item, x) for x in values]
        else:
            v = coerce(schema, values[0])
        problems += [f"query {name}: {m}" for m in d.errors(schema_ptr, v)]
    for (where, name), (p, schema_ptr) in params.items():
        if where == "query" and p.get("required") and name not in grouped:
            problems.append(f"required query parameter {name} missing")
        if where == "path":
            schema = resolve_pointer(d.doc, schema_ptr)
            problems += [f"path {name}: {m}" for m in d.errors(schema_ptr, coerce(schema, str(path[name])))]
    if "requestBody" in o:
        rb, rb_ptr = follow(d.doc, o["requestBody"], ptr + "/requestBody")
        media = media_type(content_type)
        if body is None:
            if rb.get("required"):
                problems.append("the request body is required")
        elif media not in rb.get("content", {}):
            problems.append(f"request media type {media} is not documented")
        elif isinstance(body, (bytes, str)):
            problems.append("the request body is not JSON")
        else:
            schema_ptr = f"{rb_ptr}/content/{pointer_escape(media)}/schema"
            problems += [f"body: {m}" for m in d.errors(schema_ptr, body)]
    elif body is not None:
        problems.append("the operation takes no body")
    return problems


def response_problems(d, op_id, a):
    """What in a real answer the document does not describe."""
    resp, resp_ptr = d.response(op_id, a.status)
    if resp is None:
        return [f"status {a.status} is not documented"]
    problems = []
    for name, h in resp.get("headers", {}).items():
        h, h_ptr = follow(d.doc, h, f"{resp_ptr}/headers/{pointer_escape(name)}")
        got = a.headers.get(name.lower())
        if got is None:
            if h.get("required"):
                problems.append(f"header {name} missing")
            continue
        problems += [f"header {name}: {m}" for m in d.errors(h_ptr + "/schema", coerce(h.get("schema", {}), got))]
    content = resp.get("content")
    if not content:
        if a.raw:
            problems.append(f"a body ({len(a.raw)} bytes) where none is documented")
        return problems
    media = media_type(a.headers.get("content-type"))
    if media not in content:
        return problems + [f"Content-Type {a.headers.get('content-type')!r}, documented: {', '.join(content)}"]
    schema_ptr = f"{resp_ptr}/content/{pointer_escape(media)}/schema"
    if media.endswith("json"):
        if a.json is None:
            return problems + [f"the body is not JSON: {shorten(a.raw, 120)}"]
        instance = a.json
    else:
        instance = a.raw.decode("utf-8", "replace")
    return problems + [f"body: {m}" for m in d.errors(schema_ptr, instance)]


def check_table_covers(d, table):
    """The table itself: every operation has a success call and its documented 401/403/404/422."""
    failures = []
    expected = {}
    for call in table:
        if call.op not in d.operations:
            failures.append(f"the table calls {call.op}, which the document does not have")
            continue
        expected.setdefault(call.op, set()).update(call.expect)
    for op_id, (method, path, o, _) in sorted(d.operations.items()):
        got = expected.get(op_id, set())
        documented = set(o.get("responses", {}))
        want = {s for s in documented if s.startswith("2")}
        if not any(str(s) in want for s in got):
            failures.append(f"{op_id}: the table has no call expecting a success ({', '.join(sorted(want))})")
        for s in ("401", "403", "404", "422"):
            if s in documented and int(s) not in got:
                failures.append(f"{op_id}: the table has no call expecting the documented {s}")
    return failures


def setup_demo(binary, workdir, ctx):
    db = os.path.join(workdir, "demo.db")
    started = time.monotonic()
    run([binary, "--db", db, "demo", "--patients", "20", "--clinics", "2", "--days", "10",
         "--end-date", "2026-11-20"], timeout=300)
    users = run([binary, "--db", db, "user", "list"]).stdout
    doctors = {}
    for line in users.splitlines():
        fields = line.split("\t")  # id, role, username, scope, display name
        if len(fields) >= 4 and fields[1] == "doctor" and fields[3].startswith("clinic "):
            doctors[fields[2]] = int(fields[3].split()[1])
    ctx["doctors"] = dict(sorted(doctors.items()))
    ctx.update({"username:patient": "patient01", "username:patient2": "patient02",
                "username:authority": "authority", "username:admin": "admin"})
    print(f"demo database in {time.monotonic() - started:.1f} s; doctors by clinic: {ctx['doctors']}")
    return db


def check_responses(d, binary, workdir):
    ctx = {"document": d.doc}
    table = calls()
    failures = [f"table: {m}" for m in check_table_covers(d, table)]
    db = setup_demo(binary, workdir, ctx)
    server = Server(binary, db)
    by_op = {}
    try:
        print(f"server on port {server.port}")
        for call in table:
            if call.op not in d.operations:
                continue
            method, template, o, _ = d.operations[call.op]
            try:
                path = value(call.path, ctx)
                query = [(k, value(v, ctx)) for k, v in call.query]
                body = value(call.body, ctx)
                token = ctx["token:" + call.who] if call.who else None
            except KeyError as e:
                msg = f"not run: needs {e.args[0]}, which an earlier call did not provide"
                by_op.setdefault(call.op, []).append(f"{call.title}: {msg}")
                print(f"BLOCK {call.op:24} {method} {template}  {call.title}: {msg}")
                continue
            target = template
            for name, v in path.items():
                target = target.replace("{" + name + "}", urllib.parse.quote(str(v), safe=""))
            if query:
                target += "?" + urllib.parse.urlencode(query)
            problems = []
            if call.valid is not None:
                wrong = request_problems(d, call.op, path, query, body, call.content_type or JSON)
                if call.valid and wrong:
                    problems.append("the request does not match the document: " + "; ".join(wrong))
                if not call.valid and not wrong:
                    problems.append("the document accepts this request, which the server must refuse")
            a = Answer(*request(server.port, method, target, token, body, call.content_type))
            if a.status not in call.expect:
                detail = a.json.get("detail") or a.json.get("issue") if isinstance(a.json, dict) else shorten(a.raw, 80)
                problems.append(f"status {a.status}, expected {'/'.join(map(str, sorted(call.expect)))}"
                                + (f" ({shorten(detail, 100)})" if detail else ""))
            problems += response_problems(d, call.op, a)
            if a.status in call.expect:  # later calls may still use what came back
                try:
                    if call.save:
                        call.save(ctx, a)
                    if call.check and (msg := call.check(ctx, a)):
                        problems.append(msg)
                except (KeyError, TypeError, AttributeError) as e:
                    problems.append(f"the answer lacks what later calls need ({type(e).__name__}: {e})")
            by_op.setdefault(call.op, [])
            verdict = "FAIL " if problems else "ok   "
            print(f"{verdict} {call.op:24} {method} {template} -> {a.status}  {call.title}")
            for p in problems:
                print(f"        {p}")
                by_op[call.op].append(f"{call.title}: {p}")
    finally:
        server.stop()
    crashes = [line for line in server.log if '"level":"error"' in line.replace(" ", "")]
    if crashes:
        print("server errors:\n  " + "\n  ".join(crashes[-10:]))
    failing = sorted(op for op, p in by_op.items() if p)
    passing = sorted(op for op, p in by_op.items() if not p)
    print(f"\n{len(passing)} of {len(d.operations)} operations match the document: {', '.join(passing) or '-'}")
    for op in failing:
        first = next((p for p in by_op[op] if "not run:" not in p), by_op[op][0])
        failures.append(f"{op}: {len(by_op[op])} problem(s), first: {first}")
    return failures


def main(argv):
    if len(argv) != 4 or argv[1] not in ("document", "routes", "responses"):
        sys.exit(__doc__)
    mode, binary, doc_path = argv[1], argv[2], argv[3]
    d = Document(doc_path)
    started = time.monotonic()
    if mode == "document":
        failures = check_document(d)
    else:
        with tempfile.TemporaryDirectory(prefix="careloop-openapi-") as workdir:
            try:
                failures = (check_routes if mode == "routes" else check_responses)(d, binary, workdir)
            except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
                failures = [str(e)]
    print(f"({time.monotonic() - started:.1f} s)")
    if failures:
        print(f"\n{mode}: {len(failures)} failure(s):")
        for f in failures:
            print(f"  - {f}")
        return 1
    print(f"{mode}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
