// careloop_bench_reports: population reports from the month rows against the
// brute-force query over the raw readings, and what the rollup hook costs ingest.
//
//   careloop_bench_reports [--patients N] [--days D] [--clinics C] [--runs R] [--db FILE] [--ingest-jobs J]
//                          [--generate-only | --ingest-only | --no-ingest]
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
//    256 in flight, into a fresh database, with no hook, the rollup hook
//    alone, care's critical-alert hook (the real protocol library) alone and
//    care's hook then the rollup hook (as the server runs), alternated;
//    readings per second, medians, and the rollups' ratio in both pairs.
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

#include "careloop/care/care.hpp"
#include "careloop/core/time.hpp"
#include "careloop/demo/county.hpp"
#include "careloop/reports/report.hpp"
#include "careloop/reports/rollup.hpp"
#include "careloop/store/sqlite.hpp"

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

// The common end of both queries over the readings: w holds per cohort
// patient (registered before M-2) its newest contact in the 12 months (last_t)
// and the status words of its newest blood pressure and glycaemic value in the
// 3 months (bp, gl); counted by clinic, sex, age decade and diagnosis.
constexpr const char* count_tail =
    "SELECT w.clinic_id, w.sex, ((CAST(substr(?5, 1, 4) AS INTEGER) - CAST(substr(w.birth_date, 1, 4) AS INTEGER)) - "
    "  (substr(?5, 6, 5) < substr(w.birth_date, 6, 5))) / 10, "
    "EXISTS (SELECT 1 FROM patient_diagnoses x WHERE x.patient_id = w.pid AND x.code = 'hypertension'), "
    "EXISTS (SELECT 1 FROM patient_diagnoses x WHERE x.patient_id = w.pid AND x.code = 'diabetes_t2'), "
    "CASE WHEN w.last_t IS NULL THEN '' WHEN w.last_t < ?3 THEN 'missed_visit' ELSE coalesce(w.bp, 'no_bp') END, "
    "CASE WHEN w.last_t IS NULL THEN '' WHEN w.last_t < ?3 THEN 'missed_visit' ELSE coalesce(w.gl, 'no_glycemic') END, "
    "count(*) FROM w GROUP BY 1, 2, 3, 4, 5, 6, 7";

// The status word of the reading b / g (a valid blood pressure, a fasting glucose or HbA1c).
#define CARELOOP_BP_WORD "CASE WHEN b.systolic_mmhg < 140 AND b.diastolic_mmhg < 90 THEN 'controlled' ELSE 'uncontrolled' END"
#define CARELOOP_GL_WORD \
  "CASE WHEN (CASE g.kind WHEN 'hba1c' THEN g.hba1c_percent ELSE g.glucose_mmol_l END) < 7.0 THEN 'controlled' " \
  "ELSE 'uncontrolled' END"
#define CARELOOP_IS_BP "b.kind = 'blood_pressure' AND b.systolic_mmhg IS NOT NULL AND b.diastolic_mmhg IS NOT NULL"
#define CARELOOP_IS_GL                                                                                   \
  "((g.kind = 'glucose' AND g.glucose_context = 'fasting' AND g.glucose_mmol_l IS NOT NULL) OR (g.kind = " \
  "'hba1c' AND g.hba1c_percent IS NOT NULL))"

// 1. The brute force the issue names: one pass over the window's readings,
// patient by patient (readings_patient_time), GROUP BY patient: the newest
// contact and the times of the newest blood pressure and glycaemic value;
// then each of those two readings by an index seek (a tie goes to the newest
// id, as in the rollups).
const std::string one_pass_sql = std::string(
    "WITH t AS (SELECT p.id AS pid, p.clinic_id, p.sex, p.birth_date, max(b.taken_at_ms) AS last_t, "
    "  max(CASE WHEN b.taken_at_ms >= ?3 AND " CARELOOP_IS_BP " THEN b.taken_at_ms END) AS bp_t, "
    "  max(CASE WHEN b.taken_at_ms >= ?3 AND " "((b.kind = 'glucose' AND b.glucose_context = 'fasting' AND "
    "    b.glucose_mmol_l IS NOT NULL) OR (b.kind = 'hba1c' AND b.hba1c_percent IS NOT NULL))" " THEN b.taken_at_ms END) AS gl_t "
    "  FROM patients p LEFT JOIN readings b ON b.patient_id = p.id AND b.taken_at_ms >= ?2 AND b.taken_at_ms < ?4 "
    "  WHERE p.clinic_id IN (SELECT value FROM json_each(?1)) AND p.registered_at_ms < ?3 GROUP BY p.id), "
    "w AS (SELECT t.*, (SELECT " CARELOOP_BP_WORD " FROM readings b WHERE b.patient_id = t.pid AND b.taken_at_ms = t.bp_t "
    "    AND " CARELOOP_IS_BP " ORDER BY b.id DESC LIMIT 1) AS bp, "
    "  (SELECT " CARELOOP_GL_WORD " FROM readings g WHERE g.patient_id = t.pid AND g.taken_at_ms = t.gl_t "
    "    AND " CARELOOP_IS_GL " ORDER BY g.id DESC LIMIT 1) AS gl FROM t) ") + count_tail;

// 2. Not a pass at all: per cohort patient, index seeks for its newest
// contact (readings_patient_time) and its newest valid blood pressure, fasting
// glucose and HbA1c in the window (readings_content, newest first). Reads only
// a handful of readings per patient: the strongest query over raw readings we
// know, reported beside the brute force.
const std::string seek_sql = std::string(
    "WITH w AS (SELECT p.id AS pid, p.clinic_id, p.sex, p.birth_date, "
    "  (SELECT max(r.taken_at_ms) FROM readings r WHERE r.patient_id = p.id AND r.taken_at_ms >= ?2 "
    "    AND r.taken_at_ms < ?4) AS last_t, "
    "  (SELECT " CARELOOP_BP_WORD " FROM readings b WHERE b.patient_id = p.id AND " CARELOOP_IS_BP
    "    AND b.taken_at_ms >= ?3 AND b.taken_at_ms < ?4 ORDER BY b.taken_at_ms DESC, b.id DESC LIMIT 1) AS bp, "
    "  (SELECT " CARELOOP_GL_WORD " FROM (SELECT * FROM (SELECT * FROM readings g WHERE g.patient_id = p.id "
    "      AND g.kind = 'glucose' AND g.glucose_context = 'fasting' AND g.glucose_mmol_l IS NOT NULL "
    "      AND g.taken_at_ms >= ?3 AND g.taken_at_ms < ?4 ORDER BY g.taken_at_ms DESC, g.id DESC LIMIT 1) "
    "    UNION ALL SELECT * FROM (SELECT * FROM readings g WHERE g.patient_id = p.id AND g.kind = 'hba1c' "
    "      AND g.hba1c_percent IS NOT NULL AND g.taken_at_ms >= ?3 AND g.taken_at_ms < ?4 "
    "      ORDER BY g.taken_at_ms DESC, g.id DESC LIMIT 1)) g ORDER BY g.taken_at_ms DESC, g.id DESC LIMIT 1) AS gl "
    "  FROM patients p WHERE p.clinic_id IN (SELECT value FROM json_each(?1)) AND p.registered_at_ms < ?3) ") + count_tail;

// A query over the raw readings giving the indicator counts of month M.
class BruteForce {
 public:
  BruteForce(const std::string& path, const std::string& sql) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "bench: cannot open %s\n", path.c_str());
      std::exit(1);
    }
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
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
  bool generate_only = false, ingest_only = false, no_ingest = false;
  std::string db_path;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--generate-only" || k == "--ingest-only" || k == "--no-ingest") {
      (k == "--generate-only" ? generate_only : k == "--ingest-only" ? ingest_only : no_ingest) = true;
      continue;
    }
    const std::string v = i + 1 < argc ? argv[++i] : "";
    if (v.empty()) {
      std::fprintf(stderr, "bench: %s needs a value\n", k.c_str());
      return 2;
    }
    if (k == "--patients") patients = std::stoi(v);
    else if (k == "--days") days = std::stoi(v);
    else if (k == "--clinics") clinics = std::stoi(v);
    else if (k == "--runs") runs = std::stoi(v);
    else if (k == "--db") db_path = v;
    else if (k == "--ingest-jobs") ingest_jobs = std::stoi(v);
    else {
      std::fprintf(stderr,
                   "usage: %s [--patients N] [--days D] [--clinics C] [--runs R] [--db FILE] [--ingest-jobs J] "
                   "[--generate-only | --ingest-only | --no-ingest]\n",
                   argv[0]);
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

  const int month = reports::month_index(2026, 10);
  bool agree = true;
  if (!ingest_only) {
    store::SqliteOptions so;
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
    if (generate_only) {
      std::error_code ec;
      std::filesystem::remove_all(tmp, ec);
      return 0;
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

    BruteForce one_pass(db_path, one_pass_sql), seeks(db_path, seek_sql);
    const auto now = core::now_utc_ms();

    // Every county total the report publishes must equal each query's (suppressed ones are not published).
    auto compare = [&agree](const char* what, const Totals& roll, const Totals& other) {
      int compared = 0, differ = 0;
      for (const auto& [k, v] : roll) {
        const auto b = other.count(k) ? other.at(k) : 0;
        ++compared;
        if (b != v) {
          ++differ;
          std::printf("  %s: %s %lld, rollups %lld\n", k.c_str(), what, static_cast<long long>(b), static_cast<long long>(v));
        }
      }
      if (differ || !compared) agree = false;
      return std::to_string(compared) + " published county totals " + (differ || !compared ? "DIFFER" : "agree");
    };

    // Month report: warm-up, then alternated runs (rollups, one pass, seeks).
    std::vector<double> roll_month, pass_month, seek_month, roll_trend, pass_trend, seek_trend;
    std::string pass_agree, seek_agree;
    for (int run = 0; run <= runs; ++run) {
      auto t = Clock::now();
      auto rep = must(reports::build_report(*st, cal, reports::UnitType::region, county, month, now, {false, false, false}));
      const double a = seconds_since(t);
      t = Clock::now();
      const auto pass_totals = one_pass.month(ids, cal, month);
      const double b = seconds_since(t);
      t = Clock::now();
      const auto seek_totals = seeks.month(ids, cal, month);
      const double c = seconds_since(t);
      const auto roll_totals = totals_of(rep, rep.indicators.rows.front());
      pass_agree = compare("one pass", roll_totals, pass_totals);
      seek_agree = compare("seeks", roll_totals, seek_totals);
      std::printf("  month run %d: rollups %.4f s, one pass %.3f s, seeks %.3f s\n", run, a, b, c);
      std::fflush(stdout);
      if (run == 0) continue;
      roll_month.push_back(a);
      pass_month.push_back(b);
      seek_month.push_back(c);
    }
    std::printf("month report %s (%d runs, medians): rollups %.4f s; brute force (one pass) %.3f s, ratio %.1fx, %s; "
                "index seeks per patient %.3f s, ratio %.1fx, %s\n",
                reports::format_month(month).c_str(), runs, median(roll_month), median(pass_month),
                median(pass_month) / median(roll_month), pass_agree.c_str(), median(seek_month),
                median(seek_month) / median(roll_month), seek_agree.c_str());

    // The trend: the report's 12 months in one read of the rollups; each query 12 times.
    for (int run = 0; run <= runs; ++run) {
      auto t = Clock::now();
      auto rep = must(reports::build_report(*st, cal, reports::UnitType::region, county, month, now, {true, false, false}));
      const double a = seconds_since(t);
      t = Clock::now();
      for (int m = month - 11; m <= month; ++m) one_pass.month(ids, cal, m);
      const double b = seconds_since(t);
      t = Clock::now();
      for (int m = month - 11; m <= month; ++m) seeks.month(ids, cal, m);
      const double c = seconds_since(t);
      std::printf("  trend run %d: rollups %.4f s, one pass %.3f s, seeks %.3f s\n", run, a, b, c);
      std::fflush(stdout);
      if (run == 0) continue;
      roll_trend.push_back(a);
      pass_trend.push_back(b);
      seek_trend.push_back(c);
    }
    std::printf("12-month trend (%zu runs, medians): rollups %.4f s; brute force (one pass) %.3f s, ratio %.1fx; "
                "index seeks per patient %.3f s, ratio %.1fx\n",
                roll_trend.size(), median(roll_trend), median(pass_trend), median(pass_trend) / median(roll_trend),
                median(seek_trend), median(seek_trend) / median(roll_trend));
    std::fflush(stdout);
    st->close();
  }

  // Ingest with and without the rollup hook.
  if (!no_ingest) {
    store::SqliteOptions io;
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
    // Four arms, alternated run by run: no hook, the rollup hook alone, care's
    // critical-alert hook (the protocol library of protocols/library) alone, and
    // care's then the rollup hook, as the server installs them. The arms without
    // care's hook write to their own half of the patients: a write without it
    // marks a patient's kept state stale, which would make care rebuild it.
    auto library = must(care::ProtocolLibrary::load(CARELOOP_PROTOCOL_DIR));
    auto rollup = reports::make_rollup_hook(cal);
    auto critical = care::make_critical_alert_hook(library, nullptr);
    struct Arm {
      const char* name;
      std::shared_ptr<store::ReadingsHook> hook;
      bool care;
      std::vector<double> rates;
    };
    std::vector<Arm> arms{
        {"no hook", nullptr, false, {}},
        {"rollup hook", rollup, false, {}},
        {"care hook", critical, true, {}},
        {"care + rollup hooks",
         std::make_shared<store::ReadingsHooks>(std::vector<std::shared_ptr<store::ReadingsHook>>{critical, rollup}), true,
         {}},
    };
    std::int64_t serial = 0;
    const std::int64_t base_ms = cal.month_start_ms(month);
    const std::size_t half = pids.size() / 2;
    for (int run = 0; run <= runs; ++run) {
      for (auto& arm : arms) {
        in->set_readings_hook(arm.hook);
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
          const auto p = pids[(arm.care ? half : 0) + static_cast<std::size_t>(j) % half];
          in->insert_readings(p, std::move(batch), [&inflight](auto r) { inflight.release(r.ok()); });
        }
        if (!inflight.drain()) {
          std::fprintf(stderr, "bench: an ingest job failed\n");
          return 1;
        }
        const double rate = ingest_jobs * 10 / seconds_since(t);
        if (run > 0) arm.rates.push_back(rate);  // run 0 warms every arm up
      }
    }
    for (const auto& arm : arms)
      std::printf("ingest (10 readings per job, 256 jobs in flight), %s: median %.0f readings/s (%zu runs)\n", arm.name,
                  median(arm.rates), arm.rates.size());
    std::printf("ingest ratio, rollup hook alone / no hook: %.2f; care + rollup hooks / care hook: %.2f\n",
                median(arms[1].rates) / median(arms[0].rates), median(arms[3].rates) / median(arms[2].rates));
    in->close();
  }
  std::error_code ec;
  if (!keep) std::filesystem::remove_all(tmp, ec);
  else std::filesystem::remove(tmp / "ingest.db", ec);
  return agree ? 0 : 1;
}
