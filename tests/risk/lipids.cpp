#include <catch2/catch.hpp>

#include "careloop/risk/lipids.hpp"

using namespace careloop::risk;

TEST_CASE("lipid conversions use the conventional factors") {
  CHECK(hdl_mmol_l_to_mg_dl(1.0) == Approx(38.67));
  CHECK(hdl_mg_dl_to_mmol_l(40) == Approx(1.0344).epsilon(1e-4));
  CHECK(triglycerides_mmol_l_to_mg_dl(1.7) == Approx(150.569));
  CHECK(triglycerides_mg_dl_to_mmol_l(150) == Approx(1.6936).epsilon(1e-4));
  CHECK(hdl_mmol_l_to_mg_dl(hdl_mg_dl_to_mmol_l(55)) == Approx(55));
  CHECK(triglycerides_mmol_l_to_mg_dl(triglycerides_mg_dl_to_mmol_l(200)) == Approx(200));
}
