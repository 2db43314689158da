// usage: careloop_bench_risk_db DATABASE [RUNS=3] [PAGE=1000] [--add-home-bp]
// Batch scoring of every patient of a CareLoop database (issue 7 item 8):
// `Scorer::score_patients` over pages of PAGE patients (records and state
// digests, diagnoses and clinic measurements read per page), and
// `Scorer::score_all` (the same, and the scores written), against the
// ceiling of bare batch prediction: one `XGBoosterPredictFromDense` call per
// model over the very rows the scorer builds, prepared in advance. A second
// ceiling adds one SHAP call per model (the stored scores carry their top
// factors). Two floors bound any implementation from below: SQLite alone
// stepping the store's queries of each page (nothing decoded or built), and
// the very scores of a run written alone as score_all writes them. The runs
// alternate ceilings, subjects and floors; run 0 is a warm-up and is thrown
// away (bench/README.md). Make the database with
// `careloop --db FILE demo --patients 100000 ...` (bench/risk/README.md).
//
// --add-home-bp first gives every patient without hypertension and without
// home blood pressure in the last 30 days 30 days of it (through the store,
// seeded), then rebuilds the saved states: the demo's diabetes-only patients
// measure no blood pressure at home, and a model is not applied with a
// feature it never saw missing in training, so on the demo as generated no
// model applies to anyone (scoring/README.md). It writes to DATABASE: use a copy.
#include <sqlite3.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <random>
#include <memory>
#include <string>
#include <vector>

#include "careloop/core/patient_state.hpp"
#include "careloop/core/time.hpp"
#include "careloop/risk/features.hpp"
#include "careloop/risk/registry.hpp"
#include "careloop/scoring/digest.hpp"
#include "careloop/scoring/scorer.hpp"
#include "careloop/store/state_rebuild.hpp"
#include "careloop/store/sqlite.hpp"

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
    std::fprintf(stderr, "usage: careloop_bench_risk_db DATABASE [RUNS=3] [PAGE=1000] [--add-home-bp]\n");
    return 2;
  }
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  const int page = argc > 3 ? std::atoi(argv[3]) : 1000;
  const bool add_home_bp = argc > 4 && std::string(argv[4]) == "--add-home-bp";
  store::SqliteOptions opts;
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
  if (add_home_bp) {
    const auto t0 = Clock::now();
    std::mt19937_64 rng(20261125);
    std::normal_distribution<double> noise(0, 5);
    std::size_t patients = 0, readings = 0;
    for (auto id : ids) {
      auto p = st.patient(id);
      if (!p || p->has_diagnosis(core::dx_hypertension)) continue;
      store::ReadingQuery q;
      q.patient_id = id;
      q.kind = core::ReadingKind::blood_pressure;
      q.from_ms = now - 30 * day_ms;
      q.to_ms = now + 1;
      q.limit = 1;
      if (!st.readings(q).empty()) continue;
      const double mean = 116 + std::uniform_real_distribution<double>(0, 18)(rng);
      std::vector<core::Reading> rs;
      for (int d = 0; d < 30; ++d) {
        core::Reading r;
        r.client_id = "bench-home-bp-" + std::to_string(id) + "-" + std::to_string(d);
        r.kind = core::ReadingKind::blood_pressure;
        r.taken_at = {now - d * day_ms - 10 * 3'600'000LL, 480};
        r.systolic_mmhg = std::round(mean + noise(rng));
        r.diastolic_mmhg = std::round(0.55 * *r.systolic_mmhg + 8 + noise(rng) * 0.6);
        r.pulse_bpm = std::round(74 + noise(rng));
        r.source = "bench";
        r.value_as_sent = r.systolic_mmhg;
        r.unit_as_sent = "mmHg";
        rs.push_back(std::move(r));
      }
      readings += rs.size();
      auto done = store::wait_for<std::vector<store::InsertOutcome>>(
          [&](auto completion) { st.insert_readings(id, std::move(rs), std::move(completion)); });
      if (!done) {
        std::fprintf(stderr, "insert: %s\n", done.error().message.c_str());
        return 1;
      }
      ++patients;
    }
    auto rebuilt = store::rebuild_patient_states(st, 500, {}, scoring::save_digest);
    if (!rebuilt) {
      std::fprintf(stderr, "state rebuild: %s\n", rebuilt.error().message.c_str());
      return 1;
    }
    std::printf("--add-home-bp: %zu patients got %zu home blood pressure readings; %lld states rebuilt, in %.1f s\n",
                patients, readings, static_cast<long long>(rebuilt->states), seconds_since(t0));
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
      const auto measured = scoring::measurements_of(st, {ids.data() + i, len}, now);
      for (auto& p : st.patients_with_state({ids.data() + i, len}, now - core::PatientState::retained_days * day_ms,
                                            now + 1)) {
        from_saved += p.from_saved;
        read_readings += p.readings_read;
        const auto f = scoring::features_of(p.patient, &p.state, measured, now);
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
  // Wall and thread-CPU seconds of one subject: the machine is shared, so
  // the CPU time is the per-core figure and the wall time what sharing left.
  struct Took {
    double wall = 0, cpu = 0;
  };
  auto timed = [](auto&& f) {
    timespec c0{}, c1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    const auto t0 = Clock::now();
    f();
    const double wall = seconds_since(t0);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    return Took{wall, static_cast<double>(c1.tv_sec - c0.tv_sec) + 1e-9 * static_cast<double>(c1.tv_nsec - c0.tv_nsec)};
  };
  // Bare prediction of every model's rows (and xgboost's SHAP too when asked).
  auto bare = [&](bool shap) {
    return timed([&] {
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
    });
  };
  // The scoring itself on the prepared rows: Model::score_batch (prediction,
  // CareLoop's TreeSHAP, the top factors in words), no database, no extraction.
  auto in_memory = [&] {
    return timed([&] {
      for (auto& c : ceilings) {
        if (c.rows.empty()) continue;
        auto s = registry.find(c.id)->score_batch(c.rows, scoring::top_factors, now);
        if (!s) std::exit(1);
        sink = sink + static_cast<float>(s->size());
      }
    });
  };
  auto from_db = [&] {
    return timed([&] {
      std::size_t scores = 0;
      for (std::size_t i = 0; i < ids.size(); i += static_cast<std::size_t>(page)) {
        const auto len = std::min(ids.size() - i, static_cast<std::size_t>(page));
        auto s = scorer.score_patients({ids.data() + i, len}, now);
        if (!s) std::exit(1);
        scores += s->scores.size();
      }
      sink = sink + static_cast<float>(scores);
    });
  };
  // Only the read of the pages (records, digests and clinic measurements): what the database costs.
  auto read_only = [&] {
    return timed([&] {
      std::size_t got = 0;
      for (std::size_t i = 0; i < ids.size(); i += static_cast<std::size_t>(page)) {
        const auto len = std::min(ids.size() - i, static_cast<std::size_t>(page));
        got += st.patients_with_digest({ids.data() + i, len}).size();
        got += scoring::measurements_of(st, {ids.data() + i, len}, now).size();
      }
      sink = sink + static_cast<float>(got);
    });
  };
  // The floor of that read: SQLite alone running the store's three queries
  // of each page (records joined with digests, diagnoses, the clinic
  // measurements of the window, as store/src/sqlite_store.cpp writes them)
  // on a connection of its own, every row stepped and every column fetched,
  // nothing decoded or built. No reader of these inputs can go below it.
  // The SQL is a copy of the store's: change it with them.
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(argv[1], &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "%s: %s\n", argv[1], sqlite3_errmsg(raw));
    return 1;
  }
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> raw_db(raw, &sqlite3_close);
  auto prepare = [&](const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(raw, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(raw));
      std::exit(1);
    }
    return std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>(stmt, &sqlite3_finalize);
  };
  auto records = prepare(
      "SELECT p.id, p.clinic_id, p.sex, p.birth_date, p.height_cm, p.smoking, p.parents_with_hypertension, "
      "p.family_history_diabetes, p.pregnant, p.registered_at_ms, d.as_of_ms, d.digest "
      "FROM patients p LEFT JOIN patient_digests d ON d.patient_id = p.id WHERE p.id BETWEEN ?1 AND ?2");
  auto diagnoses = prepare(
      "SELECT patient_id, code, diagnosed_on FROM patient_diagnoses WHERE patient_id BETWEEN ?1 AND ?2 "
      "ORDER BY patient_id, code");
  auto measurements = prepare(
      "SELECT m.id, m.patient_id, m.kind, m.measured_at_ms, m.value FROM clinic_measurements m "
      "WHERE m.patient_id BETWEEN ?1 AND ?2 AND m.measured_at_ms >= ?3 ORDER BY m.patient_id, m.kind, m.measured_at_ms");
  const std::int64_t since = now - scoring::clinic_measurement_valid_days * day_ms;
  auto sqlite_floor = [&] {
    return timed([&] {
      std::uint64_t touched = 0;
      auto drain = [&](sqlite3_stmt* stmt, std::int64_t first, std::int64_t last) {
        sqlite3_reset(stmt);
        sqlite3_bind_int64(stmt, 1, first);
        sqlite3_bind_int64(stmt, 2, last);
        if (sqlite3_bind_parameter_count(stmt) == 3) sqlite3_bind_int64(stmt, 3, since);
        const int cols = sqlite3_column_count(stmt);
        while (sqlite3_step(stmt) == SQLITE_ROW)
          for (int c = 0; c < cols; ++c) {
            switch (sqlite3_column_type(stmt, c)) {
              case SQLITE_INTEGER: touched += static_cast<std::uint64_t>(sqlite3_column_int64(stmt, c)); break;
              case SQLITE_FLOAT: touched += static_cast<std::uint64_t>(sqlite3_column_double(stmt, c)); break;
              case SQLITE_TEXT: touched += *sqlite3_column_text(stmt, c); break;
              case SQLITE_BLOB: {
                const auto* b = static_cast<const unsigned char*>(sqlite3_column_blob(stmt, c));
                const auto n = sqlite3_column_bytes(stmt, c);
                if (n > 0) touched += b[0] + b[n - 1];
                break;
              }
              default: break;
            }
          }
      };
      for (std::size_t i = 0; i < ids.size(); i += static_cast<std::size_t>(page)) {
        const auto len = std::min(ids.size() - i, static_cast<std::size_t>(page));
        const std::int64_t first = ids[i], last = ids[i + len - 1];
        drain(records.get(), first, last);
        drain(diagnoses.get(), first, last);
        drain(measurements.get(), first, last);
      }
      sink = sink + static_cast<float>(touched & 0xff);
    });
  };
  // The floor of score_all's writes: the very scores of a whole run (made
  // once, untimed), stored page by page as score_all stores them, one job a
  // page on the store's writer thread. Wall time: the calling thread waits.
  std::vector<std::vector<store::StoredRiskScore>> score_pages;
  for (std::size_t i = 0; i < ids.size(); i += static_cast<std::size_t>(page)) {
    const auto len = std::min(ids.size() - i, static_cast<std::size_t>(page));
    auto s = scorer.score_patients({ids.data() + i, len}, now);
    if (!s) std::exit(1);
    score_pages.push_back(std::move(s->scores));
  }
  auto writes_only = [&] {
    return timed([&] {
      for (const auto& scores : score_pages) {
        if (scores.empty()) continue;
        auto done = store::wait_for<core::Unit>([&](auto completion) { st.add_risk_scores(scores, std::move(completion)); });
        if (!done) {
          std::fprintf(stderr, "add_risk_scores: %s\n", done.error().message.c_str());
          std::exit(1);
        }
      }
    });
  };
  auto score_all = [&] {
    return timed([&] {
      auto s = scorer.score_all(now, page, nullptr);
      if (!s) {
        std::fprintf(stderr, "score_all: %s\n", s.error().message.c_str());
        std::exit(1);
      }
    });
  };

  const char* names[] = {"bare batch prediction, rows prepared", "bare prediction + xgboost SHAP, rows prepared",
                         "Model::score_batch on the rows (TreeSHAP, factors)", "Scorer::score_patients from the database",
                         "Scorer::score_all (the same, scores written)",
                         "reading the pages only (records, digests, measurements)",
                         "floor: SQLite steps the same queries, nothing built",
                         "floor: the same scores written alone (wall)"};
  constexpr int subjects = 8;
  // Rates, and ratios to the ceilings of the same run (the machine is
  // shared: a run-to-run swing moves subject and ceiling together).
  std::vector<double> wall_rate[subjects], cpu_rate[subjects], wall_ratio[subjects], cpu_ratio[subjects],
      shap_ratio[subjects];
  for (int run = 0; run <= runs; ++run) {
    const Took t[subjects] = {bare(false), bare(true), in_memory(), from_db(), score_all(), read_only(), sqlite_floor(), writes_only()};
    std::printf("run %d%s (patients/s wall | per CPU-s):", run, run == 0 ? " (warm-up)" : "");
    for (int k = 0; k < subjects; ++k) std::printf(" %.0f|%.0f", n / t[k].wall, n / t[k].cpu);
    std::printf("; score_all/bare %.4fx wall, %.4fx CPU\n", t[0].wall / t[4].wall, t[0].cpu / t[4].cpu);
    std::fflush(stdout);
    if (run == 0) continue;
    for (int k = 0; k < subjects; ++k) {
      wall_rate[k].push_back(n / t[k].wall);
      cpu_rate[k].push_back(n / t[k].cpu);
      wall_ratio[k].push_back(t[0].wall / t[k].wall);
      cpu_ratio[k].push_back(t[0].cpu / t[k].cpu);
      shap_ratio[k].push_back(t[1].cpu / t[k].cpu);
    }
  }
  std::printf("\nmedian of %d runs, %zu patients: patients/s (wall), per CPU-second (the calling thread; "
              "score_all's writes run on the store's writer thread), and the median of the runs' ratios to bare "
              "prediction (wall, CPU) and to bare + xgboost SHAP (CPU) of the same run:\n",
              runs, ids.size());
  for (int k = 0; k < subjects; ++k)
    std::printf("  %-56s %10.0f  %10.0f  %.4fx  %.4fx  %.3fx\n", names[k], median(wall_rate[k]), median(cpu_rate[k]),
                median(wall_ratio[k]), median(cpu_ratio[k]), median(shap_ratio[k]));
  return 0;
}
