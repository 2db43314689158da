// usage: careloop_bench_risk_db DATABASE [RUNS=3] [PAGE=1000]
// Batch scoring of every patient of a CareLoop database (issue 7 item 8):
// `Scorer::score_patients` over pages of PAGE patients, reading each page's
// records and saved states (Store::patients_with_state), and
// `Scorer::score_all` (the same, and the scores written), against the
// ceiling of bare batch prediction: one `XGBoosterPredictFromDense` call per
// model over the very rows the scorer builds, prepared in advance. A second
// ceiling adds one SHAP call per model (the stored scores carry their top
// factors). The runs alternate ceiling and subjects; run 0 is a warm-up and
// is thrown away (bench/README.md). Make the database with
// `careloop --db FILE demo --patients 100000 ...` (bench/risk/README.md).
#include <xgboost/c_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "careloop/core/patient_state.hpp"
#include "careloop/core/time.hpp"
#include "careloop/risk/features.hpp"
#include "careloop/risk/registry.hpp"
#include "careloop/scoring/scorer.hpp"
#include "careloop/store/store.hpp"

using namespace careloop;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::int64_t day_ms = 86'400'000;

struct BoosterFree {
  void operator()(void* h) const noexcept { XGBoosterFree(h); }
};
struct MatrixFree {
  void operator()(void* h) const noexcept { XGDMatrixFree(h); }
};

void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "%s: %s\n", what, XGBGetLastError());
    std::exit(1);
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// One model's rows for the whole database, as the scorer builds them, and a
// bare booster of the same model file.
struct Ceiling {
  std::string id;
  std::size_t cols = 0;
  std::vector<float> rows;
  std::unique_ptr<void, BoosterFree> booster;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: careloop_bench_risk_db DATABASE [RUNS=3] [PAGE=1000]\n");
    return 2;
  }
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  const int page = argc > 3 ? std::atoi(argv[3]) : 1000;
  store::Options opts;
  opts.path = argv[1];
  opts.create_if_missing = false;
  auto opened = store::open_sqlite(opts);
  if (!opened) {
    std::fprintf(stderr, "%s: %s\n", argv[1], opened.error().message.c_str());
    return 1;
  }
  auto& st = **opened;
  risk::ModelRegistry registry(std::string(CARELOOP_DATA_DIR) + "/models");
  if (auto load = registry.reload(); !load.refused.empty()) {
    std::fprintf(stderr, "a model was refused: %s\n", load.refused.front().error.message.c_str());
    return 1;
  }
  const auto models = registry.models();
  const scoring::Scorer scorer(st, registry);
  // Every score of the run is "now" of the database's last day, so the runs do the same work.
  const std::int64_t now = core::now_utc_ms();

  std::vector<std::int64_t> ids;
  for (std::int64_t after = 0;;) {
    auto got = st.patient_ids(after, 100'000);
    if (got.empty()) break;
    after = got.back();
    ids.insert(ids.end(), got.begin(), got.end());
  }
  const auto n = static_cast<double>(ids.size());
  std::printf("%zu patients, %lld readings, %zu models, pages of %d\n", ids.size(),
              static_cast<long long>(st.count_readings()), models.size(), page);

  // The ceiling's rows: built once, untimed, exactly as the scorer builds them.
  std::vector<Ceiling> ceilings;
  for (const auto& m : models) {
    if (!m->spec().patient_scoring) continue;
    Ceiling c;
    c.id = m->spec().id;
    c.cols = m->feature_count();
    BoosterHandle h = nullptr;
    check(XGBoosterCreate(nullptr, 0, &h), "XGBoosterCreate");
    c.booster.reset(h);
    const std::string file = std::string(CARELOOP_DATA_DIR) + "/models/" + c.id + "/model.json";
    check(XGBoosterLoadModel(h, file.c_str()), "XGBoosterLoadModel");
    check(XGBoosterSetParam(h, "nthread", "1"), "XGBoosterSetParam");
    ceilings.push_back(std::move(c));
  }
  std::int64_t from_saved = 0, read_readings = 0;
  {
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < ids.size(); i += static_cast<std::size_t>(page)) {
      const auto len = std::min(ids.size() - i, static_cast<std::size_t>(page));
      // The scorer's own read and its own rule for which model applies (scoring::model_row).
      for (const auto& p : st.patients_with_state({ids.data() + i, len}, now - core::PatientState::retained_days * day_ms,
                                                  now + 1)) {
        from_saved += p.from_saved;
        read_readings += p.readings_read;
        const auto f = risk::extract_patient_features(p.patient, &p.state, {}, now);
        for (auto& c : ceilings) {
          std::vector<float> row(c.cols);
          if (!scoring::model_row(*registry.find(c.id), p.patient, f, row))
            c.rows.insert(c.rows.end(), row.begin(), row.end());
        }
      }
    }
    std::printf("ceiling rows prepared in %.1f s:", seconds_since(t0));
    for (const auto& c : ceilings) std::printf(" %s %zu", c.id.c_str(), c.rows.size() / c.cols);
    std::printf("\n%lld of %zu patients read from a saved state, %lld readings read (catch-up or fold)\n",
                static_cast<long long>(from_saved), ids.size(), static_cast<long long>(read_readings));
  }

  // What reading a saved state costs, against the JSON form it replaces (the
  // states of up to 1,000 patients, each decoded 5 times).
  {
    std::vector<std::string> blobs, texts;
    for (auto id : ids) {
      if (blobs.size() >= 1000) break;
      const auto row = st.patient_state(id);
      if (!row || row->state_bin.empty()) continue;
      auto state = core::PatientState::from_binary(row->state_bin);
      if (!state) continue;
      blobs.push_back(row->state_bin);
      texts.push_back(state->to_json());
    }
    if (!blobs.empty()) {
      std::size_t bytes_bin = 0, bytes_json = 0;
      for (std::size_t i = 0; i < blobs.size(); ++i) bytes_bin += blobs[i].size(), bytes_json += texts[i].size();
      auto per_state_us = [&](auto&& f) {
        const auto t0 = Clock::now();
        for (int rep = 0; rep < 5; ++rep)
          for (std::size_t i = 0; i < blobs.size(); ++i) f(i);
        return seconds_since(t0) * 1e6 / (5.0 * static_cast<double>(blobs.size()));
      };
      std::size_t n_ok = 0;
      const double bin_us = per_state_us([&](std::size_t i) { n_ok += core::PatientState::from_binary(blobs[i]).ok(); });
      const double json_us = per_state_us([&](std::size_t i) { n_ok += core::PatientState::from_json(texts[i]).ok(); });
      std::printf("saved states: %zu, mean %zu bytes binary / %zu bytes JSON; decode %.1f us binary, %.1f us JSON (%zu ok)\n",
                  blobs.size(), bytes_bin / blobs.size(), bytes_json / blobs.size(), bin_us, json_us, n_ok);
    }
  }

  volatile float sink = 0;
  const char* value_config =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "missing": NaN, "cache_id": 0})";
  const char* contribution_config =
      R"({"type": 2, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false})";
  // Seconds for bare prediction of every model's rows (and SHAP too when asked).
  auto bare = [&](bool shap) {
    const auto t0 = Clock::now();
    for (auto& c : ceilings) {
      const std::size_t rows = c.rows.size() / c.cols;
      if (rows == 0) continue;
      char buf[160];
      std::snprintf(buf, sizeof buf, R"({"data": [%zu, true], "shape": [%zu, %zu], "typestr": "<f4", "version": 3})",
                    reinterpret_cast<std::uintptr_t>(c.rows.data()), rows, c.cols);
      const bst_ulong* shape = nullptr;
      bst_ulong dim = 0;
      const float* out = nullptr;
      check(XGBoosterPredictFromDense(c.booster.get(), buf, value_config, nullptr, &shape, &dim, &out), "predict");
      sink = sink + out[rows - 1];
      if (shap) {
        DMatrixHandle m = nullptr;
        check(XGDMatrixCreateFromMat_omp(c.rows.data(), rows, c.cols, std::nanf(""), &m, 1), "XGDMatrixCreateFromMat");
        std::unique_ptr<void, MatrixFree> matrix(m);
        check(XGBoosterPredictFromDMatrix(c.booster.get(), m, contribution_config, &shape, &dim, &out), "contribs");
        sink = sink + out[0];
      }
    }
    return seconds_since(t0);
  };
  auto from_db = [&] {
    const auto t0 = Clock::now();
    std::size_t scores = 0;
    for (std::size_t i = 0; i < ids.size(); i += static_cast<std::size_t>(page)) {
      const auto len = std::min(ids.size() - i, static_cast<std::size_t>(page));
      auto s = scorer.score_patients({ids.data() + i, len}, now);
      if (!s) std::exit(1);
      scores += s->scores.size();
    }
    sink = sink + static_cast<float>(scores);
    return seconds_since(t0);
  };
  auto score_all = [&] {
    const auto t0 = Clock::now();
    auto s = scorer.score_all(now, page, nullptr);
    if (!s) {
      std::fprintf(stderr, "score_all: %s\n", s.error().message.c_str());
      std::exit(1);
    }
    return seconds_since(t0);
  };

  std::vector<double> bare_rate, shap_rate, db_rate, all_rate;
  for (int run = 0; run <= runs; ++run) {
    const double b = bare(false), bs = bare(true), d = from_db(), a = score_all();
    std::printf("run %d%s: bare %.0f/s, bare+SHAP %.0f/s, from the database %.0f/s (%.3fx, %.3fx), score --all %.0f/s (%.3fx)\n",
                run, run == 0 ? " (warm-up)" : "", n / b, n / bs, n / d, b / d, bs / d, n / a, bs / a);
    std::fflush(stdout);
    if (run == 0) continue;
    bare_rate.push_back(n / b), shap_rate.push_back(n / bs), db_rate.push_back(n / d), all_rate.push_back(n / a);
  }
  const double b = median(bare_rate), bs = median(shap_rate), d = median(db_rate), a = median(all_rate);
  std::printf("\nmedian of %d runs, %zu patients (patients/s):\n", runs, ids.size());
  std::printf("  bare batch prediction, every model, rows prepared:   %10.0f  1\n", b);
  std::printf("  bare batch prediction + SHAP, rows prepared:         %10.0f  %.3fx\n", bs, bs / b);
  std::printf("  Scorer from the database (read, extract, score+SHAP): %10.0f  %.3fx of bare, %.3fx of bare+SHAP\n", d,
              d / b, d / bs);
  std::printf("  score --all (the same, scores written):              %10.0f  %.3fx of bare, %.3fx of bare+SHAP\n", a,
              a / b, a / bs);
  return 0;
}
