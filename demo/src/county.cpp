#include "careloop/demo/county.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <string_view>

#include "careloop/core/time.hpp"
#include "careloop/core/units.hpp"

namespace careloop::demo {
namespace {

using core::Reading;
using core::ReadingKind;

constexpr int shanghai_offset_min = 8 * 60;  // Asia/Shanghai has had no DST since 1991
constexpr std::int64_t day_ms = 86'400'000;

constexpr std::array<std::string_view, 10> communities{"东湖", "西山", "南塘", "北岭", "青石",
                                                       "柳河", "桃源", "枫林", "石桥", "云溪"};
constexpr std::array<std::string_view, 24> surnames{"王", "李", "张", "刘", "陈", "杨", "黄", "赵",
                                                    "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
                                                    "何", "林", "罗", "高", "郑", "梁", "谢", "宋"};
constexpr std::array<std::string_view, 30> given{"伟", "芳", "娜", "秀英", "敏", "静", "丽", "强",
                                                 "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
                                                 "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建国",
                                                 "建华", "玉兰", "国强", "淑珍", "德明", "春梅"};

// How a patient's home readings behave over the 90 days.
enum class Course { controlled, uncontrolled, erratic, silent, crisis };

struct Profile {
  Course course = Course::controlled;
  bool hypertension = false;
  bool diabetes = false;
  double systolic_mean = 130, diastolic_mean = 80, pulse_mean = 74;
  double fasting_mean = 6.3;
  double weight_kg = 65;
  double p_morning = 0.8, p_evening = 0.6;  // chance of measuring
  bool weekly_only = false;                 // stable patients measuring one day a week
  bool logs_medication = false;
  double medication_adherence = 0.9;
  bool mg_dl_meter = false;
  bool weight_in_lb = false;
  int silent_from_day = -1;  // no readings from this day of the window on
  int crisis_day = -1;
  double improvement_mmhg = 0;  // a medication change that brings BP down over the window
};

class Rng {
 public:
  Rng(std::uint64_t seed, std::uint64_t stream) {
    std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                      static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)};
    engine_.seed(seq);
  }
  double uniform(double a = 0, double b = 1) { return std::uniform_real_distribution<double>(a, b)(engine_); }
  double normal(double mean, double sd) { return std::normal_distribution<double>(mean, sd)(engine_); }
  bool chance(double p) { return uniform() < p; }
  int integer(int a, int b) { return std::uniform_int_distribution<int>(a, b)(engine_); }
  template <class C>
  const auto& pick(const C& c) { return c[static_cast<std::size_t>(integer(0, static_cast<int>(c.size()) - 1))]; }

  // RFC 4122 version 4 UUID drawn from this generator (reproducible).
  std::string uuid() {
    const std::uint64_t hi = (engine_() & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;
    const std::uint64_t lo = (engine_() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                  static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                  static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
    return buf;
  }

 private:
  std::mt19937_64 engine_;
};

double round_to(double v, double step) { return std::round(v / step) * step; }

// Bounds the number of write jobs in flight so memory stays flat at 100,000 patients.
class InFlight {
 public:
  explicit InFlight(int limit) : limit_(limit) {}
  void acquire() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return n_ < limit_; });
    ++n_;
  }
  void release(const core::Error* error) {
    std::lock_guard lock(m_);
    --n_;
    if (error && !first_error_) first_error_ = *error;
    cv_.notify_all();
  }
  std::optional<core::Error> drain() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return n_ == 0; });
    return first_error_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int limit_;
  int n_ = 0;
  std::optional<core::Error> first_error_;
};

Profile draw_profile(Rng& rng, const core::Patient& p, bool showcase) {
  Profile pr;
  pr.hypertension = p.has_diagnosis(core::dx_hypertension);
  pr.diabetes = p.has_diagnosis(core::dx_diabetes_t2);
  const double u = rng.uniform();
  pr.course = u < 0.45   ? Course::controlled
              : u < 0.82 ? Course::uncontrolled
              : u < 0.89 ? Course::erratic
              : u < 0.975 ? Course::silent
                          : Course::crisis;
  if (showcase) pr.course = Course::uncontrolled;
  const bool high = pr.course == Course::uncontrolled || pr.course == Course::crisis;
  pr.systolic_mean = high ? rng.normal(151, 8) : rng.normal(127, 6);
  if (!pr.hypertension) pr.systolic_mean = rng.normal(124, 7);
  pr.diastolic_mean = 0.55 * pr.systolic_mean + rng.normal(8, 4);
  pr.pulse_mean = rng.normal(74, 7);
  pr.fasting_mean = high ? rng.normal(8.8, 1.3) : rng.normal(6.3, 0.6);
  pr.p_morning = rng.uniform(0.35, 0.95);
  pr.p_evening = pr.p_morning * rng.uniform(0.4, 1.0);
  pr.weekly_only = pr.course == Course::controlled && rng.chance(0.25);
  pr.logs_medication = rng.chance(0.35) || showcase;
  pr.medication_adherence = rng.uniform(0.55, 1.0);
  pr.mg_dl_meter = rng.chance(0.25);
  pr.weight_in_lb = rng.chance(0.04);
  if (pr.course == Course::silent) pr.silent_from_day = rng.integer(20, 75);
  if (pr.course == Course::crisis) pr.crisis_day = rng.integer(76, 89);
  if (pr.course == Course::uncontrolled && rng.chance(0.3)) pr.improvement_mmhg = rng.uniform(8, 18);
  return pr;
}

core::Patient draw_patient(Rng& rng, std::int64_t clinic_id, std::int64_t end_day, std::int64_t now_ms, bool showcase) {
  core::Patient p;
  p.clinic_id = clinic_id;
  p.sex = rng.chance(0.48) ? core::Sex::male : core::Sex::female;
  p.name = std::string(rng.pick(surnames)) + std::string(rng.pick(given));
  char phone[16];
  std::snprintf(phone, sizeof phone, "13%d%08d", rng.integer(0, 9), rng.integer(0, 99'999'999));
  p.phone = phone;
  const double age = std::clamp(rng.normal(63, 11), 32.0, 92.0);
  p.birth_date = end_day - static_cast<std::int64_t>(age * 365.25) - rng.integer(0, 364);
  const double height = p.sex == core::Sex::male ? rng.normal(168, 6) : rng.normal(157, 6);
  p.height_cm = round_to(height, 1);
  if (p.sex == core::Sex::male)
    p.smoking = rng.chance(0.42) ? core::Smoking::current : rng.chance(0.25) ? core::Smoking::former : core::Smoking::never;
  else
    p.smoking = rng.chance(0.03) ? core::Smoking::current : core::Smoking::never;
  p.parents_with_hypertension = rng.chance(0.5) ? 0 : rng.chance(0.7) ? 1 : 2;

  // Registered up to six years ago; one in ten in the last three months.
  const std::int64_t reg_days_ago = rng.chance(0.1) ? rng.integer(0, 89) : rng.integer(90, 6 * 365);
  const std::int64_t registered_day = end_day - reg_days_ago;
  p.registered_at_ms = std::min<std::int64_t>(now_ms, (registered_day * 24 + 9 - 8) * 3'600'000 + rng.integer(0, 8 * 3600) * 1000LL);

  const double u = showcase ? 0.9 : rng.uniform();
  const bool htn = u < 0.55 || u >= 0.75;
  const bool dm = u >= 0.55;
  const std::int64_t dx_day = registered_day - rng.integer(0, 5 * 365);
  if (htn) {
    p.diagnoses.push_back({std::string(core::dx_hypertension), dx_day});
    const int step = rng.integer(1, 4);
    p.medications.push_back({"amlodipine", step >= 2 ? "10 mg once daily" : "5 mg once daily", dx_day + 14});
    if (step >= 3) p.medications.push_back({"telmisartan", step >= 4 ? "80 mg once daily" : "40 mg once daily", dx_day + 120});
  }
  if (dm) {
    p.diagnoses.push_back({std::string(core::dx_diabetes_t2), dx_day + rng.integer(0, 400)});
    p.family_history_diabetes = rng.chance(0.4);
    p.medications.push_back({"metformin", "500 mg twice daily", dx_day + 30});
    if (rng.chance(0.35)) p.medications.push_back({"gliclazide", "30 mg once daily", dx_day + 200});
  } else {
    p.family_history_diabetes = rng.chance(0.2);
  }
  if (rng.chance(0.08)) p.comorbidities.emplace_back("chd");
  if (rng.chance(0.06)) p.comorbidities.emplace_back("ckd");
  if (rng.chance(0.03)) p.comorbidities.emplace_back("heart_failure");
  if (rng.chance(0.05)) p.comorbidities.emplace_back("stroke");
  return p;
}

class ReadingMaker {
 public:
  ReadingMaker(Rng& rng, const core::Patient& p, std::int64_t now_ms) : rng_(rng), p_(p), now_ms_(now_ms) {}

  void at(std::int64_t local_day, int minute_of_day, Reading r) {
    const std::int64_t local_ms = local_day * day_ms + minute_of_day * 60'000LL + rng_.integer(0, 59) * 1000LL;
    r.taken_at = core::Instant{local_ms - shanghai_offset_min * 60'000LL, shanghai_offset_min};
    if (r.taken_at.utc_ms > now_ms_) return;  // the future has not been measured yet
    r.patient_id = p_.id;
    r.client_id = rng_.uuid();
    // Most phones upload within minutes; some were offline for days.
    const std::int64_t delay = rng_.chance(0.08) ? rng_.integer(3600, 3 * 86400) * 1000LL : rng_.integer(5, 600) * 1000LL;
    r.received_at_ms = std::min<std::int64_t>(now_ms_, r.taken_at.utc_ms + delay);
    out.push_back(std::move(r));
  }

  std::vector<Reading> out;

 private:
  Rng& rng_;
  const core::Patient& p_;
  std::int64_t now_ms_;
};

Reading bp(double sys, double dia, double pulse, std::string_view source) {
  Reading r;
  r.kind = ReadingKind::blood_pressure;
  r.systolic_mmhg = std::round(sys);
  r.diastolic_mmhg = std::round(std::min(dia, sys - 10));
  r.pulse_bpm = std::round(pulse);
  r.value_as_sent = r.systolic_mmhg;
  r.unit_as_sent = "mmHg";
  r.source = source;
  return r;
}

Reading glucose(double mmol_l, core::GlucoseContext ctx, bool mg_dl) {
  Reading r;
  r.kind = ReadingKind::glucose;
  r.glucose_context = ctx;
  mmol_l = std::clamp(mmol_l, 1.8, 33.0);
  if (mg_dl) {
    r.value_as_sent = std::round(core::mmol_l_to_mg_dl(mmol_l));
    r.unit_as_sent = "mg/dL";
    r.glucose_mmol_l = core::glucose_to_mmol_l(*r.value_as_sent, core::GlucoseUnit::mg_dl);
  } else {
    r.value_as_sent = round_to(mmol_l, 0.1);
    r.unit_as_sent = "mmol/L";
    r.glucose_mmol_l = r.value_as_sent;
  }
  r.source = mg_dl ? "accu-chek-guide" : "sinocare-gluco";
  return r;
}

std::vector<Reading> draw_readings(Rng& rng, const core::Patient& p, const Profile& pr, const Options& o,
                                   std::int64_t now_ms) {
  ReadingMaker m(rng, p, now_ms);
  const std::int64_t first_day = o.end_day - o.days + 1;
  const std::int64_t registered_day = p.registered_at_ms / day_ms;
  const std::string_view bp_source = rng.chance(0.5) ? "omron-hem-7136" : "yuwell-ye680";
  const bool on_sulfonylurea =
      std::any_of(p.medications.begin(), p.medications.end(), [](const auto& m) { return m.name == "gliclazide"; });
  double weight = pr.weight_kg;
  for (int d = 0; d < o.days; ++d) {
    const std::int64_t day = first_day + d;
    if (day < registered_day) continue;
    if (pr.silent_from_day >= 0 && d >= pr.silent_from_day) break;
    const bool measuring_day = !pr.weekly_only || (day % 7 == p.id % 7);
    const double trend = pr.improvement_mmhg * d / o.days;
    const double day_sys = pr.systolic_mean - trend + rng.normal(0, 5);
    const double day_dia = pr.diastolic_mean - trend * 0.5 + rng.normal(0, 3);
    const bool erratic_day = pr.course == Course::erratic && rng.chance(0.15);
    if (pr.hypertension && measuring_day) {
      if (rng.chance(pr.p_morning)) {
        // Morning surge; often a second reading a minute later, slightly lower.
        const int minute = rng.integer(6 * 60 + 15, 8 * 60 + 40);
        const double sys = day_sys + 5 + rng.normal(0, 5) + (erratic_day ? rng.uniform(15, 30) : 0);
        const double dia = day_dia + 2 + rng.normal(0, 4);
        m.at(day, minute, bp(sys, dia, pr.pulse_mean + rng.normal(2, 5), bp_source));
        if (rng.chance(0.55)) m.at(day, minute + 1, bp(sys - rng.uniform(1, 6), dia - rng.uniform(0, 3), pr.pulse_mean + rng.normal(0, 4), bp_source));
      }
      if (rng.chance(pr.p_evening)) {
        const int minute = rng.integer(19 * 60, 21 * 60 + 50);
        m.at(day, minute, bp(day_sys + rng.normal(0, 5), day_dia + rng.normal(0, 4), pr.pulse_mean + rng.normal(-2, 5), bp_source));
      }
    }
    if (pr.diabetes && measuring_day) {
      if (rng.chance(pr.p_morning * 0.8)) {
        double f = pr.fasting_mean + rng.normal(0, pr.course == Course::controlled ? 0.6 : 1.1);
        if (on_sulfonylurea && rng.chance(0.01)) f = rng.normal(3.3, 0.4);  // an occasional hypo
        m.at(day, rng.integer(6 * 60, 7 * 60 + 30), glucose(f, core::GlucoseContext::fasting, pr.mg_dl_meter));
      }
      if (rng.chance(0.2)) {
        const double pp = pr.fasting_mean + rng.normal(2.8, 1.3);
        m.at(day, rng.integer(13 * 60, 14 * 60), glucose(pp, core::GlucoseContext::after_meal, pr.mg_dl_meter));
      }
    }
    // Diabetes without hypertension: a weekly home blood pressure (hypertension
    // is screened for at every diabetes visit), which is what the hypertension
    // risk model reads for them.
    if (!pr.hypertension && pr.diabetes && day % 7 == (p.id + 3) % 7 && rng.chance(pr.p_morning)) {
      const int minute = rng.integer(7 * 60, 9 * 60 + 30);
      m.at(day, minute, bp(day_sys + rng.normal(0, 5), day_dia + rng.normal(0, 4), pr.pulse_mean + rng.normal(0, 5), bp_source));
    }
    if (pr.hypertension && !pr.diabetes && measuring_day && rng.chance(0.05)) {
      m.at(day, rng.integer(9 * 60, 11 * 60), [&] {
        Reading r;
        r.kind = ReadingKind::heart_rate;
        r.pulse_bpm = std::round(pr.pulse_mean + rng.normal(0, 6));
        r.value_as_sent = r.pulse_bpm;
        r.unit_as_sent = "/min";
        r.source = "patient-app";
        return r;
      }());
    }
    // Weight once a week on most weeks; drifts slowly.
    weight += rng.normal(0, 0.08);
    if (day % 7 == (p.id + 3) % 7 && rng.chance(0.7)) {
      Reading r;
      r.kind = ReadingKind::weight;
      const double kg = round_to(weight + rng.normal(0, 0.3), 0.1);
      r.weight_kg = kg;
      if (pr.weight_in_lb) {
        r.value_as_sent = round_to(kg / core::kg_per_lb, 0.2);
        r.unit_as_sent = "lb";
        r.weight_kg = core::weight_to_kg(*r.value_as_sent, core::WeightUnit::lb);
      } else {
        r.value_as_sent = kg;
        r.unit_as_sent = "kg";
      }
      r.source = "xiaomi-scale";
      m.at(day, rng.integer(6 * 60 + 30, 7 * 60 + 30), std::move(r));
    }
    if (pr.logs_medication) {
      for (const auto& med : p.medications) {
        if (!rng.chance(0.9)) continue;  // logging itself is not perfect
        Reading r;
        r.kind = ReadingKind::medication;
        r.medication_name = med.name;
        r.medication_status = rng.chance(pr.medication_adherence) ? core::MedicationStatus::taken : core::MedicationStatus::missed;
        r.source = "patient-app";
        m.at(day, rng.integer(7 * 60 + 30, 8 * 60 + 30), std::move(r));
      }
    }
    if (d == pr.crisis_day) {
      if (pr.hypertension || !pr.diabetes) {
        const double sys = rng.uniform(182, 205), dia = rng.uniform(108, 122);
        const int minute = rng.integer(8 * 60, 20 * 60);
        m.at(day, minute, bp(sys, dia, pr.pulse_mean + 10, bp_source));
        m.at(day, minute + 6, bp(sys - rng.uniform(0, 6), dia - rng.uniform(0, 3), pr.pulse_mean + 8, bp_source));
      } else {
        m.at(day, rng.integer(10 * 60, 20 * 60), glucose(rng.uniform(17.5, 24.0), core::GlucoseContext::random, pr.mg_dl_meter));
      }
    }
  }
  // One laboratory HbA1c in the window for most people with diabetes.
  if (pr.diabetes && rng.chance(0.6)) {
    Reading r;
    r.kind = ReadingKind::hba1c;
    const double pct = round_to(std::clamp(0.6 * pr.fasting_mean + 2.9 + rng.normal(0, 0.4), 5.0, 14.0), 0.1);
    if (rng.chance(0.2)) {
      r.value_as_sent = std::round((pct - 2.152) / 0.09148);
      r.unit_as_sent = "mmol/mol";
      r.hba1c_percent = core::hba1c_to_percent(*r.value_as_sent, core::Hba1cUnit::mmol_mol);
    } else {
      r.value_as_sent = pct;
      r.unit_as_sent = "%";
      r.hba1c_percent = pct;
    }
    r.source = "clinic-lab";
    m.at(first_day + rng.integer(0, o.days - 1), rng.integer(8 * 60, 11 * 60), std::move(r));
  }
  return std::move(m.out);
}

// One annual health check (the national basic public health service's
// yearly examination), drawn for a patient: waist, a lab fasting glucose,
// HDL, triglycerides, total cholesterol and weight, correlated with BMI, sex
// and diabetes as the diabetes-8y cohort (data/README.md, cohorts/
// diabetes-8y.json: waist men 18 + 2.6·BMI, women 12 + 2.55·BMI, SD 5.5 cm;
// HDL men 1.2 ± 0.3, women 1.45 ± 0.35; triglycerides log-normal, median
// 1.4, SD of the log 0.5). Those distributions are themselves not from a
// citable survey (data/README.md says so); the BMI slopes of HDL and
// triglycerides, the diabetic patients' higher triglycerides, and total
// cholesterol 4.8 ± 0.9 mmol/L are this demo's own choices. A patient without
// diabetes keeps the cohort's fasting glucose (5.3 ± 0.6) drawn without the
// cohort's cut at 7.0: the few above it are what an annual check finds
// (undiagnosed diabetes), and the diabetes-8y model, trained below 7.0,
// skips them. Values are rounded as a lab reports them.
struct AnnualCheck {
  core::Instant measured_at;
  std::vector<std::pair<std::string, double>> values;  // kind, canonical unit
};

AnnualCheck draw_annual_check(Rng& rng, const core::Patient& p, const Profile& pr, std::int64_t end_day,
                              std::int64_t now_ms) {
  AnnualCheck c;
  const bool male = p.sex == core::Sex::male;
  const double h = *p.height_cm / 100.0;
  const double weight = round_to(pr.weight_kg + rng.normal(0, 1.0), 0.1);
  const double bmi = weight / (h * h);
  // Some morning (fasting, 07:30–10:00 local) in the 12 months before the demo's last day.
  const std::int64_t local_now_day = (now_ms + shanghai_offset_min * 60'000LL) / day_ms;
  const std::int64_t day = std::min(end_day, local_now_day) - rng.integer(1, 364);
  const std::int64_t local_ms = day * day_ms + rng.integer(7 * 60 + 30, 10 * 60) * 60'000LL;
  c.measured_at = core::Instant{local_ms - shanghai_offset_min * 60'000LL, shanghai_offset_min};
  const double waist = (male ? 18 + 2.6 * bmi : 12 + 2.55 * bmi) + rng.normal(0, 5.5);
  const double glucose = pr.diabetes ? pr.fasting_mean + rng.normal(0, 0.8) : rng.normal(5.3 + 0.04 * (bmi - 25.5), 0.6);
  const double hdl = (male ? rng.normal(1.2, 0.3) : rng.normal(1.45, 0.35)) - 0.02 * (bmi - 25.5);
  const double tg = std::exp(rng.normal(std::log(pr.diabetes ? 1.8 : 1.4) + 0.04 * (bmi - 25.5), 0.5));
  const double tc = rng.normal(4.8, 0.9);
  c.values = {{"waist_cm", round_to(std::clamp(waist, 50.0, 160.0), 0.5)},
              {"fasting_glucose_mmol_l", round_to(std::clamp(glucose, 3.6, 25.0), 0.01)},
              {"hdl_mmol_l", round_to(std::clamp(hdl, 0.5, 3.5), 0.01)},
              {"triglycerides_mmol_l", round_to(std::clamp(tg, 0.3, 10.0), 0.01)},
              {"total_cholesterol_mmol_l", round_to(std::clamp(tc, 2.5, 10.0), 0.01)},
              {"weight_kg", weight}};
  return c;
}

}  // namespace

core::Result<Summary> generate_county(store::Store& st, const Options& o, const PasswordHasher& hash) {
  if (o.patients < 1 || o.clinics < 1 || o.clinics > static_cast<int>(communities.size()) * 100 || o.days < 1)
    return core::Error::invalid("demo: patients, clinics and days must be positive (at most 1000 clinics)");
  Summary s;
  const std::int64_t now_ms = core::now_utc_ms();
  Rng rng(o.seed, 0);

  auto add_region = [&](std::optional<std::int64_t> parent, std::string name, core::RegionLevel level,
                        std::string code) -> core::Result<std::int64_t> {
    store::NewRegion r{parent, std::move(name), level, std::move(code)};
    ++s.regions;
    return store::wait_for<std::int64_t>([&](auto done) { st.add_region(std::move(r), std::move(done)); });
  };
  auto province = add_region(std::nullopt, "示范省", core::RegionLevel::province, "990000");
  if (!province) return province.error();
  auto city = add_region(*province, "示范市", core::RegionLevel::city, "990100");
  if (!city) return city.error();
  auto county = add_region(*city, "示范县", core::RegionLevel::district, "990121");
  if (!county) return county.error();
  s.region_id = *county;

  // Demo accounts share a handful of published passwords; hashing each once
  // keeps Argon2id (deliberately slow) from dominating the demo's run time.
  std::map<std::string, std::string> hashed;
  auto add_user = [&](core::User u, const std::string& password, std::string note) -> core::Result<std::int64_t> {
    auto it = hashed.find(password);
    if (it == hashed.end()) {
      auto h = hash(password);
      if (!h) return h.error();
      it = hashed.emplace(password, std::move(*h)).first;
    }
    std::optional<std::string> h = it->second;
    s.logins.push_back({std::string(core::to_string(u.role)), u.username, password, std::move(note)});
    store::NewUser nu{std::move(u), std::move(*h)};
    ++s.users;
    return store::wait_for<std::int64_t>([&](auto done) { st.add_user(std::move(nu), std::move(done)); });
  };

  std::vector<core::Clinic> clinics;
  std::map<std::int64_t, std::int64_t> clinic_doctor;  // clinic → its first doctor (records the checks)
  for (int c = 0; c < o.clinics; ++c) {
    const std::string base(communities[static_cast<std::size_t>(c) % communities.size()]);
    const std::string suffix = c < static_cast<int>(communities.size()) ? "" : std::to_string(c / communities.size() + 1);
    char code[32];
    std::snprintf(code, sizeof code, "990121%03d", c + 1);
    auto community = add_region(*county, base + suffix + "社区", core::RegionLevel::community, code);
    if (!community) return community.error();
    const std::string name = base + suffix + "社区卫生服务中心";
    auto clinic = store::wait_for<std::int64_t>([&](auto done) { st.add_clinic({*community, name, "Asia/Shanghai"}, std::move(done)); });
    if (!clinic) return clinic.error();
    clinics.push_back({*clinic, *community, name, "Asia/Shanghai"});
    ++s.clinics;
    for (int d = 0; d < o.doctors_per_clinic; ++d) {
      core::User u;
      char username[32];
      std::snprintf(username, sizeof username, "doctor%02d", c * o.doctors_per_clinic + d + 1);
      u.username = username;
      u.role = core::Role::doctor;
      u.display_name = std::string(rng.pick(surnames)) + "医生";
      u.clinic_id = *clinic;
      auto r = add_user(u, "demo-doctor", "doctor, " + name);
      if (!r) return r.error();
      clinic_doctor.emplace(*clinic, *r);
    }
  }
  {
    core::User u;
    u.username = "authority";
    u.role = core::Role::authority;
    u.display_name = "示范县卫生健康局";
    u.region_id = *county;
    if (auto r = add_user(u, "demo-authority", "health authority, 示范县 (county)"); !r) return r.error();
    core::User a;
    a.username = "admin";
    a.role = core::Role::admin;
    a.display_name = "Administrator";
    if (auto r = add_user(a, "demo-admin", "administrator"); !r) return r.error();
  }

  // Patients first (their ids are needed for the readings), all queued at once.
  std::vector<core::Patient> patients(static_cast<std::size_t>(o.patients));
  std::vector<Profile> profiles(patients.size());
  InFlight inflight(256);
  for (int i = 0; i < o.patients; ++i) {
    Rng prng(o.seed, 1'000'000ULL + static_cast<std::uint64_t>(i));
    const auto& clinic = clinics[static_cast<std::size_t>(i % o.clinics)];
    // The first patient of each clinic shows everything: both conditions, not at target.
    const bool showcase = i < o.clinics;
    auto& p = patients[static_cast<std::size_t>(i)];
    p = draw_patient(prng, clinic.id, o.end_day, now_ms, showcase);
    profiles[static_cast<std::size_t>(i)] = draw_profile(prng, p, showcase);
    const double bmi = std::clamp(prng.normal(25.6, 3.4), 17.5, 42.0);
    profiles[static_cast<std::size_t>(i)].weight_kg = bmi * std::pow(*p.height_cm / 100.0, 2);
    inflight.acquire();
    st.add_patient(p, [&inflight, &p](core::Result<std::int64_t> r) {
      if (r) p.id = *r;
      inflight.release(r ? nullptr : &r.error());
    });
  }
  if (auto err = inflight.drain()) return *err;
  s.patients = o.patients;

  for (int i = 0; i < o.patients; ++i) {
    const auto& p = patients[static_cast<std::size_t>(i)];
    Rng rrng(o.seed, 2'000'000ULL + static_cast<std::uint64_t>(i));
    auto readings = draw_readings(rrng, p, profiles[static_cast<std::size_t>(i)], o, now_ms);
    s.readings += static_cast<std::int64_t>(readings.size());
    inflight.acquire();
    st.insert_readings(p.id, std::move(readings), [&inflight](core::Result<std::vector<store::InsertOutcome>> r) {
      inflight.release(r ? nullptr : &r.error());
    });
    if (o.progress && (i + 1) % 500 == 0) o.progress(i + 1, o.patients);
  }
  if (auto err = inflight.drain()) return *err;

  // The clinic's annual health check for 70 % of patients (the basic public
  // health service examines the registered hypertension and diabetes
  // patients yearly; not everyone comes), recorded by the clinic's doctor.
  for (int i = 0; i < o.patients; ++i) {
    const auto& p = patients[static_cast<std::size_t>(i)];
    Rng mrng(o.seed, 3'000'000ULL + static_cast<std::uint64_t>(i));
    const auto doctor = clinic_doctor.find(p.clinic_id);
    if (doctor == clinic_doctor.end() || !mrng.chance(0.7)) continue;
    auto check = draw_annual_check(mrng, p, profiles[static_cast<std::size_t>(i)], o.end_day, now_ms);
    std::vector<store::ClinicMeasurementRow> rows;
    const std::string client_id = mrng.uuid();
    for (const auto& [kind, value] : check.values) {
      store::ClinicMeasurementRow r;
      r.patient_id = p.id;
      r.clinic_id = p.clinic_id;
      r.client_id = client_id;
      r.measured_at = check.measured_at;
      r.kind = kind;
      r.value = value;
      r.by_user_id = doctor->second;
      r.created_at_ms = std::min(now_ms, check.measured_at.utc_ms + 2 * day_ms);  // lab results come back later
      rows.push_back(std::move(r));
    }
    s.measurements += static_cast<std::int64_t>(rows.size());
    inflight.acquire();
    st.transact(
        [rows = std::move(rows)](store::WriteTxn& txn) -> core::Status {
          for (const auto& r : rows) txn.save_clinic_measurement(r);
          return core::ok_status();
        },
        [&inflight](core::Result<core::Unit> r) { inflight.release(r ? nullptr : &r.error()); });
  }
  if (auto err = inflight.drain()) return *err;

  for (int c = 0; c < std::min(o.patient_logins, o.clinics); ++c) {
    const auto& p = patients[static_cast<std::size_t>(c)];
    core::User u;
    char username[32];
    std::snprintf(username, sizeof username, "patient%02d", c + 1);
    u.username = username;
    u.role = core::Role::patient;
    u.display_name = p.name;
    u.clinic_id = p.clinic_id;
    u.patient_id = p.id;
    auto user_id = add_user(u, "demo-patient", "patient " + p.name + ", " + clinics[static_cast<std::size_t>(c)].name);
    if (!user_id) return user_id.error();
    if (o.patient_consent) {
      auto consent = *o.patient_consent;
      consent.patient_id = p.id;
      consent.user_id = *user_id;
      auto stored = store::wait_for<store::ConsentRecord>(
          [&](auto done) { st.record_consent(std::move(consent), std::move(done)); });
      if (!stored) return stored.error();
    }
  }
  if (o.progress) o.progress(o.patients, o.patients);
  return s;
}

}  // namespace careloop::demo
