// careloop_bench_care [patients] [runs]: what the critical-alert hook costs
// the writer thread per reading.
//
// A database with `patients` patients (hypertension and diabetes), each with
// 60 days of twice-daily blood pressure and a daily glucose, written without
// the hook (so the first hooked batch rebuilds the kept state, as after an
// upgrade). Then, per run, one reading per patient through insert_readings,
// each patient's own job; a third of the patients per writer, the three
// writers alternated run by run:
//   none     — no hook (the writer's own cost: duplicate check, insert, change row)
//   state    — the hook with no protocols: load, apply, save the PatientState
//   critical — the hook with the real protocols: state + patient record +
//              snapshot + critical rules + alert book (what `serve` runs)
//   digest   — scoring's digest hook alone (what `serve` adds after the
//              critical and rollup hooks): load the 1 KB digest, apply, cut, save
//   cold     — after the runs, a new critical hook (empty cache, as after a
//              restart) over the critical patients: saved state + catch-up
// The hook's own time is measured around on_readings_created (steady_clock);
// a quarter of the patients per writer; the whole job's time is the batch's wall time over all patients with one
// reading per job and every job waited for (group commit of one job: fsync
// included, so it is mostly the disk). Medians over the runs after a warm-up.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "careloop/care/care.hpp"
#include "careloop/scoring/digest.hpp"
#include "careloop/core/time.hpp"
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

// Times the wrapped hook.
class Timed final : public store::ReadingsHook {
 public:
  explicit Timed(std::shared_ptr<store::ReadingsHook> inner) : inner_(std::move(inner)) {}
  void on_readings_created(store::WriteTxn& txn, std::int64_t p, std::int64_t c,
                           std::span<const core::Reading> created) override {
    const auto t = Clock::now();
    inner_->on_readings_created(txn, p, c, created);
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  std::vector<double> samples;

 private:
  std::shared_ptr<store::ReadingsHook> inner_;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

core::Reading bp(const std::string& id, std::int64_t at, double s, double d) {
  core::Reading r;
  r.client_id = id;
  r.kind = core::ReadingKind::blood_pressure;
  r.taken_at = {at, 480};
  r.systolic_mmhg = s;
  r.diastolic_mmhg = d;
  r.pulse_bpm = 72;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const int patients = argc > 1 ? std::atoi(argv[1]) : 200;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  const auto dir = std::filesystem::temp_directory_path() / ("careloop-bench-care-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  store::SqliteOptions o;
  o.path = (dir / "bench.db").string();
  auto st = must(store::open_sqlite(o));

  const auto region = must(store::wait_for<std::int64_t>(
      [&](auto done) { st->add_region({std::nullopt, "Bench", core::RegionLevel::district, ""}, done); }));
  const auto clinic = must(store::wait_for<std::int64_t>([&](auto done) { st->add_clinic({region, "Bench CHC"}, done); }));
  const std::int64_t now = core::now_utc_ms();
  const std::int64_t day = 86'400'000;
  std::mt19937 rng(7);
  std::normal_distribution<double> sys(138, 12), dia(86, 8), glu(7.0, 1.2);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < patients; ++i) {
    core::Patient p;
    p.clinic_id = clinic;
    p.name = "patient " + std::to_string(i);
    p.birth_date = core::days_from_civil(1950 + i % 30, 1 + i % 12, 1 + i % 28);
    p.diagnoses = {{"hypertension", core::days_from_civil(2015, 1, 1)}, {"diabetes_t2", core::days_from_civil(2018, 1, 1)}};
    p.medications = {{"amlodipine", "5 mg", core::days_from_civil(2024, 1, 1)}, {"metformin", "500 mg", core::days_from_civil(2024, 1, 1)}};
    const auto id = must(store::wait_for<std::int64_t>([&](auto done) { st->add_patient(p, done); }));
    ids.push_back(id);
    std::vector<core::Reading> history;
    for (int d = 60; d >= 1; --d) {
      const std::int64_t at = now - d * day;
      history.push_back(bp("h" + std::to_string(d) + "m", at, sys(rng), dia(rng)));
      history.push_back(bp("h" + std::to_string(d) + "e", at + 11 * 3'600'000, sys(rng), dia(rng)));
      core::Reading g;
      g.client_id = "h" + std::to_string(d) + "g";
      g.kind = core::ReadingKind::glucose;
      g.taken_at = {at + 1'800'000, 480};
      g.glucose_mmol_l = std::max(3.5, glu(rng));
      g.glucose_context = core::GlucoseContext::fasting;
      history.push_back(g);
    }
    must(store::wait_for<std::vector<store::InsertOutcome>>(
        [&](auto done) { st->insert_readings(id, std::move(history), done); }));
  }

  auto library = must(care::ProtocolLibrary::load(CARELOOP_PROTOCOL_DIR));
  auto critical = std::make_shared<Timed>(care::make_critical_alert_hook(library, nullptr));
  auto state_only = std::make_shared<Timed>(care::make_critical_alert_hook(care::ProtocolLibrary::empty(), nullptr));
  auto digest = std::make_shared<Timed>(scoring::make_digest_hook());

  int seq = 0;
  // One reading per patient, one job each; 1 in 20 is critical (185/122).
  // Each writer gets its own third of the patients: a pass without the hook
  // marks its patients' states stale, and each hook keeps its own cache.
  auto group = [&](int g) {
    std::vector<std::int64_t> out;
    for (std::size_t i = static_cast<std::size_t>(g); i < ids.size(); i += 4) out.push_back(ids[i]);
    return out;
  };
  const auto g_none = group(0), g_state = group(1), g_critical = group(2), g_digest = group(3);
  auto pass = [&](const std::shared_ptr<Timed>& hook, const std::vector<std::int64_t>& ids) {
    st->set_readings_hook(hook);
    const auto t = Clock::now();
    for (auto id : ids) {
      ++seq;
      const bool crit = seq % 20 == 0;
      auto r = bp("b" + std::to_string(seq), core::now_utc_ms() - 60'000, crit ? 185 : sys(rng), crit ? 122 : dia(rng));
      must(store::wait_for<std::vector<store::InsertOutcome>>([&](auto done) { st->insert_readings(id, {r}, done); }));
    }
    return std::chrono::duration<double, std::micro>(Clock::now() - t).count() / static_cast<double>(ids.size());
  };

  // Warm-up: the first hooked pass rebuilds every patient's state from its 180 readings.
  pass(critical, g_critical);
  const double rebuild_us = median(critical->samples);
  critical->samples.clear();
  pass(state_only, g_state);
  state_only->samples.clear();
  pass(nullptr, g_none);
  pass(digest, g_digest);
  const double digest_first_us = median(digest->samples);
  digest->samples.clear();

  std::vector<double> job_none, job_state, job_critical, job_digest;
  for (int r = 0; r < runs; ++r) {
    job_none.push_back(pass(nullptr, g_none));
    job_state.push_back(pass(state_only, g_state));
    job_critical.push_back(pass(critical, g_critical));
    job_digest.push_back(pass(digest, g_digest));
  }
  // Cold: a new hook (nothing cached, as after a restart) over the same
  // patients loads each saved state and applies the readings stored after it.
  auto cold = std::make_shared<Timed>(care::make_critical_alert_hook(library, nullptr));
  pass(cold, g_critical);
  st->set_readings_hook(nullptr);
  // Where the state-only time goes: one patient's saved state, both ways, in
  // the binary form the hook saves and in the JSON form of older rows.
  if (const auto kept = st->patient_state(g_state.front()); kept && kept->state_seq > 0) {
    auto state = must(store::saved_state(*kept));
    std::vector<double> dump_us, parse_us, bin_dump_us, bin_parse_us;
    std::size_t json_bytes = 0, bin_bytes = 0;
    for (int i = 0; i < 200; ++i) {
      auto t = Clock::now();
      const auto text = state.to_json();
      dump_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
      t = Clock::now();
      auto back = core::PatientState::from_json(text);
      parse_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
      t = Clock::now();
      const auto blob = state.to_binary();
      bin_dump_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
      t = Clock::now();
      auto bin_back = core::PatientState::from_binary(blob);
      bin_parse_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
      if (!back || !bin_back) std::exit(1);
      json_bytes = text.size(), bin_bytes = blob.size();
    }
    std::printf("state JSON: %zu bytes, to_json p50 %.1f us, from_json p50 %.1f us\n", json_bytes, median(dump_us),
                median(parse_us));
    std::printf("state binary: %zu bytes, to_binary p50 %.1f us, from_binary p50 %.1f us\n", bin_bytes,
                median(bin_dump_us), median(bin_parse_us));
  }
  std::printf("patients %d, history 180 readings each, %d runs (medians), one reading per job\n", patients, runs);
  std::printf("first hooked batch (rebuild from 180 readings): hook median %.0f us\n", rebuild_us);
  std::printf("cold hook (saved state + catch-up, nothing cached): p50 %.0f us p99 %.0f us\n", median(cold->samples),
              pct(cold->samples, 0.99));
  std::printf("hook time per reading: state only p50 %.1f us p99 %.1f us | critical p50 %.1f us p99 %.1f us\n",
              median(state_only->samples), pct(state_only->samples, 0.99), median(critical->samples),
              pct(critical->samples, 0.99));
  std::printf("digest hook (scoring) per reading: p50 %.1f us p99 %.1f us; first batch (fold of 180 readings) median %.0f us\n",
              median(digest->samples), pct(digest->samples, 0.99), digest_first_us);
  std::printf("job wall time (insert + commit, fsync): none %.0f us | state %.0f us | critical %.0f us | digest %.0f us | "
              "ratio critical/none %.2f\n",
              median(job_none), median(job_state), median(job_critical), median(job_digest),
              median(job_critical) / median(job_none));
  std::printf("alerts opened: %zu\n", st->alerts({clinic, std::nullopt, std::nullopt, 100000}).size());
  st->close();
  std::filesystem::remove_all(dir);
  return 0;
}
