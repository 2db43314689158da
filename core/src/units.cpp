#include "careloop/core/units.hpp"

namespace careloop::core {

std::optional<GlucoseUnit> parse_glucose_unit(std::string_view s) {
  if (s == "mmol/L") return GlucoseUnit::mmol_l;
  if (s == "mg/dL") return GlucoseUnit::mg_dl;
  return std::nullopt;
}

std::optional<WeightUnit> parse_weight_unit(std::string_view s) {
  if (s == "kg") return WeightUnit::kg;
  if (s == "g") return WeightUnit::g;
  if (s == "lb") return WeightUnit::lb;
  return std::nullopt;
}

std::optional<Hba1cUnit> parse_hba1c_unit(std::string_view s) {
  if (s == "%") return Hba1cUnit::percent;
  if (s == "mmol/mol") return Hba1cUnit::mmol_mol;
  return std::nullopt;
}

}  // namespace careloop::core
