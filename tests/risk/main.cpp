// The Catch2 main for test_risk; the cases live beside it, one file per header of risk/.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
