// Evaluates the full protocol library (cn-hypertension-primary-2020 with
// cn-diabetes-primary-2022 as one clinic's set, and who-hearts-hypertension-2021
// as another's: plans and all-tier alerts of all three) for 100,000 seeded,
// varied patient snapshots on one thread. After a warm-up, runs alternate
// with a baseline that reads one fact per patient (the ceiling: no
// evaluation can visit a patient faster) and with the alert rules alone (all
// tiers, one clinic's set: what a review evaluates); prints one JSON line
// with the median patients/s and the ratios to the baseline.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "careloop/core/patient_state.hpp"
#include "careloop/core/time.hpp"
#include "careloop/protocols/engine.hpp"

using namespace careloop;
using namespace careloop::protocols;

namespace {

constexpr std::int64_t day_ms = 86'400'000;
constexpr std::int64_t hour_ms = 3'600'000;
constexpr int patients = 100'000;
constexpr int runs = 5;

struct Cohort {
  std::vector<Snapshot> snapshots;
  std::size_t readings = 0;
};

Cohort make_cohort(std::int64_t now) {
  std::mt19937_64 rng(20260302);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> noise(0, 6);
  const std::int64_t today = core::local_day(now, 480);
  const std::vector<std::vector<core::Medication>> bp_regimens = {
      {}, {{"amlodipine", "5 mg", 0}}, {{"amlodipine", "10 mg", 0}}, {{"amlodipine", "10 mg", 0}, {"telmisartan", "40 mg", 0}},
      {{"amlodipine", "10 mg", 0}, {"telmisartan", "80 mg", 0}, {"chlorthalidone", "12.5 mg", 0}}, {{"enalapril", "10 mg", 0}},
      {{"nifedipine", "30 mg", 0}, {"hydrochlorothiazide", "25 mg", 0}}};
  const std::vector<std::vector<core::Medication>> dm_regimens = {
      {}, {{"metformin", "500 mg", 0}}, {{"metformin", "500 mg", 0}, {"sitagliptin", "100 mg", 0}},
      {{"metformin", "500 mg", 0}, {"gliclazide", "30 mg", 0}, {"acarbose", "50 mg", 0}}};
  const char* comorbidities[] = {"chd", "ckd", "ckd_proteinuria", "heart_failure", "stroke", "frailty"};
  Cohort c;
  c.snapshots.reserve(patients);
  for (int i = 0; i < patients; ++i) {
    core::Patient p;
    p.sex = u(rng) < 0.5 ? core::Sex::female : core::Sex::male;
    const int age = 30 + static_cast<int>(u(rng) * 60);
    p.birth_date = today - age * 365 - static_cast<int>(u(rng) * 365);
    p.height_cm = 150 + u(rng) * 35;
    const bool htn = u(rng) < 0.75, dm = !htn || u(rng) < 0.35;
    if (htn) p.diagnoses.push_back({"hypertension", 0});
    if (dm) p.diagnoses.push_back({"diabetes_t2", 0});
    for (const char* cm : comorbidities)
      if (u(rng) < 0.06) p.comorbidities.emplace_back(cm);
    p.pregnant = p.sex == core::Sex::female && age < 45 && u(rng) < 0.05;
    p.smoking = u(rng) < 0.2 ? core::Smoking::current : core::Smoking::never;
    const std::int64_t since = today - static_cast<int>(u(rng) * 200);
    if (htn)
      for (auto m : bp_regimens[rng() % bp_regimens.size()]) p.medications.push_back({m.name, m.dose, since});
    if (dm)
      for (auto m : dm_regimens[rng() % dm_regimens.size()]) p.medications.push_back({m.name, m.dose, since - 30});

    core::PatientState st;
    const double base_sys = 115 + u(rng) * 60, base_dia = 70 + u(rng) * 30, base_glu = 5 + u(rng) * 6;
    const int days = 3 + static_cast<int>(u(rng) * 25);
    const double adherence = u(rng);
    auto add = [&](core::Reading r) {
      st.apply(r);
      ++c.readings;
    };
    for (int d = days; d >= 0; --d) {
      const std::int64_t morning = now - d * day_ms - 3 * hour_ms;
      for (int k = 0; k < 2; ++k) {
        core::Reading r;
        r.kind = core::ReadingKind::blood_pressure;
        r.taken_at = {morning - k * 12 * hour_ms, 480};
        r.systolic_mmhg = base_sys + noise(rng);
        r.diastolic_mmhg = base_dia + noise(rng) / 2;
        r.pulse_bpm = 60 + u(rng) * 50;
        add(r);
      }
      if (dm) {
        core::Reading g;
        g.kind = core::ReadingKind::glucose;
        g.taken_at = {morning - hour_ms, 480};
        g.glucose_mmol_l = std::max(2.5, base_glu + noise(rng) / 4);
        g.glucose_context = d % 2 ? core::GlucoseContext::fasting : core::GlucoseContext::after_meal;
        add(g);
      }
      if (d % 7 == 0) {
        core::Reading w;
        w.kind = core::ReadingKind::weight;
        w.taken_at = {morning, 480};
        w.weight_kg = 55 + u(rng) * 40;
        add(w);
      }
      core::Reading dose;
      dose.kind = core::ReadingKind::medication;
      dose.taken_at = {morning, 480};
      dose.medication_status = u(rng) < adherence ? core::MedicationStatus::taken : core::MedicationStatus::missed;
      add(dose);
    }
    if (dm && u(rng) < 0.6) {
      core::Reading a;
      a.kind = core::ReadingKind::hba1c;
      a.taken_at = {now - static_cast<int>(u(rng) * 150) * day_ms, 480};
      a.hba1c_percent = 5.5 + u(rng) * 4;
      add(a);
    }
    SnapshotContext ctx;
    ctx.consecutive_uncontrolled_visits = static_cast<int>(rng() % 3);
    ctx.risk = {{"framingham", u(rng), u(rng) < 0.1}};
    c.snapshots.push_back(make_snapshot(st, p, ctx, now));
  }
  return c;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main() {
  const auto lib = load_directory(CARELOOP_PROTOCOL_DIR);
  if (!lib.ok()) {
    for (const auto& e : lib.errors) std::fprintf(stderr, "%s\n", format(e).c_str());
    return 1;
  }
  auto find = [&](std::string_view id) -> const Protocol& {
    for (const auto& p : lib.protocols)
      if (p.id == id) return p;
    std::abort();
  };
  const auto china = ProtocolSet::make({&find("cn-hypertension-primary-2020"), &find("cn-diabetes-primary-2022")});
  const ProtocolSet hearts(find("who-hearts-hypertension-2021"));
  if (!china.ok()) return 1;

  const std::int64_t now = core::parse_iso8601("2026-03-30T10:00:00+08:00").instant->utc_ms;
  const auto build_start = std::chrono::steady_clock::now();
  const Cohort cohort = make_cohort(now);
  const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - build_start).count();

  std::size_t checksum = 0;
  auto full = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      const Snapshot& s = cohort.snapshots[i];
      const CarePlan a = evaluate(s, *china);
      const CarePlan b = evaluate(s, hearts);
      checksum += a.rationale.size() + b.rationale.size() + a.medication.size() + static_cast<std::size_t>(a.referral.urgency);
      checksum += evaluate_alerts(s, *china, TierFilter::all).size() + evaluate_alerts(s, hearts, TierFilter::all).size();
    }
  };
  // What care/'s review runs per patient after its snapshot: every tier of the clinic's alert rules.
  auto alerts_only = [&] {
    for (const auto& s : cohort.snapshots) checksum += evaluate_alerts(s, *china, TierFilter::all).size();
  };
  const FactId one = *find_fact("bp.mean_7d.systolic");
  double baseline_sum = 0;
  auto baseline = [&] {
    for (const auto& s : cohort.snapshots) baseline_sum += s.values[one] > 0 ? s.values[one] : 0;
  };
  // Wall time, and this thread's CPU time: on a shared machine the second is
  // the time the one core actually spent (patients per CPU-second = per core).
  auto thread_cpu_s = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  double last_cpu_s = 0;
  auto timed = [&](auto&& f) {
    const double c0 = thread_cpu_s();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    last_cpu_s = thread_cpu_s() - c0;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };

  (void)timed([&] { full(0, patients / 10); });  // warm-up
  std::vector<double> full_rate, base_rate, alerts_rate, full_cpu, base_cpu, alerts_cpu;
  for (int r = 0; r < runs; ++r) {
    base_rate.push_back(patients / timed(baseline));
    base_cpu.push_back(patients / last_cpu_s);
    alerts_rate.push_back(patients / timed(alerts_only));
    alerts_cpu.push_back(patients / last_cpu_s);
    full_rate.push_back(patients / timed([&] { full(0, patients); }));
    full_cpu.push_back(patients / last_cpu_s);
  }
  const double med = median(full_rate), base = median(base_rate), alerts = median(alerts_rate);
  const double med_cpu = median(full_cpu), base_c = median(base_cpu), alerts_c = median(alerts_cpu);
  std::printf(
      "{\"bench\":\"protocols\",\"patients\":%d,\"readings\":%zu,\"snapshot_build_s\":%.2f,\"runs\":%d,"
      "\"median_patients_per_s_per_core\":%.0f,\"min\":%.0f,\"max\":%.0f,\"baseline_one_fact_patients_per_s\":%.0f,"
      "\"ratio_to_baseline\":%.5f,\"alerts_all_tiers_one_set_patients_per_s\":%.0f,\"alerts_ratio_to_baseline\":%.5f,"
      "\"cpu_time\":{\"full_patients_per_cpu_s\":%.0f,\"baseline_patients_per_cpu_s\":%.0f,\"ratio_to_baseline\":%.5f,"
      "\"alerts_patients_per_cpu_s\":%.0f,\"alerts_ratio_to_baseline\":%.5f},"
      "\"target_patients_per_s_per_core\":100000,\"meets_target\":%s,\"checksum\":%zu}\n",
      patients, cohort.readings, build_s, runs, med, *std::min_element(full_rate.begin(), full_rate.end()),
      *std::max_element(full_rate.begin(), full_rate.end()), base, med / base, alerts, alerts / base, med_cpu, base_c,
      med_cpu / base_c, alerts_c, alerts_c / base_c, med_cpu >= 100000 ? "true" : "false",
      checksum + static_cast<std::size_t>(baseline_sum > 0));
  return 0;
}
