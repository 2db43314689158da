// The SQLite ceiling: how fast this machine commits rows into the real
// readings table (the DDL text of store/src/migrations.cpp, same indexes),
// with WAL and synchronous=FULL as the store runs. It measures 1, 100 and
// 500 rows per transaction, alternating the three in every run after a
// warm-up, and prints one JSON line per batch size with the median.
// The store itself does more per row (duplicate lookups, a changes row), so
// these are upper bounds for insert_readings.
//
// With --batch N it measures that one batch size only (for a driver that
// alternates it with another benchmark, as bench/ingest/run does); --db runs
// against a copy of a real CareLoop database (its full schema and rows, its
// patients), and --work store also does, per transaction, what the store's
// writer and insert_readings do for one job of N readings of one patient:
// a savepoint, the patient's clinic lookup, both duplicate SELECTs, the
// readings row, the changes row and the change_seq UPDATE, with the same SQL.
//
//   careloop_bench_sqlite_probe [--seconds 2] [--runs 5] [--dir /tmp]
//   careloop_bench_sqlite_probe --batch 100 --db COPY.db [--work minimal|store] [--seconds 10] [--runs 1]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "migrations.hpp"
#include "sqlite_handle.hpp"

namespace {

using careloop::store::detail::Connection;
using careloop::store::detail::OpenMode;
using Clock = std::chrono::steady_clock;

constexpr int patients = 100;
constexpr std::int64_t base_time_ms = 1'750'000'000'000;

enum class Work { minimal, store };

struct Args {
  double seconds = 2;
  int runs = 5;
  std::filesystem::path dir = std::filesystem::temp_directory_path();
  int batch = 0;  // 0: 1, 100 and 500 alternating
  std::filesystem::path db;  // empty: a fresh readings table in dir
  Work work = Work::minimal;
  double warmup_seconds = 1;
  int per_patient = 0;  // rows of one patient in a row; 0: the batch size
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--seconds" && has_value) {
      a.seconds = std::atof(argv[++i]);
    } else if (arg == "--runs" && has_value) {
      a.runs = std::atoi(argv[++i]);
    } else if (arg == "--dir" && has_value) {
      a.dir = argv[++i];
    } else if (arg == "--batch" && has_value) {
      a.batch = std::atoi(argv[++i]);
    } else if (arg == "--db" && has_value) {
      a.db = argv[++i];
    } else if (arg == "--work" && has_value && (std::string_view(argv[i + 1]) == "minimal" ||
                                                std::string_view(argv[i + 1]) == "store")) {
      a.work = std::string_view(argv[++i]) == "store" ? Work::store : Work::minimal;
    } else if (arg == "--warmup" && has_value) {
      a.warmup_seconds = std::atof(argv[++i]);
    } else if (arg == "--per-patient" && has_value) {
      a.per_patient = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: %s [--seconds S] [--runs N] [--dir DIR] [--batch N] [--db FILE] [--work minimal|store] "
                   "[--warmup S] [--per-patient N]\n",
                   argv[0]);
      std::exit(arg == "--help" ? 0 : 2);
    }
  }
  if (a.seconds <= 0 || a.runs <= 0 || a.batch < 0 || a.warmup_seconds < 0) {
    std::fprintf(stderr, "--seconds and --runs must be positive, --batch and --warmup not negative\n");
    std::exit(2);
  }
  // The store's work needs the changes table and real patients: a CareLoop database.
  if (a.work == Work::store && a.db.empty()) {
    std::fprintf(stderr, "--work store needs --db (a copy of a CareLoop database)\n");
    std::exit(2);
  }
  return a;
}

// The readings table refers to (patient_id, clinic_id) in patients; a bare
// parent table keeps that foreign key check in the measured path.
void create_schema(Connection& db) {
  db.exec(
      "CREATE TABLE patients (id INTEGER PRIMARY KEY, clinic_id INTEGER NOT NULL, UNIQUE (id, clinic_id)) STRICT;");
  db.exec(std::string(careloop::store::detail::readings_ddl()).c_str());
  db.exec("BEGIN");
  for (int p = 1; p <= patients; ++p)
    db.exec(("INSERT INTO patients VALUES (" + std::to_string(p) + ", 1)").c_str());
  db.exec("COMMIT");
}

struct PatientKey {
  std::int64_t id;
  std::int64_t clinic_id;
};

std::vector<PatientKey> fresh_patients() {
  std::vector<PatientKey> out;
  for (int p = 1; p <= patients; ++p) out.push_back({p, 1});
  return out;
}

std::vector<PatientKey> patients_of(Connection& db) {
  std::vector<PatientKey> out;
  auto s = db.prepare("SELECT id, clinic_id FROM patients ORDER BY id");
  while (s.step()) out.push_back({s.int64(0), s.int64(1)});
  if (out.empty()) throw std::runtime_error("the database has no patients");
  return out;
}

class Inserter {
 public:
  // rows_per_patient > 1: consecutive rows go to the same patient, as the
  // readings of one batch POST do.
  Inserter(Connection& db, std::vector<PatientKey> keys, Work work, int rows_per_patient)
      : db_(db), keys_(std::move(keys)), work_(work), rows_per_patient_(std::max(1, rows_per_patient)) {
    // Client ids distinct from any a previous probe wrote into the same file.
    std::snprintf(run_prefix_, sizeof run_prefix_, "%08x", static_cast<unsigned>(::getpid()));
  }

  // Commits transactions of `batch` rows for `seconds`; returns rows per second.
  double run(int batch, double seconds) {
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    const auto started = Clock::now();
    std::int64_t rows = 0;
    do {
      db_.prepare("BEGIN IMMEDIATE").run();
      if (work_ == Work::store) {
        for (int done = 0; done < batch; done += static_cast<int>(rows_per_patient_))
          store_job(static_cast<int>(std::min<std::int64_t>(rows_per_patient_, batch - done)));
      } else {
        for (int i = 0; i < batch; ++i) insert_one();
      }
      db_.prepare("COMMIT").run();
      rows += batch;
    } while (Clock::now() < until);
    const std::chrono::duration<double> took = Clock::now() - started;
    return static_cast<double>(rows) / took.count();
  }

 private:
  const PatientKey& next_patient() const {
    return keys_[static_cast<std::size_t>((n_ / rows_per_patient_) % static_cast<std::int64_t>(keys_.size()))];
  }

  void next_client_id() {
    std::snprintf(client_id_, sizeof client_id_, "%s-0000-4000-8000-%012llx", run_prefix_,
                  static_cast<unsigned long long>(n_));
  }

  void insert_one() {
    ++n_;
    const PatientKey& p = next_patient();
    next_client_id();
    db_.prepare(
           "INSERT INTO readings (patient_id, clinic_id, client_id, kind, taken_at_ms, offset_min, received_at_ms, "
           "source, systolic_mmhg, diastolic_mmhg, pulse_bpm, value_as_sent, unit_as_sent) "
           "VALUES (?, ?, ?, 'blood_pressure', ?, 480, ?, 'probe', ?, ?, ?, ?, 'mmHg')")
        .bind_all(p.id, p.clinic_id, std::string_view(client_id_), base_time_ms + n_ * 60'000,
                  base_time_ms + n_ * 60'000, 120.0 + static_cast<double>(n_ % 40),
                  80.0 + static_cast<double>(n_ % 20), 70.0, 120.0 + static_cast<double>(n_ % 40))
        .run();
  }

  // One write job of `rows` readings of one patient, as Writer::run_batch and
  // SqliteStore::insert_readings run it (same SQL text; every reading new).
  void store_job(int rows) {
    const PatientKey& p = keys_[static_cast<std::size_t>(jobs_++ % static_cast<std::int64_t>(keys_.size()))];
    db_.prepare("SAVEPOINT job").run();
    std::int64_t clinic_id = 0;
    {
      auto s = db_.prepare("SELECT clinic_id FROM patients WHERE id = ?");
      s.bind(1, p.id);
      if (s.step()) clinic_id = s.int64(0);
    }
    for (int i = 0; i < rows; ++i) {
      ++n_;
      next_client_id();
      const std::int64_t taken_ms = base_time_ms + n_ * 60'000;
      const double systolic = 120.0 + static_cast<double>(n_ % 40);
      const double diastolic = 80.0 + static_cast<double>(n_ % 20);
      const double pulse = 70.0;
      {
        auto s = db_.prepare("SELECT id, change_seq FROM readings WHERE patient_id = ? AND client_id = ?");
        s.bind_all(p.id, std::string_view(client_id_));
        if (s.step()) throw std::runtime_error("probe client id already stored");
      }
      {
        auto s = db_.prepare(
            "SELECT id, change_seq FROM readings WHERE patient_id = ?1 AND kind = ?2 AND taken_at_ms = ?3 "
            "AND systolic_mmhg IS ?4 AND diastolic_mmhg IS ?5 AND pulse_bpm IS ?6 AND glucose_mmol_l IS ?7 "
            "AND glucose_context IS ?8 AND weight_kg IS ?9 AND hba1c_percent IS ?10 AND medication_name = ?11 "
            "AND medication_status IS ?12 ORDER BY id LIMIT 1");
        s.bind_all(p.id, std::string_view("blood_pressure"), taken_ms, systolic, diastolic, pulse, std::nullopt,
                   std::nullopt, std::nullopt, std::nullopt, std::string_view(""), std::nullopt);
        s.step();  // a content duplicate is possible against the demo's rows; the probe inserts anyway
      }
      db_.prepare(
             "INSERT INTO readings (patient_id, clinic_id, client_id, kind, taken_at_ms, offset_min, received_at_ms, "
             "source, note, systolic_mmhg, diastolic_mmhg, pulse_bpm, glucose_mmol_l, glucose_context, weight_kg, "
             "hba1c_percent, medication_name, medication_status, value_as_sent, unit_as_sent) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .bind_all(p.id, clinic_id, std::string_view(client_id_), std::string_view("blood_pressure"), taken_ms, 480,
                    taken_ms, std::string_view("probe"), std::string_view(""), systolic, diastolic, pulse,
                    std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::string_view(""), std::nullopt,
                    systolic, std::string_view("mmHg"))
          .run();
      const std::int64_t id = db_.last_insert_rowid();
      db_.prepare("INSERT INTO changes (patient_id, clinic_id, entity, entity_id, at_ms) VALUES (?, ?, 'reading', ?, ?)")
          .bind_all(p.id, clinic_id, id, taken_ms)
          .run();
      const std::int64_t seq = db_.last_insert_rowid();
      db_.prepare("UPDATE readings SET change_seq = ? WHERE id = ?").bind_all(seq, id).run();
    }
    db_.prepare("RELEASE job").run();
  }

  Connection& db_;
  std::vector<PatientKey> keys_;
  Work work_;
  std::int64_t rows_per_patient_;
  std::int64_t n_ = 0;
  std::int64_t jobs_ = 0;
  char run_prefix_[16] = {};
  char client_id_[64] = {};
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  const auto dir = args.dir / ("careloop-sqlite-probe-" + std::to_string(::getpid()));
  if (args.db.empty()) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }

  int status = 0;
  try {
    // Connection::open sets WAL, synchronous=FULL and foreign_keys=ON, as the store does.
    auto db = args.db.empty() ? Connection::open((dir / "probe.db").string(), OpenMode::read_write_create, 5000)
                              : Connection::open(args.db.string(), OpenMode::read_write, 5000);
    if (args.db.empty()) create_schema(db);
    std::vector<PatientKey> keys = args.db.empty() ? fresh_patients() : patients_of(db);
    // One batch size: each transaction holds one patient's rows, as one batch POST does,
    // unless --per-patient splits it (many POSTs folded into one commit).
    Inserter inserter(db, std::move(keys), args.work, args.per_patient > 0 ? args.per_patient : args.batch);

    const std::vector<int> batches = args.batch > 0 ? std::vector<int>{args.batch} : std::vector<int>{1, 100, 500};
    std::vector<std::vector<double>> rates(batches.size());
    if (args.warmup_seconds > 0)
      for (const int b : batches) inserter.run(b, std::min(args.seconds, args.warmup_seconds));
    // Alternate the batch sizes within each run, so drift on a shared machine hits them alike.
    for (int r = 0; r < args.runs; ++r)
      for (std::size_t i = 0; i < batches.size(); ++i) rates[i].push_back(inserter.run(batches[i], args.seconds));

    const double single = median(rates[0]);
    for (std::size_t i = 0; i < batches.size(); ++i) {
      const double m = median(rates[i]);
      std::string runs;
      for (const double x : rates[i]) {
        if (!runs.empty()) runs += ',';
        runs += std::to_string(static_cast<long long>(x));
      }
      std::printf(
          "{\"probe\":\"sqlite_insert\",\"work\":\"%s\",\"db\":\"%s\",\"batch\":%d,\"rows_per_s\":%.0f,"
          "\"commits_per_s\":%.1f,\"vs_batch_1\":%.2f,\"seconds\":%g,\"runs\":[%s]}\n",
          args.work == Work::store ? "store" : "minimal", args.db.empty() ? "fresh" : "copy", batches[i], m,
          m / batches[i], m / single, args.seconds, runs.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sqlite_probe: %s\n", e.what());
    status = 1;
  }
  if (args.db.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return status;
}
