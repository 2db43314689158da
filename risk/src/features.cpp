#include "careloop/risk/features.hpp"

#include <cmath>
#include <cstdio>

namespace careloop::risk {

namespace {

using Field = std::optional<double> PatientFeatures::*;

struct Named {
  std::string_view name;
  Field field;
};

constexpr Named fields[] = {
    {"age_years", &PatientFeatures::age_years},
    {"female", &PatientFeatures::female},
    {"bmi_kg_m2", &PatientFeatures::bmi_kg_m2},
    {"systolic_mmhg", &PatientFeatures::systolic_mmhg},
    {"diastolic_mmhg", &PatientFeatures::diastolic_mmhg},
    {"current_smoker", &PatientFeatures::current_smoker},
    {"parents_with_hypertension", &PatientFeatures::parents_with_hypertension},
    {"waist_cm", &PatientFeatures::waist_cm},
    {"fasting_glucose_mmol_l", &PatientFeatures::fasting_glucose_mmol_l},
    {"hdl_mmol_l", &PatientFeatures::hdl_mmol_l},
    {"triglycerides_mmol_l", &PatientFeatures::triglycerides_mmol_l},
    {"parental_diabetes", &PatientFeatures::parental_diabetes},
};

constexpr double days_per_year = 365.2425;
constexpr std::int64_t ms_per_day = 86'400'000;

std::optional<double> home_mean(const core::PatientState* state, core::Metric m, int days, std::int64_t now_ms) {
  if (!state) return std::nullopt;
  const auto s = state->window(m, state->today(now_ms), days);
  if (s.count < min_home_readings) return std::nullopt;
  return s.mean();
}

}  // namespace

const std::vector<std::string_view>& patient_feature_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const auto& f : fields) v.push_back(f.name);
    return v;
  }();
  return names;
}

std::optional<double> feature_value(const PatientFeatures& f, std::string_view name) {
  if (auto i = patient_feature_index(name)) return feature_value(f, *i);
  return std::nullopt;
}

std::optional<std::size_t> patient_feature_index(std::string_view name) {
  for (std::size_t i = 0; i < std::size(fields); ++i)
    if (fields[i].name == name) return i;
  return std::nullopt;
}

std::optional<double> feature_value(const PatientFeatures& f, std::size_t index) { return f.*(fields[index].field); }

PatientFeatures extract_patient_features(const core::Patient& patient, const core::PatientState* state,
                                         const ClinicMeasurements& clinic, std::int64_t now_ms) {
  PatientFeatures f;
  const std::int64_t today_utc = now_ms / ms_per_day;
  if (patient.birth_date != 0 && today_utc >= patient.birth_date)
    f.age_years = static_cast<double>(today_utc - patient.birth_date) / days_per_year;
  f.female = patient.sex == core::Sex::female ? 1 : 0;
  f.current_smoker = patient.smoking == core::Smoking::current ? 1 : 0;
  f.parents_with_hypertension = patient.parents_with_hypertension;
  f.parental_diabetes = patient.family_history_diabetes ? 1 : 0;

  f.systolic_mmhg = home_mean(state, core::Metric::systolic, home_blood_pressure_window_days, now_ms);
  f.diastolic_mmhg = home_mean(state, core::Metric::diastolic, home_blood_pressure_window_days, now_ms);
  // Both from home or both from the clinic, never a mix of one of each.
  if (!f.systolic_mmhg || !f.diastolic_mmhg) {
    f.systolic_mmhg = clinic.systolic_mmhg;
    f.diastolic_mmhg = clinic.diastolic_mmhg;
  }
  f.fasting_glucose_mmol_l = home_mean(state, core::Metric::glucose_fasting, home_glucose_window_days, now_ms);
  if (!f.fasting_glucose_mmol_l) f.fasting_glucose_mmol_l = clinic.fasting_glucose_mmol_l;

  auto weight_kg = home_mean(state, core::Metric::weight, home_weight_window_days, now_ms);
  if (!weight_kg) weight_kg = clinic.weight_kg;
  if (weight_kg && patient.height_cm && *patient.height_cm > 0) {
    const double m = *patient.height_cm / 100;
    f.bmi_kg_m2 = *weight_kg / (m * m);
  }
  f.waist_cm = clinic.waist_cm;
  f.hdl_mmol_l = clinic.hdl_mmol_l;
  f.triglycerides_mmol_l = clinic.triglycerides_mmol_l;
  return f;
}

core::Status model_input(const ModelSpec& spec, const PatientFeatures& features, std::span<float> out) {
  if (out.size() != spec.features.size())
    return core::Error::invalid("the input row has " + std::to_string(out.size()) + " places, the model " +
                                std::to_string(spec.features.size()) + " features");
  std::vector<core::FieldError> errors;
  for (std::size_t i = 0; i < spec.features.size(); ++i) {
    const auto& fs = spec.features[i];
    bool known = false;
    std::optional<double> v;
    for (const auto& n : fields)
      if (n.name == fs.name) {
        known = true;
        v = features.*(n.field);
        break;
      }
    if (!known) {
      errors.push_back({"/" + fs.name, "a patient record has no such feature"});
      continue;
    }
    if (v && !(*v >= fs.min && *v <= fs.max)) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "%g %s is outside the model's range %g–%g", *v, fs.unit.c_str(), fs.min, fs.max);
      errors.push_back({"/" + fs.name, buf});
      continue;
    }
    out[i] = v ? static_cast<float>(*v) : std::nanf("");
  }
  if (!errors.empty()) return core::Error::invalid("the patient's values do not fit model " + spec.id, std::move(errors));
  return core::ok_status();
}

core::Result<std::vector<float>> model_input(const ModelSpec& spec, const PatientFeatures& features) {
  std::vector<float> row(spec.features.size());
  if (auto s = model_input(spec, features, row); !s) return s.error();
  return row;
}

}  // namespace careloop::risk
