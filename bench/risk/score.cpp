// usage: careloop_bench_risk [MODEL_ID=hypertension-4y] [RUNS=5] [BATCH=100000]
// One patient's score (feature extraction + prediction), with and without
// SHAP factors, against a bare XGBoosterPredictFromDense call on the same
// model, measured alternately in one run (bench/README.md); and batch
// scoring of in-memory patients against bare batch prediction.
#include <xgboost/c_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "careloop/core/patient_state.hpp"
#include "careloop/core/reading.hpp"
#include "careloop/risk/cohort.hpp"
#include "careloop/risk/features.hpp"
#include "careloop/risk/model.hpp"

using namespace careloop;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::int64_t day_ms = 86'400'000;
constexpr std::int64_t now_ms = 20'000 * day_ms + 12 * 3'600'000;

struct BoosterFree {
  void operator()(void* h) const noexcept { XGBoosterFree(h); }
};

void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "%s: %s\n", what, XGBGetLastError());
    std::exit(1);
  }
}

// A patient as the server holds one: the record, the rolling state of 30 days of
// home blood pressure and weight, and a clinic visit.
struct Patient {
  core::Patient record;
  core::PatientState state;
  risk::ClinicMeasurements clinic;
};

std::vector<Patient> make_patients(std::size_t n) {
  std::ifstream in(std::string(CARELOOP_DATA_DIR) + "/cohorts/hypertension-4y.json");
  std::stringstream text;
  text << in.rdbuf();
  auto t = risk::generate_cohort_from_json(text.str(), n, 7);
  if (!t) std::exit(1);
  std::vector<Patient> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto col = [&](const char* c) { return (*t->column(c))[i]; };
    auto& p = out[i];
    p.record.sex = col("female") != 0 ? core::Sex::female : core::Sex::male;
    p.record.birth_date = 20'000 - static_cast<std::int64_t>(col("age_years") * 365.2425);
    p.record.height_cm = 168;
    p.record.smoking = col("current_smoker") != 0 ? core::Smoking::current : core::Smoking::never;
    p.record.parents_with_hypertension = static_cast<int>(col("parents_with_hypertension"));
    std::vector<core::Reading> readings;
    // Every third patient has no home readings: the clinic's values stand in.
    const int days = i % 3 == 0 ? 0 : 30;
    for (int d = 0; d < days; ++d) {
      core::Reading r;
      r.kind = core::ReadingKind::blood_pressure;
      r.taken_at = {now_ms - d * day_ms - 3'600'000, 480};
      r.systolic_mmhg = std::min(139.0, col("systolic_mmhg") + (d % 5) - 2);
      r.diastolic_mmhg = std::min(89.0, col("diastolic_mmhg") + (d % 3) - 1);
      readings.push_back(r);
      core::Reading w;
      w.kind = core::ReadingKind::weight;
      w.taken_at = {now_ms - d * day_ms - 3'000'000, 480};
      w.weight_kg = col("bmi_kg_m2") * 1.68 * 1.68;
      readings.push_back(w);
    }
    p.state = core::PatientState::from_readings(readings);
    p.clinic.systolic_mmhg = col("systolic_mmhg");
    p.clinic.diastolic_mmhg = col("diastolic_mmhg");
    p.clinic.weight_kg = col("bmi_kg_m2") * 1.68 * 1.68;
  }
  return out;
}

struct Percentiles {
  double p50_us = 0, p99_us = 0;
};

Percentiles percentiles(std::vector<double>& ns) {
  std::sort(ns.begin(), ns.end());
  return {ns[ns.size() / 2] / 1000, ns[ns.size() * 99 / 100] / 1000};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const std::string model_id = argc > 1 ? argv[1] : "hypertension-4y";
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  const std::size_t batch_size = argc > 3 ? static_cast<std::size_t>(std::atoll(argv[3])) : 100'000;
  const std::string dir = std::string(CARELOOP_DATA_DIR) + "/models/" + model_id;

  auto loaded = risk::Model::load(dir);
  if (!loaded) {
    std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
    return 1;
  }
  const auto& model = **loaded;
  const std::size_t cols = model.feature_count();

  // The ceiling: the same model file in a booster of its own, one thread.
  BoosterHandle raw = nullptr;
  check(XGBoosterCreate(nullptr, 0, &raw), "XGBoosterCreate");
  std::unique_ptr<void, BoosterFree> bare(raw);
  check(XGBoosterLoadModel(bare.get(), (dir + "/model.json").c_str()), "XGBoosterLoadModel");
  check(XGBoosterSetParam(bare.get(), "nthread", "1"), "XGBoosterSetParam");
  const char* config =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "missing": NaN, "cache_id": 0})";

  constexpr std::size_t patients_n = 2000;
  const auto patients = make_patients(patients_n);
  // The bare call gets its rows already extracted and its array interfaces already written.
  std::vector<float> rows(patients_n * cols);
  for (std::size_t i = 0; i < patients_n; ++i) {
    const auto f = risk::extract_patient_features(patients[i].record, &patients[i].state, patients[i].clinic, now_ms);
    if (auto ok = risk::model_input(model.spec(), f, {&rows[i * cols], cols}); !ok) {
      // The patients are drawn from the hypertension cohort: other models may not fit them.
      std::fprintf(stderr, "patient %zu does not fit %s: %s\n", i, model_id.c_str(), ok.error().message.c_str());
      return 1;
    }
  }
  std::vector<std::string> interfaces;
  for (std::size_t i = 0; i < patients_n; ++i) {
    char buf[160];
    std::snprintf(buf, sizeof buf, R"({"data": [%zu, true], "shape": [1, %zu], "typestr": "<f4", "version": 3})",
                  reinterpret_cast<std::uintptr_t>(&rows[i * cols]), cols);
    interfaces.emplace_back(buf);
  }

  volatile double sink = 0;
  auto bare_pass = [&](std::vector<double>& ns) {
    for (std::size_t i = 0; i < patients_n; ++i) {
      const auto t0 = Clock::now();
      const bst_ulong* shape = nullptr;
      bst_ulong dim = 0;
      const float* out = nullptr;
      check(XGBoosterPredictFromDense(bare.get(), interfaces[i].c_str(), config, nullptr, &shape, &dim, &out),
            "XGBoosterPredictFromDense");
      sink = sink + out[0];
      ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    }
  };
  auto score_pass = [&](std::vector<double>& ns, int top_factors) {
    std::vector<float> row(cols);
    for (std::size_t i = 0; i < patients_n; ++i) {
      const auto t0 = Clock::now();
      const auto f = risk::extract_patient_features(patients[i].record, &patients[i].state, patients[i].clinic, now_ms);
      if (!risk::model_input(model.spec(), f, row)) std::exit(1);
      auto s = model.score(row, top_factors, now_ms);
      if (!s) std::exit(1);
      sink = sink + s->probability;
      ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    }
  };

  // Batch: bare prediction of prepared rows vs extraction + predict_batch, patients cycled.
  std::vector<float> batch_rows(batch_size * cols);
  for (std::size_t i = 0; i < batch_size; ++i)
    std::copy_n(&rows[(i % patients_n) * cols], cols, &batch_rows[i * cols]);
  std::vector<float> batch_out(batch_size);
  auto bare_batch = [&] {
    char buf[160];
    std::snprintf(buf, sizeof buf, R"({"data": [%zu, true], "shape": [%zu, %zu], "typestr": "<f4", "version": 3})",
                  reinterpret_cast<std::uintptr_t>(batch_rows.data()), batch_size, cols);
    const auto t0 = Clock::now();
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* out = nullptr;
    check(XGBoosterPredictFromDense(bare.get(), buf, config, nullptr, &shape, &dim, &out), "XGBoosterPredictFromDense");
    sink = sink + out[batch_size - 1];
    return static_cast<double>(batch_size) / std::chrono::duration<double>(Clock::now() - t0).count();
  };
  auto scored_batch = [&] {
    std::vector<float> x(batch_size * cols);
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < batch_size; ++i) {
      const auto& p = patients[i % patients_n];
      const auto f = risk::extract_patient_features(p.record, &p.state, p.clinic, now_ms);
      if (!risk::model_input(model.spec(), f, {&x[i * cols], cols})) std::exit(1);
    }
    if (!model.predict_batch(x, batch_out)) std::exit(1);
    sink = sink + batch_out[batch_size - 1];
    return static_cast<double>(batch_size) / std::chrono::duration<double>(Clock::now() - t0).count();
  };

  std::vector<double> bare_p50, bare_p99, plain_p50, plain_p99, shap_p50, shap_p99, ratio_plain, ratio_shap;
  std::vector<double> bare_rate, scored_rate, ratio_batch;
  // Run 0 is the warm-up and is thrown away; the rest alternate bare and subject.
  for (int run = 0; run <= runs; ++run) {
    std::vector<double> b, s, x;
    bare_pass(b);
    score_pass(s, 0);
    score_pass(x, 3);
    const double br = bare_batch(), sr = scored_batch();
    if (run == 0) continue;
    const auto pb = percentiles(b), ps = percentiles(s), px = percentiles(x);
    bare_p50.push_back(pb.p50_us), bare_p99.push_back(pb.p99_us);
    plain_p50.push_back(ps.p50_us), plain_p99.push_back(ps.p99_us);
    shap_p50.push_back(px.p50_us), shap_p99.push_back(px.p99_us);
    ratio_plain.push_back(ps.p50_us / pb.p50_us);
    ratio_shap.push_back(px.p50_us / pb.p50_us);
    bare_rate.push_back(br), scored_rate.push_back(sr), ratio_batch.push_back(sr / br);
    std::printf("run %d: bare p50 %.2f us, score p50 %.2f us (%.2fx), with SHAP p50 %.2f us (%.2fx); batch %.0f vs %.0f /s (%.2fx)\n",
                run, pb.p50_us, ps.p50_us, ps.p50_us / pb.p50_us, px.p50_us, px.p50_us / pb.p50_us, br, sr, sr / br);
  }
  std::printf("\nmodel %s (%zu features), %zu patients per pass, median of %d runs after a warm-up:\n", model_id.c_str(),
              cols, patients_n, runs);
  std::printf("  bare XGBoosterPredictFromDense, 1 row:      p50 %7.2f us  p99 %7.2f us\n", median(bare_p50), median(bare_p99));
  std::printf("  score (extraction + prediction):           p50 %7.2f us  p99 %7.2f us  ratio p50 %.2fx\n",
              median(plain_p50), median(plain_p99), median(ratio_plain));
  std::printf("  score with SHAP and top-3 factors:         p50 %7.2f us  p99 %7.2f us  ratio p50 %.2fx\n",
              median(shap_p50), median(shap_p99), median(ratio_shap));
  std::printf("  batch of %zu, bare prediction:        %10.0f rows/s\n", batch_size, median(bare_rate));
  std::printf("  batch of %zu, extraction + prediction: %10.0f patients/s  ratio %.2fx\n", batch_size,
              median(scored_rate), median(ratio_batch));
  return 0;
}
