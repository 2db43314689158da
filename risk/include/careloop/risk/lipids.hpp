#pragma once
// Lipid unit conversions for the scores, which are published in mg/dL.
// Conventional factors: cholesterol (HDL) 38.67 mg/dL per mmol/L, from its
// molar mass of about 386.7 g/mol; triglycerides 88.57 mg/dL per mmol/L,
// counted as triolein. The factors are core's (units.hpp), which the clinic
// measurements' unit conversion uses too.
#include "careloop/core/units.hpp"

namespace careloop::risk {

inline constexpr double hdl_mg_dl_per_mmol_l = core::cholesterol_mg_dl_per_mmol_l;
inline constexpr double triglycerides_mg_dl_per_mmol_l = core::triglycerides_mg_dl_per_mmol_l;

constexpr double hdl_mmol_l_to_mg_dl(double hdl_mmol_l) { return hdl_mmol_l * hdl_mg_dl_per_mmol_l; }
constexpr double hdl_mg_dl_to_mmol_l(double hdl_mg_dl) { return hdl_mg_dl / hdl_mg_dl_per_mmol_l; }

constexpr double triglycerides_mmol_l_to_mg_dl(double triglycerides_mmol_l) {
  return triglycerides_mmol_l * triglycerides_mg_dl_per_mmol_l;
}
constexpr double triglycerides_mg_dl_to_mmol_l(double triglycerides_mg_dl) {
  return triglycerides_mg_dl / triglycerides_mg_dl_per_mmol_l;
}

}  // namespace careloop::risk
