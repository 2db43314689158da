#pragma once
// Small-cell suppression (CLINICAL §4, privacy): a count from 1 to
// min_published-1 is never published (a primary cell), and neither is any
// cell that would let one be recovered by subtraction (a complementary cell).
// Cells that are tied by a sum (a total and its parts: a region and its
// sub-regions, all and female + male, a cohort and its outcomes, this month's
// cumulative count and last month's plus this month's) form an equation; an
// equation with exactly one suppressed cell gives it away, so another cell of
// it is suppressed too, until no equation has exactly one.
//
// The grid grows month by month: cells and equations added before a call's
// `open` mark are settled (an earlier month, already published) and are
// never changed; a call suppresses among the open cells only.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace careloop::reports {

enum class Hidden : std::uint8_t {
  no,
  primary,        // a count of 1 … min_published-1: may be shown as "<5"
  complementary,  // hidden only so that no primary cell can be recovered: nothing may be said of its size
};

struct SuppressionGrid {
  std::vector<std::int64_t> values;
  std::vector<Hidden> hidden;
  // Each equation lists the cells of one sum relation (the total and its parts).
  std::vector<std::vector<std::size_t>> equations;

  std::size_t add(std::int64_t v) {
    values.push_back(v);
    hidden.push_back(Hidden::no);
    return values.size() - 1;
  }
  bool suppressed(std::size_t i) const { return hidden[i] != Hidden::no; }
};

// Where the settled part of a grid ends: cells [0, cells) and equations
// [0, equations) were suppressed by earlier calls.
struct Settled {
  std::size_t cells = 0;
  std::size_t equations = 0;
};

// Marks the open cells of 1 … min_published-1 primary, then hides open cells
// as complementary until every open equation has zero or at least two
// suppressed cells. Returns the number of complementary cells.
//
// A complement closes an equation with one suppressed cell; it is the one of
// least cost, looking one step ahead: its value, plus for each equation it
// opens (none hidden yet) the cheapest cell that must then close that one,
// minus for each other equation it closes at once the cheapest cell that
// would otherwise have to. So a small cell beats a large total (which opens
// its column and its row), and a cell closing two equations beats two cells
// closing one each. A zero is chosen only when nothing else can be; a cell
// never is when hiding it would open an equation whose other cells are all
// settled and published (nothing could close it).
std::size_t suppress(SuppressionGrid& g, std::int64_t min_published, Settled settled = {});

}  // namespace careloop::reports
