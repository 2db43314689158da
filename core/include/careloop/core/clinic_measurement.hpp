#pragma once
// Measurements the clinic records at the annual health check of the national
// basic public health service (waist, lipids, a lab fasting glucose, weight,
// height): their kinds, canonical units, plausible ranges, LOINC codes and
// the units a client may send. The one place they are written (store/ keeps
// the kind as text, mobile-api/README.md lists them for client developers).
//
// Why these kinds: the risk models need waist, HDL, triglycerides and fasting
// glucose (diabetes-8y, data/models/) and BMI (weight, height); the annual
// check also measures total and LDL cholesterol, which the dashboard shows.
// Clinic blood pressure is a reading (readings table), not one of these.
#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "careloop/core/plausibility.hpp"
#include "careloop/core/units.hpp"

namespace careloop::core {

struct MeasurementKind {
  std::string_view name;   // the API and store name, e.g. "waist_cm"
  std::string_view unit;   // canonical UCUM unit
  double min;              // plausible range in the canonical unit, inclusive
  double max;
  std::string_view loinc;  // the LOINC code of the canonical-unit observation
  std::string_view loinc_display;
  // mg/dL per canonical mmol/L for the kinds a lab may report in mg/dL; 0: none.
  double mg_dl_per_mmol_l = 0;
};

// Plausible ranges: a decision (as for home readings, core/plausibility.hpp),
// wide enough for real extremes and narrow enough to catch a wrong unit or a
// slipped digit: waist 40–200 cm; HDL 0.1–5 mmol/L; triglycerides 0.1–50
// (severe hypertriglyceridaemia passes 20); total cholesterol 1–30 and LDL
// 0.1–25 (homozygous familial hypercholesterolaemia reaches 15–25); fasting
// glucose and weight as for home readings (plausibility.hpp); height 40–250 cm.
//
// LOINC: weight 29463-7 and height 8302-2 are CLINICAL.md §5's. The others
// are not in CLINICAL.md §5 and are the standard LOINC codes for the
// canonical (moles) unit: 8280-0 waist circumference (at umbilicus, by tape
// measure), 14646-4 HDL cholesterol, 14927-8 triglyceride, 14647-2 cholesterol,
// 22748-8 LDL cholesterol, all [Moles/volume] in serum or plasma; and 14771-0
// fasting glucose [Moles/volume] in serum or plasma (CLINICAL.md §5's
// 14749-6 is glucose without the fasting condition).
inline constexpr MeasurementKind measurement_kinds[] = {
    {"waist_cm", "cm", 40, 200, "8280-0", "Waist Circumference at umbilicus by Tape measure"},
    {"hdl_mmol_l", "mmol/L", 0.1, 5, "14646-4", "Cholesterol in HDL [Moles/volume] in Serum or Plasma",
     cholesterol_mg_dl_per_mmol_l},
    {"triglycerides_mmol_l", "mmol/L", 0.1, 50, "14927-8", "Triglyceride [Moles/volume] in Serum or Plasma",
     triglycerides_mg_dl_per_mmol_l},
    {"fasting_glucose_mmol_l", "mmol/L", glucose_range.min, glucose_range.max, "14771-0",
     "Fasting glucose [Moles/volume] in Serum or Plasma", mg_dl_per_mmol_l},
    {"total_cholesterol_mmol_l", "mmol/L", 1, 30, "14647-2", "Cholesterol [Moles/volume] in Serum or Plasma",
     cholesterol_mg_dl_per_mmol_l},
    {"ldl_mmol_l", "mmol/L", 0.1, 25, "22748-8", "Cholesterol in LDL [Moles/volume] in Serum or Plasma",
     cholesterol_mg_dl_per_mmol_l},
    {"weight_kg", "kg", weight_range.min, weight_range.max, "29463-7", "Body weight"},
    {"height_cm", "cm", 40, 250, "8302-2", "Body height"},
};

inline const MeasurementKind* find_measurement_kind(std::string_view name) {
  const auto* it = std::find_if(std::begin(measurement_kinds), std::end(measurement_kinds),
                                [&](const MeasurementKind& k) { return k.name == name; });
  return it == std::end(measurement_kinds) ? nullptr : it;
}

// The units a client may send for a kind, for error messages: "mmol/L, mg/dL".
inline std::string accepted_units(const MeasurementKind& k) {
  std::string out(k.unit);
  if (k.mg_dl_per_mmol_l > 0) out += ", mg/dL";
  if (k.name == "weight_kg") out += ", g, lb";
  return out;
}

// `value` in `unit` as the kind's canonical unit; nullopt when the kind does
// not take that unit. An empty unit is the canonical one.
inline std::optional<double> measurement_to_canonical(const MeasurementKind& k, double value, std::string_view unit) {
  if (unit.empty() || unit == k.unit) return value;
  if (k.mg_dl_per_mmol_l > 0 && unit == "mg/dL") return value / k.mg_dl_per_mmol_l;
  if (k.name == "weight_kg")
    if (auto u = parse_weight_unit(unit)) return weight_to_kg(value, *u);
  return std::nullopt;
}

}  // namespace careloop::core
