// care/src/critical_alerts.cpp: the critical tier inside the writer's
// transaction — one alert per patient per signal, repeats counted, the
// patient told what to do, the clinic's stream woken after the commit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "careloop/care/plans.hpp"
#include "careloop/core/patient_state.hpp"
#include "helpers.hpp"

using namespace careloop;
using namespace careloop::care;
using namespace careloop::care::testing;

namespace {

// What the hook works from after a restart: the saved state with the
// patient's readings stored after it applied in arrival (change_seq) order.
core::PatientState caught_up(store::Store& st, std::int64_t patient) {
  const auto kept = st.patient_state(patient);
  REQUIRE(kept);
  REQUIRE(kept->state_seq > 0);
  auto state = must(store::saved_state(*kept));
  store::ReadingQuery q;
  q.patient_id = patient;
  q.limit = 100'000;
  auto all = st.readings(q);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.change_seq < b.change_seq; });
  for (const auto& r : all)
    if (r.change_seq > kept->state_seq) state.apply(r);
  return state;
}

core::PatientState rebuilt(store::Store& st, std::int64_t patient) {
  store::ReadingQuery q;
  q.patient_id = patient;
  q.limit = 100'000;
  return core::PatientState::from_readings(st.readings(q));
}

// The number of the patient's readings the saved state does not cover yet.
std::size_t unsaved(store::Store& st, std::int64_t patient) {
  const auto seq = st.patient_state(patient)->state_seq;
  store::ReadingQuery q;
  q.patient_id = patient;
  q.limit = 100'000;
  const auto all = st.readings(q);
  return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](const auto& r) { return r.change_seq > seq; }));
}

// Wraps the hook and throws after it has run on a batch with the given
// client id: the job rolls back with everything the hook did.
class ThrowsAfter final : public store::ReadingsHook {
 public:
  ThrowsAfter(std::shared_ptr<store::ReadingsHook> inner, std::string client_id)
      : inner_(std::move(inner)), client_id_(std::move(client_id)) {}
  void on_readings_created(store::WriteTxn& txn, std::int64_t p, std::int64_t c,
                           std::span<const core::Reading> created) override {
    inner_->on_readings_created(txn, p, c, created);
    for (const auto& r : created)
      if (r.client_id == client_id_) throw std::runtime_error("refused after the hook");
  }

 private:
  std::shared_ptr<store::ReadingsHook> inner_;
  std::string client_id_;
};

constexpr std::int64_t hour_ms = 3'600'000;

// One ordinary reading per batch, an hour apart, ending an hour ago.
void send_history(World& w, const std::string& prefix, int n, std::int64_t start_ms) {
  for (int i = 0; i < n; ++i)
    insert(*w.st, w.patient, {bp(prefix + std::to_string(i), start_ms + i * hour_ms, 128 + i % 9, 80 + i % 5)});
}

}  // namespace

TEST_CASE("a critical blood pressure opens one alert and tells the patient what to do") {
  World w;
  int woken = 0;
  auto sub = w.hub->subscribe(w.place.clinic_id, [&] { ++woken; });
  w.send_bp("a", 185, 122, 3);
  const auto open = w.alerts("open");
  REQUIRE(open.size() == 1);
  const auto& a = open[0];
  CHECK(a.signal == "bp_high");
  CHECK(a.tier == "critical");
  CHECK(a.count == 1);
  CHECK(a.rule_id == "bp_critical_high");
  CHECK(a.protocol_id == "cn-hypertension-primary-2020");
  CHECK(a.reason.find("180/110") != std::string::npos);
  CHECK(a.advice_zh.find("5分钟") != std::string::npos);
  CHECK(a.advice_en.find("notified") != std::string::npos);
  CHECK(woken == 1);

  const auto events = w.st->clinic_events(w.place.clinic_id, 0, 10);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == "alert.opened");
  CHECK(events[0].alert_id == a.id);
  CHECK(nlohmann::json::parse(events[0].payload_json)["alert"]["id"] == a.id);

  const auto feed = w.st->changes(w.patient, 0, 100);
  REQUIRE(feed.size() == 2);  // the reading, then the alert
  CHECK(feed[1].entity == "alert");
  REQUIRE(feed[1].alert);
  CHECK(feed[1].alert->advice_zh == a.advice_zh);
}

TEST_CASE("a repeat updates the open alert: count 2 and the latest values") {
  World w;
  w.send_bp("a", 185, 122, 3);
  w.send_bp("b", 190, 118, 1);
  const auto all = w.alerts();
  REQUIRE(all.size() == 1);
  CHECK(all[0].count == 2);
  CHECK(all[0].latest_value_json.find("190") != std::string::npos);
  const auto events = w.st->clinic_events(w.place.clinic_id, 0, 10);
  REQUIRE(events.size() == 2);
  CHECK(events[1].kind == "alert.updated");
  // A duplicate upload is not a repeat.
  const auto dup = insert(*w.st, w.patient, {store::testing::bp("b", 0, 190, 118)});
  CHECK(dup[0].status == store::InsertStatus::duplicate);
  CHECK(w.alerts()[0].count == 2);
}

TEST_CASE("a normal reading opens nothing and tells the patient nothing") {
  World w;
  w.send_bp("a", 128, 82, 3);
  w.send_bp("b", 150, 95, 2);  // above target, but not critical: the warning tier runs after the commit
  CHECK(w.alerts().empty());
  CHECK(w.st->clinic_events(w.place.clinic_id, 0, 10).empty());
  for (const auto& c : w.st->changes(w.patient, 0, 100)) CHECK(c.entity == "reading");
  CHECK(w.st->patient_state(w.patient));
}

TEST_CASE("a repeat within 15 minutes below both thresholds cancels a critical blood pressure") {
  World w;
  // Both in one upload: the state holds both before either is judged.
  insert(*w.st, w.patient,
         {store::testing::bp("a", core::now_utc_ms() - 10 * 60'000, 182, 100),
          store::testing::bp("b", core::now_utc_ms() - 5 * 60'000, 150, 92)});
  CHECK(w.alerts().empty());
}

TEST_CASE("other signals: very low glucose and very low blood pressure each get their own alert") {
  World w;
  core::Reading g;
  g.client_id = "g";
  g.kind = core::ReadingKind::glucose;
  g.taken_at = {core::now_utc_ms() - 60'000, 480};
  g.glucose_mmol_l = 2.6;
  g.glucose_context = core::GlucoseContext::before_meal;
  insert(*w.st, w.patient, {g});
  w.send_bp("low", 75, 50, 2);
  const auto all = w.alerts();
  REQUIRE(all.size() == 2);
  CHECK(((all[0].signal == "bp_low" && all[1].signal == "glucose_low") ||
         (all[1].signal == "bp_low" && all[0].signal == "glucose_low")));
  for (const auto& a : all) CHECK(!a.advice_zh.empty());
}

TEST_CASE("the critical tier runs the clinic's own choice of protocols") {
  World w;
  // A second clinic of the same county keeps the deployment's set.
  const auto other_clinic = must(store::wait_for<std::int64_t>(
      [&](auto done) { w.st->add_clinic({w.place.region_id, "Xueyuan Road CHS", "Asia/Shanghai"}, done); }));
  const auto other = add_patient(*w.st, other_clinic, "Zhao Min");
  REQUIRE(set_clinic_protocols(*w.st, *w.library, w.place.clinic_id, {"who-hearts-hypertension-2021"}).ok());

  w.send_bp("crisis", 186, 118, 2);
  insert(*w.st, other, {bp("crisis-2", core::now_utc_ms() - 60'000, 186, 118)});
  const auto here = w.alerts();
  REQUIRE(here.size() == 1);
  CHECK(here[0].protocol_id == "who-hearts-hypertension-2021");
  CHECK(here[0].protocol_version == "2021.1");
  // The words come from the rule that fired, though it is not in the deployment's set.
  CHECK(here[0].reason_en.find("180") != std::string::npos);
  store::AlertQuery q;
  q.clinic_id = other_clinic;
  const auto there = w.st->alerts(q);
  REQUIRE(there.size() == 1);
  CHECK(there[0].protocol_id == "cn-hypertension-primary-2020");

  // The choice names no diabetes protocol: diabetes keeps the deployment's, so hypoglycaemia still alerts.
  core::Reading g;
  g.client_id = "hypo";
  g.kind = core::ReadingKind::glucose;
  g.taken_at = {core::now_utc_ms() - 30'000, 480};
  g.glucose_mmol_l = 2.7;
  g.glucose_context = core::GlucoseContext::before_meal;
  insert(*w.st, w.patient, {g});
  const auto low = w.alerts();
  REQUIRE(low.size() == 2);
  for (const auto& a : low)
    if (a.signal == "glucose_low") CHECK(a.protocol_id == "cn-diabetes-primary-2022");

  // Back to the deployment's set: the next batch uses it at once.
  REQUIRE(set_clinic_protocols(*w.st, *w.library, w.place.clinic_id, {}).ok());
  w.send_bp("slow", 72, 44, 1);
  bool found = false;
  for (const auto& a : w.alerts())
    if (a.signal == "bp_low") {
      found = true;
      CHECK(a.protocol_id == "cn-hypertension-primary-2020");
    }
  CHECK(found);
}

TEST_CASE("a critical reading alerts whatever the patient's diagnoses") {
  // CLINICAL §3: a crisis reading is a same-day matter for anyone; the
  // programme a patient is enrolled in decides targets, not emergencies.
  World w;
  core::Patient p = store::testing::sample_patient(w.place.clinic_id, "Li Wei");
  p.diagnoses = {{std::string(core::dx_diabetes_t2), core::days_from_civil(2019, 1, 20)}};
  const auto id = must(store::wait_for<std::int64_t>([&](auto done) { w.st->add_patient(p, done); }));
  insert(*w.st, id, {store::testing::bp("x", core::now_utc_ms() - 60'000, 132, 84)});
  CHECK(w.alerts().empty());
  insert(*w.st, id, {store::testing::bp("y", core::now_utc_ms() - 30'000, 185, 122)});
  const auto alerts = w.alerts();
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0].signal == "bp_high");
  CHECK(alerts[0].tier == "critical");
}

TEST_CASE("the kept state follows the readings and the alert book is kept beside it") {
  World w;
  w.send_bp("a", 185, 122, 30);
  w.send_bp("b", 130, 80, 20);
  w.send_bp("c", 132, 81, 10);
  const auto kept = w.st->patient_state(w.patient);
  REQUIRE(kept);
  const auto state = caught_up(*w.st, w.patient);
  CHECK(state.readings_applied() == 3);
  const auto book = must(protocols::AlertBook::from_json(kept->alerts_json));
  REQUIRE(book.alerts().size() == 1);
  CHECK(book.alerts()[0].signal == "bp_high");
}

TEST_CASE("the state is saved lazily and the saved state caught up equals the state rebuilt from every reading") {
  World w;
  const std::int64_t start = core::now_utc_ms() - 80 * hour_ms;
  send_history(w, "h", 70, start);
  const auto kept = w.st->patient_state(w.patient);
  REQUIRE(kept);
  CHECK(kept->state_seq > 0);
  // Saved every 32 readings: at most 32 readings to apply after a restart.
  CHECK(unsaved(*w.st, w.patient) > 0);
  CHECK(unsaved(*w.st, w.patient) <= 32);
  const auto state = caught_up(*w.st, w.patient);
  CHECK(state == rebuilt(*w.st, w.patient));
  CHECK(state.readings_applied() == 70);
}

TEST_CASE("after a restart with the last saves lost the hook catches the saved state up from the readings") {
  TempDir dir;
  const auto path = dir.file("restart.db");
  const std::int64_t start = core::now_utc_ms() - 100 * hour_ms;
  std::int64_t patient = 0;
  {
    World w;
    patient = w.patient;
    send_history(w, "h", 40, start);
    w.st->close();
    std::filesystem::copy_file(w.dir.file("care.db"), path);
  }
  auto st = open_store(path);
  store::ReadingQuery q;
  q.patient_id = patient;
  q.limit = 1000;
  const auto history = st->readings(q);
  REQUIRE(history.size() == 40);
  // As if every save after the first batch's had been lost: 39 readings stored after the saved state.
  bool put_back = false;
  REQUIRE(store::wait_for<core::Unit>([&](auto done) {
            st->transact(
                [&](store::WriteTxn& txn) -> core::Status {
                  auto row = txn.load_state(patient);
                  if (!row) return core::Error::not_found("no kept state");
                  // A row saved before the binary form: JSON only (the hook reads it and saves the blob).
                  row->state_json = core::PatientState::from_readings({history.front()}).to_json();
                  row->state_bin.clear();
                  row->state_seq = history.front().change_seq;
                  txn.save_state(*row);
                  put_back = true;
                  return core::Unit{};
                },
                done);
          }).ok());
  REQUIRE(put_back);
  CHECK(caught_up(*st, patient) == core::PatientState::from_readings(history));

  // A new hook, nothing cached (as after SIGKILL): it loads the old save,
  // applies the 39 readings after it and the new one, and saves what it holds.
  st->set_readings_hook(make_critical_alert_hook(must(ProtocolLibrary::load(CARELOOP_PROTOCOL_DIR)), nullptr));
  insert(*st, patient, {bp("n", start + 50 * hour_ms, 131, 82)});
  const auto saved = st->patient_state(patient);
  REQUIRE(saved);
  CHECK(saved->state_seq > history.front().change_seq);
  CHECK(saved->state_json.empty());  // saved again in the binary form
  REQUIRE_FALSE(saved->state_bin.empty());
  const auto state = must(store::saved_state(*saved));
  CHECK(state.readings_applied() == 41);
  CHECK(state == core::PatientState::from_readings(st->readings(q)));
  st->close();
}

TEST_CASE("a job rolled back after the hook ran leaves no cached state ahead of the database") {
  World w;
  auto hook = make_critical_alert_hook(w.library, w.hub);
  w.st->set_readings_hook(hook);
  const std::int64_t start = core::now_utc_ms() - 80 * hour_ms;
  send_history(w, "h", 3, start);

  // The hook applies the reading and raises its alert, then the job fails.
  w.st->set_readings_hook(std::make_shared<ThrowsAfter>(hook, "crisis"));
  auto failed = store::wait_for<std::vector<store::InsertOutcome>>([&](auto done) {
    w.st->insert_readings(w.patient, {bp("crisis", core::now_utc_ms() - 60'000, 185, 122)}, done);
  });
  REQUIRE_FALSE(failed.ok());
  CHECK(w.alerts().empty());

  // Another patient takes the change seqs the rolled-back job had used.
  const auto other = add_patient(*w.st, w.place.clinic_id, "Zhao Min");
  w.st->set_readings_hook(hook);
  insert(*w.st, other, {bp("o1", start, 130, 80), bp("o2", start + hour_ms, 131, 81)});

  // Enough readings for the same hook (same cache) to save what it holds.
  send_history(w, "k", 40, start + 10 * hour_ms);
  const auto saved = w.st->patient_state(w.patient);
  REQUIRE(saved);
  const auto state = caught_up(*w.st, w.patient);
  CHECK(state.readings_applied() == 43);
  CHECK(state == rebuilt(*w.st, w.patient));
  CHECK(must(store::saved_state(*saved)).readings_applied() <= 43);
  CHECK(w.alerts().empty());
}

TEST_CASE("a later job of the same transaction rolled back after the hook leaves the earlier one in place") {
  World w;
  auto hook = make_critical_alert_hook(w.library, w.hub);
  w.st->set_readings_hook(std::make_shared<ThrowsAfter>(hook, "refused"));
  const std::int64_t start = core::now_utc_ms() - 80 * hour_ms;
  send_history(w, "h", 2, start);

  // Hold the writer so that both uploads queue up and share one transaction:
  // the first commits; the second, its hook run on top of the first's state,
  // is rolled back alone.
  std::mutex m;
  std::condition_variable cv;
  bool entered = false, open = false;
  store::AuditEntry gate;
  gate.action = "test.gate";
  w.st->append_audit(gate, [&](core::Status) {
    std::unique_lock lock(m);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
  });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return entered; });
  }
  const auto before = w.st->writer_stats();
  std::promise<bool> first_ok, second_ok;
  w.st->insert_readings(w.patient, {bp("crisis", core::now_utc_ms() - 60'000, 185, 122)},
                        [&](auto r) { first_ok.set_value(r.ok()); });
  w.st->insert_readings(w.patient, {bp("refused", core::now_utc_ms() - 30'000, 120, 80)},
                        [&](auto r) { second_ok.set_value(r.ok()); });
  {
    std::lock_guard lock(m);
    open = true;
    cv.notify_all();
  }
  CHECK(first_ok.get_future().get());
  CHECK_FALSE(second_ok.get_future().get());
  CHECK(w.st->writer_stats().transactions - before.transactions == 1);
  REQUIRE(w.alerts().size() == 1);

  send_history(w, "k", 35, start + 5 * hour_ms);
  CHECK(caught_up(*w.st, w.patient) == rebuilt(*w.st, w.patient));
  CHECK(caught_up(*w.st, w.patient).readings_applied() == 38);
}
