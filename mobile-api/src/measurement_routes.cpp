// Clinic measurements (/api/v1/clinic/patients/{id}/measurements): the
// clinic records the values of an annual health check (waist, lipids, a lab
// fasting glucose, ...; core/clinic_measurement.hpp) and lists them with
// their LOINC codes. Audited like every staff access; the work is care/'s
// record_measurements. A new record has the patient rescored
// (Services::measurements_recorded).
#include <algorithm>
#include <cmath>

#include "careloop/care/measurements.hpp"
#include "careloop/core/clinic_measurement.hpp"
#include "careloop/server/body.hpp"
#include "careloop/server/offload.hpp"
#include "common.hpp"
#include "routes.hpp"

namespace careloop::mobile_api::detail {
namespace {

using server::http::status;
using server::http::verb;

// GET /api/v1/clinic/patients/{id}/measurements?limit=
asio::awaitable<Response> list_measurements(RequestContext& ctx, Services& svc) {
  auto access = co_await patient_of_path(ctx, svc, auth::Permission::patient_read);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  auto& a = std::get<PatientAccess>(access);
  std::vector<core::FieldError> errors;
  const std::int64_t limit = int_param(ctx, "limit", 1, 500, "an integer from 1 to 500", errors).value_or(100);
  if (!errors.empty()) co_return invalid_fields(std::move(errors));
  if (auto refused = co_await audit(ctx, svc, a.who.user, "measurements.read", a.patient.id, a.patient.clinic_id))
    co_return std::move(*refused);
  const auto patient_id = a.patient.id;
  auto rows = co_await server::offload(
      svc.compute, [&] { return svc.store.clinic_measurements(patient_id, static_cast<int>(limit)); });
  json items = json::array();
  for (const auto& r : rows) items.push_back(care::measurement_json(r));
  co_return server::json_response(status::ok, {{"items", items}});
}

// POST /api/v1/clinic/patients/{id}/measurements
// {client_id, measured_at (ISO 8601 with offset), visit_id?, values: {kind: number},
//  units?: {kind: unit}} — a kind without a unit is in its canonical unit.
asio::awaitable<Response> record(RequestContext& ctx, Services& svc) {
  auto access = co_await patient_of_path(ctx, svc, auth::Permission::patient_write);
  if (auto* refused = std::get_if<Response>(&access)) co_return std::move(*refused);
  auto& a = std::get<PatientAccess>(access);
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  if (!body->is_object()) co_return invalid_field("", "the body must be a JSON object");

  care::MeasurementInput m;
  m.patient_id = a.patient.id;
  m.by_user_id = a.who.user.id;
  m.remote_addr = remote_address(ctx);
  std::vector<core::FieldError> errors;
  static constexpr std::string_view known[] = {"client_id", "measured_at", "visit_id", "values", "units"};
  add_unknown_fields(*body, known, errors);
  auto text = [&](const char* name) -> std::string {
    if (!body->contains(name)) {
      errors.push_back({std::string("/") + name, "is required"});
      return {};
    }
    auto s = string_field(*body, name);
    if (!s) errors.push_back({std::string("/") + name, "must be a string"});
    return s.value_or("");
  };
  m.client_id = text("client_id");
  const std::string when = text("measured_at");
  if (!when.empty()) {
    auto parsed = core::parse_iso8601(when);
    if (parsed.instant)
      m.measured_at = *parsed.instant;
    else
      errors.push_back({"/measured_at", "must be an ISO 8601 date-time with an offset: " + parsed.error});
  }
  if (auto it = body->find("visit_id"); it != body->end() && !it->is_null()) {
    if (it->is_number_integer() && it->get<std::int64_t>() > 0)
      m.visit_id = it->get<std::int64_t>();
    else
      errors.push_back({"/visit_id", "must be a positive integer (a visit of this patient) or null"});
  }
  const json no_units = json::object();
  const json* units = &no_units;
  if (auto it = body->find("units"); it != body->end()) {
    if (it->is_object())
      units = &*it;
    else
      errors.push_back({"/units", "must be an object of kind: unit"});
  }
  if (auto it = body->find("values"); it == body->end()) {
    errors.push_back({"/values", "is required"});
  } else if (!it->is_object()) {
    errors.push_back({"/values", "must be an object of kind: number"});
  } else {
    for (const auto& [kind, val] : it->items()) {
      const std::string pointer = "/values/" + kind;
      if (!val.is_number()) {
        errors.push_back({pointer, "must be a number"});
        continue;
      }
      const double raw = val.get<double>();
      std::string unit;
      if (auto u = units->find(kind); u != units->end()) {
        if (!u->is_string()) {
          errors.push_back({"/units/" + kind, "must be a string"});
          continue;
        }
        unit = u->get<std::string>();
      }
      const auto* k = core::find_measurement_kind(kind);
      double value = raw;
      if (k) {
        auto canonical = core::measurement_to_canonical(*k, raw, unit);
        if (!canonical) {
          errors.push_back({"/units/" + kind, "'" + unit + "' is not a unit of " + kind + "; one of " +
                                                  core::accepted_units(*k)});
          continue;
        }
        value = *canonical;
      }
      m.values.push_back({kind, value, pointer});  // unknown kinds are named by check_measurements
    }
    for (const auto& [kind, u] : units->items())
      if (!it->contains(kind)) errors.push_back({"/units/" + kind, "has no value in /values"});
  }
  // The checks of the values that did parse too, so that one answer names every bad field.
  if (auto ok = care::check_measurements(m, core::now_utc_ms()); !ok)
    for (auto& f : ok.error().fields)
      if (std::none_of(errors.begin(), errors.end(), [&](const core::FieldError& e) { return e.pointer == f.pointer; }) &&
          !(f.pointer == "/values" && body->contains("values")))
        errors.push_back(std::move(f));
  if (!errors.empty()) co_return invalid_fields(std::move(errors));

  auto done = co_await server::await_completion<care::RecordedMeasurements>(
      [&](auto cb) { care::record_measurements(svc.store, std::move(m), std::move(cb)); });
  if (!done) {
    const auto& e = done.error();
    if (e.code == core::Errc::conflict) co_return server::problem_response(status::conflict, "Conflict", e.message);
    if (e.code == core::Errc::invalid) co_return invalid_fields(e.fields);
    co_return server::problem_from(e);
  }
  if (done->created && svc.measurements_recorded) svc.measurements_recorded(a.patient.id);
  co_return server::json_response(done->created ? status::created : status::ok,
                                  care::measurement_record_json(done->rows));
}

}  // namespace

void add_measurement_routes(server::Router& router, const std::shared_ptr<Services>& svc) {
  router.add(verb::get, "/api/v1/clinic/patients/{id}/measurements", bind(svc, list_measurements));
  router.add(verb::post, "/api/v1/clinic/patients/{id}/measurements", bind(svc, record));
}

}  // namespace careloop::mobile_api::detail
