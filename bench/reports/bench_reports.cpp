// careloop_bench_reports: population reports from the month rows against the
// brute-force query over the raw readings, and what the rollup hook costs ingest.
//
//   careloop_bench_reports [--patients N] [--days D] [--clinics C] [--runs R] [--db FILE] [--ingest-jobs J]
//
// 1. A demo county of N patients with D days of readings (written without
//    hooks, as `careloop demo` does), then `rebuild` of the month rows; both
//    timed. With --db FILE an existing county is reused (made once, kept).
// 2. The county's month report (indicators by sex, age band and child unit,
//    suppressed) from the rollups vs the same counts by one SQL query over
//    the raw readings (the 12- and 3-month windows per patient), alternated
//    run by run after a warm-up; medians and their ratio. Then the 12-month
//    trend likewise (the brute force runs the query 12 times). The two
//    methods' county totals are compared, so the speed is of equal answers.
// 3. Ingest: jobs of 10 readings for one patient each (a phone's sync),
//    256 in flight, into a fresh database, with no hook and with the rollup
//    hook, alternated; readings per second, medians and their ratio.
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "careloop/core/time.hpp"
#include "careloop/demo/county.hpp"
#include "careloop/reports/report.hpp"
#include "careloop/reports/rollup.hpp"

using namespace careloop;
using Clock = std::chrono::steady_clock;

namespace {

template <class T>
T must(core::Result<T> r) {
  if (!r) {
    std::fprintf(stderr, "bench: %s\n", r.error().message.c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// County totals the two methods must agree on: cohort, under care and each status, per condition.
using Totals = std::map<std::string, std::int64_t>;

// The brute force: the indicator counts of month M straight from the readings.
class BruteForce {
 public:
  explicit BruteForce(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "bench: cannot open %s\n", path.c_str());
      std::exit(1);
    }
    const char* sql =
        "WITH last AS (SELECT patient_id, max(taken_at_ms) AS t FROM readings "
        "  WHERE clinic_id IN (SELECT value FROM json_each(?1)) AND taken_at_ms >= ?2 AND taken_at_ms < ?4 GROUP BY patient_id), "
        "bp AS (SELECT patient_id, systolic_mmhg AS s, diastolic_mmhg AS d, max(taken_at_ms) AS t FROM readings "
        "  WHERE clinic_id IN (SELECT value FROM json_each(?1)) AND kind = 'blood_pressure' AND taken_at_ms >= ?3 "
        "  AND taken_at_ms < ?4 GROUP BY patient_id), "
        "gl AS (SELECT patient_id, CASE kind WHEN 'hba1c' THEN hba1c_percent ELSE glucose_mmol_l END AS v, "
        "  max(taken_at_ms) AS t FROM readings WHERE clinic_id IN (SELECT value FROM json_each(?1)) AND "
        "  ((kind = 'glucose' AND glucose_context = 'fasting') OR kind = 'hba1c') AND taken_at_ms >= ?3 "
        "  AND taken_at_ms < ?4 GROUP BY patient_id) "
        "SELECT p.clinic_id, p.sex, ((CAST(substr(?5, 1, 4) AS INTEGER) - CAST(substr(p.birth_date, 1, 4) AS INTEGER)) - "
        "  (substr(?5, 6, 5) < substr(p.birth_date, 6, 5))) / 10, "
        "EXISTS (SELECT 1 FROM patient_diagnoses x WHERE x.patient_id = p.id AND x.code = 'hypertension'), "
        "EXISTS (SELECT 1 FROM patient_diagnoses x WHERE x.patient_id = p.id AND x.code = 'diabetes_t2'), "
        "CASE WHEN last.t IS NULL THEN '' WHEN last.t < ?3 THEN 'missed_visit' WHEN bp.t IS NULL THEN 'no_bp' "
        "  WHEN bp.s < 140 AND bp.d < 90 THEN 'controlled' ELSE 'uncontrolled' END, "
        "CASE WHEN last.t IS NULL THEN '' WHEN last.t < ?3 THEN 'missed_visit' WHEN gl.t IS NULL THEN 'no_glycemic' "
        "  WHEN gl.v < 7.0 THEN 'controlled' ELSE 'uncontrolled' END, count(*) "
        "FROM patients p LEFT JOIN last ON last.patient_id = p.id LEFT JOIN bp ON bp.patient_id = p.id "
        "LEFT JOIN gl ON gl.patient_id = p.id "
        "WHERE p.clinic_id IN (SELECT value FROM json_each(?1)) AND p.registered_at_ms < ?3 "
        "GROUP BY 1, 2, 3, 4, 5, 6, 7";
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "bench: %s\n", sqlite3_errmsg(db_));
      std::exit(1);
    }
  }
  ~BruteForce() {
    sqlite3_finalize(stmt_);
    sqlite3_close(db_);
  }

  // The cohort (registered before M-2) counted by status, summed over the county.
  Totals month(const std::string& clinic_ids, const reports::Calendar& cal, int m) {
    Totals t;
    const std::string as_of = reports::last_day(m);
    sqlite3_reset(stmt_);
    sqlite3_bind_text(stmt_, 1, clinic_ids.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt_, 2, cal.month_start_ms(m - 11));
    sqlite3_bind_int64(stmt_, 3, cal.month_start_ms(m - 2));
    sqlite3_bind_int64(stmt_, 4, cal.month_end_ms(m));
    sqlite3_bind_text(stmt_, 5, as_of.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(stmt_) == SQLITE_ROW) {
      const auto n = sqlite3_column_int64(stmt_, 7);
      for (int k = 0; k < 2; ++k) {
        if (!sqlite3_column_int(stmt_, 3 + k)) continue;
        const std::string p = k == 0 ? "htn_" : "dm_";
        std::string s = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, 5 + k));
        t[p + "cohort"] += n;
        if (s.empty()) s = "ltfu";
        else t[p + "under_care"] += n;
        if (s == "no_bp" || s == "no_glycemic") s = "visit_no_measure";
        t[p + s] += n;
      }
    }
    return t;
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

Totals totals_of(const reports::Report& r, const reports::Row& row) {
  Totals t;
  for (std::size_t i = 0; i < r.indicators.columns.size(); ++i) {
    const auto& c = r.indicators.columns[i];
    for (const char* p : {"htn_", "dm_"})
      for (const char* n : {"cohort", "under_care", "ltfu", "controlled", "uncontrolled", "visit_no_measure", "missed_visit"})
        if (c == std::string(p) + n && row.cells[i].value) t[c] = static_cast<std::int64_t>(*row.cells[i].value);
  }
  return t;
}

// Waits for many jobs in flight (group commit) without blocking the writer.
class InFlight {
 public:
  explicit InFlight(int limit) : limit_(limit) {}
  void acquire() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return n_ < limit_; });
    ++n_;
  }
  void release(bool ok) {
    std::lock_guard lock(m_);
    --n_;
    if (!ok) failed_ = true;
    cv_.notify_all();
  }
  bool drain() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return n_ == 0; });
    return !failed_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int n_ = 0;
  int limit_;
  bool failed_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  int patients = 10'000, days = 60, clinics = 0, runs = 5, ingest_jobs = 3000;
  std::string db_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--patients") patients = std::stoi(v);
    else if (k == "--days") days = std::stoi(v);
    else if (k == "--clinics") clinics = std::stoi(v);
    else if (k == "--runs") runs = std::stoi(v);
    else if (k == "--db") db_path = v;
    else if (k == "--ingest-jobs") ingest_jobs = std::stoi(v);
    else {
      std::fprintf(stderr, "usage: %s [--patients N] [--days D] [--clinics C] [--runs R] [--db FILE] [--ingest-jobs J]\n", argv[0]);
      return 2;
    }
  }
  if (clinics <= 0) clinics = std::clamp(patients / 2000, 10, 100);
  const auto tmp = std::filesystem::temp_directory_path() / ("careloop-bench-reports-" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  const bool keep = !db_path.empty();
  if (db_path.empty()) db_path = (tmp / "county.db").string();
  const auto cal = must(reports::Calendar::in_zone("Asia/Shanghai"));
  const std::int64_t end_day = core::days_from_civil(2026, 11, 20);

  store::Options so;
  so.path = db_path;
  const bool fresh = !std::filesystem::exists(db_path);
  auto st = must(store::open_sqlite(so));
  if (fresh) {
    demo::Options o;
    o.patients = patients;
    o.clinics = clinics;
    o.days = days;
    o.end_day = end_day;
    o.patient_logins = 0;
    auto t = Clock::now();
    auto s = must(demo::generate_county(*st, o, [](const std::string&) -> core::Result<std::string> { return std::string("-"); }));
    std::printf("county: %d patients, %d clinics, %lld readings generated in %.1f s\n", s.patients, s.clinics,
                static_cast<long long>(s.readings), seconds_since(t));
    t = Clock::now();
    auto r = must(reports::rebuild(*st, cal));
    std::printf("rebuild: %lld month rows in %.1f s\n", static_cast<long long>(r.rows), seconds_since(t));
  }
  const auto readings = st->count_readings();
  std::int64_t county = 0;
  for (const auto& r : st->regions())
    if (r.level == core::RegionLevel::district) county = r.id;
  std::string ids = "[";
  for (const auto& c : st->clinics()) ids += (ids.size() > 1 ? "," : "") + std::to_string(c.id);
  ids += "]";
  std::printf("database: %lld readings, %zu clinics (%s)\n", static_cast<long long>(readings), st->clinics().size(),
              db_path.c_str());

  BruteForce brute(db_path);
  const int month = reports::month_index(2026, 10);
  const auto now = core::now_utc_ms();

  // Month report: warm-up, then alternated runs.
  std::vector<double> roll_month, brute_month, roll_trend, brute_trend;
  Totals roll_totals, brute_totals;
  for (int run = 0; run <= runs; ++run) {
    auto t = Clock::now();
    auto rep = must(reports::build_report(*st, cal, reports::UnitType::region, county, month, now, {false, false, false}));
    const double a = seconds_since(t);
    t = Clock::now();
    brute_totals = brute.month(ids, cal, month);
    const double b = seconds_since(t);
    roll_totals = totals_of(rep, rep.indicators.rows.front());
    if (run == 0) continue;
    roll_month.push_back(a);
    brute_month.push_back(b);
  }
  // Every county total the report publishes must equal the brute force's (suppressed ones are not published).
  int compared = 0, differ = 0;
  for (const auto& [k, v] : roll_totals) {
    const auto b = brute_totals.count(k) ? brute_totals.at(k) : 0;
    ++compared;
    if (b != v) {
      ++differ;
      std::printf("  %s: brute force %lld, rollups %lld\n", k.c_str(), static_cast<long long>(b), static_cast<long long>(v));
    }
  }
  const bool agree = differ == 0 && compared > 0;
  std::printf("month report %s: rollups median %.4f s, brute force median %.4f s, ratio %.1fx (%d runs); "
              "%d published county totals %s\n",
              reports::format_month(month).c_str(), median(roll_month), median(brute_month),
              median(brute_month) / median(roll_month), runs, compared, agree ? "agree" : "DIFFER");

  for (int run = 0; run <= runs; ++run) {
    auto t = Clock::now();
    auto rep = must(reports::build_report(*st, cal, reports::UnitType::region, county, month, now, {true, false, false}));
    const double a = seconds_since(t);
    t = Clock::now();
    for (int m = month - 11; m <= month; ++m) brute.month(ids, cal, m);
    const double b = seconds_since(t);
    if (run == 0) continue;
    roll_trend.push_back(a);
    brute_trend.push_back(b);
  }
  std::printf("12-month trend: rollups median %.4f s, brute force median %.4f s, ratio %.1fx (%zu runs)\n",
              median(roll_trend), median(brute_trend), median(brute_trend) / median(roll_trend), roll_trend.size());
  st->close();

  // Ingest with and without the rollup hook.
  {
    store::Options io;
    io.path = (tmp / "ingest.db").string();
    auto in = must(store::open_sqlite(io));
    const auto region = must(store::wait_for<std::int64_t>([&](auto done) {
      in->add_region({std::nullopt, "bench", core::RegionLevel::district, ""}, done);
    }));
    const auto clinic = must(store::wait_for<std::int64_t>([&](auto done) { in->add_clinic({region, "bench", "Asia/Shanghai"}, done); }));
    std::vector<std::int64_t> pids;
    for (int i = 0; i < 500; ++i) {
      core::Patient p;
      p.clinic_id = clinic;
      p.name = "bench";
      p.birth_date = core::days_from_civil(1960, 1, 1);
      p.diagnoses = {{std::string(core::dx_hypertension), 0}};
      p.registered_at_ms = 1'600'000'000'000;
      pids.push_back(must(store::wait_for<std::int64_t>([&](auto done) { in->add_patient(p, done); })));
    }
    auto hook = reports::make_rollup_hook(cal);
    std::vector<double> without, with;
    std::int64_t serial = 0;
    const std::int64_t base_ms = cal.month_start_ms(month);
    for (int run = 0; run <= runs * 2 + 1; ++run) {
      const bool hooked = run % 2 == 1;
      in->set_readings_hook(hooked ? hook : nullptr);
      InFlight inflight(256);
      const auto t = Clock::now();
      for (int j = 0; j < ingest_jobs; ++j) {
        std::vector<core::Reading> batch;
        for (int k = 0; k < 10; ++k) {
          core::Reading r;
          r.client_id = "b" + std::to_string(++serial);
          r.kind = core::ReadingKind::blood_pressure;
          // A second apart (never a duplicate), in the month; one in seven two months late.
          r.taken_at = {base_ms - (serial % 7 == 0 ? 60LL * 86'400'000 : 0) + serial * 1000, 480};
          r.systolic_mmhg = 120 + static_cast<double>(serial % 50);
          r.diastolic_mmhg = 80;
          batch.push_back(std::move(r));
        }
        inflight.acquire();
        in->insert_readings(pids[static_cast<std::size_t>(j) % pids.size()], std::move(batch),
                            [&inflight](auto r) { inflight.release(r.ok()); });
      }
      if (!inflight.drain()) {
        std::fprintf(stderr, "bench: an ingest job failed\n");
        return 1;
      }
      const double rate = ingest_jobs * 10 / seconds_since(t);
      if (run < 2) continue;  // warm-up: one run of each
      (hooked ? with : without).push_back(rate);
    }
    std::printf("ingest (10 readings per job, 256 jobs in flight): no hook median %.0f readings/s, rollup hook median %.0f "
                "readings/s, ratio %.2f (%zu runs each)\n",
                median(without), median(with), median(with) / median(without), with.size());
    in->close();
  }
  std::error_code ec;
  if (!keep) std::filesystem::remove_all(tmp, ec);
  else std::filesystem::remove(tmp / "ingest.db", ec);
  return agree ? 0 : 1;
}
