#include <catch2/catch.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <future>
#include <thread>

#include <sqlite3.h>

#include "careloop/core/time.hpp"
#include "careloop/scoring/digest.hpp"
#include "careloop/scoring/scorer.hpp"
#include "careloop/store/state_rebuild.hpp"
#include "fixture.hpp"

using namespace careloop;
using namespace careloop::store::testing;

namespace {

constexpr std::int64_t day_ms = 86'400'000;

struct World {
  TempDir dir;
  std::unique_ptr<store::Store> st = open_store(dir.file("scoring.db"));
  Place place = add_place(*st);
  risk::ModelRegistry registry{CARELOOP_MODELS_DIR};
  std::int64_t now = core::now_utc_ms();

  World() { REQUIRE(registry.reload().refused.empty()); }

  // Patient i of a varied panel: every third has hypertension, every fifth
  // diabetes; ages 25–74; two in three send 30 days of home blood pressure
  // and weight (the models need BMI: none saw it missing in training).
  std::int64_t add(int i) {
    auto p = sample_patient(place.clinic_id, "Patient " + std::to_string(i));
    p.diagnoses.clear();
    p.medications.clear();
    p.comorbidities.clear();
    if (i % 3 == 0) p.diagnoses.push_back({std::string(core::dx_hypertension), core::days_from_civil(2020, 1, 1)});
    if (i % 5 == 0) p.diagnoses.push_back({std::string(core::dx_diabetes_t2), core::days_from_civil(2021, 1, 1)});
    p.sex = i % 2 == 0 ? core::Sex::female : core::Sex::male;
    p.birth_date = core::days_from_civil(2026 - 25 - (i * 7) % 50, 5, 1);
    p.smoking = i % 4 == 0 ? core::Smoking::current : core::Smoking::never;
    p.height_cm = 150 + i % 30;
    const auto id = must(store::wait_for<std::int64_t>([&](auto done) { st->add_patient(p, done); }));
    if (i % 3 != 1) {
      std::vector<core::Reading> rs;
      for (int d = 0; d < 30; ++d) {
        rs.push_back(bp("p" + std::to_string(i) + "-" + std::to_string(d), now - d * day_ms - 3'600'000,
                        112 + (i * 3) % 40 + d % 4, 70 + (i * 2) % 20 + d % 3));
        core::Reading wt;
        wt.client_id = "w" + std::to_string(i) + "-" + std::to_string(d);
        wt.kind = core::ReadingKind::weight;
        wt.taken_at = {now - d * day_ms - 7'200'000, 480};
        wt.weight_kg = 55 + i % 40 + (d % 3) * 0.1;
        rs.push_back(wt);
      }
      insert(*st, id, rs);
    }
    return id;
  }
};

}  // namespace

TEST_CASE("scoring everyone in batches stores what scoring each patient alone gives") {
  World w;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 37; ++i) ids.push_back(w.add(i));
  const scoring::Scorer scorer(*w.st, w.registry);

  // Alone first (no writes), then everyone in pages of 8 (a last page of 5).
  std::map<std::int64_t, scoring::PatientScores> alone;
  for (auto id : ids) alone[id] = must(scorer.score_patient(id, w.now));

  std::vector<std::pair<std::int64_t, std::int64_t>> progress;
  const auto sum = must(scorer.score_all(w.now, 8, [&](std::int64_t done, std::int64_t total) {
    progress.emplace_back(done, total);
  }));
  CHECK(sum.patients == 37);
  REQUIRE(progress.size() == 5);
  CHECK(progress.back() == std::pair<std::int64_t, std::int64_t>{37, 37});

  std::int64_t scores = 0, skipped = 0;
  for (auto id : ids) {
    const auto& expected = alone[id];
    scores += static_cast<std::int64_t>(expected.scores.size());
    skipped += static_cast<std::int64_t>(expected.skipped.size());
    auto stored = w.st->latest_risk_scores(id);
    REQUIRE(stored.size() == expected.scores.size());
    for (const auto& e : expected.scores) {
      auto s = std::find_if(stored.begin(), stored.end(), [&](const auto& x) { return x.model_id == e.model_id; });
      REQUIRE(s != stored.end());
      CHECK(s->probability == e.probability);
      CHECK(s->band == e.band);
      CHECK(s->factors_json == e.factors_json);
      CHECK(s->computed_at_ms == w.now);
      CHECK(nlohmann::json::parse(s->factors_json).size() == scoring::top_factors);
    }
  }
  CHECK(sum.scores == scores);
  CHECK(sum.skipped == skipped);
  CHECK(scores > 0);

  // A model never scores a patient it was not built for.
  for (auto id : ids) {
    const auto patient = must(w.st->patient(id));
    for (const auto& s : w.st->latest_risk_scores(id)) {
      const auto model = w.registry.find(s.model_id);
      REQUIRE(model);
      for (const auto& dx : model->spec().excludes_diagnoses) CHECK_FALSE(patient.has_diagnosis(dx));
    }
    if (patient.has_diagnosis(core::dx_hypertension)) {
      const auto& skips = alone[id].skipped;
      CHECK(std::any_of(skips.begin(), skips.end(), [](const auto& k) {
        return k.model_id == "hypertension-4y" && k.reason == "has hypertension";
      }));
    }
  }
}

TEST_CASE("a model is not applied when a feature it never saw missing in training is not recorded") {
  World w;
  const auto silent = w.add(1);  // no home readings: no BMI, no blood pressure
  const auto sending = w.add(2);
  const scoring::Scorer scorer(*w.st, w.registry);
  const auto quiet = must(scorer.score_patient(silent, w.now));
  CHECK(quiet.scores.empty());
  auto reason = [](const scoring::PatientScores& s, const std::string& model) {
    for (const auto& k : s.skipped)
      if (k.model_id == model) return k.reason;
    return std::string("(not skipped)");
  };
  CHECK(reason(quiet, "hypertension-4y") ==
        "not recorded: bmi_kg_m2, systolic_mmhg, diastolic_mmhg (the model was trained without missing values for them)");
  // Waist, lipids and a lab fasting glucose are clinic measurements, none recorded here: the diabetes model waits for them.
  const auto scored = must(scorer.score_patient(sending, w.now));
  REQUIRE(scored.scores.size() == 1);
  CHECK(scored.scores[0].model_id == "hypertension-4y");
  CHECK(reason(scored, "diabetes-8y").rfind("not recorded: waist_cm, fasting_glucose_mmol_l, hdl_mmol_l, "
                                            "triglycerides_mmol_l",
                                            0) == 0);
}

namespace {

// Clinic measurements of one check, saved as the care/ routes save them.
void measure(World& w, std::int64_t patient, const std::string& client_id, std::int64_t at_ms,
             const std::vector<std::pair<std::string, double>>& values) {
  const auto p = must(w.st->patient(patient));
  core::User u;
  u.username = "dr." + client_id;
  u.role = core::Role::doctor;
  u.clinic_id = p.clinic_id;
  const auto doctor = must(store::wait_for<std::int64_t>([&](auto done) { w.st->add_user({u, "x"}, done); }));
  must(store::wait_for<core::Unit>([&](auto done) {
    w.st->transact(
        [&](store::WriteTxn& txn) -> core::Status {
          for (const auto& [kind, value] : values) {
            store::ClinicMeasurementRow r;
            r.patient_id = patient;
            r.clinic_id = p.clinic_id;
            r.client_id = client_id;
            r.measured_at = {at_ms, 480};
            r.kind = kind;
            r.value = value;
            r.by_user_id = doctor;
            r.created_at_ms = at_ms;
            txn.save_clinic_measurement(r);
          }
          return core::ok_status();
        },
        done);
  }));
}

std::string skip_reason(const scoring::PatientScores& s, const std::string& model) {
  for (const auto& k : s.skipped)
    if (k.model_id == model) return k.reason;
  return "(not skipped)";
}

const store::StoredRiskScore* score_of(const scoring::PatientScores& s, const std::string& model) {
  for (const auto& x : s.scores)
    if (x.model_id == model) return &x;
  return nullptr;
}

}  // namespace

TEST_CASE("clinic waist, lipids and fasting glucose give a patient without diabetes a diabetes-8y score") {
  World w;
  const auto p = w.add(2);  // no hypertension, no diabetes, 39 years old; home BP and weight
  const scoring::Scorer scorer(*w.st, w.registry);
  // Waist and glucose only: the skip names exactly the lipids still missing.
  measure(w, p, "check-1", w.now - 40 * day_ms, {{"waist_cm", 96}, {"fasting_glucose_mmol_l", 6.2}});
  const auto partial = must(scorer.score_patient(p, w.now));
  CHECK_FALSE(score_of(partial, "diabetes-8y"));
  CHECK(skip_reason(partial, "diabetes-8y") ==
        "not recorded: hdl_mmol_l, triglycerides_mmol_l (the model was trained without missing values for them)");

  measure(w, p, "check-2", w.now - 39 * day_ms, {{"hdl_mmol_l", 0.9}, {"triglycerides_mmol_l", 2.6}});
  const auto full = must(scorer.score_patient(p, w.now));
  const auto* high = score_of(full, "diabetes-8y");
  REQUIRE(high);
  CHECK(score_of(full, "hypertension-4y"));
  // The clinic values are what the model saw: a better lipid profile and glucose lowers the risk.
  measure(w, p, "check-3", w.now - 2 * day_ms,
          {{"waist_cm", 80}, {"fasting_glucose_mmol_l", 4.8}, {"hdl_mmol_l", 1.6}, {"triglycerides_mmol_l", 0.9}});
  const auto better = must(scorer.score_patient(p, w.now));
  const auto* low = score_of(better, "diabetes-8y");
  REQUIRE(low);
  CHECK(low->probability < high->probability);
  const auto factors = nlohmann::json::parse(low->factors_json);
  CHECK(std::any_of(factors.begin(), factors.end(), [](const auto& f) {
    return f["feature"] == "fasting_glucose_mmol_l" || f["feature"] == "hdl_mmol_l" ||
           f["feature"] == "triglycerides_mmol_l" || f["feature"] == "waist_cm";
  }));

  // The page path reads the same measurements (one read for the page).
  const std::vector<std::int64_t> ids{w.add(4), p};
  const auto page = must(scorer.score_patients(ids, w.now));
  const auto in_page = std::find_if(page.scores.begin(), page.scores.end(),
                                    [&](const auto& x) { return x.patient_id == p && x.model_id == "diabetes-8y"; });
  REQUIRE(in_page != page.scores.end());
  CHECK(in_page->probability == low->probability);
  // Rescoring stores it.
  must(scorer.rescore(p, w.now));
  const auto stored = w.st->latest_risk_scores(p);
  CHECK(std::any_of(stored.begin(), stored.end(), [](const auto& x) { return x.model_id == "diabetes-8y"; }));
}

TEST_CASE("clinic measurements older than the validity window count as missing") {
  World w;
  const auto p = w.add(2);
  const scoring::Scorer scorer(*w.st, w.registry);
  const std::int64_t window_ms = scoring::clinic_measurement_valid_days * day_ms;
  measure(w, p, "old", w.now - window_ms - day_ms,
          {{"waist_cm", 96}, {"fasting_glucose_mmol_l", 6.2}, {"hdl_mmol_l", 0.9}, {"triglycerides_mmol_l", 2.6}});
  const auto stale = must(scorer.score_patient(p, w.now));
  CHECK_FALSE(score_of(stale, "diabetes-8y"));
  CHECK(skip_reason(stale, "diabetes-8y").rfind("not recorded: waist_cm, fasting_glucose_mmol_l, hdl_mmol_l, "
                                                "triglycerides_mmol_l",
                                                0) == 0);
  // Just inside the window they count.
  const auto fresh = must(scorer.score_patient(p, w.now - 2 * day_ms));
  CHECK(score_of(fresh, "diabetes-8y"));
}

TEST_CASE("scores from the saved states equal scores from the readings") {
  World w;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(w.add(i));
  const scoring::Scorer scorer(*w.st, w.registry);
  const auto folded = must(scorer.score_patients(ids, w.now));
  for (const auto& p : w.st->patients_with_state(ids, w.now - 100 * day_ms, w.now + 1)) CHECK_FALSE(p.from_saved);
  const auto rebuilt = must(store::rebuild_patient_states(*w.st, 5));
  CHECK(rebuilt.states == 8);  // the silent third has no readings
  std::size_t saved = 0;
  for (const auto& p : w.st->patients_with_state(ids, w.now - 100 * day_ms, w.now + 1)) saved += p.from_saved;
  CHECK(saved == 8);
  const auto from_states = must(scorer.score_patients(ids, w.now));
  REQUIRE(from_states.scores.size() == folded.scores.size());
  CHECK(folded.scores.size() > 0);
  for (std::size_t i = 0; i < folded.scores.size(); ++i) {
    CHECK(from_states.scores[i].patient_id == folded.scores[i].patient_id);
    CHECK(from_states.scores[i].probability == folded.scores[i].probability);
    CHECK(from_states.scores[i].factors_json == folded.scores[i].factors_json);
  }
  CHECK(from_states.skipped.size() == folded.skipped.size());
}

namespace {

void expect_same_scores(const scoring::PatientScores& a, const scoring::PatientScores& b) {
  REQUIRE(a.scores.size() == b.scores.size());
  for (std::size_t i = 0; i < a.scores.size(); ++i) {
    CHECK(a.scores[i].patient_id == b.scores[i].patient_id);
    CHECK(a.scores[i].model_id == b.scores[i].model_id);
    CHECK(a.scores[i].probability == b.scores[i].probability);
    CHECK(a.scores[i].factors_json == b.scores[i].factors_json);
  }
  CHECK(a.skipped.size() == b.skipped.size());
}

}  // namespace

TEST_CASE("scores from the state digests equal scores from the full states, now and ten days on") {
  World w;
  // The digest hook keeps every patient's digest in the readings' transaction.
  w.st->set_readings_hook(scoring::make_digest_hook());
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 15; ++i) ids.push_back(w.add(i));
  // Late readings from an offline phone, in a second upload: the hook catches the digest up.
  core::Reading late = bp("late-5", w.now - 12 * day_ms, 171, 99);
  insert(*w.st, ids[5], {late});
  std::size_t with_digest = 0;
  for (const auto& p : w.st->patients_with_digest(ids)) with_digest += !p.digest.empty();
  CHECK(with_digest == 10);  // the silent third sent nothing
  const scoring::Scorer scorer(*w.st, w.registry);
  const auto now = must(scorer.score_patients(ids, w.now));
  const auto later = must(scorer.score_patients(ids, w.now + 10 * day_ms));
  CHECK(now.scores.size() > 0);

  // The same patients from their full states: the digests removed behind the store's back.
  must(store::rebuild_patient_states(*w.st, 4));
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(w.dir.file("scoring.db").c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "DELETE FROM patient_digests", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  for (const auto& p : w.st->patients_with_digest(ids)) CHECK(p.digest.empty());
  expect_same_scores(now, must(scorer.score_patients(ids, w.now)));
  expect_same_scores(later, must(scorer.score_patients(ids, w.now + 10 * day_ms)));
  // careloop state rebuild writes the digests again, for every patient (an
  // empty one for a patient without readings): the same scores once more.
  must(store::rebuild_patient_states(*w.st, 4, {}, scoring::save_digest));
  for (const auto& p : w.st->patients_with_digest(ids)) CHECK_FALSE(p.digest.empty());
  expect_same_scores(later, must(scorer.score_patients(ids, w.now + 10 * day_ms)));
  // Ten days on (older ages, 30-day windows holding fewer readings) the scores differ.
  bool moved = false;
  for (std::size_t i = 0; i < now.scores.size() && i < later.scores.size(); ++i)
    moved |= now.scores[i].probability != later.scores[i].probability;
  CHECK(moved);
}

TEST_CASE("the rescorer scores a patient once for a burst of readings") {
  World w;
  const auto id = w.add(2);
  const scoring::Scorer scorer(*w.st, w.registry);
  boost::asio::thread_pool pool(1);
  scoring::Rescorer rescorer(scorer, pool, std::chrono::milliseconds(150));
  for (int i = 0; i < 10; ++i) rescorer.schedule(id);
  for (int i = 0; i < 100 && rescorer.scored() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // a second scoring would have run by now
  CHECK(rescorer.scored() == 1);
  CHECK_FALSE(w.st->latest_risk_scores(id).empty());
  rescorer.stop();
  pool.join();
}

TEST_CASE("a rescore that meets a closed store is caught: the pool's thread lives on") {
  World w;
  const auto id = w.add(2);
  const scoring::Scorer scorer(*w.st, w.registry);
  boost::asio::thread_pool pool(1);
  scoring::Rescorer rescorer(scorer, pool, std::chrono::milliseconds(50));
  rescorer.schedule(id);
  // As at SIGTERM: the store closes while a rescore is pending.
  w.st->close();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::promise<void> ran;
  boost::asio::post(pool, [&] { ran.set_value(); });
  CHECK(ran.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(rescorer.scored() == 0);
  rescorer.stop();
  pool.join();
}

TEST_CASE("stored factors are JSON that reads back as the factors, escapes and missing values included") {
  risk::RiskScore score;
  risk::RiskFactor plain;
  plain.feature = "home_sbp";
  plain.label = "home systolic mean";
  plain.unit = "mmHg";
  plain.value = 152.25;
  plain.contribution_log_odds = 0.4123456789;
  plain.text = "home systolic mean 152 mmHg: raises risk (+0.41 log-odds)";
  risk::RiskFactor odd;
  odd.feature = "waist";
  odd.label = "waist \"abdominal\" \\ µ 腰围\n\t\x01";
  odd.unit = "cm";
  odd.contribution_log_odds = -1e-9;
  odd.text = "waist not recorded: lowers risk";
  score.factors = {plain, odd};
  const auto j = nlohmann::json::parse(scoring::factors_json(score));
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& f = score.factors[i];
    CHECK(j[i].size() == 6);
    CHECK(j[i].at("feature") == f.feature);
    CHECK(j[i].at("label") == f.label);
    CHECK(j[i].at("unit") == f.unit);
    CHECK(j[i].at("text") == f.text);
    CHECK(j[i].at("contribution_log_odds").get<double>() == f.contribution_log_odds);
    if (f.value) CHECK(j[i].at("value").get<double>() == *f.value);
    else CHECK(j[i].at("value").is_null());
  }
  CHECK(scoring::factors_json(risk::RiskScore{}) == "[]");
}
