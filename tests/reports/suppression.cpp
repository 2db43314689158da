// reports/src/suppression.cpp: primary and complementary suppression.
#include <catch2/catch.hpp>

#include "careloop/reports/suppression.hpp"

using careloop::reports::Hidden;
using careloop::reports::Settled;
using careloop::reports::SuppressionGrid;
using careloop::reports::suppress;

namespace {
std::size_t hidden_in(const SuppressionGrid& g, const std::vector<std::size_t>& eq) {
  std::size_t n = 0;
  for (auto c : eq) n += g.suppressed(c) ? 1 : 0;
  return n;
}
}  // namespace

TEST_CASE("counts 1 to 4 are suppressed, 0 and 5 are published") {
  SuppressionGrid g;
  for (auto v : {0, 1, 2, 3, 4, 5, 100}) g.add(v);
  suppress(g, 5);
  CHECK(g.hidden == std::vector<Hidden>{Hidden::no, Hidden::primary, Hidden::primary, Hidden::primary, Hidden::primary,
                                        Hidden::no, Hidden::no});
}

TEST_CASE("a total with one small part: another part is suppressed so the small one cannot be subtracted") {
  // total 30 = 3 + 12 + 15: publishing 30, 12 and 15 would give away the 3.
  SuppressionGrid g;
  const auto total = g.add(30), a = g.add(3), b = g.add(12), c = g.add(15);
  g.equations.push_back({total, a, b, c});
  CHECK(suppress(g, 5) == 1);
  CHECK(g.suppressed(a));
  CHECK(g.suppressed(b));  // the smallest other cell
  CHECK_FALSE(g.suppressed(c));
  CHECK_FALSE(g.suppressed(total));
}

TEST_CASE("a small total hides a part too: total minus the other parts would recover it") {
  SuppressionGrid g;
  const auto total = g.add(4), a = g.add(0), b = g.add(4);
  g.equations.push_back({total, a, b});
  suppress(g, 5);
  CHECK(g.suppressed(total));
  CHECK(g.suppressed(b));
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
  CHECK(g.suppressed(a));
  // The row complement (20) needs a column partner, and the column complement (30) a row partner.
  CHECK(g.suppressed(b));
  CHECK(g.suppressed(c));
  CHECK(g.suppressed(d));
}

TEST_CASE("zeros are the last choice of a complement") {
  SuppressionGrid g;
  const auto total = g.add(9), a = g.add(2), z = g.add(0), b = g.add(7);
  g.equations.push_back({total, a, z, b});
  suppress(g, 5);
  CHECK(g.suppressed(b));
  CHECK_FALSE(g.suppressed(z));
}

TEST_CASE("a cell hidden only to protect another is complementary, never primary") {
  // The county's controlled diabetics (420 of 839) hidden to protect a small part must not claim to be small.
  SuppressionGrid g;
  const auto total = g.add(839), controlled = g.add(420), small = g.add(3), rest = g.add(416);
  g.equations.push_back({total, controlled, small, rest});
  suppress(g, 5);
  CHECK(g.hidden[small] == Hidden::primary);
  CHECK(g.hidden[rest] == Hidden::complementary);  // the smallest other cell, not the 420
  CHECK(g.hidden[controlled] == Hidden::no);
  CHECK(g.hidden[total] == Hidden::no);
}

TEST_CASE("a complement that closes two equations at once beats a smaller one that closes one") {
  // 25 = 3 + 10 + 12 and 22 = 2 + 12 + 8: hiding the shared 12 protects both small cells.
  SuppressionGrid g;
  const auto t1 = g.add(25), a = g.add(3), b = g.add(10), shared = g.add(12);
  const auto t2 = g.add(22), d = g.add(2), e = g.add(8);
  g.equations = {{t1, a, b, shared}, {t2, d, shared, e}};
  CHECK(suppress(g, 5) == 1);
  CHECK(g.hidden[shared] == Hidden::complementary);
  CHECK_FALSE(g.suppressed(b));
  CHECK_FALSE(g.suppressed(e));
}

TEST_CASE("settled cells of an earlier month are never changed, and a hidden one is protected by this month's") {
  // Last month: cumulative 40, hidden. This month: cumulative 47 = 40 + 7 new; publishing both gives the 40 away.
  SuppressionGrid g;
  const auto last = g.add(40);
  g.hidden[last] = Hidden::complementary;
  const Settled settled{g.values.size(), g.equations.size()};
  const auto cum = g.add(47), fresh = g.add(7);
  g.equations.push_back({cum, last, fresh});
  CHECK(suppress(g, 5, settled) == 1);
  CHECK(g.hidden[last] == Hidden::complementary);
  CHECK(g.hidden[fresh] == Hidden::complementary);
  CHECK_FALSE(g.suppressed(cum));
}

TEST_CASE("a cell tied to a settled published cell is never chosen as a complement") {
  // This month's cohort equals a cumulative count published three months ago: hiding it would hide nothing.
  SuppressionGrid g;
  const auto earlier = g.add(50);
  const Settled settled{g.values.size(), g.equations.size()};
  const auto cohort = g.add(50), total = g.add(123), small = g.add(3), other = g.add(70);
  g.equations = {{cohort, earlier}, {total, cohort, small, other}};
  suppress(g, 5, settled);
  CHECK(g.hidden[small] == Hidden::primary);
  CHECK_FALSE(g.suppressed(cohort));
  CHECK(g.hidden[other] == Hidden::complementary);
}
