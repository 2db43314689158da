// store/include/careloop/store/hooks.hpp through every backend (fixture.hpp): the hook
// runs in the job's transaction (its writes commit with the readings or not
// at all), sees only the readings created, and a state kept incrementally
// through WriteTxn equals one rebuilt from every reading.
#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>

#include "careloop/core/patient_state.hpp"
#include "fixture.hpp"

using namespace careloop;
using namespace careloop::store;
using namespace careloop::store::testing;

namespace {

// Keeps core::PatientState per patient through the WriteTxn, as care/ does,
// and records what it was given.
class StateHook final : public ReadingsHook {
 public:
  void on_readings_created(WriteTxn& txn, std::int64_t patient_id, std::int64_t clinic_id,
                           std::span<const core::Reading> created) override {
    ++calls;
    last_created = created.size();
    const auto kept = txn.load_state(patient_id);
    core::PatientState state;
    std::int64_t rebuilt_from = 0;
    if (kept && !kept->state_json.empty()) {
      state = must(core::PatientState::from_json(kept->state_json));
      for (const auto& r : created) state.apply(r);
    } else {
      ++rebuilds;
      const auto all = txn.readings_of(patient_id);
      state = core::PatientState::from_readings(all);
      for (const auto& r : all) rebuilt_from = std::max(rebuilt_from, r.change_seq);
    }
    std::int64_t seq = kept ? kept->state_seq : 0;
    for (const auto& r : created) seq = std::max(seq, r.change_seq);
    if (rebuilt_from) seq = rebuilt_from;
    txn.save_state({patient_id, clinic_id, state.to_json(), "{\"calls\":" + std::to_string(calls) + "}", 1, seq, {}});
    txn.append_clinic_event({0, clinic_id, patient_id, "test.readings", std::nullopt, "{}", 1});
    txn.after_commit([this] { ++committed; });
    if (fail_next) {
      fail_next = false;
      throw std::runtime_error("the hook refuses");
    }
  }

  int calls = 0;
  int rebuilds = 0;
  int committed = 0;
  std::size_t last_created = 0;
  bool fail_next = false;
};

constexpr std::int64_t t0 = 1'763'600'000'000;  // 2025-11-20
constexpr std::int64_t minute = 60'000;

}  // namespace

TEST_CASE("the readings hook sees the created readings and commits with them") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  TempDir dir;
  auto store = backend.open(dir);
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);
  auto hook = std::make_shared<StateHook>();
  store->set_readings_hook(hook);

  insert(*store, patient, {bp("a", t0, 150, 95), bp("b", t0 + minute, 148, 94)});
  CHECK(hook->calls == 1);
  CHECK(hook->last_created == 2);
  CHECK(hook->committed == 1);
  // A duplicate and one new reading: the hook sees only the new one.
  insert(*store, patient, {bp("a", t0, 150, 95), bp("c", t0 + 2 * minute, 151, 96)});
  CHECK(hook->last_created == 1);
  // Only duplicates: nothing new, no call.
  insert(*store, patient, {bp("c", t0 + 2 * minute, 151, 96)});
  CHECK(hook->calls == 2);
  CHECK(store->clinic_events(place.clinic_id, 0, 10).size() == 2);
  CHECK(store->last_clinic_event_seq(place.clinic_id) == 2);
}

TEST_CASE("a hook that throws rolls back the whole job and the caller gets the error") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  TempDir dir;
  auto store = backend.open(dir);
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);
  auto hook = std::make_shared<StateHook>();
  store->set_readings_hook(hook);
  insert(*store, patient, {bp("a", t0, 150, 95)});
  const auto before = store->patient_state(patient);
  REQUIRE(before);

  hook->fail_next = true;
  auto failed = wait_for<std::vector<InsertOutcome>>(
      [&](auto done) { store->insert_readings(patient, {bp("b", t0 + minute, 185, 122)}, done); });
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == core::Errc::internal);
  // Nothing of the job is stored: not the reading, not the state, not the event; no after-commit action ran.
  CHECK(store->count_readings(patient) == 1);
  CHECK(store->patient_state(patient)->alerts_json == before->alerts_json);
  CHECK(store->clinic_events(place.clinic_id, 0, 10).size() == 1);
  CHECK(hook->committed == 1);
  // The retry (same client id) goes through.
  auto retried = insert(*store, patient, {bp("b", t0 + minute, 185, 122)});
  CHECK(retried[0].status == InsertStatus::created);
  CHECK(store->count_readings(patient) == 2);
}

TEST_CASE("the state kept incrementally equals the state rebuilt from every reading") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  TempDir dir;
  auto store = backend.open(dir);
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);
  auto hook = std::make_shared<StateHook>();
  store->set_readings_hook(hook);

  // Twenty batches over forty days, one of them late (taken days before the others).
  for (int day = 0; day < 40; day += 2) {
    const std::int64_t at = t0 + day * 86'400'000LL;
    std::vector<core::Reading> batch{bp("m" + std::to_string(day), at, 130 + day % 7, 85),
                                     bp("e" + std::to_string(day), at + 12 * 60 * minute, 140 - day % 5, 88)};
    core::Reading g;
    g.client_id = "g" + std::to_string(day);
    g.kind = core::ReadingKind::glucose;
    g.taken_at = {at + 30 * minute, 480};
    g.glucose_mmol_l = 6.2 + (day % 3) * 0.4;
    g.glucose_context = core::GlucoseContext::fasting;
    batch.push_back(g);
    if (day == 20) batch.push_back(bp("late", t0 + 3 * 86'400'000LL + 5 * minute, 175, 101));
    insert(*store, patient, batch);
  }
  CHECK(hook->rebuilds == 1);
  const auto kept = store->patient_state(patient);
  REQUIRE(kept);
  const auto incremental = must(core::PatientState::from_json(kept->state_json));
  ReadingQuery q;
  q.patient_id = patient;
  q.limit = 10'000;
  const auto rebuilt = core::PatientState::from_readings(store->readings(q));
  CHECK(incremental == rebuilt);
  CHECK(incremental.readings_applied() == store->count_readings(patient));
}

TEST_CASE("readings written without a hook mark the kept state stale and the hook rebuilds it") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  TempDir dir;
  auto store = backend.open(dir);
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);
  auto hook = std::make_shared<StateHook>();
  store->set_readings_hook(hook);
  insert(*store, patient, {bp("a", t0, 150, 95)});
  store->set_readings_hook(nullptr);
  insert(*store, patient, {bp("b", t0 + minute, 152, 96)});
  CHECK(store->patient_state(patient)->state_json.empty());
  store->set_readings_hook(hook);
  insert(*store, patient, {bp("c", t0 + 2 * minute, 149, 94)});
  CHECK(hook->rebuilds == 2);
  const auto state = must(core::PatientState::from_json(store->patient_state(patient)->state_json));
  CHECK(state.readings_applied() == 3);
}

TEST_CASE("transact commits a job's writes together and rolls them back on an error") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  TempDir dir;
  auto store = backend.open(dir);
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);
  auto write_alert = [&](bool fail) {
    return wait_for<core::Unit>([&](auto done) {
      store->transact(
          [&, fail](WriteTxn& txn) -> core::Status {
            AlertRow row;
            row.patient_id = patient;
            row.clinic_id = place.clinic_id;
            row.signal = "bp_high";
            row.tier = "critical";
            row.status = "open";
            row.rule_id = "bp_critical_high";
            row.opened_at_ms = row.updated_at_ms = t0;
            row.id = txn.save_alert(row);
            txn.append_clinic_event({0, place.clinic_id, patient, "alert.opened", row.id, "{}", t0});
            txn.record_change(patient, place.clinic_id, "alert", row.id, t0);
            if (fail) return core::Error::invalid("changed my mind");
            return core::Unit{};
          },
          done);
    });
  };
  AlertQuery all;
  all.clinic_id = place.clinic_id;
  CHECK_FALSE(write_alert(true).ok());
  CHECK(store->alerts(all).empty());
  CHECK(store->clinic_events(place.clinic_id, 0, 10).empty());
  REQUIRE(write_alert(false).ok());
  const auto alerts = store->alerts(all);
  REQUIRE(alerts.size() == 1);
  CHECK(must(store->alert(alerts[0].id)).signal == "bp_high");
  // One unresolved alert per patient per signal: the schema refuses a second.
  const auto second = write_alert(false);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == core::Errc::conflict);
  const auto feed = store->changes(patient, 0, 10);
  REQUIRE(feed.size() == 1);
  CHECK(feed[0].entity == "alert");
  REQUIRE(feed[0].alert);
  CHECK(feed[0].alert->signal == "bp_high");
}

TEST_CASE("on_rollback runs when a job's writes are discarded and never after a commit") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  TempDir dir;
  auto store = backend.open(dir);
  int rolled_back = 0;
  int committed = 0;
  auto job = [&](bool fail) {
    return wait_for<core::Unit>([&](auto done) {
      store->transact(
          [&, fail](WriteTxn& txn) -> core::Status {
            txn.on_rollback([&] { ++rolled_back; });
            txn.after_commit([&] { ++committed; });
            if (fail) return core::Error::invalid("refused");
            return core::Unit{};
          },
          done);
    });
  };
  CHECK(job(false).ok());
  CHECK(rolled_back == 0);
  CHECK(committed == 1);
  CHECK_FALSE(job(true).ok());
  CHECK(rolled_back == 1);
  CHECK(committed == 1);
}

TEST_CASE("the saved state says which readings it covers and readings_after gives the rest in arrival order") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  TempDir dir;
  auto store = backend.open(dir);
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);
  auto hook = std::make_shared<StateHook>();
  store->set_readings_hook(hook);
  const auto first = insert(*store, patient, {bp("a", t0 + 5 * minute, 150, 95)});
  store->set_readings_hook(nullptr);
  // Late and out of order: arrival order is change_seq order, not taken_at order.
  const auto later = insert(*store, patient, {bp("b", t0 + 9 * minute, 152, 96), bp("c", t0, 149, 94)});
  CHECK(store->patient_state(patient)->state_seq == 0);

  std::vector<std::string> after;
  REQUIRE(wait_for<core::Unit>([&](auto done) {
            store->transact(
                [&](WriteTxn& txn) -> core::Status {
                  for (const auto& r : txn.readings_after(patient, first[0].change_seq)) after.push_back(r.client_id);
                  txn.save_alert_book(patient, place.clinic_id, "{\"book\":1}", 2);
                  return core::Unit{};
                },
                done);
          }).ok());
  CHECK(after == std::vector<std::string>{"b", "c"});
  const auto kept = store->patient_state(patient);
  REQUIRE(kept);
  CHECK(kept->alerts_json == "{\"book\":1}");
  CHECK(kept->state_json.empty());
  CHECK(later[1].change_seq > later[0].change_seq);
}
