#pragma once
// Canonical units (DESIGN §4): BP mmHg, glucose mmol/L, weight kg,
// HbA1c % (NGSP), pulse per minute. Conversions live here and only here.
#include <optional>
#include <string_view>

namespace careloop::core {

inline constexpr double mg_dl_per_mmol_l = 18.016;  // glucose, CLINICAL.md header
inline constexpr double kg_per_lb = 0.45359237;     // exact, international pound
// Lipids (conventional factors, as in risk/lipids.hpp which uses these):
// cholesterol (total, HDL, LDL) by its molar mass of about 386.7 g/mol;
// triglycerides counted as triolein, about 885.7 g/mol.
inline constexpr double cholesterol_mg_dl_per_mmol_l = 38.67;
inline constexpr double triglycerides_mg_dl_per_mmol_l = 88.57;

enum class GlucoseUnit { mmol_l, mg_dl };
enum class WeightUnit { kg, g, lb };
enum class Hba1cUnit { percent, mmol_mol };

std::optional<GlucoseUnit> parse_glucose_unit(std::string_view s);  // "mmol/L", "mg/dL"
std::optional<WeightUnit> parse_weight_unit(std::string_view s);    // "kg", "g", "lb"
std::optional<Hba1cUnit> parse_hba1c_unit(std::string_view s);      // "%", "mmol/mol"

constexpr double glucose_to_mmol_l(double v, GlucoseUnit u) {
  return u == GlucoseUnit::mg_dl ? v / mg_dl_per_mmol_l : v;
}
constexpr double mmol_l_to_mg_dl(double mmol_l) { return mmol_l * mg_dl_per_mmol_l; }

constexpr double weight_to_kg(double v, WeightUnit u) {
  switch (u) {
    case WeightUnit::g: return v / 1000.0;
    case WeightUnit::lb: return v * kg_per_lb;
    case WeightUnit::kg: break;
  }
  return v;
}

// IFCC mmol/mol → NGSP %: 0.09148 × IFCC + 2.152 (DESIGN §4).
constexpr double hba1c_to_percent(double v, Hba1cUnit u) {
  return u == Hba1cUnit::mmol_mol ? 0.09148 * v + 2.152 : v;
}

}  // namespace careloop::core
