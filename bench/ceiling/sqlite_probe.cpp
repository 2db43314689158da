// The SQLite ceiling: how fast this machine commits rows into the real
// readings table (the DDL text of store/src/migrations.cpp, same indexes),
// with WAL and synchronous=FULL as the store runs. It measures 1, 100 and
// 500 rows per transaction, alternating the three in every run after a
// warm-up, and prints one JSON line per batch size with the median.
// The store itself does more per row (duplicate lookups, a changes row), so
// these are upper bounds for insert_readings.
//
//   careloop_bench_sqlite_probe [--seconds 2] [--runs 5] [--dir /tmp]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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

struct Args {
  double seconds = 2;
  int runs = 5;
  std::filesystem::path dir = std::filesystem::temp_directory_path();
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
    } else {
      std::fprintf(stderr, "usage: %s [--seconds S] [--runs N] [--dir DIR]\n", argv[0]);
      std::exit(arg == "--help" ? 0 : 2);
    }
  }
  if (a.seconds <= 0 || a.runs <= 0) {
    std::fprintf(stderr, "--seconds and --runs must be positive\n");
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

class Inserter {
 public:
  explicit Inserter(Connection& db) : db_(db) {}

  // Commits transactions of `batch` rows for `seconds`; returns rows per second.
  double run(int batch, double seconds) {
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    const auto started = Clock::now();
    std::int64_t rows = 0;
    do {
      db_.prepare("BEGIN IMMEDIATE").run();
      for (int i = 0; i < batch; ++i) insert_one();
      db_.prepare("COMMIT").run();
      rows += batch;
    } while (Clock::now() < until);
    const std::chrono::duration<double> took = Clock::now() - started;
    return static_cast<double>(rows) / took.count();
  }

 private:
  void insert_one() {
    ++n_;
    const std::int64_t patient = 1 + n_ % patients;
    char client_id[48];
    std::snprintf(client_id, sizeof client_id, "00000000-0000-4000-8000-%012lld", static_cast<long long>(n_));
    db_.prepare(
           "INSERT INTO readings (patient_id, clinic_id, client_id, kind, taken_at_ms, offset_min, received_at_ms, "
           "source, systolic_mmhg, diastolic_mmhg, pulse_bpm, value_as_sent, unit_as_sent) "
           "VALUES (?, 1, ?, 'blood_pressure', ?, 480, ?, 'probe', ?, ?, ?, ?, 'mmHg')")
        .bind_all(patient, std::string_view(client_id), base_time_ms + n_ * 60'000, base_time_ms + n_ * 60'000,
                  120.0 + static_cast<double>(n_ % 40), 80.0 + static_cast<double>(n_ % 20), 70.0,
                  120.0 + static_cast<double>(n_ % 40))
        .run();
  }

  Connection& db_;
  std::int64_t n_ = 0;
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
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  int status = 0;
  try {
    // Connection::open sets WAL, synchronous=FULL and foreign_keys=ON, as the store does.
    auto db = Connection::open((dir / "probe.db").string(), OpenMode::read_write_create, 5000);
    create_schema(db);
    Inserter inserter(db);

    const std::vector<int> batches = {1, 100, 500};
    std::vector<std::vector<double>> rates(batches.size());
    for (const int b : batches) inserter.run(b, std::min(args.seconds, 1.0));  // warm-up
    // Alternate the batch sizes within each run, so drift on a shared machine hits them alike.
    for (int r = 0; r < args.runs; ++r)
      for (std::size_t i = 0; i < batches.size(); ++i) rates[i].push_back(inserter.run(batches[i], args.seconds));

    const double single = median(rates[0]);
    for (std::size_t i = 0; i < batches.size(); ++i) {
      const double m = median(rates[i]);
      std::string runs;
      for (const double x : rates[i]) runs += (runs.empty() ? "" : ",") + std::to_string(static_cast<long long>(x));
      std::printf(
          "{\"probe\":\"sqlite_insert\",\"batch\":%d,\"rows_per_s\":%.0f,\"commits_per_s\":%.1f,"
          "\"vs_batch_1\":%.2f,\"seconds\":%g,\"runs\":[%s]}\n",
          batches[i], m, m / batches[i], m / single, args.seconds, runs.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sqlite_probe: %s\n", e.what());
    status = 1;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return status;
}
