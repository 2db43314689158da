#pragma once
// A patient's risk-model inputs, with units, from the clinic record, the
// rolling state of home readings and clinic measurements. Missing stays
// missing: an absent value becomes NaN for the model, never 0.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "careloop/core/domain.hpp"
#include "careloop/core/patient_state.hpp"
#include "careloop/core/result.hpp"
#include "careloop/risk/model_spec.hpp"

namespace careloop::risk {

// Every input the patient models use, named as their features are.
struct PatientFeatures {
  std::optional<double> age_years;
  std::optional<double> female;  // 1 or 0
  std::optional<double> bmi_kg_m2;
  std::optional<double> systolic_mmhg;   // home mean where available, else the clinic's
  std::optional<double> diastolic_mmhg;  // likewise
  std::optional<double> current_smoker;  // 1 or 0
  std::optional<double> parents_with_hypertension;  // 0, 1, 2
  std::optional<double> waist_cm;
  std::optional<double> fasting_glucose_mmol_l;  // home fasting mean where available, else the clinic's
  std::optional<double> hdl_mmol_l;
  std::optional<double> triglycerides_mmol_l;
  std::optional<double> parental_diabetes;  // 1 or 0
};

// The feature names PatientFeatures provides; a patient model may use only these.
const std::vector<std::string_view>& patient_feature_names();
std::optional<double> feature_value(const PatientFeatures& f, std::string_view name);
// The same by position in patient_feature_names() (looked up once per model
// by batch scoring rather than by name for every patient); index must be valid.
std::optional<std::size_t> patient_feature_index(std::string_view name);
std::optional<double> feature_value(const PatientFeatures& f, std::size_t index);

// Measured in the clinic rather than at home; each is optional.
struct ClinicMeasurements {
  std::optional<double> systolic_mmhg;
  std::optional<double> diastolic_mmhg;
  std::optional<double> weight_kg;
  std::optional<double> waist_cm;
  std::optional<double> fasting_glucose_mmol_l;
  std::optional<double> hdl_mmol_l;
  std::optional<double> triglycerides_mmol_l;
};

// Home means count when there are at least this many readings in the window.
inline constexpr int home_blood_pressure_window_days = 30;
inline constexpr int home_glucose_window_days = 90;
inline constexpr int home_weight_window_days = 90;
inline constexpr int min_home_readings = 3;

// Age from the birth date at now; BMI from home weight (mean of 90 days,
// else clinic) and height; BP and fasting glucose from home means over 30 and
// 90 days with ≥ 3 readings, else the clinic's; waist and lipids from the clinic.
PatientFeatures extract_patient_features(const core::Patient& patient, const core::PatientState* state,
                                         const ClinicMeasurements& clinic, std::int64_t now_ms);

// The model's input row: one value per spec feature, NaN where missing.
// Errc::invalid naming each feature whose value lies outside the spec's
// range (the model has not seen such values) or that PatientFeatures lacks.
core::Result<std::vector<float>> model_input(const ModelSpec& spec, const PatientFeatures& features);
core::Status model_input(const ModelSpec& spec, const PatientFeatures& features, std::span<float> out);

}  // namespace careloop::risk
