// reports/src/rollup.cpp: month rows kept by the hook in the readings'
// transaction, independent of arrival order, equal to a rebuild.
#include <catch2/catch.hpp>

#include "careloop/reports/rollup.hpp"
#include "fixture.hpp"

using namespace careloop;
using namespace careloop::store::testing;

namespace {

std::int64_t utc(const char* iso) { return core::parse_iso8601(iso).instant->utc_ms; }

core::Reading fasting(std::string client_id, std::int64_t taken_at_ms, double mmol_l) {
  core::Reading r;
  r.client_id = std::move(client_id);
  r.kind = core::ReadingKind::glucose;
  r.taken_at = {taken_at_ms, 480};
  r.glucose_mmol_l = mmol_l;
  r.glucose_context = core::GlucoseContext::fasting;
  r.value_as_sent = mmol_l;
  r.unit_as_sent = "mmol/L";
  return r;
}

reports::Calendar shanghai() { return must(reports::Calendar::in_zone("Asia/Shanghai")); }

struct Db {
  TempDir dir;
  std::unique_ptr<store::Store> st = open_store(dir.file("r.db"));
  Place place = add_place(*st);
  std::int64_t patient = add_patient(*st, place.clinic_id);
};

const store::PatientMonthRow* row_of(const std::vector<store::PatientMonthRow>& rows, int month) {
  for (const auto& r : rows)
    if (r.month == month) return &r;
  return nullptr;
}

}  // namespace

TEST_CASE("the hook writes the month rows in the readings' transaction") {
  Db db;
  db.st->set_readings_hook(std::make_shared<store::ReadingsHooks>(
      std::vector<std::shared_ptr<store::ReadingsHook>>{reports::make_rollup_hook(shanghai())}));
  // 1 October 2026, 00:30 in Shanghai: still 30 September in UTC.
  insert(*db.st, db.patient, {bp("a", utc("2026-09-30T16:30:00Z"), 150, 85), fasting("g", utc("2026-10-02T00:00:00Z"), 6.1)});
  const auto rows = db.st->patient_months(db.patient);
  const int oct = reports::month_index(2026, 10);
  REQUIRE(rows.size() == 12);  // October 2026 … September 2027
  CHECK(rows.front().month == oct);
  CHECK(rows.back().month == oct + 11);
  CHECK(row_of(rows, oct)->bp_status == "uncontrolled");
  CHECK(row_of(rows, oct)->glycemic_status == "controlled");
  CHECK(row_of(rows, oct + 2)->bp_status == "uncontrolled");  // the 3 months up to December
  CHECK(row_of(rows, oct + 3)->bp_status == "missed_visit");  // January: nothing since October
  CHECK(row_of(rows, oct + 3)->glycemic_status == "missed_visit");
  CHECK_FALSE(row_of(rows, oct + 3)->bp_reading_id.has_value());
  CHECK(row_of(rows, oct + 11)->last_contact_ms == utc("2026-10-02T00:00:00Z"));
}

TEST_CASE("a visit is contact: the patient is under care and has no missed visit, without a measurement") {
  Db db;
  db.st->set_readings_hook(std::make_shared<store::ReadingsHooks>(
      std::vector<std::shared_ptr<store::ReadingsHook>>{reports::make_rollup_hook(shanghai())}));
  core::User u;
  u.username = "dr.zhou";
  u.role = core::Role::doctor;
  u.clinic_id = db.place.clinic_id;
  const auto doctor = must(store::wait_for<std::int64_t>([&](auto done) { db.st->add_user({u, "x"}, done); }));
  const int oct = reports::month_index(2026, 10);
  insert(*db.st, db.patient, {bp("a", utc("2026-10-05T02:00:00Z"), 128, 78)});
  // A phone follow-up in February: no reading since October.
  store::VisitRow v;
  v.patient_id = db.patient;
  v.clinic_id = db.place.clinic_id;
  v.client_id = "feb-call";
  v.visited_at = {utc("2027-02-10T03:00:00Z"), 480};
  v.kind = "phone";
  v.classification = "controlled";
  v.by_user_id = doctor;
  REQUIRE(store::wait_for<core::Unit>([&](auto done) {
    db.st->transact([&](store::WriteTxn& txn) -> core::Status {
      txn.save_visit(v);
      return core::ok_status();
    }, done);
  }));
  const auto rows = db.st->patient_months(db.patient);
  CHECK(row_of(rows, oct + 3)->bp_status == "missed_visit");  // January: nothing for 3 months
  CHECK(row_of(rows, oct + 4)->bp_status == "no_bp");         // February: a visit, no BP in the 3 months
  CHECK(row_of(rows, oct + 4)->last_contact_ms == utc("2027-02-10T03:00:00Z"));
  CHECK(row_of(rows, oct + 4 + 11)->last_contact_ms == utc("2027-02-10T03:00:00Z"));  // under care until January 2028

  // A rebuild from the stored readings and visits gives the same rows.
  REQUIRE(reports::rebuild(*db.st, shanghai()));
  CHECK(db.st->patient_months(db.patient) == rows);
}

TEST_CASE("a late reading changes the month it was taken in, as if it had come on time") {
  const auto cal = shanghai();
  const std::vector<core::Reading> readings{
      bp("nov", utc("2026-11-10T01:00:00Z"), 132, 82),
      bp("aug-late", utc("2026-08-20T01:00:00Z"), 165, 95),
      bp("aug-early", utc("2026-08-05T01:00:00Z"), 128, 78),
      fasting("sep", utc("2026-09-12T00:00:00Z"), 7.4),
  };
  // In order of time taken, one by one; and the reverse (every reading late).
  Db in_order, reversed, rebuilt;
  for (auto* db : {&in_order, &reversed})
    db->st->set_readings_hook(reports::make_rollup_hook(cal));
  std::vector<core::Reading> sorted = readings;
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.taken_at.utc_ms < b.taken_at.utc_ms; });
  for (const auto& r : sorted) insert(*in_order.st, in_order.patient, {r});
  for (auto it = sorted.rbegin(); it != sorted.rend(); ++it) insert(*reversed.st, reversed.patient, {*it});
  // Without the hook, then rebuilt.
  insert(*rebuilt.st, rebuilt.patient, readings);
  CHECK(rebuilt.st->patient_months(rebuilt.patient).empty());
  const auto summary = must(reports::rebuild(*rebuilt.st, cal));
  CHECK(summary.patients == 1);

  auto strip = [](std::vector<store::PatientMonthRow> rows) {
    // Reading ids differ between databases only if insert order differs: compare values.
    for (auto& r : rows) r.bp_reading_id = r.bp_reading_id ? std::optional<std::int64_t>(1) : std::nullopt,
                         r.glycemic_reading_id = r.glycemic_reading_id ? std::optional<std::int64_t>(1) : std::nullopt;
    return rows;
  };
  const auto a = in_order.st->patient_months(in_order.patient);
  CHECK(strip(a) == strip(reversed.st->patient_months(reversed.patient)));
  CHECK(strip(a) == strip(rebuilt.st->patient_months(rebuilt.patient)));

  const int aug = reports::month_index(2026, 8);
  REQUIRE(row_of(a, aug));
  CHECK(row_of(a, aug)->systolic_mmhg == 165);  // the newest of August, though it came first
  CHECK(row_of(a, aug)->bp_status == "uncontrolled");
  CHECK(row_of(a, aug + 1)->glycemic_status == "uncontrolled");
  CHECK(row_of(a, aug + 3)->systolic_mmhg == 132);  // November
  CHECK(row_of(a, aug + 3)->bp_status == "controlled");
  CHECK(row_of(a, aug - 1) == nullptr);  // July: no reading in the 12 months up to it
}

TEST_CASE("a hook that throws after the rollup rolls the rows back with the readings") {
  struct Refuses final : store::ReadingsHook {
    void on_readings_created(store::WriteTxn&, std::int64_t, std::int64_t, std::span<const core::Reading>) override {
      throw std::runtime_error("refused");
    }
  };
  Db db;
  db.st->set_readings_hook(std::make_shared<store::ReadingsHooks>(
      std::vector<std::shared_ptr<store::ReadingsHook>>{reports::make_rollup_hook(shanghai()), std::make_shared<Refuses>()}));
  auto r = store::wait_for<std::vector<store::InsertOutcome>>(
      [&](auto done) { db.st->insert_readings(db.patient, {bp("x", utc("2026-10-01T01:00:00Z"), 120, 70)}, done); });
  CHECK_FALSE(r);
  CHECK(db.st->patient_months(db.patient).empty());
  CHECK(db.st->count_readings(db.patient) == 0);
}
