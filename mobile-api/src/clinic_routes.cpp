// /api/v1/clinic/patients/...: what a community doctor does for one patient
// through the API — register the patient and hand out an activation code,
// read the record, enter a reading measured in the clinic, send a message.
// Every read and write of a patient's data is written to the audit log
// before the answer leaves.
#include <cctype>
#include <limits>
#include <set>

#include "careloop/core/utf8.hpp"
#include "careloop/auth/password.hpp"
#include "careloop/mobile_api/patient_list.hpp"
#include "careloop/core/time.hpp"
#include "careloop/server/body.hpp"
#include "careloop/server/offload.hpp"
#include "common.hpp"
#include "routes.hpp"

namespace careloop::mobile_api::detail {
namespace {

using server::http::status;
using server::http::verb;

constexpr std::size_t max_name_chars = 100;
constexpr std::size_t max_message_chars = 2000;


using core::utf8_length;
using core::valid_utf8;

// An optional array field: item(pointer, value) for each element; a value
// that is not an array, or holds more than `max`, is one error.
template <class F>
void each_item(const json& body, const char* name, std::size_t max, const char* what,
               std::vector<core::FieldError>& errors, F item) {
  auto it = body.find(name);
  if (it == body.end()) return;
  const std::string at = std::string("/") + name;
  if (!it->is_array() || it->size() > max) {
    errors.push_back({at, what});
    return;
  }
  for (std::size_t i = 0; i < it->size(); ++i) item(at + "/" + std::to_string(i), (*it)[i]);
}

struct Registration {
  core::Patient patient;
  std::optional<std::int64_t> clinic_id;  // as asked (admins must say)
};

// Parses the registration body; every problem is named by pointer.
std::variant<Registration, std::vector<core::FieldError>> parse_registration(const json& body, std::int64_t today) {
  std::vector<core::FieldError> errors;
  Registration reg;
  core::Patient& p = reg.patient;
  if (!body.is_object()) return std::vector<core::FieldError>{{"", "the body must be a JSON object"}};
  static const std::set<std::string, std::less<>> known{"name", "sex", "birth_date", "phone", "height_cm", "diagnoses",
                                                        "comorbidities", "external_id", "clinic_id"};
  for (const auto& [k, v] : body.items())
    if (!known.contains(k)) errors.push_back({"/" + k, "unknown field"});

  if (auto name = string_field(body, "name"); !name || name->empty() || utf8_length(*name) > max_name_chars ||
                                              !valid_utf8(*name))
    errors.push_back({"/name", "name is required: 1 to 100 characters"});
  else
    p.name = *name;
  if (auto sex = string_field(body, "sex"); !sex || !core::parse_sex(*sex))
    errors.push_back({"/sex", "sex is required: female or male"});
  else
    p.sex = *core::parse_sex(*sex);
  if (auto b = string_field(body, "birth_date"); !b)
    errors.push_back({"/birth_date", "birth_date is required: YYYY-MM-DD"});
  else if (auto days = core::parse_date_days(*b); !days)
    errors.push_back({"/birth_date", "birth_date must be a date YYYY-MM-DD"});
  else if (*days > today || *days < today - 130 * 366)
    errors.push_back({"/birth_date", "birth_date must be in the past 130 years"});
  else
    p.birth_date = *days;
  if (body.contains("phone")) {
    auto phone = string_field(body, "phone");
    bool ok = phone && phone->size() <= 32;
    if (ok)
      for (unsigned char c : *phone)
        if (!std::isdigit(c) && c != '+' && c != '-' && c != ' ') ok = false;
    if (!ok)
      errors.push_back({"/phone", "phone must be at most 32 digits, spaces, + or -"});
    else
      p.phone = *phone;
  }
  if (body.contains("height_cm")) {
    const auto& h = body["height_cm"];
    if (!h.is_number() || h.get<double>() < 40 || h.get<double>() > 250)
      errors.push_back({"/height_cm", "height_cm must be a number from 40 to 250"});
    else
      p.height_cm = h.get<double>();
  }
  each_item(body, "diagnoses", 8, "diagnoses must be an array of at most 8 {code, diagnosed_on}", errors,
            [&](const std::string& at, const json& d) {
              if (!d.is_object()) {
                errors.push_back({at, "each diagnosis is an object {code, diagnosed_on}"});
                return;
              }
              auto code = string_field(d, "code");
              auto on = string_field(d, "diagnosed_on");
              // A sentinel rather than an optional: GCC 12 misreads the optional here (-Wmaybe-uninitialized).
              const std::int64_t no_date = std::numeric_limits<std::int64_t>::max();
              const std::int64_t on_day = on ? core::parse_date_days(*on).value_or(no_date) : no_date;
              if (!code || (*code != core::dx_hypertension && *code != core::dx_diabetes_t2))
                errors.push_back({at + "/code", "code must be hypertension or diabetes_t2"});
              else if (p.has_diagnosis(*code))
                errors.push_back({at + "/code", "diagnosis listed twice"});
              if (on_day == no_date || on_day > today)
                errors.push_back({at + "/diagnosed_on", "diagnosed_on must be a date YYYY-MM-DD, not in the future"});
              if (code && on_day != no_date) p.diagnoses.push_back({*code, on_day});
            });
  each_item(body, "comorbidities", 16, "comorbidities must be an array of at most 16 codes", errors,
            [&](const std::string& at, const json& c) {
              const std::string* code = c.is_string() ? &c.get_ref<const std::string&>() : nullptr;
              bool ok = code && !code->empty() && code->size() <= 32;
              if (ok)
                for (unsigned char ch : *code)
                  if (!std::islower(ch) && ch != '_') ok = false;
              if (!ok)
                errors.push_back({at, "a comorbidity is a code like ckd, chd, stroke"});
              else
                p.comorbidities.push_back(*code);
            });
  if (body.contains("external_id")) {
    auto ext = string_field(body, "external_id");
    if (!ext || ext->empty() || ext->size() > 64 || !valid_utf8(*ext))
      errors.push_back({"/external_id", "external_id must be 1 to 64 characters"});
    else
      p.external_id = *ext;
  }
  if (body.contains("clinic_id")) {
    const auto& c = body["clinic_id"];
    if (!c.is_number_integer() || c.get<std::int64_t>() <= 0)
      errors.push_back({"/clinic_id", "clinic_id must be a positive integer"});
    else
      reg.clinic_id = c.get<std::int64_t>();
  }
  if (!errors.empty()) return errors;
  return reg;
}

// A fresh one-time code for the patient; earlier unused ones stop working.
asio::awaitable<core::Result<std::pair<std::string, std::int64_t>>> issue_code(Services& svc, std::int64_t patient_id,
                                                                               std::int64_t by_user) {
  const auto code = auth::new_activation_code();
  store::ActivationCode ac{patient_id, by_user, core::now_utc_ms() + svc.config.activation_lifetime_ms};
  auto stored = co_await server::await_completion<core::Unit>(
      [&](auto done) { svc.store.create_activation_code(auth::token_digest(code), ac, std::move(done)); });
  if (!stored) co_return stored.error();
  co_return std::pair{code, ac.expires_at_ms};
}

json activation_json(const std::pair<std::string, std::int64_t>& c) {
  return {{"code", c.first}, {"expires_at", core::format_iso8601_utc(c.second)}};
}

// POST /api/v1/clinic/patients → 201 {patient, activation: {code, expires_at}}
asio::awaitable<Response> register_patient(RequestContext& ctx, Services& svc) {
  auto who = co_await authenticate(ctx, svc);
  if (!who) co_return unauthorized("log in first");
  if (who->user.role != core::Role::doctor && who->user.role != core::Role::admin)
    co_return forbidden("only a clinic's doctors register its patients");
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  const std::int64_t today = core::now_utc_ms() / 86'400'000;
  auto parsed = parse_registration(*body, today);
  if (auto* errors = std::get_if<std::vector<core::FieldError>>(&parsed)) co_return invalid_fields(std::move(*errors));
  auto& reg = std::get<Registration>(parsed);
  const auto clinic_id = reg.clinic_id ? reg.clinic_id : who->user.clinic_id;
  if (!clinic_id) co_return invalid_field("/clinic_id", "clinic_id is required for an account without a clinic");
  auth::Resource r;
  r.clinic_id = clinic_id;
  if (auth::decide(who->user, auth::Permission::patient_register, r) != auth::Decision::allow)
    co_return forbidden("you may register patients only in your own clinic");
  reg.patient.clinic_id = *clinic_id;
  reg.patient.registered_at_ms = core::now_utc_ms();

  auto id = co_await server::await_completion<std::int64_t>(
      [&](auto done) { svc.store.add_patient(reg.patient, std::move(done)); });
  if (!id) {
    if (id.error().code == core::Errc::conflict)
      co_return server::problem_response(status::conflict, "Conflict", id.error().message,
                                         {{"/external_id", "already used in this clinic"}});
    if (id.error().code == core::Errc::not_found) co_return invalid_field("/clinic_id", id.error().message);
    co_return server::problem_from(id.error());
  }
  reg.patient.id = *id;
  if (auto refused = co_await audit(ctx, svc, who->user, "patient.register", *id, *clinic_id))
    co_return std::move(*refused);
  auto code = co_await issue_code(svc, *id, who->user.id);
  if (!code) co_return server::problem_from(code.error());
  auto res = server::json_response(status::created, {{"patient", patient_json(reg.patient)}, {"activation", activation_json(*code)}});
  res.set(server::http::field::location, "/api/v1/clinic/patients/" + std::to_string(*id));
  co_return res;
}

asio::awaitable<Response> new_activation(RequestContext& ctx, Services& svc) {
  auto access = co_await patient_of_path(ctx, svc, auth::Permission::patient_register);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  auto& a = std::get<PatientAccess>(access);
  if (auto refused = co_await audit(ctx, svc, a.who.user, "patient.activation", a.patient.id, a.patient.clinic_id))
    co_return std::move(*refused);
  auto code = co_await issue_code(svc, a.patient.id, a.who.user.id);
  if (!code) co_return server::problem_from(code.error());
  co_return server::json_response(status::created, activation_json(*code));
}

asio::awaitable<Response> get_patient(RequestContext& ctx, Services& svc) {
  auto access = co_await patient_of_path(ctx, svc, auth::Permission::patient_read);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  auto& a = std::get<PatientAccess>(access);
  if (auto refused = co_await audit(ctx, svc, a.who.user, "patient.read", a.patient.id, a.patient.clinic_id))
    co_return std::move(*refused);
  auto account = co_await server::offload(svc.compute, [&] { return svc.store.patient_account(a.patient.id); });
  json acc = nullptr;
  if (account) acc = {{"username", account->username}, {"active", account->active}};
  co_return server::json_response(status::ok, {{"patient", patient_json(a.patient)}, {"account", acc}});
}

asio::awaitable<Response> get_patient_readings(RequestContext& ctx, Services& svc) {
  auto access = co_await patient_of_path(ctx, svc, auth::Permission::patient_read);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  auto& a = std::get<PatientAccess>(access);
  if (auto refused = co_await audit(ctx, svc, a.who.user, "readings.read", a.patient.id, a.patient.clinic_id))
    co_return std::move(*refused);
  co_return co_await list_readings(ctx, svc, a.patient.id);
}

asio::awaitable<Response> post_patient_readings(RequestContext& ctx, Services& svc) {
  auto access = co_await patient_of_path(ctx, svc, auth::Permission::patient_write);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  auto& a = std::get<PatientAccess>(access);
  if (auto refused = co_await audit(ctx, svc, a.who.user, "readings.write", a.patient.id, a.patient.clinic_id))
    co_return std::move(*refused);
  co_return co_await store_readings(ctx, svc, a.patient.id, "clinic");
}

// POST /api/v1/clinic/patients/{id}/messages {text} → 201 {id, at}
asio::awaitable<Response> post_message(RequestContext& ctx, Services& svc) {
  auto access = co_await patient_of_path(ctx, svc, auth::Permission::patient_write);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  auto& a = std::get<PatientAccess>(access);
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  if (!body->is_object()) co_return invalid_field("", "the body must be a JSON object");
  auto text = string_field(*body, "text");
  if (!text || text->empty() || utf8_length(*text) > max_message_chars || !valid_utf8(*text))
    co_return invalid_field("/text", "text is required: 1 to 2000 characters");
  if (auto refused = co_await audit(ctx, svc, a.who.user, "message.send", a.patient.id, a.patient.clinic_id))
    co_return std::move(*refused);
  store::Message m;
  m.patient_id = a.patient.id;
  m.from_user_id = a.who.user.id;
  m.text = *text;
  auto sent = co_await server::await_completion<store::Message>(
      [&](auto done) { svc.store.add_message(std::move(m), std::move(done)); });
  if (!sent) co_return server::problem_from(sent.error());
  co_return server::json_response(status::created, {{"id", sent->id}, {"at", core::format_iso8601_utc(sent->created_at_ms)}});
}

// GET /api/v1/clinic/patients?q=&filter=&sort=&limit=&cursor=&clinic_id= → {items, total, next, clinics}
// A doctor lists its clinic; an administrator every clinic, or the one named.
asio::awaitable<Response> list_patients(RequestContext& ctx, Services& svc) {
  auto who = co_await authenticate(ctx, svc);
  if (!who) co_return unauthorized("log in first");
  const bool admin = who->user.role == core::Role::admin;
  auth::Resource own;
  own.clinic_id = who->user.clinic_id;
  if (!admin && auth::decide(who->user, auth::Permission::clinic_read, own) != auth::Decision::allow)
    co_return forbidden("only a clinic's doctors list its patients");
  std::vector<core::FieldError> errors;
  std::optional<std::int64_t> clinic = admin ? std::nullopt : who->user.clinic_id;
  if (auto q = ctx.query_param("clinic_id")) {
    auto v = parse_int(*q);
    if (!v || *v <= 0)
      errors.push_back({"/query/clinic_id", "clinic_id must be a positive integer"});
    else
      clinic = v;
  }
  auto parsed = parse_patient_list_query(ctx.query);
  if (auto* e = std::get_if<std::vector<core::FieldError>>(&parsed)) errors.insert(errors.end(), e->begin(), e->end());
  if (!errors.empty()) co_return invalid_fields(std::move(errors), "Invalid query");
  auth::Resource r;
  r.clinic_id = clinic;
  if (clinic && auth::decide(who->user, auth::Permission::clinic_read, r) != auth::Decision::allow)
    co_return forbidden("you may list only your own clinic's patients");
  if (auto refused = co_await audit(ctx, svc, who->user, "patients.list", std::nullopt, clinic,
                                    std::string(ctx.request.target()).substr(0, 300)))
    co_return std::move(*refused);
  const auto now = core::now_utc_ms();
  const auto& request = std::get<PatientListRequest>(parsed);
  auto page = co_await server::offload(svc.compute, [&]() -> core::Result<json> {
    auto rows = svc.patient_list_cache->rows(svc.store, clinic, now);
    auto page = patient_list_page(*rows, request, now);
    if (!page) return page;
    json clinics = json::array();
    for (const auto& c : svc.store.clinics())
      if (!clinic || c.id == *clinic) clinics.push_back({{"id", c.id}, {"name", c.name}, {"timezone", c.timezone}});
    (*page)["clinics"] = std::move(clinics);
    return page;
  });
  if (!page) co_return server::problem_from(page.error());
  co_return server::json_response(status::ok, *page);
}

}  // namespace

void add_clinic_routes(server::Router& router, const std::shared_ptr<Services>& svc) {
  router.add(verb::get, "/api/v1/clinic/patients", bind(svc, list_patients));
  router.add(verb::post, "/api/v1/clinic/patients", bind(svc, register_patient));
  router.add(verb::get, "/api/v1/clinic/patients/{id}", bind(svc, get_patient));
  router.add(verb::post, "/api/v1/clinic/patients/{id}/activation", bind(svc, new_activation));
  router.add(verb::get, "/api/v1/clinic/patients/{id}/readings", bind(svc, get_patient_readings));
  router.add(verb::post, "/api/v1/clinic/patients/{id}/readings", bind(svc, post_patient_readings));
  router.add(verb::post, "/api/v1/clinic/patients/{id}/messages", bind(svc, post_message));
}

}  // namespace careloop::mobile_api::detail
