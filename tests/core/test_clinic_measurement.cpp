// core/clinic_measurement.hpp: the kinds, their units and the conversions to the canonical unit.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "careloop/core/clinic_measurement.hpp"

using namespace careloop::core;

TEST_CASE("clinic measurement kinds: unique names and codes, sane ranges") {
  std::set<std::string_view> names, codes;
  for (const auto& k : measurement_kinds) {
    CHECK(names.insert(k.name).second);
    CHECK(codes.insert(k.loinc).second);
    CHECK(k.min < k.max);
    CHECK(find_measurement_kind(k.name) == &k);
  }
  CHECK(find_measurement_kind("bmi") == nullptr);
  // The risk models' inputs are among them.
  for (auto n : {"waist_cm", "hdl_mmol_l", "triglycerides_mmol_l", "fasting_glucose_mmol_l", "weight_kg"})
    CHECK(find_measurement_kind(n));
}

TEST_CASE("clinic measurement units: canonical, mg/dL with the standard factors, weight units") {
  const auto& hdl = *find_measurement_kind("hdl_mmol_l");
  const auto& tg = *find_measurement_kind("triglycerides_mmol_l");
  const auto& glucose = *find_measurement_kind("fasting_glucose_mmol_l");
  const auto& waist = *find_measurement_kind("waist_cm");
  const auto& weight = *find_measurement_kind("weight_kg");
  CHECK(*measurement_to_canonical(hdl, 1.2, "") == 1.2);
  CHECK(*measurement_to_canonical(hdl, 1.2, "mmol/L") == 1.2);
  CHECK(*measurement_to_canonical(hdl, 40, "mg/dL") == Approx(40 / 38.67));
  CHECK(*measurement_to_canonical(tg, 150, "mg/dL") == Approx(150 / 88.57));
  CHECK(*measurement_to_canonical(glucose, 100, "mg/dL") == Approx(100 / 18.016));
  CHECK(*measurement_to_canonical(weight, 154, "lb") == Approx(154 * 0.45359237));
  CHECK(*measurement_to_canonical(weight, 70500, "g") == Approx(70.5));
  CHECK_FALSE(measurement_to_canonical(waist, 36, "in"));
  CHECK_FALSE(measurement_to_canonical(waist, 900, "mg/dL"));
  CHECK_FALSE(measurement_to_canonical(hdl, 0.5, "g/L"));
  CHECK(accepted_units(hdl) == "mmol/L, mg/dL");
  CHECK(accepted_units(waist) == "cm");
}
