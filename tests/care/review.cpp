// care/src/review.cpp: the warning tier after the commit (debounced), the
// schedule's timers and full reviews with an injected clock (escalation,
// snooze end, auto-resolve, stale data, follow-up overdue), risk alerts
// written with their scores.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "careloop/care/plans.hpp"
#include "careloop/care/review.hpp"
#include "careloop/care/visits.hpp"
#include "helpers.hpp"

using namespace careloop;
using namespace careloop::care;
using namespace careloop::care::testing;

namespace {

constexpr std::int64_t minute_ms = 60'000;
constexpr std::int64_t hour_ms = 60 * minute_ms;
constexpr std::int64_t day_ms = 24 * hour_ms;

// The clinic's events of one kind (and signal, when given).
std::vector<store::ClinicEvent> events_of(World& w, const std::string& kind, const std::string& signal = {}) {
  std::vector<store::ClinicEvent> out;
  for (const auto& e : w.st->clinic_events(w.place.clinic_id, 0, 10'000)) {
    if (e.kind != kind) continue;
    const auto j = nlohmann::json::parse(e.payload_json);
    if (!signal.empty() && j["alert"]["signal"] != signal) continue;
    out.push_back(e);
  }
  return out;
}

std::optional<store::AlertRow> unresolved(World& w, const std::string& signal) {
  for (const auto& a : w.alerts())
    if (a.signal == signal && a.status != "resolved") return a;
  return std::nullopt;
}

std::optional<store::AlertRow> latest(World& w, const std::string& signal) {
  for (const auto& a : w.alerts())  // newest first
    if (a.signal == signal) return a;
  return std::nullopt;
}

// Three home BP readings above the 130/80 target (CKD and diabetes), a day
// apart, rising (so no medication-change hold), each its own upload.
void send_high_week(World& w, std::int64_t end_ms, const std::string& prefix = "hi") {
  const double sys[] = {148, 152, 156};
  for (int i = 0; i < 3; ++i)
    insert(*w.st, w.patient, {bp(prefix + std::to_string(i), end_ms - (2 - i) * day_ms, sys[i], 92)});
}

// Approved plans are written by the care-plan routes; here by hand, with
// only the follow-up part the schedule reads.
void approve_plan_by_hand(World& w, std::int64_t due_day, int within_days) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(w.dir.file("care.db").c_str(), &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  const std::string plan = nlohmann::json{{"protocols", {{{"id", "cn-hypertension-primary-2020"}, {"version", "2020"}}}},
                                          {"follow_up",
                                           {{"within_days", within_days},
                                            {"due", core::format_date(due_day)},
                                            {"rule", "follow_up_uncontrolled"},
                                            {"protocol", "cn-hypertension-primary-2020"},
                                            {"reason", {{"en", "not controlled"}, {"zh-CN", "未控制"}}}}}}
                               .dump();
  const std::string sql = "INSERT INTO care_plans (patient_id, clinic_id, version, status, protocol_id, protocol_version, "
                          "plan_json, created_at_ms, decided_at_ms) VALUES (" +
                          std::to_string(w.patient) + ", " + std::to_string(w.place.clinic_id) +
                          ", 1, 'approved', 'cn-hypertension-primary-2020', '2020', '" + plan + "', 0, 0)";
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

ScheduleSettings every_sweep_full() {
  ScheduleSettings s;
  s.full_every = std::chrono::milliseconds(1);
  return s;
}

struct Clock {
  std::atomic<std::int64_t> now{core::now_utc_ms()};
  std::function<std::int64_t()> fn() {
    return [this] { return now.load(); };
  }
};

}  // namespace

TEST_CASE("review: a warning alert after the commit, debounced per patient") {
  World w;
  boost::asio::thread_pool pool(1);
  Reviewer reviewer(*w.st, w.library, w.hub, pool, std::chrono::milliseconds(300));
  w.st->set_readings_hook(make_critical_alert_hook(w.library, w.hub, [&](std::int64_t id) { reviewer.schedule(id); }));
  int woken = 0;
  auto sub = w.hub->subscribe(w.place.clinic_id, [&] { ++woken; });

  send_high_week(w, core::now_utc_ms() - hour_ms);
  // The critical tier alone ran in the transactions: 156/92 is no emergency.
  CHECK(w.alerts().empty());

  for (int i = 0; i < 100 && reviewer.reviewed() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // Three uploads within the delay: one review.
  CHECK(reviewer.reviewed() == 1);
  const auto a = unresolved(w, "bp_high");
  REQUIRE(a);
  CHECK(a->tier == "warning");
  CHECK(a->status == "open");
  CHECK(a->count == 1);
  CHECK_FALSE(a->reason_en.empty());
  CHECK(events_of(w, "alert.opened", "bp_high").size() == 1);
  CHECK(woken >= 1);

  // A fourth high reading is new evidence: the same alert, count 2.
  insert(*w.st, w.patient, {bp("hi3", core::now_utc_ms() - 10 * minute_ms, 158, 94)});
  for (int i = 0; i < 100 && reviewer.reviewed() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(reviewer.reviewed() == 2);
  const auto again = unresolved(w, "bp_high");
  REQUIRE(again);
  CHECK(again->id == a->id);
  CHECK(again->count == 2);
  CHECK(events_of(w, "alert.updated", "bp_high").size() == 1);
  reviewer.stop();
  pool.join();
}

TEST_CASE("review: the warning tier runs the clinic's own choice of protocols") {
  World w;
  const std::int64_t now = core::now_utc_ms();
  send_high_week(w, now - hour_ms);
  REQUIRE(set_clinic_protocols(*w.st, *w.library, w.place.clinic_id, {"who-hearts-hypertension-2021"}).ok());
  REQUIRE(review_patients(*w.st, w.library, w.hub, {w.patient}, now));
  const auto a = unresolved(w, "bp_high");
  REQUIRE(a);
  CHECK(a->tier == "warning");
  CHECK(a->protocol_id == "who-hearts-hypertension-2021");
  CHECK_FALSE(a->reason_en.empty());
}

TEST_CASE("review: a normal week raises no warning") {
  World w;
  const std::int64_t now = core::now_utc_ms();
  for (int i = 0; i < 3; ++i) insert(*w.st, w.patient, {bp("n" + std::to_string(i), now - (3 - i) * day_ms, 122, 76)});
  auto r = review_patients(*w.st, w.library, w.hub, {w.patient}, now);
  REQUIRE(r);
  CHECK(r->patients == 1);
  CHECK(r->events == 0);
  CHECK(w.alerts().empty());
}

TEST_CASE("schedule: a critical alert unacknowledged for 2 h escalates once, delivered again") {
  World w;
  Clock clock;
  AlertSchedule schedule(*w.st, w.library, w.hub, {}, clock.fn());
  w.send_bp("c1", 186, 100, 1);
  REQUIRE(unresolved(w, "bp_high"));
  CHECK(unresolved(w, "bp_high")->tier == "critical");

  clock.now = core::now_utc_ms() + 119 * minute_ms;
  auto early = schedule.sweep();
  REQUIRE(early);
  CHECK_FALSE(unresolved(w, "bp_high")->escalated_at_ms);
  CHECK(events_of(w, "alert.escalated").empty());

  clock.now = core::now_utc_ms() + 2 * hour_ms + minute_ms;
  auto due = schedule.sweep();
  REQUIRE(due);
  CHECK(due->ticked == 1);
  const auto a = unresolved(w, "bp_high");
  REQUIRE(a);
  CHECK(a->escalated_at_ms);
  CHECK(a->status == "open");
  const auto escalated = events_of(w, "alert.escalated", "bp_high");
  REQUIRE(escalated.size() == 1);
  CHECK(nlohmann::json::parse(escalated[0].payload_json)["alert"]["escalated_at"].is_string());

  // Once only.
  clock.now = clock.now + 10 * minute_ms;
  REQUIRE(schedule.sweep());
  CHECK(events_of(w, "alert.escalated").size() == 1);
}

TEST_CASE("schedule: the escalation delay is a setting") {
  auto library = must(ProtocolLibrary::load(CARELOOP_PROTOCOL_DIR, ProtocolLibrary::default_ids(), 10 * minute_ms));
  CHECK(library->settings().escalate_critical_after_ms == 10 * minute_ms);
}

TEST_CASE("schedule: an acknowledged critical alert does not escalate") {
  World w;
  Clock clock;
  AlertSchedule schedule(*w.st, w.library, w.hub, {}, clock.fn());
  w.send_bp("c1", 186, 100, 1);
  const auto a = unresolved(w, "bp_high");
  REQUIRE(a);
  AlertAction ack;
  ack.kind = ActionKind::acknowledge;
  ack.alert_id = a->id;
  ack.by_user_id = a_doctor(w, "dr.wang");
  ack.ack = protocols::AckAction::called_patient;
  REQUIRE(store::wait_for<store::AlertRow>([&](auto done) { act_on_alert(*w.st, w.hub, ack, done); }));
  clock.now = core::now_utc_ms() + 3 * hour_ms;
  REQUIRE(schedule.sweep());
  CHECK(events_of(w, "alert.escalated").empty());
}

TEST_CASE("schedule: a snooze ends and the alert is open again") {
  World w;
  Clock clock;
  AlertSchedule schedule(*w.st, w.library, w.hub, {}, clock.fn());
  w.send_bp("c1", 186, 100, 1);
  const auto a = unresolved(w, "bp_high");
  REQUIRE(a);
  AlertAction snooze;
  snooze.kind = ActionKind::snooze;
  snooze.alert_id = a->id;
  snooze.by_user_id = a_doctor(w, "dr.wang");
  snooze.snooze_until_ms = core::now_utc_ms() + 30 * minute_ms;
  REQUIRE(store::wait_for<store::AlertRow>([&](auto done) { act_on_alert(*w.st, w.hub, snooze, done); }));
  CHECK(unresolved(w, "bp_high")->status == "snoozed");

  clock.now = core::now_utc_ms() + 29 * minute_ms;
  REQUIRE(schedule.sweep());
  CHECK(unresolved(w, "bp_high")->status == "snoozed");
  CHECK(events_of(w, "alert.unsnoozed").empty());

  clock.now = core::now_utc_ms() + 31 * minute_ms;
  auto r = schedule.sweep();
  REQUIRE(r);
  CHECK(unresolved(w, "bp_high")->status == "open");
  CHECK_FALSE(unresolved(w, "bp_high")->snoozed_until_ms);
  CHECK(events_of(w, "alert.unsnoozed", "bp_high").size() == 1);
}

TEST_CASE("schedule: a warning whose condition has cleared for 72 h resolves itself") {
  World w;
  Clock clock;
  const std::int64_t start = core::now_utc_ms();
  // Readings 6, 5 and 4 days ago: in the 7-day window now, out of it in 3 days.
  send_high_week(w, start - 4 * day_ms);
  // The review after the uploads (what the Reviewer runs) opens the warning.
  REQUIRE(review_patients(*w.st, w.library, w.hub, {w.patient}, start));
  AlertSchedule schedule(*w.st, w.library, w.hub, every_sweep_full(), clock.fn());
  const auto a = unresolved(w, "bp_high");
  REQUIRE(a);
  CHECK(a->tier == "warning");

  // Three days on, the readings have left the window: cleared, not yet resolved.
  clock.now = start + 3 * day_ms;
  REQUIRE(schedule.sweep());
  CHECK(unresolved(w, "bp_high"));
  clock.now = start + 3 * day_ms + 71 * hour_ms;
  REQUIRE(schedule.sweep());
  CHECK(unresolved(w, "bp_high"));
  clock.now = start + 3 * day_ms + 72 * hour_ms + minute_ms;
  REQUIRE(schedule.sweep());
  CHECK_FALSE(unresolved(w, "bp_high"));
  const auto done = latest(w, "bp_high");
  REQUIRE(done);
  CHECK(done->status == "resolved");
  CHECK_FALSE(done->resolved_by);
  const auto resolved = events_of(w, "alert.resolved", "bp_high");
  REQUIRE(resolved.size() == 1);
  CHECK(nlohmann::json::parse(resolved[0].payload_json)["auto"] == true);
}

TEST_CASE("schedule: stale data opens a warning, the next reading resolves it") {
  World w;
  Clock clock;
  const std::int64_t start = core::now_utc_ms();
  insert(*w.st, w.patient, {bp("old", start - 13 * day_ms, 124, 78)});
  AlertSchedule schedule(*w.st, w.library, w.hub, every_sweep_full(), clock.fn());
  auto first = schedule.sweep();
  REQUIRE(first);
  CHECK_FALSE(unresolved(w, "stale_data"));

  clock.now = start + day_ms + hour_ms;
  auto second = schedule.sweep();
  REQUIRE(second);
  CHECK(second->reviewed == 1);  // the one patient whose newest reading crossed 14 days
  const auto a = unresolved(w, "stale_data");
  REQUIRE(a);
  CHECK(a->tier == "warning");
  CHECK(events_of(w, "alert.opened", "stale_data").size() == 1);

  // A later sweep does not open it twice.
  clock.now = start + 2 * day_ms;
  REQUIRE(schedule.sweep());
  CHECK(events_of(w, "alert.opened", "stale_data").size() == 1);

  // A new reading: the review after it finds the condition cleared (auto-resolve at once).
  insert(*w.st, w.patient, {bp("new", core::now_utc_ms(), 124, 78)});
  REQUIRE(review_patients(*w.st, w.library, w.hub, {w.patient}, core::now_utc_ms()));
  CHECK_FALSE(unresolved(w, "stale_data"));
  const auto resolved = events_of(w, "alert.resolved", "stale_data");
  REQUIRE(resolved.size() == 1);
  CHECK(nlohmann::json::parse(resolved[0].payload_json)["auto"] == true);
}

TEST_CASE("schedule: an approved plan's follow-up date gone by opens follow_up_overdue") {
  World w;
  Clock clock;
  const std::int64_t start = core::now_utc_ms();
  insert(*w.st, w.patient, {bp("r1", start - hour_ms, 124, 78)});
  const std::int64_t due_day = core::local_day(start, 480) + 3;
  approve_plan_by_hand(w, due_day, 3);
  AlertSchedule schedule(*w.st, w.library, w.hub, every_sweep_full(), clock.fn());
  REQUIRE(schedule.sweep());
  CHECK_FALSE(unresolved(w, "follow_up_overdue"));  // due in 3 days

  clock.now = start + 4 * day_ms + hour_ms;
  auto r = schedule.sweep();
  REQUIRE(r);
  const auto a = unresolved(w, "follow_up_overdue");
  REQUIRE(a);
  CHECK(a->tier == "warning");
  CHECK(a->reason_en.find(core::format_date(due_day)) != std::string::npos);
  CHECK(nlohmann::json::parse(a->latest_value_json)["due"] == core::format_date(due_day));
  CHECK(events_of(w, "alert.opened", "follow_up_overdue").size() == 1);
}

TEST_CASE("schedule: a visit since the plan's interval began moves the follow-up due date, the alert resolves at once") {
  World w;
  Clock clock;
  const std::int64_t now = core::now_utc_ms();
  const std::int64_t start = now - 10 * day_ms;
  insert(*w.st, w.patient, {bp("r1", start, 124, 78)});
  const std::int64_t due_day = core::local_day(start, 480) + 7;
  approve_plan_by_hand(w, due_day, 7);
  AlertSchedule schedule(*w.st, w.library, w.hub, every_sweep_full(), clock.fn());
  REQUIRE(schedule.sweep());
  REQUIRE(unresolved(w, "follow_up_overdue"));  // due 3 days ago, no visit

  // A visit recorded before the interval began does not count.
  const auto doctor = a_doctor(w, "dr.wang");
  auto visit = [&](const std::string& id, std::int64_t at_ms, const std::string& classification) {
    VisitInput v;
    v.patient_id = w.patient;
    v.client_id = id;
    v.visited_at = {at_ms, 480};
    v.kind = "clinic";
    v.classification = classification;
    v.by_user_id = doctor;
    return must(store::wait_for<RecordedVisit>([&](auto done) { record_visit(*w.st, v, done); }));
  };
  visit("old-visit", start - 20 * day_ms, "controlled");
  clock.now = now + minute_ms;
  REQUIRE(schedule.sweep());
  CHECK(unresolved(w, "follow_up_overdue"));

  // A visit an hour ago: the next one is due 7 days after it, so the condition
  // has cleared, and the protocols resolve this signal at once (auto_resolve_after 0).
  visit("this-visit", now - hour_ms, "controlled");
  clock.now = now + 2 * minute_ms;
  REQUIRE(schedule.sweep());
  CHECK_FALSE(unresolved(w, "follow_up_overdue"));
  clock.now = now + 3 * day_ms;
  REQUIRE(schedule.sweep());
  CHECK_FALSE(unresolved(w, "follow_up_overdue"));
  const auto resolved = events_of(w, "alert.resolved", "follow_up_overdue");
  REQUIRE(resolved.size() == 1);
  CHECK(nlohmann::json::parse(resolved[0].payload_json)["auto"] == true);

  // Seven days after the visit with no other visit, it is overdue again.
  clock.now = now + 9 * day_ms;
  REQUIRE(schedule.sweep());
  CHECK(unresolved(w, "follow_up_overdue"));
}

TEST_CASE("risk alerts: entering the high band opens one, staying adds nothing, leaving resolves it") {
  World w;
  auto write = [&](double p, const std::string& band) {
    store::StoredRiskScore s{w.patient, "framingham_hypertension_4y", "1", p, band,
                             R"([{"feature":"age","text":"Age 68 years"},{"feature":"sbp","text":"Systolic 150 mmHg"}])",
                             core::now_utc_ms()};
    REQUIRE(store::wait_for<core::Unit>([&](auto done) {
      w.st->transact(
          [&](store::WriteTxn& txn) -> core::Status {
            if (auto st = txn.insert_risk_score(s); !st) return st;
            return apply_risk_alerts(txn, *w.library, w.hub, {s}, core::now_utc_ms());
          },
          done);
    }));
  };
  write(0.12, "moderate");
  CHECK(w.alerts().empty());

  write(0.42, "high");
  const auto a = unresolved(w, "risk_high:framingham_hypertension_4y");
  REQUIRE(a);
  CHECK(a->tier == "warning");
  CHECK(a->reason_en.find("42%") != std::string::npos);
  CHECK(a->reason_en.find("Age 68 years") != std::string::npos);
  CHECK(nlohmann::json::parse(a->latest_value_json)["probability"].get<double>() == Approx(0.42));
  CHECK(w.st->latest_risk_scores(w.patient).at(0).probability == Approx(0.42));

  write(0.45, "high");
  CHECK(events_of(w, "alert.opened", "risk_high:framingham_hypertension_4y").size() == 1);
  CHECK(events_of(w, "alert.updated", "risk_high:framingham_hypertension_4y").empty());
  // A full review keeps it (the stored score is still high).
  REQUIRE(review_patients(*w.st, w.library, w.hub, {w.patient}, core::now_utc_ms()));
  CHECK(unresolved(w, "risk_high:framingham_hypertension_4y"));

  write(0.2, "moderate");
  CHECK_FALSE(unresolved(w, "risk_high:framingham_hypertension_4y"));
  const auto resolved = events_of(w, "alert.resolved", "risk_high:framingham_hypertension_4y");
  REQUIRE(resolved.size() == 1);
  CHECK(nlohmann::json::parse(resolved[0].payload_json)["auto"] == true);

  // Entering again is a new alert.
  write(0.5, "high");
  CHECK(events_of(w, "alert.opened", "risk_high:framingham_hypertension_4y").size() == 2);
}

TEST_CASE("risk alerts: a failing alert write rolls the scores back") {
  World w;
  store::StoredRiskScore s{w.patient, "m", "1", 0.9, "high", "[]", core::now_utc_ms()};
  auto r = store::wait_for<core::Unit>([&](auto done) {
    w.st->transact(
        [&](store::WriteTxn& txn) -> core::Status {
          if (auto st = txn.insert_risk_score(s); !st) return st;
          if (auto st = apply_risk_alerts(txn, *w.library, w.hub, {s}, core::now_utc_ms()); !st) return st;
          return core::Error::internal("refused after the alerts");
        },
        done);
  });
  CHECK_FALSE(r);
  CHECK(w.st->latest_risk_scores(w.patient).empty());
  CHECK(w.alerts().empty());
}
