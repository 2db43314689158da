#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "careloop/risk/table.hpp"

using namespace careloop::risk;

TEST_CASE("csv: the missing marker and NA are NaN, never 0") {
  auto t = parse_csv("a,b,y\n1,,0\nNA,2.5,1\n0,3,1\n");
  REQUIRE(t.ok());
  REQUIRE(t->rows() == 3);
  CHECK(std::isnan((*t->column("b"))[0]));
  CHECK(std::isnan((*t->column("a"))[1]));
  CHECK((*t->column("a"))[2] == 0);
  CHECK(t->column("nope") == nullptr);
}

TEST_CASE("csv: a bad field names its line and column") {
  auto t = parse_csv("a,b\n1,2\n3,x\n");
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message.find("line 3, column b") != std::string::npos);
  CHECK_FALSE(parse_csv("a,b\n1\n").ok());
}

TEST_CASE("csv: writes what it reads, bit for bit") {
  Table t;
  t.add_column("x", {0.1, 1.0 / 3, NAN});
  t.add_column("y", {1, 0, 1});
  std::ostringstream out;
  write_csv(t, out);
  auto back = parse_csv(out.str());
  REQUIRE(back.ok());
  CHECK((*back->column("x"))[1] == 1.0 / 3);
  CHECK(std::isnan((*back->column("x"))[2]));
}
