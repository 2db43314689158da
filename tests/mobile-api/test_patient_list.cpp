#include "careloop/mobile_api/patient_list.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace careloop;
using mobile_api::PatientListRequest;
using store::PatientListRow;

namespace {

constexpr std::int64_t day_ms = 86'400'000;
// 2026-11-20T12:00Z
constexpr std::int64_t now_ms = 20'777LL * day_ms + 12 * 3'600'000;

PatientListRow row(std::int64_t id, std::string name, std::vector<std::string> dx = {"hypertension"}) {
  PatientListRow r;
  r.patient.id = id;
  r.patient.clinic_id = 1;
  r.patient.name = std::move(name);
  r.patient.birth_date = core::days_from_civil(1960, 5, 1);
  for (auto& d : dx) r.patient.diagnoses.push_back({d, core::days_from_civil(2020, 1, 1)});
  r.last_reading_ms = now_ms - day_ms;
  return r;
}

void bp(PatientListRow& r, int n, double sys, double dia) {
  r.bp_count = n;
  r.systolic_sum = sys * n;
  r.diastolic_sum = dia * n;
}

std::vector<std::int64_t> ids(const nlohmann::json& page) {
  std::vector<std::int64_t> out;
  for (const auto& x : page["items"]) out.push_back(x["id"]);
  return out;
}

nlohmann::json page(const std::vector<PatientListRow>& rows, PatientListRequest req) {
  auto p = mobile_api::patient_list_page(rows, req, now_ms);
  REQUIRE(p);
  return *p;
}

PatientListRequest parse(std::vector<std::pair<std::string, std::string>> q) {
  auto parsed = mobile_api::parse_patient_list_query(q);
  REQUIRE(std::holds_alternative<PatientListRequest>(parsed));
  return std::get<PatientListRequest>(parsed);
}

}  // namespace

TEST_CASE("patient list: flags follow the patient's own target", "[patient_list]") {
  auto controlled = row(1, "Controlled");
  bp(controlled, 10, 128, 78);
  auto high = row(2, "High");
  bp(high, 10, 142, 85);
  // 134/79 is at target for most, but a diabetic's target is 130/80.
  auto diabetic = row(3, "Diabetic", {"hypertension", "diabetes_t2"});
  bp(diabetic, 10, 134, 79);
  diabetic.fasting_count = 4;
  diabetic.fasting_sum = 4 * 7.4;
  // Too few readings to call anything.
  auto sparse = row(4, "Sparse");
  bp(sparse, 2, 170, 100);
  auto silent = row(5, "Silent");
  silent.last_reading_ms = now_ms - 40 * day_ms;

  auto flags = [](const PatientListRow& r) { return mobile_api::patient_summary_json(r, now_ms)["flags"]; };
  CHECK(flags(controlled).empty());
  CHECK(flags(high) == nlohmann::json{"uncontrolled_bp"});
  CHECK(flags(diabetic) == nlohmann::json{"uncontrolled_bp", "uncontrolled_glucose"});
  CHECK(flags(sparse).empty());
  CHECK(flags(silent) == nlohmann::json{"no_data"});
  auto j = mobile_api::patient_summary_json(diabetic, now_ms);
  CHECK(j["bp_30d"]["target"]["systolic"] == 130);
  CHECK(j["glucose_30d"]["fasting_mean_mmol_l"] == 7.4);
  CHECK(j["age"] == 66);
}

TEST_CASE("patient list: priority puts critical alerts first, then warnings and risk", "[patient_list]") {
  std::vector<PatientListRow> rows;
  rows.push_back(row(1, "Fine"));
  rows.push_back(row(2, "Risky"));
  rows.back().risks.push_back({"htn-risk", "high", 0.4});
  rows.push_back(row(3, "Critical"));
  rows.back().alerts.push_back({10, "bp_high", "critical", "open", now_ms});
  rows.push_back(row(4, "Warned"));
  rows.back().alerts.push_back({11, "follow_up_overdue", "warning", "acknowledged", now_ms});
  auto p = page(rows, {});
  CHECK(ids(p) == std::vector<std::int64_t>{3, 4, 2, 1});
  CHECK(p["items"][1]["flags"] == nlohmann::json{"overdue"});
  CHECK(p["items"][0]["flags"] == nlohmann::json{"open_alerts"});
  CHECK(p["total"] == 4);
  CHECK(p["next"].is_null());
}

TEST_CASE("patient list: search by name, phone digits, external id and id", "[patient_list]") {
  std::vector<PatientListRow> rows{row(1, "王秀英"), row(2, "Li Wei"), row(12, "张伟")};
  rows[0].patient.phone = "138-0013-8000";
  rows[1].patient.external_id = "HN-0042";
  auto find = [&](std::string q) { return ids(page(rows, parse({{"q", q}}))); };
  CHECK(find("秀英") == std::vector<std::int64_t>{1});
  CHECK(find("li wei") == std::vector<std::int64_t>{2});
  CHECK(find("13800138") == std::vector<std::int64_t>{1});
  CHECK(find("hn-0042") == std::vector<std::int64_t>{2});
  CHECK(find("12") == std::vector<std::int64_t>{12});
  CHECK(find("nobody").empty());
}

TEST_CASE("patient list: filters combine, pages neither skip nor repeat", "[patient_list]") {
  std::vector<PatientListRow> rows;
  for (int i = 1; i <= 57; ++i) {
    rows.push_back(row(i, "P" + std::to_string(100 - i)));
    if (i % 3 == 0) bp(rows.back(), 5, 150, 95);
    if (i % 5 == 0) rows.back().risks.push_back({"m", "high", 0.5});
  }
  auto both = page(rows, parse({{"filter", "uncontrolled_bp,high_risk"}, {"limit", "200"}}));
  CHECK(ids(both) == std::vector<std::int64_t>{15, 30, 45});

  for (std::string sort : {"priority", "name", "id", "last_reading"}) {
    INFO(sort);
    std::set<std::int64_t> seen;
    std::vector<std::int64_t> order;
    auto req = parse({{"sort", sort}, {"limit", "10"}});
    for (int pages = 0; pages < 10; ++pages) {
      auto p = page(rows, req);
      CHECK(p["total"] == 57);
      for (auto id : ids(p)) {
        CHECK(seen.insert(id).second);
        order.push_back(id);
      }
      if (p["next"].is_null()) break;
      req.cursor = p["next"];
    }
    CHECK(seen.size() == 57);
    if (sort == "id") CHECK(order.front() == 1);
    if (sort == "name") CHECK(order.front() == 57);  // "P43"
  }
}

TEST_CASE("patient list: bad queries and cursors are named", "[patient_list]") {
  auto bad = mobile_api::parse_patient_list_query({{"filter", "sickest"}, {"sort", "age"}, {"limit", "0"}, {"x", "1"}});
  REQUIRE(std::holds_alternative<std::vector<core::FieldError>>(bad));
  std::set<std::string> pointers;
  for (const auto& e : std::get<std::vector<core::FieldError>>(bad)) pointers.insert(e.pointer);
  CHECK(pointers == std::set<std::string>{"/query/filter", "/query/sort", "/query/limit", "/query/x"});

  std::vector<PatientListRow> rows{row(1, "A")};
  for (std::string cursor : {"garbage", "name.0..1", "priority.x..1", "priority.0.zz.1"}) {
    INFO(cursor);
    PatientListRequest req;
    req.cursor = cursor;
    auto p = mobile_api::patient_list_page(rows, req, now_ms);
    REQUIRE_FALSE(p);
    CHECK(p.error().fields.at(0).pointer == "/query/cursor");
  }
}
