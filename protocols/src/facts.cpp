#include "careloop/protocols/facts.hpp"

#include "careloop/protocols/drugs.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>
#include <unordered_map>

#include "careloop/core/units.hpp"

namespace careloop::protocols {
namespace {

using core::Metric;

constexpr std::int64_t ms_per_day = 86'400'000;
constexpr std::int64_t ms_per_minute = 60'000;
constexpr double nan = std::numeric_limits<double>::quiet_NaN();

constexpr std::array<std::string_view, 9> target_names{
    "bp.office_systolic_lt", "bp.office_diastolic_lt", "bp.home_systolic_lt",   "bp.home_diastolic_lt", "glucose.fasting_gte",
    "glucose.fasting_lt",   "glucose.nonfasting_lt",  "hba1c_lt",              "bmi_lt",
};
constexpr std::array<Quantity, 9> target_quantities{
    Quantity::pressure, Quantity::pressure, Quantity::pressure, Quantity::pressure, Quantity::glucose,
    Quantity::glucose,  Quantity::glucose,  Quantity::hba1c,    Quantity::bmi,
};

constexpr std::array<std::string_view, 8> comorbidity_codes{
    "chd", "ckd", "ckd_proteinuria", "heart_failure", "stroke", "frailty", "limited_life_expectancy", "ascvd",
};

constexpr std::array<std::string_view, 15> drug_classes{
    "acei",  "arb", "ccb", "beta_blocker", "thiazide", "metformin", "sulfonylurea", "glinide",
    "agi",   "dpp4i", "tzd", "sglt2i",     "glp1ra",   "insulin",   "statin",
};


struct WindowFacts {
  FactId sys_mean, dia_mean, sys_min, dia_min, sys_max, dia_max, bp_count;
  FactId gf_mean, gn_mean, g_min, g_max, gf_count, gn_count, g_count;
  FactId hr_mean, hr_min, hr_max, hr_count;
  FactId wt_mean, wt_min, wt_max, wt_count;
};
constexpr std::array<std::string_view, 4> window_names{"24h", "7d", "30d", "90d"};
constexpr std::array<int, 4> window_days{1, 7, 30, 90};

struct Registry {
  std::vector<FactDef> facts;
  std::vector<FactDef> series;
  std::unordered_map<std::string, FactId> by_name;
  std::unordered_map<std::string, SeriesId> series_by_name;
  std::array<WindowFacts, 4> win{};
  FactId bp_latest_sys, bp_latest_dia, bp_reading_sys, bp_reading_dia, bp_repeat_sys, bp_repeat_dia, bp_prev_sys, bp_prev_dia, bp_slope_sys,
      bp_slope_dia, bp_days_since;
  FactId g_latest, g_latest_fasting, g_reading, g_reading_fasting, g_tir_7d, g_tir_30d, g_days_since;
  FactId hr_latest, hr_reading, wt_latest, wt_change_3d, bmi, a1c_latest, a1c_days_since, any_days_since;
  FactId adherence_30d, doses_30d, days_since_change, drug_count, drug_class_first;
  FactId age, male, female, pregnant, smoker, dx_htn, dx_dm, comorbidity_first;
  FactId visits_uncontrolled, risk_high, risk_max;
  EngineFacts engine{};
  SeriesId s_gf_daily_mean, s_gf_daily_max, s_gn_daily_max, s_gn_daily_mean, s_hr_24h, s_sys_24h;

  FactId add(std::string name, Quantity q, std::string desc, Domain d = Domain::none) {
    if (facts.size() >= max_facts) throw std::logic_error("fact registry: more than max_facts");
    const auto id = static_cast<FactId>(facts.size());
    if (!by_name.emplace(name, id).second) throw std::logic_error("fact registry: duplicate " + name);
    facts.push_back({std::move(name), q, std::move(desc), d});
    return id;
  }
  SeriesId add_series(std::string name, Quantity q, std::string desc, Domain d) {
    if (series.size() >= max_series) throw std::logic_error("series registry: more than max_series");
    const auto id = static_cast<SeriesId>(series.size());
    series_by_name.emplace(name, id);
    series.push_back({std::move(name), q, std::move(desc), d});
    return id;
  }

  Registry() {
    using Q = Quantity;
    using D = Domain;
    for (std::size_t w = 0; w < 4; ++w) {
      const std::string n(window_names[w]);
      const std::string span = w == 0 ? "the last 24 hours" : "the last " + std::to_string(window_days[w]) + " local days";
      auto& f = win[w];
      f.sys_mean = add("bp.mean_" + n + ".systolic", Q::pressure, "mean home systolic over " + span, D::blood_pressure);
      f.dia_mean = add("bp.mean_" + n + ".diastolic", Q::pressure, "mean home diastolic over " + span, D::blood_pressure);
      f.sys_min = add("bp.min_" + n + ".systolic", Q::pressure, "lowest systolic over " + span, D::blood_pressure);
      f.dia_min = add("bp.min_" + n + ".diastolic", Q::pressure, "lowest diastolic over " + span, D::blood_pressure);
      f.sys_max = add("bp.max_" + n + ".systolic", Q::pressure, "highest systolic over " + span, D::blood_pressure);
      f.dia_max = add("bp.max_" + n + ".diastolic", Q::pressure, "highest diastolic over " + span, D::blood_pressure);
      f.bp_count = add("bp.count_" + n, Q::count, "BP readings over " + span, D::blood_pressure);
      f.gf_mean = add("glucose.fasting.mean_" + n, Q::glucose, "mean fasting glucose over " + span, D::glucose);
      f.gn_mean = add("glucose.nonfasting.mean_" + n, Q::glucose, "mean non-fasting glucose over " + span, D::glucose);
      f.g_min = add("glucose.min_" + n, Q::glucose, "lowest glucose (any context) over " + span, D::glucose);
      f.g_max = add("glucose.max_" + n, Q::glucose, "highest glucose (any context) over " + span, D::glucose);
      f.gf_count = add("glucose.fasting.count_" + n, Q::count, "fasting glucose readings over " + span, D::glucose);
      f.gn_count = add("glucose.nonfasting.count_" + n, Q::count, "non-fasting glucose readings over " + span, D::glucose);
      f.g_count = add("glucose.count_" + n, Q::count, "glucose readings over " + span, D::glucose);
      f.hr_mean = add("hr.mean_" + n, Q::heart_rate, "mean heart rate over " + span, D::heart_rate);
      f.hr_min = add("hr.min_" + n, Q::heart_rate, "lowest heart rate over " + span, D::heart_rate);
      f.hr_max = add("hr.max_" + n, Q::heart_rate, "highest heart rate over " + span, D::heart_rate);
      f.hr_count = add("hr.count_" + n, Q::count, "heart-rate values over " + span, D::heart_rate);
      f.wt_mean = add("weight.mean_" + n, Q::mass, "mean weight over " + span, D::weight);
      f.wt_min = add("weight.min_" + n, Q::mass, "lowest weight over " + span, D::weight);
      f.wt_max = add("weight.max_" + n, Q::mass, "highest weight over " + span, D::weight);
      f.wt_count = add("weight.count_" + n, Q::count, "weight readings over " + span, D::weight);
    }
    bp_latest_sys = add("bp.latest.systolic", Q::pressure, "systolic of the latest BP reading", D::blood_pressure);
    bp_latest_dia = add("bp.latest.diastolic", Q::pressure, "diastolic of the latest BP reading", D::blood_pressure);
    bp_reading_sys = add("bp.reading.systolic", Q::pressure, "systolic of the reading being written (else the latest)", D::blood_pressure);
    bp_reading_dia = add("bp.reading.diastolic", Q::pressure, "diastolic of the reading being written (else the latest)", D::blood_pressure);
    bp_repeat_sys = add("bp.reading.repeat_15min.systolic", Q::pressure,
                        "systolic of the last BP repeat taken within 15 min after that reading; no data when none", D::blood_pressure);
    bp_repeat_dia = add("bp.reading.repeat_15min.diastolic", Q::pressure,
                        "diastolic of the last BP repeat taken within 15 min after that reading; no data when none", D::blood_pressure);
    bp_prev_sys = add("bp.reading.previous_15min.systolic", Q::pressure,
                      "systolic of the last BP reading taken within 15 min before that reading; no data when none", D::blood_pressure);
    bp_prev_dia = add("bp.reading.previous_15min.diastolic", Q::pressure,
                      "diastolic of the last BP reading taken within 15 min before that reading; no data when none", D::blood_pressure);
    bp_slope_sys = add("bp.slope_14d.systolic", Q::pressure_slope, "least-squares slope of daily mean systolic over 14 days", D::blood_pressure);
    bp_slope_dia = add("bp.slope_14d.diastolic", Q::pressure_slope, "least-squares slope of daily mean diastolic over 14 days", D::blood_pressure);
    bp_days_since = add("bp.days_since_last", Q::days, "days since the latest BP reading", D::blood_pressure);
    g_latest = add("glucose.latest.mmol_l", Q::glucose, "latest glucose reading", D::glucose);
    g_latest_fasting = add("glucose.latest.fasting", Q::boolean, "the latest glucose reading was fasting", D::glucose);
    g_reading = add("glucose.reading.mmol_l", Q::glucose, "glucose of the reading being written (else the latest)", D::glucose);
    g_reading_fasting = add("glucose.reading.fasting", Q::boolean, "that glucose reading was fasting", D::glucose);
    g_tir_7d = add("glucose.tir_7d.percent", Q::percent, "share of glucose readings in 3.9–10.0 mmol/L over 7 days", D::glucose);
    g_tir_30d = add("glucose.tir_30d.percent", Q::percent, "share of glucose readings in 3.9–10.0 mmol/L over 30 days", D::glucose);
    g_days_since = add("glucose.days_since_last", Q::days, "days since the latest glucose reading", D::glucose);
    hr_latest = add("hr.latest.bpm", Q::heart_rate, "latest heart rate (heart-rate reading or BP pulse)", D::heart_rate);
    hr_reading = add("hr.reading.bpm", Q::heart_rate, "heart rate of the reading being written (else the latest)", D::heart_rate);
    wt_latest = add("weight.latest.kg", Q::mass, "latest weight", D::weight);
    wt_change_3d = add("weight.change_3d.kg", Q::mass,
                       "latest weight minus the lowest weight of the 3 local days before it", D::weight);
    bmi = add("patient.bmi", Q::bmi, "BMI from the latest weight and the recorded height", D::weight);
    a1c_latest = add("hba1c.latest.percent", Q::hba1c, "latest HbA1c", D::hba1c);
    a1c_days_since = add("hba1c.days_since_last", Q::days, "days since the latest HbA1c", D::hba1c);
    any_days_since = add("readings.days_since_last", Q::days, "days since the latest reading of any kind but medication");
    adherence_30d = add("medication.adherence_30d.percent", Q::percent, "doses logged taken / all doses logged over 30 days", D::medication);
    doses_30d = add("medication.doses_logged_30d", Q::count, "doses logged (taken or missed) over 30 days", D::medication);
    days_since_change = add("medication.days_since_change", Q::days, "days since the last medication change");
    drug_count = add("medication.count", Q::count, "current medications on file");
    drug_class_first = static_cast<FactId>(facts.size());
    for (auto c : drug_classes)
      add("medication.on." + std::string(c), Q::boolean, "a current medication of class " + std::string(c));
    age = add("patient.age_years", Q::years, "age in whole years");
    male = add("patient.male", Q::boolean, "sex is male");
    female = add("patient.female", Q::boolean, "sex is female");
    pregnant = add("patient.pregnant", Q::boolean, "pregnant or possibly pregnant, as recorded");
    smoker = add("patient.smoker", Q::boolean, "currently smokes");
    dx_htn = add("dx.hypertension", Q::boolean, "diagnosed hypertension");
    dx_dm = add("dx.diabetes_t2", Q::boolean, "diagnosed type 2 diabetes");
    comorbidity_first = static_cast<FactId>(facts.size());
    for (auto c : comorbidity_codes) add("comorbidity." + std::string(c), Q::boolean, "recorded comorbidity " + std::string(c));
    visits_uncontrolled = add("visits.consecutive_uncontrolled", Q::count, "consecutive clinic visits with the measure not controlled");
    risk_high = add("risk.high_band", Q::boolean, "a risk score is in its high band");
    risk_max = add("risk.max_percent", Q::percent, "the highest risk score probability");
    engine.target_first = static_cast<FactId>(facts.size());
    for (std::size_t k = 0; k < target_count; ++k)
      add("target." + std::string(target_names[k]), target_quantities[k], "the patient's target, set from the protocol's parameter groups");
    engine.ladder_current_step = add("ladder.current_step", Q::count, "step number of the current regimen on this protocol's ladder");
    engine.ladder_days_at_step = add("ladder.days_at_step", Q::days, "days at the current step (since the last medication change)");

    s_gf_daily_mean = add_series("glucose.fasting.daily_mean_7d", Q::glucose, "mean fasting glucose of each of the last 7 local days with one", D::glucose);
    s_gf_daily_max = add_series("glucose.fasting.daily_max_7d", Q::glucose, "highest fasting glucose of each of the last 7 local days with one", D::glucose);
    s_gn_daily_mean = add_series("glucose.nonfasting.daily_mean_7d", Q::glucose, "mean non-fasting glucose of each of the last 7 local days with one", D::glucose);
    s_gn_daily_max = add_series("glucose.nonfasting.daily_max_7d", Q::glucose, "highest non-fasting glucose of each of the last 7 local days with one", D::glucose);
    s_hr_24h = add_series("hr.readings_24h", Q::heart_rate, "each heart-rate value of the last 24 hours (up to 16)", D::heart_rate);
    s_sys_24h = add_series("bp.readings_24h.systolic", Q::pressure, "each systolic value of the last 24 hours (up to 16)", D::blood_pressure);
  }
};

const Registry& reg() {
  static const Registry r;
  return r;
}

double or_nan(const std::optional<double>& v) { return v ? *v : nan; }

void put(Snapshot& s, FactId id, double v) { s.values[id] = v; }

void put_stat(Snapshot& s, const core::Stat& st, FactId mean, FactId min, FactId max) {
  if (st.count == 0) return;
  put(s, mean, st.sum / st.count);
  put(s, min, st.min);
  put(s, max, st.max);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

std::string_view canonical_unit(Quantity q) noexcept {
  switch (q) {
    case Quantity::pressure: return "mmHg";
    case Quantity::pressure_slope: return "mmHg/day";
    case Quantity::glucose: return "mmol/L";
    case Quantity::mass: return "kg";
    case Quantity::hba1c: return "%";
    case Quantity::percent: return "%";
    case Quantity::heart_rate: return "/min";
    case Quantity::days: return "days";
    case Quantity::years: return "years";
    case Quantity::bmi: return "kg/m2";
    case Quantity::count: return "";
    case Quantity::boolean: return "";
  }
  return "";
}

std::string_view to_string(Quantity q) noexcept {
  switch (q) {
    case Quantity::pressure: return "pressure";
    case Quantity::pressure_slope: return "pressure slope";
    case Quantity::glucose: return "glucose concentration";
    case Quantity::mass: return "mass";
    case Quantity::hba1c: return "HbA1c";
    case Quantity::percent: return "percentage";
    case Quantity::heart_rate: return "heart rate";
    case Quantity::days: return "duration in days";
    case Quantity::years: return "age in years";
    case Quantity::bmi: return "BMI";
    case Quantity::count: return "count";
    case Quantity::boolean: return "true/false";
  }
  return "?";
}

std::optional<double> to_canonical(Quantity q, double v, std::string_view unit) noexcept {
  switch (q) {
    case Quantity::pressure: if (unit == "mmHg") return v; break;
    case Quantity::pressure_slope: if (unit == "mmHg/day") return v; break;
    case Quantity::glucose:
      if (auto u = core::parse_glucose_unit(unit)) return core::glucose_to_mmol_l(v, *u);
      break;
    case Quantity::mass:
      if (auto u = core::parse_weight_unit(unit)) return core::weight_to_kg(v, *u);
      break;
    case Quantity::hba1c:
      if (auto u = core::parse_hba1c_unit(unit)) return core::hba1c_to_percent(v, *u);
      break;
    case Quantity::percent: if (unit == "%") return v; break;
    case Quantity::heart_rate: if (unit == "/min") return v; break;
    case Quantity::days:
      if (unit == "days") return v;
      if (unit == "weeks") return v * 7;
      if (unit == "hours") return v / 24;
      break;
    case Quantity::years: if (unit == "years") return v; break;
    case Quantity::bmi: if (unit == "kg/m2") return v; break;
    case Quantity::count:
    case Quantity::boolean: break;
  }
  return std::nullopt;
}

std::span<const FactDef> fact_registry() noexcept { return reg().facts; }
std::span<const FactDef> series_registry() noexcept { return reg().series; }
const EngineFacts& engine_facts() noexcept { return reg().engine; }

std::optional<FactId> find_fact(std::string_view name) noexcept {
  const auto& r = reg();
  auto it = r.by_name.find(std::string(name));
  if (it == r.by_name.end()) return std::nullopt;
  return it->second;
}

std::optional<SeriesId> find_series(std::string_view name) noexcept {
  const auto& r = reg();
  auto it = r.series_by_name.find(std::string(name));
  if (it == r.series_by_name.end()) return std::nullopt;
  return it->second;
}

std::string_view to_string(TargetKey k) noexcept { return target_names[static_cast<std::size_t>(k)]; }
std::optional<TargetKey> parse_target_key(std::string_view s) noexcept {
  for (std::size_t i = 0; i < target_names.size(); ++i)
    if (target_names[i] == s) return static_cast<TargetKey>(i);
  return std::nullopt;
}
Quantity quantity_of(TargetKey k) noexcept { return target_quantities[static_cast<std::size_t>(k)]; }

std::span<const std::string_view> known_comorbidities() noexcept { return comorbidity_codes; }
std::span<const std::string_view> known_drug_classes() noexcept { return drug_classes; }

std::optional<std::string_view> drug_class(std::string_view drug) noexcept {
  // The catalogue's (catalogue/drugs.json): one source for names and classes.
  return DrugCatalogue::builtin().class_of(drug);
}

std::optional<double> dose_mg(std::string_view dose) noexcept {
  std::size_t i = 0;
  while (i < dose.size() && dose[i] == ' ') ++i;
  double v = 0;
  auto [p, ec] = std::from_chars(dose.data() + i, dose.data() + dose.size(), v);
  if (ec != std::errc()) return std::nullopt;
  std::string_view rest(p, static_cast<std::size_t>(dose.data() + dose.size() - p));
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.rfind("mg", 0) == 0) return v;
  if (rest.rfind("g", 0) == 0) return v * 1000;
  return std::nullopt;
}

double Snapshot::get(std::string_view fact) const {
  auto id = find_fact(fact);
  return id ? values[*id] : nan;
}

void Snapshot::set(std::string_view fact, double v) {
  if (auto id = find_fact(fact)) values[*id] = v;
}

Snapshot make_snapshot(const core::PatientState& st, const core::Patient& patient, const SnapshotContext& ctx,
                       std::int64_t now_ms, const core::Reading* trigger) {
  const Registry& r = reg();
  Snapshot s;
  s.now_ms = now_ms;
  s.today = st.today(now_ms);
  const std::int64_t today = s.today;
  using core::ReadingKind;

  for (std::size_t w = 0; w < 4; ++w) {
    const auto& f = r.win[w];
    auto stat = [&](Metric m) { return w == 0 ? st.window_24h(m, now_ms) : st.window(m, today, window_days[w]); };
    const auto sys = stat(Metric::systolic), dia = stat(Metric::diastolic);
    put_stat(s, sys, f.sys_mean, f.sys_min, f.sys_max);
    put_stat(s, dia, f.dia_mean, f.dia_min, f.dia_max);
    put(s, f.bp_count, sys.count);
    const auto gf = stat(Metric::glucose_fasting), gn = stat(Metric::glucose_nonfasting);
    if (gf.count) put(s, f.gf_mean, gf.sum / gf.count);
    if (gn.count) put(s, f.gn_mean, gn.sum / gn.count);
    core::Stat g = gf;
    g.merge(gn);
    if (g.count) {
      put(s, f.g_min, g.min);
      put(s, f.g_max, g.max);
    }
    put(s, f.gf_count, gf.count);
    put(s, f.gn_count, gn.count);
    put(s, f.g_count, g.count);
    const auto hr = stat(Metric::pulse);
    put_stat(s, hr, f.hr_mean, f.hr_min, f.hr_max);
    put(s, f.hr_count, hr.count);
    const auto wt = stat(Metric::weight);
    put_stat(s, wt, f.wt_mean, f.wt_min, f.wt_max);
    put(s, f.wt_count, wt.count);
  }

  auto days_since = [&](std::int64_t t) { return static_cast<double>(now_ms - t) / ms_per_day; };
  const auto& bp = st.latest(ReadingKind::blood_pressure);
  if (bp) {
    put(s, r.bp_latest_sys, or_nan(bp->systolic_mmhg));
    put(s, r.bp_latest_dia, or_nan(bp->diastolic_mmhg));
    put(s, r.bp_days_since, days_since(bp->utc_ms));
  }
  // The reading being written, or the latest BP, and the last repeat within 15 min after it.
  std::optional<core::RecentReading> bp_reading = bp;
  if (trigger && trigger->kind == ReadingKind::blood_pressure) {
    core::RecentReading t;
    t.utc_ms = trigger->taken_at.utc_ms;
    t.systolic_mmhg = trigger->systolic_mmhg;
    t.diastolic_mmhg = trigger->diastolic_mmhg;
    bp_reading = t;
  }
  if (bp_reading) {
    put(s, r.bp_reading_sys, or_nan(bp_reading->systolic_mmhg));
    put(s, r.bp_reading_dia, or_nan(bp_reading->diastolic_mmhg));
    for (const auto& x : st.recent()) {
      if (x.kind != ReadingKind::blood_pressure) continue;
      if (x.utc_ms < bp_reading->utc_ms && x.utc_ms >= bp_reading->utc_ms - 15 * ms_per_minute) {
        put(s, r.bp_prev_sys, or_nan(x.systolic_mmhg));
        put(s, r.bp_prev_dia, or_nan(x.diastolic_mmhg));
      }
      if (x.utc_ms <= bp_reading->utc_ms) continue;
      if (x.utc_ms > bp_reading->utc_ms + 15 * ms_per_minute) break;
      put(s, r.bp_repeat_sys, or_nan(x.systolic_mmhg));
      put(s, r.bp_repeat_dia, or_nan(x.diastolic_mmhg));
    }
  }
  put(s, r.bp_slope_sys, or_nan(st.slope_per_day(Metric::systolic, today, 14)));
  put(s, r.bp_slope_dia, or_nan(st.slope_per_day(Metric::diastolic, today, 14)));

  const auto& gl = st.latest(ReadingKind::glucose);
  if (gl) {
    put(s, r.g_latest, or_nan(gl->glucose_mmol_l));
    put(s, r.g_latest_fasting, gl->fasting ? 1 : 0);
    put(s, r.g_days_since, days_since(gl->utc_ms));
    put(s, r.g_reading, or_nan(gl->glucose_mmol_l));
    put(s, r.g_reading_fasting, gl->fasting ? 1 : 0);
  }
  if (trigger && trigger->kind == ReadingKind::glucose) {
    put(s, r.g_reading, or_nan(trigger->glucose_mmol_l));
    put(s, r.g_reading_fasting, core::is_fasting(*trigger) ? 1 : 0);
  }
  for (auto [id, days] : {std::pair{r.g_tir_7d, 7}, std::pair{r.g_tir_30d, 30}}) {
    const auto [in, all] = st.glucose_in_range(today, days);
    if (all > 0) put(s, id, 100.0 * in / all);
  }

  // Heart rate: the newest pulse of a heart-rate or BP reading.
  for (auto it = st.recent().rbegin(); it != st.recent().rend(); ++it)
    if (it->pulse_bpm) {
      put(s, r.hr_latest, *it->pulse_bpm);
      put(s, r.hr_reading, *it->pulse_bpm);
      break;
    }
  if (trigger && trigger->pulse_bpm) put(s, r.hr_reading, *trigger->pulse_bpm);

  const auto& wt = st.latest(ReadingKind::weight);
  if (wt && wt->weight_kg) {
    put(s, r.wt_latest, *wt->weight_kg);
    const std::int64_t d = core::local_day(wt->utc_ms, wt->offset_min);
    double lowest = nan;
    for (std::int64_t k = d - 3; k < d; ++k)
      if (const auto* b = st.day(k); b && b->stats[static_cast<std::size_t>(Metric::weight)].count)
        lowest = std::isnan(lowest) ? b->stats[static_cast<std::size_t>(Metric::weight)].min
                                    : std::min(lowest, b->stats[static_cast<std::size_t>(Metric::weight)].min);
    if (!std::isnan(lowest)) put(s, r.wt_change_3d, *wt->weight_kg - lowest);
    if (patient.height_cm && *patient.height_cm > 0) {
      const double m = *patient.height_cm / 100.0;
      put(s, r.bmi, *wt->weight_kg / (m * m));
    }
  }
  const auto& a1c = st.latest(ReadingKind::hba1c);
  if (a1c) {
    put(s, r.a1c_latest, or_nan(a1c->hba1c_percent));
    put(s, r.a1c_days_since, days_since(a1c->utc_ms));
  }
  if (auto last = st.last_reading_ms()) put(s, r.any_days_since, days_since(*last));

  const auto [taken, missed] = st.medication_log(today, 30);
  put(s, r.doses_30d, taken + missed);
  if (taken + missed > 0) put(s, r.adherence_30d, 100.0 * taken / (taken + missed));
  std::optional<std::int64_t> change = ctx.last_medication_change_day;
  for (const auto& m : patient.medications) {
    if (!ctx.last_medication_change_day && (!change || m.since > *change)) change = m.since;
    CurrentDrug d;
    d.name = lower(m.name);
    if (auto c = drug_class(m.name)) d.drug_class = std::string(*c);
    d.dose_mg = dose_mg(m.dose);
    d.since_day = m.since;
    s.drugs.push_back(std::move(d));
  }
  if (change) put(s, r.days_since_change, static_cast<double>(today - *change));
  put(s, r.drug_count, static_cast<double>(patient.medications.size()));
  for (std::size_t c = 0; c < drug_classes.size(); ++c) {
    const bool on = std::any_of(s.drugs.begin(), s.drugs.end(), [&](const CurrentDrug& d) { return d.drug_class == drug_classes[c]; });
    put(s, static_cast<FactId>(r.drug_class_first + c), on ? 1 : 0);
  }

  int y = 0, by = 0;
  unsigned m = 0, d = 0, bm = 0, bd = 0;
  core::civil_from_days(today, y, m, d);
  core::civil_from_days(patient.birth_date, by, bm, bd);
  put(s, r.age, y - by - ((m < bm || (m == bm && d < bd)) ? 1 : 0));
  put(s, r.male, patient.sex == core::Sex::male ? 1 : 0);
  put(s, r.female, patient.sex == core::Sex::female ? 1 : 0);
  put(s, r.pregnant, patient.pregnant ? 1 : 0);
  put(s, r.smoker, patient.smoking == core::Smoking::current ? 1 : 0);
  put(s, r.dx_htn, patient.has_diagnosis(core::dx_hypertension) ? 1 : 0);
  put(s, r.dx_dm, patient.has_diagnosis(core::dx_diabetes_t2) ? 1 : 0);
  for (std::size_t c = 0; c < comorbidity_codes.size(); ++c) {
    const bool has = std::find(patient.comorbidities.begin(), patient.comorbidities.end(), comorbidity_codes[c]) !=
                     patient.comorbidities.end();
    put(s, static_cast<FactId>(r.comorbidity_first + c), has ? 1 : 0);
  }
  put(s, r.visits_uncontrolled, ctx.consecutive_uncontrolled_visits);
  bool high = false;
  double max_p = nan;
  for (const auto& rb : ctx.risk) {
    high = high || rb.high;
    max_p = std::isnan(max_p) ? rb.probability * 100 : std::max(max_p, rb.probability * 100);
  }
  put(s, r.risk_high, high ? 1 : 0);
  put(s, r.risk_max, max_p);

  // Series: per local day over the last 7 days, and per reading over 24 h.
  for (const auto& b : st.days()) {
    if (b.day <= today - 7 || b.day > today) continue;
    const auto& f = b.stats[static_cast<std::size_t>(Metric::glucose_fasting)];
    const auto& n = b.stats[static_cast<std::size_t>(Metric::glucose_nonfasting)];
    if (f.count) {
      s.series[r.s_gf_daily_mean].push(f.sum / f.count);
      s.series[r.s_gf_daily_max].push(f.max);
    }
    if (n.count) {
      s.series[r.s_gn_daily_mean].push(n.sum / n.count);
      s.series[r.s_gn_daily_max].push(n.max);
    }
  }
  for (const auto& x : st.recent()) {
    if (x.utc_ms <= now_ms - ms_per_day || x.utc_ms > now_ms) continue;
    if (x.pulse_bpm) s.series[r.s_hr_24h].push(*x.pulse_bpm);
    if (x.systolic_mmhg) s.series[r.s_sys_24h].push(*x.systolic_mmhg);
  }

  const auto n_bp = st.readings_applied(ReadingKind::blood_pressure);
  s.evidence[static_cast<std::size_t>(Domain::blood_pressure)] = n_bp;
  s.evidence[static_cast<std::size_t>(Domain::glucose)] = st.readings_applied(ReadingKind::glucose);
  s.evidence[static_cast<std::size_t>(Domain::heart_rate)] = n_bp + st.readings_applied(ReadingKind::heart_rate);
  s.evidence[static_cast<std::size_t>(Domain::weight)] = st.readings_applied(ReadingKind::weight);
  s.evidence[static_cast<std::size_t>(Domain::hba1c)] = st.readings_applied(ReadingKind::hba1c);
  s.evidence[static_cast<std::size_t>(Domain::medication)] = st.readings_applied(ReadingKind::medication);
  return s;
}

}  // namespace careloop::protocols
