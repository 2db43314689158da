// Store::patients_with_state (the batch read of records and kept states),
// saved_state() (binary first, JSON for old rows) and rebuild_patient_states
// (store/include/careloop/store/state_rebuild.hpp), on every backend.
#include <catch2/catch.hpp>

#include <algorithm>

#include "careloop/core/patient_state.hpp"
#include "careloop/store/state_rebuild.hpp"
#include "fixture.hpp"

using namespace careloop;
using namespace careloop::store;
using namespace careloop::store::testing;

namespace {

constexpr std::int64_t hour = 3'600'000;
constexpr std::int64_t day = 24 * hour;

// Accepts the readings and does nothing else: a saved state stays where it
// was, so later readings must be caught up by change_seq.
class NoOpHook final : public ReadingsHook {
 public:
  void on_readings_created(WriteTxn&, std::int64_t, std::int64_t, std::span<const core::Reading>) override {}
};

std::vector<core::Reading> all_readings(Store& st, std::int64_t patient) {
  ReadingQuery q;
  q.patient_id = patient;
  q.limit = 100'000;
  return st.readings(q);
}

std::vector<core::Reading> days_of_bp(const std::string& prefix, std::int64_t from, int days, double base) {
  std::vector<core::Reading> out;
  for (int d = 0; d < days; ++d)
    out.push_back(bp(prefix + std::to_string(d), from + d * day + 8 * hour, base + d % 7, 80 + d % 5));
  return out;
}

void save(Store& st, const PatientStateRow& row) {
  must(wait_for<core::Unit>([&](auto done) {
    st.transact(
        [&](WriteTxn& txn) -> core::Status {
          txn.save_state(row);
          return core::ok_status();
        },
        done);
  }));
}

struct World {
  explicit World(const Backend& backend) : st(backend.open(dir)) {}
  TempDir dir;
  std::unique_ptr<Store> st;
  Place place = add_place(*st);
  std::int64_t now = core::now_utc_ms();
  std::int64_t from = now - 100 * day;
};

}  // namespace

TEST_CASE("patients_with_state: records in the order asked, missing ones left out, states folded without a save") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  World w(backend);
  const auto a = add_patient(*w.st, w.place.clinic_id, "A");
  const auto b = add_patient(*w.st, w.place.clinic_id, "B");
  const auto silent = add_patient(*w.st, w.place.clinic_id, "Silent");
  insert(*w.st, a, days_of_bp("a", w.now - 120 * day, 120, 130));  // 20 days older than the window
  insert(*w.st, b, days_of_bp("b", w.now - 30 * day, 30, 150));
  const std::vector<std::int64_t> ids{b, 999'999, silent, a, b};
  const auto got = w.st->patients_with_state(ids, w.from, w.now + 1);
  REQUIRE(got.size() == 3);
  CHECK(got[0].patient.id == b);
  CHECK(got[1].patient.id == silent);
  CHECK(got[2].patient.id == a);
  const auto one = must(w.st->patient(a));
  CHECK(got[2].patient.name == one.name);
  CHECK(got[2].patient.diagnoses.size() == one.diagnoses.size());
  CHECK(got[2].patient.comorbidities == one.comorbidities);
  CHECK(got[2].patient.medications.size() == one.medications.size());
  CHECK(got[2].patient.height_cm == one.height_cm);
  for (const auto& p : got) CHECK_FALSE(p.from_saved);
  // Without a saved state: the fold of the window's readings.
  ReadingQuery q;
  q.patient_id = a;
  q.from_ms = w.from;
  q.to_ms = w.now + 1;
  q.limit = 100'000;
  CHECK(got[2].state == core::PatientState::from_readings(w.st->readings(q)));
  CHECK(got[2].readings_read == static_cast<std::int64_t>(w.st->readings(q).size()));
  CHECK(got[0].state == core::PatientState::from_readings(all_readings(*w.st, b)));
  CHECK(got[1].state == core::PatientState{});
  CHECK(w.st->patients_with_state({}, w.from, w.now).empty());
}

TEST_CASE("rebuild_patient_states saves every reading's fold in the binary form and keeps the alert book") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  World w(backend);
  const auto a = add_patient(*w.st, w.place.clinic_id, "A");
  const auto b = add_patient(*w.st, w.place.clinic_id, "B");
  const auto silent = add_patient(*w.st, w.place.clinic_id, "Silent");
  insert(*w.st, a, days_of_bp("a", w.now - 120 * day, 120, 130));
  insert(*w.st, b, days_of_bp("b", w.now - 30 * day, 30, 150));
  must(wait_for<core::Unit>([&](auto done) {
    w.st->transact(
        [&](WriteTxn& txn) -> core::Status {
          txn.save_alert_book(b, w.place.clinic_id, R"({"book":1})", 5);
          return core::ok_status();
        },
        done);
  }));
  std::vector<std::pair<std::int64_t, std::int64_t>> progress;
  const auto sum = must(rebuild_patient_states(*w.st, 2, [&](auto done, auto total) { progress.emplace_back(done, total); }));
  CHECK(sum.patients == 3);
  CHECK(sum.states == 2);
  CHECK(sum.readings == 150);
  CHECK(progress == std::vector<std::pair<std::int64_t, std::int64_t>>{{2, 3}, {3, 3}});

  for (auto id : {a, b}) {
    const auto row = w.st->patient_state(id);
    REQUIRE(row);
    CHECK(row->state_json.empty());
    REQUIRE_FALSE(row->state_bin.empty());
    const auto all = all_readings(*w.st, id);
    CHECK(row->state_seq == std::max_element(all.begin(), all.end(), [](auto& x, auto& y) {
                              return x.change_seq < y.change_seq;
                            })->change_seq);
    CHECK(must(saved_state(*row)) == core::PatientState::from_readings(all));
  }
  CHECK(w.st->patient_state(b)->alerts_json == R"({"book":1})");
  CHECK_FALSE(w.st->patient_state(silent));

  const std::vector<std::int64_t> ids{a, b, silent};
  const auto got = w.st->patients_with_state(ids, w.from, w.now + 1);
  REQUIRE(got.size() == 3);
  CHECK(got[0].from_saved);
  CHECK(got[1].from_saved);
  CHECK_FALSE(got[2].from_saved);
  CHECK(got[0].readings_read == 0);
  // The saved state covers every reading, the 20 days before the window too (counters, latest).
  CHECK(got[0].state == core::PatientState::from_readings(all_readings(*w.st, a)));
  CHECK(got[0].state.readings_applied() == 120);
}

TEST_CASE("patients_with_state catches a saved state up with the readings stored after it") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  World w(backend);
  const auto a = add_patient(*w.st, w.place.clinic_id, "A");
  insert(*w.st, a, days_of_bp("a", w.now - 60 * day, 40, 130));
  must(rebuild_patient_states(*w.st, 100));
  // Readings stored through a hook that keeps no state: the saved one lags behind.
  w.st->set_readings_hook(std::make_shared<NoOpHook>());
  insert(*w.st, a, days_of_bp("late", w.now - 20 * day, 15, 170));
  const std::vector<std::int64_t> ids{a};
  auto got = w.st->patients_with_state(ids, w.from, w.now + 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].from_saved);
  CHECK(got[0].readings_read == 15);
  CHECK(got[0].state == core::PatientState::from_readings(all_readings(*w.st, a)));
  CHECK(got[0].state.window(core::Metric::systolic, got[0].state.today(w.now), 100).count == 55);

  // Readings written without a hook make the saved state stale: it is dropped, the window folded.
  w.st->set_readings_hook(nullptr);
  insert(*w.st, a, {bp("nohook", w.now - hour, 140, 90)});
  CHECK(w.st->patient_state(a)->state_seq == 0);
  got = w.st->patients_with_state(ids, w.from, w.now + 1);
  REQUIRE(got.size() == 1);
  CHECK_FALSE(got[0].from_saved);
  CHECK(got[0].state.readings_applied() == 56);
}

TEST_CASE("saved states: the blob first, JSON for old rows, a damaged one is folded instead") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  World w(backend);
  const auto a = add_patient(*w.st, w.place.clinic_id, "A");
  insert(*w.st, a, days_of_bp("a", w.now - 10 * day, 10, 130));
  const auto all = all_readings(*w.st, a);
  const auto seq = std::max_element(all.begin(), all.end(), [](auto& x, auto& y) { return x.change_seq < y.change_seq; })
                       ->change_seq;
  const auto truth = core::PatientState::from_readings(all);
  const auto first_only = core::PatientState::from_readings({all.front()});
  const std::vector<std::int64_t> ids{a};

  // An old row: JSON only.
  save(*w.st, {a, w.place.clinic_id, truth.to_json(), "", 1, seq, {}});
  auto row = w.st->patient_state(a);
  REQUIRE(row);
  CHECK(row->state_bin.empty());
  CHECK(must(saved_state(*row)) == truth);
  auto got = w.st->patients_with_state(ids, w.from, w.now + 1);
  CHECK(got.at(0).from_saved);
  CHECK(got.at(0).state == truth);

  // Both: the blob wins (the hook writes only the blob; JSON left by an older version is stale).
  save(*w.st, {a, w.place.clinic_id, first_only.to_json(), "", 1, seq, truth.to_binary()});
  CHECK(must(saved_state(*w.st->patient_state(a))) == truth);
  got = w.st->patients_with_state(ids, w.from, w.now + 1);
  CHECK(got.at(0).state == truth);

  // A damaged blob: saved_state says why; the batch read folds the window instead.
  std::string bad = truth.to_binary();
  bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x55);
  save(*w.st, {a, w.place.clinic_id, "", "", 1, seq, bad});
  row = w.st->patient_state(a);
  REQUIRE(row);
  const auto refused = saved_state(*row);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("checksum") != std::string::npos);
  got = w.st->patients_with_state(ids, w.from, w.now + 1);
  CHECK_FALSE(got.at(0).from_saved);
  CHECK(got.at(0).state == truth);

  // No state kept: not_found.
  CHECK(saved_state(PatientStateRow{}).error().code == core::Errc::not_found);
}

TEST_CASE("state digests: kept beside the record, read back in one batch, dropped by readings without a hook") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  World w(backend);
  const auto a = add_patient(*w.st, w.place.clinic_id, "A");
  const auto b = add_patient(*w.st, w.place.clinic_id, "B");
  insert(*w.st, a, days_of_bp("a", w.now - 40 * day, 40, 130));
  const core::KeptWindow keep[] = {{core::Metric::systolic, 30}};
  const auto full = core::PatientState::from_readings(all_readings(*w.st, a));
  const auto digest = full.digest(keep, w.now);
  must(wait_for<core::Unit>([&](auto done) {
    w.st->transact(
        [&](WriteTxn& txn) -> core::Status {
          CHECK_FALSE(txn.load_digest(a));
          txn.save_digest({a, 40, w.now, digest.to_binary()});
          const auto back = txn.load_digest(a);
          REQUIRE(back);
          CHECK(back->digest_seq == 40);
          CHECK(back->as_of_ms == w.now);
          return core::ok_status();
        },
        std::move(done));
  }));
  // In the order asked for, unknown ids left out, a repeated id once; b has no digest.
  const std::vector<std::int64_t> ids{b, 999'999, a, b};
  auto got = w.st->patients_with_digest(ids);
  REQUIRE(got.size() == 2);
  CHECK(got[0].patient.id == b);
  CHECK(got[0].digest.empty());
  CHECK(got[1].patient.id == a);
  {
    // The record's fields scoring reads, as the full record has them; not the rest.
    const auto full_a = w.st->patient(a);
    REQUIRE(full_a);
    REQUIRE_FALSE(full_a->diagnoses.empty());
    const auto& lean = got[1].patient;
    CHECK(lean.clinic_id == full_a->clinic_id);
    CHECK(lean.sex == full_a->sex);
    CHECK(lean.birth_date == full_a->birth_date);
    CHECK(lean.height_cm == full_a->height_cm);
    CHECK(lean.smoking == full_a->smoking);
    CHECK(lean.parents_with_hypertension == full_a->parents_with_hypertension);
    CHECK(lean.family_history_diabetes == full_a->family_history_diabetes);
    CHECK(lean.pregnant == full_a->pregnant);
    CHECK(lean.registered_at_ms == full_a->registered_at_ms);
    // The same diagnoses, in code order (the full record's are by date).
    auto by_code = full_a->diagnoses;
    std::sort(by_code.begin(), by_code.end(), [](const auto& x, const auto& y) { return x.code < y.code; });
    REQUIRE(lean.diagnoses.size() == by_code.size());
    for (std::size_t i = 0; i < lean.diagnoses.size(); ++i) {
      CHECK(lean.diagnoses[i].code == by_code[i].code);
      CHECK(lean.diagnoses[i].diagnosed_on == by_code[i].diagnosed_on);
    }
    CHECK(full_a->name == "A");
    CHECK(lean.name.empty());
    CHECK(lean.medications.empty());
  }
  const auto decoded = core::PatientState::from_binary(got[1].digest);
  REQUIRE(decoded);
  CHECK(*decoded == digest);
  CHECK(got[1].as_of_ms == w.now);
  CHECK(decoded->window(core::Metric::systolic, full.today(w.now), 30).count ==
        full.window(core::Metric::systolic, full.today(w.now), 30).count);
  // A run of ascending ids (a page of score --all) is read as a range: the same answer.
  const auto c = add_patient(*w.st, w.place.clinic_id, "C");
  const std::vector<std::int64_t> page{a, c};  // b, between them, not asked for
  REQUIRE(a < b);
  REQUIRE(b < c);
  const auto ranged = w.st->patients_with_digest(page);
  REQUIRE(ranged.size() == 2);
  CHECK(ranged[0].patient.id == a);
  CHECK(ranged[0].patient.diagnoses.size() == got[1].patient.diagnoses.size());
  CHECK(ranged[0].digest == got[1].digest);
  CHECK(ranged[1].patient.id == c);
  CHECK(ranged[1].digest.empty());

  // A reading written without the hook: the digest no longer covers every reading.
  w.st->set_readings_hook(nullptr);
  insert(*w.st, a, {bp("nohook", w.now - hour, 140, 90)});
  got = w.st->patients_with_digest(ids);
  REQUIRE(got.size() == 2);
  CHECK(got[1].digest.empty());
}
