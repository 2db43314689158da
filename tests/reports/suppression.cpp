// reports/src/suppression.cpp: primary and complementary suppression.
#include <catch2/catch.hpp>

#include "careloop/reports/suppression.hpp"

using careloop::reports::SuppressionGrid;
using careloop::reports::suppress;

namespace {
std::size_t hidden_in(const SuppressionGrid& g, const std::vector<std::size_t>& eq) {
  std::size_t n = 0;
  for (auto c : eq) n += g.suppressed[c] ? 1 : 0;
  return n;
}
}  // namespace

TEST_CASE("counts 1 to 4 are suppressed, 0 and 5 are published") {
  SuppressionGrid g;
  for (auto v : {0, 1, 2, 3, 4, 5, 100}) g.add(v);
  suppress(g, 5);
  CHECK(g.suppressed == std::vector<bool>{false, true, true, true, true, false, false});
}

TEST_CASE("a total with one small part: another part is suppressed so the small one cannot be subtracted") {
  // total 30 = 3 + 12 + 15: publishing 30, 12 and 15 would give away the 3.
  SuppressionGrid g;
  const auto total = g.add(30), a = g.add(3), b = g.add(12), c = g.add(15);
  g.equations.push_back({total, a, b, c});
  CHECK(suppress(g, 5) == 1);
  CHECK(g.suppressed[a]);
  CHECK(g.suppressed[b]);  // the smallest other cell
  CHECK_FALSE(g.suppressed[c]);
  CHECK_FALSE(g.suppressed[total]);
}

TEST_CASE("a small total hides a part too: total minus the other parts would recover it") {
  SuppressionGrid g;
  const auto total = g.add(4), a = g.add(0), b = g.add(4);
  g.equations.push_back({total, a, b});
  suppress(g, 5);
  CHECK(g.suppressed[total]);
  CHECK(g.suppressed[b]);
}

TEST_CASE("a complement chosen in a row is protected in its column as well (the cascade)") {
  // A 2x2 table with margins:   r1: 3 + 20 = 23   r2: 30 + 40 = 70   columns: 33, 60, total 93.
  SuppressionGrid g;
  const auto a = g.add(3), b = g.add(20), r1 = g.add(23);
  const auto c = g.add(30), d = g.add(40), r2 = g.add(70);
  const auto c1 = g.add(33), c2 = g.add(60), t = g.add(93);
  g.equations = {{r1, a, b}, {r2, c, d}, {c1, a, c}, {c2, b, d}, {t, r1, r2}, {t, c1, c2}};
  suppress(g, 5);
  for (const auto& eq : g.equations) CHECK(hidden_in(g, eq) != 1);
  CHECK(g.suppressed[a]);
  // The row complement (20) needs a column partner, and the column complement (30) a row partner.
  CHECK(g.suppressed[b]);
  CHECK(g.suppressed[c]);
  CHECK(g.suppressed[d]);
}

TEST_CASE("zeros are the last choice of a complement") {
  SuppressionGrid g;
  const auto total = g.add(9), a = g.add(2), z = g.add(0), b = g.add(7);
  g.equations.push_back({total, a, z, b});
  suppress(g, 5);
  CHECK(g.suppressed[b]);
  CHECK_FALSE(g.suppressed[z]);
}
