// Population reports (issue 6): GET /api/v1/reports/regions/{id} and
// /api/v1/reports/clinics/{id}, in JSON, CSV or a FHIR MeasureReport Bundle.
// Aggregates only — never a patient's identity — so staff reads of reports
// are not patient-record access and are not audited per patient.
#include "careloop/core/time.hpp"
#include "careloop/reports/report.hpp"
#include "careloop/server/offload.hpp"
#include "common.hpp"
#include "routes.hpp"

namespace careloop::mobile_api::detail {
namespace {

using server::http::status;
using server::http::verb;

Response text_response(std::string body, std::string_view media_type, std::string_view filename = {}) {
  Response res{status::ok, 11};
  res.set(server::http::field::content_type, media_type);
  if (!filename.empty())
    res.set(server::http::field::content_disposition, "attachment; filename=\"" + std::string(filename) + "\"");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

asio::awaitable<Response> report(RequestContext& ctx, Services& svc, reports::UnitType type) {
  auto who = co_await authenticate(ctx, svc);
  if (!who) co_return unauthorized("log in first");
  // A patient can never read a report: refuse before looking anything up.
  if (who->user.role == core::Role::patient) co_return forbidden("your account may not do this");

  std::vector<core::FieldError> errors;
  const std::int64_t now = core::now_utc_ms();
  const reports::Calendar& cal = *svc.report_calendar;
  int month = cal.current_month(now);
  if (auto m = ctx.query_param("month")) {
    if (auto parsed = reports::parse_month(*m)) month = *parsed;
    else errors.push_back({"/query/month", "month must be YYYY-MM"});
  }
  const std::string format(ctx.query_param("format").value_or("json"));
  if (format != "json" && format != "csv" && format != "fhir")
    errors.push_back({"/query/format", "format must be json, csv or fhir"});
  const std::string table(ctx.query_param("table").value_or("indicators"));
  if (std::find(std::begin(reports::csv_tables), std::end(reports::csv_tables), table) == std::end(reports::csv_tables))
    errors.push_back({"/query/table", "table must be indicators, trend, cohorts or alerts"});
  auto id = path_id(ctx);
  if (!id) co_return server::problem_response(status::not_found, "Not Found", "no such region or clinic");
  if (!errors.empty()) co_return invalid_fields(std::move(errors), "Invalid query");

  auto place = co_await server::offload(svc.compute, [&] { return reports::locate(svc.store, type, *id); });
  if (!place) co_return server::problem_from(place.error());
  auth::Resource resource;
  resource.clinic_id = place->clinic_id;
  resource.region_path = place->region_path;
  if (auth::decide(who->user, auth::Permission::reports_read, resource) != auth::Decision::allow)
    co_return forbidden(type == reports::UnitType::region ? "this region is outside your account's area"
                                                          : "this clinic is outside your account's area");

  auto built = co_await server::offload(svc.compute, [&] {
    return reports::build_report(svc.store, cal, type, *id, month, now);
  });
  if (!built) co_return server::problem_from(built.error());
  // Aggregates only, but who took which figures away is kept (PIPL, DESIGN §4).
  const std::string detail = json{{"unit", reports::to_string(type)},
                                  {"id", *id},
                                  {"month", reports::format_month(month)},
                                  {"format", format},
                                  {"table", table}}
                                 .dump();
  if (auto refused = co_await audit(ctx, svc, who->user, "report.export", std::nullopt, place->clinic_id, detail))
    co_return std::move(*refused);
  if (format == "csv") {
    const std::string name = "careloop-" + std::string(reports::to_string(type)) + "-" + std::to_string(*id) + "-" +
                             reports::format_month(month) + "-" + table + ".csv";
    co_return text_response(reports::to_csv(*built, table), "text/csv; charset=utf-8", name);
  }
  if (format == "fhir") co_return text_response(reports::to_fhir(*built), "application/fhir+json");
  co_return text_response(reports::to_json_text(*built), "application/json");
}

asio::awaitable<Response> region_report(RequestContext& ctx, Services& svc) {
  return report(ctx, svc, reports::UnitType::region);
}
asio::awaitable<Response> clinic_report(RequestContext& ctx, Services& svc) {
  return report(ctx, svc, reports::UnitType::clinic);
}

}  // namespace

void add_report_routes(server::Router& router, const std::shared_ptr<Services>& svc) {
  if (!svc->report_calendar) {
    auto cal = reports::Calendar::in_zone(std::string(reports::default_time_zone));
    if (!cal) throw std::runtime_error(cal.error().message);
    svc->report_calendar = std::make_shared<const reports::Calendar>(std::move(*cal));
  }
  router.add(verb::get, "/api/v1/reports/regions/{id}", bind(svc, region_report));
  router.add(verb::get, "/api/v1/reports/clinics/{id}", bind(svc, clinic_report));
}

}  // namespace careloop::mobile_api::detail
