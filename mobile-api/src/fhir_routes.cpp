// /fhir/...: FHIR R4 (JSON) for home readings — create an Observation, a
// batch or transaction Bundle of them, read one, search a patient's, and the
// CapabilityStatement. Every answer is application/fhir+json and every
// refusal an OperationOutcome. A patient reads and writes its own
// observations; staff those of the patients the policy opens to them, and
// every staff read and write is audited before data leaves.
#include <algorithm>
#include <cctype>
#include <limits>
#include <map>
#include <set>

#include "careloop/core/time.hpp"
#include "careloop/mobile_api/fhir.hpp"
#include "careloop/mobile_api/reading_json.hpp"
#include "careloop/server/body.hpp"
#include "careloop/server/offload.hpp"
#include "common.hpp"
#include "routes.hpp"

namespace careloop::mobile_api::detail {
namespace {

using server::http::status;
using server::http::verb;

constexpr std::size_t max_bundle_entries = max_batch_readings;
constexpr int default_count = 50;
constexpr int max_count = 500;
constexpr std::int64_t day_ms = 86'400'000;
constexpr std::int64_t no_bound_from = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t no_bound_to = std::numeric_limits<std::int64_t>::max();

// ---- answers

Response fhir_response(status st, const json& body) {
  Response res{st, 11};
  res.set(server::http::field::content_type, "application/fhir+json");
  res.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

json issue(std::string_view code, std::string_view diagnostics, std::string_view expression = {}) {
  json i{{"severity", "error"}, {"code", code}, {"diagnostics", diagnostics}};
  if (!expression.empty()) i["expression"] = json::array({expression});
  return i;
}

json outcome(json issues) { return {{"resourceType", "OperationOutcome"}, {"issue", std::move(issues)}}; }

Response outcome_response(status st, json issues) { return fhir_response(st, outcome(std::move(issues))); }

const char* issue_code_of(status st) {
  switch (st) {
    case status::unauthorized: return "login";
    case status::forbidden: return "forbidden";
    case status::not_found: return "not-found";
    case status::conflict: return "conflict";
    case status::service_unavailable: return "transient";
    case status::internal_server_error: return "exception";
    default: return "invalid";
  }
}

// "201 Created", "422 Unprocessable Entity": a Bundle entry's response.status.
std::string status_line(status st) {
  return std::to_string(static_cast<unsigned>(st)) + " " + std::string(server::http::obsolete_reason(st));
}

// A problem+json answer made elsewhere (the body parser, the router) said
// again as an OperationOutcome: same status, same detail, Allow kept.
Response outcome_from_problem(const Response& problem, std::string_view code) {
  const json p = json::parse(problem.body(), nullptr, false);
  const std::string detail = p.is_object() && p.contains("detail") && p["detail"].is_string()
                                 ? p["detail"].get<std::string>()
                                 : std::string(server::http::obsolete_reason(problem.result()));
  auto res = outcome_response(problem.result(), json::array({issue(code, detail)}));
  if (auto allow = problem.find(server::http::field::allow); allow != problem.end())
    res.set(server::http::field::allow, allow->value());
  return res;
}

// parse_json_body answers 400/415 in problem+json; /fhir says the same in an OperationOutcome.
Response body_refusal(const server::JsonBody& body) {
  const Response problem = body.problem();
  if (problem.result() == status::unsupported_media_type)
    return outcome_response(problem.result(),
                            json::array({issue("not-supported",
                                               "The request body must be application/fhir+json (or application/json).")}));
  if (!body.errors().empty()) return fhir_response(problem.result(), fhir::operation_outcome(body.errors()));
  return outcome_from_problem(problem, "structure");
}

// A store failure as an OperationOutcome; an internal message may name tables or SQL, so it is not shown.
std::pair<status, json> failure_issue(const core::Error& e) {
  const status st = server::status_of(e);
  const std::string detail =
      st == status::internal_server_error ? "The server could not complete the request." : e.message;
  return {st, issue(issue_code_of(st), detail)};
}

Response store_failure(const core::Error& e) {
  auto [st, i] = failure_issue(e);
  auto res = outcome_response(st, json::array({std::move(i)}));
  if (st == status::service_unavailable)
    res.set(server::http::field::retry_after, std::to_string(server::retry_after_seconds));
  return res;
}

// A set of one id, built outside the coroutines (GCC 12 cannot keep a braced list across a co_await).
std::set<std::int64_t> only(std::int64_t id) { return {id}; }

std::string observation_path(std::int64_t id) { return "/fhir/Observation/" + std::to_string(id); }

// ---- who may do what (auth::decide is the only judge)

enum class Access { read, write };

// Refuses, before anything is looked up, an account that may never read or
// write any patient's observations (an authority), and anonymous callers.
asio::awaitable<std::variant<Principal, Response>> caller(RequestContext& ctx, Services& svc, Access a) {
  auto who = co_await authenticate(ctx, svc);
  const std::optional<core::User> user = who ? std::optional<core::User>(who->user) : std::nullopt;
  auth::Resource probe;
  auth::Permission p = a == Access::write ? auth::Permission::patient_write : auth::Permission::patient_read;
  if (user && user->role == core::Role::patient)
    p = a == Access::write ? auth::Permission::own_record_write : auth::Permission::own_record_read;
  else if (user)
    probe.clinic_id = user->clinic_id;
  switch (auth::decide(user, p, probe)) {
    case auth::Decision::allow: co_return std::move(*who);
    case auth::Decision::deny_unauthenticated: co_return refuse(Dialect::fhir, status::unauthorized, "log in first");
    case auth::Decision::deny: break;
  }
  co_return refuse(Dialect::fhir, status::forbidden, "your account may not read or write patients' observations");
}

bool is_staff(const core::User& u) { return u.role != core::Role::patient; }

// The policy's answer about one patient: ok (with the patient's clinic, for
// the audit trail), or the status and reason of the refusal.
struct Verdict {
  status st = status::ok;
  std::string why;
  std::int64_t clinic_id = 0;
};

// Asks the policy about each patient. A patient is asked about by id only
// (nothing is looked up, so it cannot probe which ids exist); staff by the
// patient's clinic, all patients loaded in one trip to the compute pool.
asio::awaitable<std::map<std::int64_t, Verdict>> judge(Services& svc, const core::User& who, Access a,
                                                       const std::set<std::int64_t>& patient_ids) {
  std::map<std::int64_t, Verdict> out;
  if (!is_staff(who)) {
    const auto p = a == Access::write ? auth::Permission::own_record_write : auth::Permission::own_record_read;
    // A patient's own upload needs the separate consent to processing health data.
    bool consented = true;
    if (a == Access::write && who.patient_id)
      consented = co_await server::offload(svc.compute, [&] { return health_data_consent_granted(svc, *who.patient_id); });
    for (const auto id : patient_ids) {
      auth::Resource r;
      r.patient_id = id;
      Verdict v;
      if (auth::decide(who, p, r) != auth::Decision::allow) {
        v.st = status::forbidden;
        v.why = "a patient may read and write only its own observations (subject Patient/" +
                std::to_string(who.patient_id.value_or(0)) + ")";
      } else if (!consented) {
        v.st = status::forbidden;
        v.why = std::string(consent_required_detail);
      } else {
        v.clinic_id = who.clinic_id.value_or(0);
      }
      out.emplace(id, std::move(v));
    }
    co_return out;
  }
  const auto p = a == Access::write ? auth::Permission::patient_write : auth::Permission::patient_read;
  auto patients = co_await server::offload(svc.compute, [&] {
    std::vector<std::pair<std::int64_t, core::Result<core::Patient>>> found;
    for (const auto id : patient_ids) found.emplace_back(id, svc.store.patient(id));
    return found;
  });
  for (auto& [id, patient] : patients) {
    Verdict v;
    if (!patient) {
      if (patient.error().code == core::Errc::not_found) {
        v.st = status::not_found;
        v.why = "patient " + std::to_string(id) + " not found";
      } else {
        v.st = server::status_of(patient.error());
        v.why = v.st == status::internal_server_error ? "The server could not complete the request."
                                                      : patient.error().message;
      }
    } else {
      auth::Resource r;
      r.patient_id = id;
      r.clinic_id = patient->clinic_id;
      if (auth::decide(who, p, r) != auth::Decision::allow) {
        // As for a missing id: another clinic's patients are not confirmed to exist.
        v.st = status::not_found;
        v.why = "patient " + std::to_string(id) + " not found";
      } else {
        v.clinic_id = patient->clinic_id;
      }
    }
    out.emplace(id, std::move(v));
  }
  co_return out;
}

// The patient an observation is about: its subject, else the caller itself
// for a patient; 0 for staff without a subject (staff must say).
std::int64_t target_patient(const core::User& who, const fhir::ParsedObservation& obs) {
  if (obs.subject_patient_id) return *obs.subject_patient_id;
  if (!is_staff(who) && who.patient_id) return *who.patient_id;
  return 0;
}

// ---- storing

asio::awaitable<core::Result<std::vector<store::InsertOutcome>>> insert(Services& svc, std::int64_t patient_id,
                                                                         std::vector<core::Reading> readings) {
  auto stored = co_await server::await_completion<std::vector<store::InsertOutcome>>(
      [&](auto done) { svc.store.insert_readings(patient_id, std::move(readings), std::move(done)); });
  if (stored) notify_stored(svc, patient_id, *stored);
  co_return stored;
}

// The stored readings, read back so an answer shows what the store holds
// (for a duplicate: the original).
asio::awaitable<core::Result<std::map<std::int64_t, core::Reading>>> read_back(Services& svc,
                                                                                std::set<std::int64_t> ids) {
  co_return co_await server::offload(svc.compute, [&]() -> core::Result<std::map<std::int64_t, core::Reading>> {
    std::map<std::int64_t, core::Reading> out;
    for (const auto id : ids) {
      auto r = svc.store.reading(id);
      if (!r) return r.error();
      out.emplace(id, std::move(*r));
    }
    return out;
  });
}

std::optional<Response> resource_type_refusal(const json& body, std::string_view want, std::string_view advice) {
  if (!body.is_object())
    return outcome_response(status::unprocessable_entity,
                            json::array({issue("structure", "the body must be a FHIR resource (a JSON object)")}));
  auto rt = body.find("resourceType");
  if (rt == body.end() || !rt->is_string())
    return outcome_response(status::unprocessable_entity,
                            json::array({issue("required", "resourceType is required", std::string(want) + ".resourceType")}));
  if (*rt != want)
    return outcome_response(status::unprocessable_entity,
                            json::array({issue("not-supported",
                                   "this operation takes a " + std::string(want) + ", not a " +
                                       rt->get<std::string>() + std::string(advice))}));
  return std::nullopt;
}

// POST /fhir/Observation → 201 + Location, or 200 with the original for a re-post.
asio::awaitable<Response> create_observation(RequestContext& ctx, Services& svc) {
  auto principal = co_await caller(ctx, svc, Access::write);
  if (auto* refused = std::get_if<Response>(&principal)) co_return std::move(*refused);
  const core::User& who = std::get<Principal>(principal).user;
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body_refusal(body);
  if (auto refused = resource_type_refusal(*body, "Observation", " (post Bundles to /fhir)")) co_return std::move(*refused);
  auto parsed = fhir::parse_observation(*body, "", core::now_utc_ms());
  if (auto* errors = std::get_if<std::vector<core::FieldError>>(&parsed))
    co_return fhir_response(status::unprocessable_entity, fhir::operation_outcome(*errors));
  auto& obs = std::get<fhir::ParsedObservation>(parsed);
  if (const auto condition = ctx.request["If-None-Exist"]; !condition.empty()) {
    auto cid = fhir::client_id_for_condition(condition);
    if (!cid) co_return outcome_response(status::bad_request, json::array({issue("not-supported", cid.error().message)}));
    obs.reading.client_id = *cid;
  }
  const std::int64_t patient_id = target_patient(who, obs);
  if (patient_id == 0)
    co_return outcome_response(status::unprocessable_entity,
                               json::array({issue("required", "subject (Patient/{id}) is required when staff post an observation",
                                      "Observation.subject")}));
  auto verdicts = co_await judge(svc, who, Access::write, only(patient_id));
  const Verdict& v = verdicts.at(patient_id);
  if (v.st != status::ok) co_return refuse(Dialect::fhir, v.st, v.why);
  if (is_staff(who)) {
    if (auto refused = co_await audit(ctx, svc, who, "fhir.observation.create", patient_id, v.clinic_id,
                                      "Observation", Dialect::fhir))
      co_return std::move(*refused);
    if (obs.reading.source.empty()) obs.reading.source = "clinic";
  }
  obs.reading.patient_id = patient_id;
  std::vector<core::Reading> one;
  one.push_back(std::move(obs.reading));
  auto stored = co_await insert(svc, patient_id, std::move(one));
  if (!stored) co_return store_failure(stored.error());
  const store::InsertOutcome o = stored->at(0);
  auto back = co_await read_back(svc, only(o.id));
  if (!back) co_return store_failure(back.error());
  const bool created = o.status == store::InsertStatus::created;
  auto res = fhir_response(created ? status::created : status::ok, fhir::to_observation(back->at(o.id)));
  if (created) res.set(server::http::field::location, observation_path(o.id));
  co_return res;
}

// ---- Bundles

// One entry of a batch or transaction: what it asks for and what became of it.
struct Entry {
  std::optional<core::Reading> reading;  // set when the entry is valid
  std::int64_t patient_id = 0;
  status st = status::ok;                // the refusal's status when not ok
  json issues = json::array();
  std::int64_t stored_id = 0;
  bool created = false;
};

std::string entry_expr(std::size_t i) { return "Bundle.entry[" + std::to_string(i) + "]"; }

// Checks entry i's structure and parses its Observation.
Entry parse_entry(const json& e, std::size_t i, std::int64_t now_ms) {
  Entry out;
  const std::string at = "/entry/" + std::to_string(i);
  const std::string expr = entry_expr(i);
  std::string condition_client_id;  // from request.ifNoneExist (conditional create)
  auto fail = [&](std::string_view code, std::string_view detail, const std::string& where) {
    out.st = status::unprocessable_entity;
    out.issues.push_back(issue(code, detail, where));
  };
  if (!e.is_object()) {
    fail("structure", "each entry is an object {resource, request}", expr);
    return out;
  }
  auto rq = e.find("request");
  if (rq == e.end() || !rq->is_object()) {
    fail("required", "entry.request {method: POST, url: Observation} is required", expr + ".request");
  } else {
    auto method = rq->find("method");
    auto url = rq->find("url");
    if (method == rq->end() || !method->is_string() || *method != "POST")
      fail("not-supported", "request.method must be POST: a Bundle here only creates Observations",
           expr + ".request.method");
    if (url == rq->end() || !url->is_string() || *url != "Observation")
      fail("not-supported", "request.url must be Observation", expr + ".request.url");
    for (const char* conditional : {"ifMatch", "ifNoneMatch", "ifModifiedSince"})
      if (rq->contains(conditional))
        fail("not-supported", std::string("request.") + conditional + " is not supported on a create",
             expr + ".request." + conditional);
    if (auto cond = rq->find("ifNoneExist"); cond != rq->end()) {
      auto cid = cond->is_string() ? fhir::client_id_for_condition(cond->get<std::string>())
                                   : core::Result<std::string>(core::Error::invalid("ifNoneExist must be a string"));
      if (cid)
        condition_client_id = *cid;
      else
        fail("not-supported", cid.error().message, expr + ".request.ifNoneExist");
    }
  }
  auto res = e.find("resource");
  if (res == e.end() || !res->is_object()) {
    fail("required", "entry.resource (an Observation) is required", expr + ".resource");
    return out;
  }
  auto rt = res->find("resourceType");
  if (rt == res->end() || !rt->is_string() || *rt != "Observation") {
    fail("not-supported", "only Observations can be created here", expr + ".resource.resourceType");
    return out;
  }
  auto parsed = fhir::parse_observation(*res, at + "/resource", now_ms);
  if (auto* errors = std::get_if<std::vector<core::FieldError>>(&parsed)) {
    out.st = status::unprocessable_entity;
    json parsed_issues = fhir::operation_outcome(*errors);
    for (auto& i2 : parsed_issues["issue"]) out.issues.push_back(std::move(i2));
    return out;
  }
  if (out.st != status::ok) return out;
  auto& obs = std::get<fhir::ParsedObservation>(parsed);
  out.patient_id = obs.subject_patient_id.value_or(0);
  if (!condition_client_id.empty()) obs.reading.client_id = condition_client_id;
  out.reading = std::move(obs.reading);
  return out;
}

json entry_response(const Entry& e, const std::map<std::int64_t, core::Reading>& stored) {
  if (e.st != status::ok)
    return {{"response", {{"status", status_line(e.st)}, {"outcome", outcome(e.issues)}}}};
  return {{"fullUrl", observation_path(e.stored_id)},
          {"resource", fhir::to_observation(stored.at(e.stored_id))},
          {"response",
           {{"status", e.created ? "201 Created" : "200 OK"}, {"location", "Observation/" + std::to_string(e.stored_id)}}}};
}

// POST /fhir with a batch (each entry on its own) or a transaction (all or
// nothing; the observations of one patient, stored in one store write).
asio::awaitable<Response> process_bundle(RequestContext& ctx, Services& svc) {
  auto principal = co_await caller(ctx, svc, Access::write);
  if (auto* refused = std::get_if<Response>(&principal)) co_return std::move(*refused);
  const core::User& who = std::get<Principal>(principal).user;
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body_refusal(body);
  if (auto refused = resource_type_refusal(*body, "Bundle", " (post a single Observation to /fhir/Observation)"))
    co_return std::move(*refused);
  const json& bundle = *body;
  const std::string type = bundle.contains("type") && bundle["type"].is_string() ? bundle["type"].get<std::string>() : "";
  if (type != "batch" && type != "transaction")
    co_return outcome_response(status::unprocessable_entity,
                               json::array({issue(type.empty() ? "required" : "not-supported",
                                      "Bundle.type must be batch or transaction", "Bundle.type")}));
  const bool transaction = type == "transaction";
  auto entries_it = bundle.find("entry");
  if (entries_it == bundle.end() || !entries_it->is_array() || entries_it->empty() ||
      entries_it->size() > max_bundle_entries)
    co_return outcome_response(status::unprocessable_entity,
                               json::array({issue("invalid", "Bundle.entry must hold 1 to " + std::to_string(max_bundle_entries) +
                                                     " entries", "Bundle.entry")}));

  const std::int64_t now = core::now_utc_ms();
  std::vector<Entry> entries;
  entries.reserve(entries_it->size());
  for (std::size_t i = 0; i < entries_it->size(); ++i) entries.push_back(parse_entry((*entries_it)[i], i, now));

  // Whom each valid entry is about.
  std::set<std::int64_t> patients;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto& e = entries[i];
    if (e.st != status::ok) continue;
    if (e.patient_id == 0 && !is_staff(who) && who.patient_id) e.patient_id = *who.patient_id;
    if (e.patient_id == 0) {
      e.st = status::unprocessable_entity;
      e.issues.push_back(issue("required", "subject (Patient/{id}) is required when staff post an observation",
                               entry_expr(i) + ".resource.subject"));
      continue;
    }
    patients.insert(e.patient_id);
  }
  const auto verdicts = co_await judge(svc, who, Access::write, patients);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto& e = entries[i];
    if (e.st != status::ok) continue;
    const Verdict& v = verdicts.at(e.patient_id);
    if (v.st == status::ok) continue;
    e.st = v.st;
    e.issues.push_back(issue(issue_code_of(v.st), v.why, entry_expr(i) + ".resource.subject"));
  }

  // The store writes one patient's readings atomically, so a transaction is about one patient.
  if (transaction) {
    const auto first_ok = std::find_if(entries.begin(), entries.end(), [](const Entry& e) { return e.st == status::ok; });
    const std::int64_t first = first_ok == entries.end() ? 0 : first_ok->patient_id;
    const auto first_index = std::to_string(first_ok - entries.begin());
    for (std::size_t i = 0; i < entries.size(); ++i) {
      auto& e = entries[i];
      if (e.st != status::ok || e.patient_id == first) continue;
      e.st = status::unprocessable_entity;
      e.issues.push_back(issue("business-rule",
                               "a transaction holds the observations of one patient: this entry is about Patient/" +
                                   std::to_string(e.patient_id) + ", entry " + first_index + " about Patient/" +
                                   std::to_string(first) + " (use a batch, or one transaction per patient)",
                               entry_expr(i) + ".resource.subject"));
    }
  }
  // Valid entries by patient, in entry order.
  std::map<std::int64_t, std::vector<std::size_t>> by_patient;
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (entries[i].st == status::ok) by_patient[entries[i].patient_id].push_back(i);

  if (transaction) {
    json issues = json::array();
    bool forbidden = false;
    for (const auto& e : entries) {
      if (e.st == status::ok) continue;
      forbidden = forbidden || e.st == status::forbidden;
      for (const auto& i : e.issues) issues.push_back(i);
    }
    // Nothing is stored when any entry fails; every failing entry is named.
    if (!issues.empty())
      co_return outcome_response(forbidden ? status::forbidden : status::unprocessable_entity, std::move(issues));
  }

  for (auto& [patient_id, idx] : by_patient) {
    auto fail_group = [&](status st, const json& i) {
      for (const auto k : idx) {
        entries[k].st = st;
        entries[k].issues.push_back(i);
      }
    };
    if (is_staff(who)) {
      const std::string detail = "Bundle " + type + ", " + std::to_string(idx.size()) + " observation(s)";
      if (auto refused = co_await audit(ctx, svc, who, "fhir.observation.create", patient_id,
                                        verdicts.at(patient_id).clinic_id, detail, Dialect::fhir)) {
        if (transaction) co_return std::move(*refused);
        fail_group(status::service_unavailable,
                   issue("transient", "the audit trail cannot be written just now; try again"));
        continue;
      }
    }
    std::vector<core::Reading> readings;
    for (const auto k : idx) {
      auto r = std::move(*entries[k].reading);
      r.patient_id = patient_id;
      if (r.source.empty() && is_staff(who)) r.source = "clinic";
      readings.push_back(std::move(r));
    }
    auto stored = co_await insert(svc, patient_id, std::move(readings));
    if (!stored) {
      if (transaction) co_return store_failure(stored.error());
      auto [st, i] = failure_issue(stored.error());
      fail_group(st, i);
      continue;
    }
    for (std::size_t j = 0; j < idx.size(); ++j) {
      entries[idx[j]].stored_id = (*stored)[j].id;
      entries[idx[j]].created = (*stored)[j].status == store::InsertStatus::created;
    }
  }

  std::set<std::int64_t> ids;
  for (const auto& e : entries)
    if (e.st == status::ok) ids.insert(e.stored_id);
  auto back = co_await read_back(svc, std::move(ids));
  if (!back) co_return store_failure(back.error());
  json out_entries = json::array();
  for (const auto& e : entries) out_entries.push_back(entry_response(e, *back));
  co_return fhir_response(status::ok, {{"resourceType", "Bundle"},
                                       {"type", transaction ? "transaction-response" : "batch-response"},
                                       {"entry", std::move(out_entries)}});
}

// ---- read

// GET /fhir/Observation/{id}
asio::awaitable<Response> read_observation(RequestContext& ctx, Services& svc) {
  auto principal = co_await caller(ctx, svc, Access::read);
  if (auto* refused = std::get_if<Response>(&principal)) co_return std::move(*refused);
  const core::User& who = std::get<Principal>(principal).user;
  const auto id = path_id(ctx);
  if (!id) co_return refuse(Dialect::fhir, status::not_found, "no Observation has this id");
  auto reading = co_await server::offload(svc.compute, [&] { return svc.store.reading(*id); });
  if (!reading) {
    if (reading.error().code == core::Errc::not_found)
      co_return refuse(Dialect::fhir, status::not_found, "Observation " + std::to_string(*id) + " not found");
    co_return store_failure(reading.error());
  }
  // Medication entries are adherence records, not Observations.
  if (reading->kind == core::ReadingKind::medication)
    co_return refuse(Dialect::fhir, status::not_found, "Observation " + std::to_string(*id) + " not found");
  const std::int64_t patient_id = reading->patient_id;
  auto verdicts = co_await judge(svc, who, Access::read, only(patient_id));
  const Verdict& v = verdicts.at(patient_id);
  // Another clinic's observation is answered exactly as a missing one.
  if (v.st == status::not_found)
    co_return refuse(Dialect::fhir, status::not_found, "Observation " + std::to_string(*id) + " not found");
  if (v.st != status::ok) co_return refuse(Dialect::fhir, v.st, v.why);
  if (is_staff(who))
    if (auto refused = co_await audit(ctx, svc, who, "fhir.observation.read", patient_id, v.clinic_id,
                                      "Observation/" + std::to_string(*id), Dialect::fhir))
      co_return std::move(*refused);
  co_return fhir_response(status::ok, fhir::to_observation(*reading));
}

// ---- search

// The measure a LOINC code names (CLINICAL.md §5); the stored Observation
// carries the measure's canonical code, so every code of a measure finds it.
std::optional<core::ReadingKind> kind_of_code(std::string_view code) {
  using core::ReadingKind;
  static const std::map<std::string, ReadingKind, std::less<>> codes{
      {"85354-9", ReadingKind::blood_pressure}, {"55284-4", ReadingKind::blood_pressure},
      {"8867-4", ReadingKind::heart_rate},      {"29463-7", ReadingKind::weight},
      {"3141-9", ReadingKind::weight},          {"4548-4", ReadingKind::hba1c},
      {"2339-0", ReadingKind::glucose},         {"2345-7", ReadingKind::glucose},
      {"41653-7", ReadingKind::glucose},        {"15074-8", ReadingKind::glucose},
      {"14749-6", ReadingKind::glucose},
  };
  auto it = codes.find(code);
  if (it == codes.end()) return std::nullopt;
  return it->second;
}

bool is_loinc_code(std::string_view s) {
  const auto dash = s.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > 7 || s.size() != dash + 2) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (i != dash && (s[i] < '0' || s[i] > '9')) return false;
  return true;
}

struct Search {
  std::int64_t patient_id = 0;  // 0: the caller itself (a patient)
  std::set<core::ReadingKind> kinds;
  std::int64_t from_ms = no_bound_from;  // taken_at >= from
  std::int64_t to_ms = no_bound_to;      // taken_at < to
  int count = default_count;
  std::int64_t after_id = 0;  // 0: the first page
};

// [lo, hi) of a date parameter's value: a bare date is that day in UTC; a
// date-time covers its stated precision (a minute, a second, a millisecond).
std::optional<std::pair<std::int64_t, std::int64_t>> date_range(std::string text, std::string& error) {
  if (text.size() == 10) {
    auto days = core::parse_date_days(text);
    if (!days) {
      error = "not a date YYYY-MM-DD";
      return std::nullopt;
    }
    return std::pair{*days * day_ms, (*days + 1) * day_ms};
  }
  // A '+' of an offset sent unencoded arrives as a space.
  std::replace(text.begin(), text.end(), ' ', '+');
  auto t = core::parse_iso8601(text);
  if (!t.instant) {
    error = t.error;
    return std::nullopt;
  }
  const auto tpos = text.find('T');
  const auto zone = text.find_first_of("Zz+-", tpos == std::string::npos ? 0 : tpos);
  const std::string clock = tpos == std::string::npos ? "" : text.substr(tpos + 1, zone - tpos - 1);
  std::int64_t step_ms = 1;
  if (clock.size() == 5) {
    step_ms = 60'000;
  } else if (clock.size() == 8) {
    step_ms = 1000;
  } else if (clock.size() > 9) {
    const std::size_t digits = clock.size() - 9;
    step_ms = digits == 1 ? 100 : digits == 2 ? 10 : 1;
  }
  return std::pair{t.instant->utc_ms, t.instant->utc_ms + step_ms};
}

// The query of a search, or the issues that refuse it. Unknown parameters
// are refused rather than ignored, so a typo never widens a search silently.
std::variant<Search, json> parse_search(const RequestContext& ctx) {
  Search s;
  json issues = json::array();
  auto bad = [&](const std::string& detail) { issues.push_back(issue("invalid", detail)); };
  std::set<std::string> seen;
  bool any_code = false;
  for (const auto& [name, value] : ctx.query) {
    if (name != "date" && !seen.insert(name).second) {
      bad(name + ": give this parameter once (code takes a comma-separated list)");
      continue;
    }
    if (name == "patient") {
      std::string_view v = value;
      if (v.starts_with("Patient/")) v.remove_prefix(8);
      auto id = parse_int(v);
      if (!id || *id <= 0)
        bad("patient must be a patient id or Patient/{id}");
      else
        s.patient_id = *id;
    } else if (name == "code") {
      any_code = true;
      std::string_view rest = value;
      while (true) {
        const auto comma = rest.find(',');
        std::string_view token = rest.substr(0, comma);
        bool loinc = true;
        if (const auto bar = token.find('|'); bar != std::string_view::npos) {
          loinc = token.substr(0, bar) == fhir::loinc_system;
          token.remove_prefix(bar + 1);
        }
        if (!is_loinc_code(token))
          bad("code: " + std::string(token) + " is not a LOINC code (like 85354-9)");
        else if (auto k = loinc ? kind_of_code(token) : std::nullopt)
          s.kinds.insert(*k);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else if (name == "date") {
      static const std::set<std::string, std::less<>> prefixes{"eq", "gt", "ge", "lt", "le", "ne", "sa", "eb", "ap"};
      std::string prefix = "eq";
      std::string text = value;
      if (text.size() > 2 && prefixes.contains(text.substr(0, 2))) {
        prefix = text.substr(0, 2);
        text = text.substr(2);
      }
      if (prefix != "eq" && prefix != "gt" && prefix != "ge" && prefix != "lt" && prefix != "le") {
        bad("date: prefix " + prefix + " is not supported (eq, gt, ge, lt, le)");
        continue;
      }
      std::string error;
      auto range = date_range(text, error);
      if (!range) {
        bad("date: " + value + ": " + error + " (a date YYYY-MM-DD, or a date-time with Z or an offset)");
        continue;
      }
      const auto [lo, hi] = *range;
      if (prefix == "eq" || prefix == "ge") s.from_ms = std::max(s.from_ms, lo);
      if (prefix == "gt") s.from_ms = std::max(s.from_ms, hi);
      if (prefix == "eq" || prefix == "le") s.to_ms = std::min(s.to_ms, hi);
      if (prefix == "lt") s.to_ms = std::min(s.to_ms, lo);
    } else if (name == "_count") {
      auto n = parse_int(value);
      if (!n || *n < 1 || *n > max_count)
        bad("_count must be an integer from 1 to " + std::to_string(max_count));
      else
        s.count = static_cast<int>(*n);
    } else if (name == "_cursor") {
      auto n = parse_int(value);
      if (!n || *n <= 0)
        bad("_cursor must come from the next link of a previous page");
      else
        s.after_id = *n;
    } else if (name == "_format") {
      if (value.find("json") == std::string::npos) bad("_format: only JSON is served");
    } else {
      bad("unknown search parameter " + name + " (supported: patient, code, date, _count, _cursor, _format)");
    }
  }
  if (!issues.empty()) return issues;
  if (!any_code)
    s.kinds = {core::ReadingKind::blood_pressure, core::ReadingKind::glucose, core::ReadingKind::weight,
               core::ReadingKind::heart_rate, core::ReadingKind::hba1c};
  return s;
}

// RFC 3986 query component: unreserved characters and a few harmless delimiters as they are.
std::string query_escape(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '/' || c == ',') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// The same search from the reading after `after_id`.
std::string next_link(const RequestContext& ctx, std::int64_t after_id) {
  std::string url = "/fhir/Observation?";
  for (const auto& [name, value] : ctx.query)
    if (name != "_cursor") url += query_escape(name) + "=" + query_escape(value) + "&";
  return url + "_cursor=" + std::to_string(after_id);
}

// GET /fhir/Observation?patient=&code=&date=&_count=&_cursor= → searchset Bundle, oldest first.
asio::awaitable<Response> search_observations(RequestContext& ctx, Services& svc) {
  auto principal = co_await caller(ctx, svc, Access::read);
  if (auto* refused = std::get_if<Response>(&principal)) co_return std::move(*refused);
  const core::User& who = std::get<Principal>(principal).user;
  auto parsed = parse_search(ctx);
  if (auto* issues = std::get_if<json>(&parsed)) co_return outcome_response(status::unprocessable_entity, std::move(*issues));
  const Search s = std::get<Search>(parsed);
  std::int64_t patient_id = s.patient_id;
  if (patient_id == 0 && !is_staff(who) && who.patient_id) patient_id = *who.patient_id;
  if (patient_id == 0)
    co_return outcome_response(status::unprocessable_entity,
                               json::array({issue("required", "patient is required: staff search one patient's observations")}));

  std::vector<core::Reading> page;
  bool more = false;
  auto verdicts = co_await judge(svc, who, Access::read, only(patient_id));
  const Verdict& v = verdicts.at(patient_id);
  // An unknown patient has no observations: FHIR answers an empty searchset.
  if (v.st != status::ok && v.st != status::not_found) co_return refuse(Dialect::fhir, v.st, v.why);
  if (v.st == status::ok && !s.kinds.empty() && s.from_ms < s.to_ms) {
    if (is_staff(who)) {
      const auto target = std::string(ctx.request.target());
      const auto q = target.find('?');
      const std::string detail = q == std::string::npos ? "" : target.substr(q + 1, 200);
      if (auto refused =
              co_await audit(ctx, svc, who, "fhir.observation.search", patient_id, v.clinic_id, detail, Dialect::fhir))
        co_return std::move(*refused);
    }
    store::ReadingQuery q;
    q.patient_id = patient_id;
    if (s.from_ms != no_bound_from) q.from_ms = s.from_ms;
    if (s.to_ms != no_bound_to) q.to_ms = s.to_ms;
    if (s.after_id > 0) q.after_id = s.after_id;
    const bool every_row_matches = s.kinds.size() == 1;
    if (every_row_matches) q.kind = *s.kinds.begin();
    // One more than asked tells whether another page exists.
    const std::size_t want = static_cast<std::size_t>(s.count) + 1;
    q.limit = every_row_matches ? static_cast<int>(want) : std::max(static_cast<int>(want), 200);
    try {
      page = co_await server::offload(svc.compute, [&] {
        std::vector<core::Reading> found;
        // Without one kind to ask the store for, rows of other kinds (medication) are skipped here.
        for (;;) {
          auto rows = svc.store.readings(q);
          for (auto& r : rows) {
            if (!s.kinds.contains(r.kind)) continue;
            found.push_back(std::move(r));
            if (found.size() == want) return found;
          }
          if (rows.size() < static_cast<std::size_t>(q.limit)) return found;
          q.after_id = rows.back().id;
        }
      });
    } catch (const store::StoreError& e) {
      co_return store_failure(core::Error{e.code(), e.what(), {}});
    }
    more = page.size() == want;
    if (more) page.pop_back();
  }

  json links = json::array({{{"relation", "self"}, {"url", std::string(ctx.request.target())}}});
  if (more) links.push_back({{"relation", "next"}, {"url", next_link(ctx, page.back().id)}});
  json entries = json::array();
  for (const auto& r : page)
    entries.push_back({{"fullUrl", observation_path(r.id)}, {"resource", fhir::to_observation(r)}, {"search", {{"mode", "match"}}}});
  co_return fhir_response(status::ok,
                          {{"resourceType", "Bundle"}, {"type", "searchset"}, {"link", links}, {"entry", entries}});
}

// ---- metadata

json capability_statement() {
  json observation{
      {"type", "Observation"},
      {"profile", "http://hl7.org/fhir/StructureDefinition/Observation"},
      {"documentation",
       "Home readings (CLINICAL.md §5): BP panel 85354-9 or 55284-4 with components, heart rate, body weight, "
       "glucose (a code's property must match its unit), HbA1c. identifier[0] makes a re-post a duplicate; without one, the same kind, time and values do. Conditional create: If-None-Exist: identifier=[system|]value, scoped to the subject."},
      {"interaction", {{{"code", "create"}}, {{"code", "read"}}, {{"code", "search-type"}}}},
      {"versioning", "no-version"},
      {"readHistory", false},
      {"updateCreate", false},
      {"conditionalCreate", true},
      {"conditionalRead", "not-supported"},
      {"conditionalUpdate", false},
      {"conditionalDelete", "not-supported"},
      {"searchParam",
       {{{"name", "patient"},
         {"definition", "http://hl7.org/fhir/SearchParameter/clinical-patient"},
         {"type", "reference"},
         {"documentation", "An id or Patient/{id}; required for staff, a patient's own by default."}},
        {{"name", "code"},
         {"definition", "http://hl7.org/fhir/SearchParameter/clinical-code"},
         {"type", "token"},
         {"documentation", "LOINC codes, comma-separated; every code of a measure finds that measure's readings."}},
        {{"name", "date"},
         {"definition", "http://hl7.org/fhir/SearchParameter/clinical-date"},
         {"type", "date"},
         {"documentation", "eq, gt, ge, lt, le; a bare date is that day in UTC."}},
        {{"name", "_cursor"},
         {"type", "string"},
         {"documentation", "Paging: taken from the next link of the previous page."}}}}};
  return {{"resourceType", "CapabilityStatement"},
          {"status", "active"},
          {"date", "2026-11-25"},
          {"publisher", "CareLoop"},
          {"kind", "instance"},
          {"software", {{"name", "CareLoop"}}},
          {"implementation", {{"description", "CareLoop FHIR R4 endpoint for home readings"}}},
          {"fhirVersion", "4.0.1"},
          {"format", {"json", "application/fhir+json"}},
          {"rest",
           {{{"mode", "server"},
             {"documentation",
              "Unknown search parameters are refused (422), not ignored. A transaction holds the observations of "
              "one patient."},
             {"security",
              {{"cors", false},
               {"description", "Bearer token from POST /api/v1/auth/login or /api/v1/auth/activate."}}},
             {"resource", {observation}},
             {"interaction", {{{"code", "batch"}}, {{"code", "transaction"}}}}}}}};
}

asio::awaitable<Response> metadata(RequestContext&, Services&) {
  static const std::string body = capability_statement().dump();
  Response res{status::ok, 11};
  res.set(server::http::field::content_type, "application/fhir+json");
  res.body() = body;
  res.prepare_payload();
  co_return res;
}

}  // namespace

void add_fhir_routes(server::Router& router, const std::shared_ptr<Services>& svc) {
  router.add(verb::get, "/fhir/metadata", bind(svc, metadata));
  router.add(verb::post, "/fhir", bind(svc, process_bundle));
  router.add(verb::post, "/fhir/Observation", bind(svc, create_observation));
  router.add(verb::get, "/fhir/Observation", bind(svc, search_observations));
  router.add(verb::get, "/fhir/Observation/{id}", bind(svc, read_observation));
  // The router's own 404/405 under /fhir speak FHIR too.
  router.set_refusal_format("/fhir/", [](Response problem) {
    return outcome_from_problem(problem, problem.result() == status::not_found ? "not-found" : "not-supported");
  });
}

}  // namespace careloop::mobile_api::detail
