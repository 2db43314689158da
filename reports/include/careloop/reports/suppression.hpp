#pragma once
// Small-cell suppression (CLINICAL §4, privacy): a count from 1 to
// min_published-1 is never published, and neither is any cell that would let
// one be recovered by subtraction. Cells that are tied by a sum (a total and
// its parts: a region and its sub-regions, all and female + male, a cohort
// and its outcomes) form an equation; an equation with exactly one
// suppressed cell gives it away, so the smallest other cell of it is
// suppressed too, until no equation has exactly one.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace careloop::reports {

struct SuppressionGrid {
  std::vector<std::int64_t> values;
  std::vector<bool> suppressed;
  // Each equation lists the cells of one sum relation (the total and its parts).
  std::vector<std::vector<std::size_t>> equations;

  std::size_t add(std::int64_t v) {
    values.push_back(v);
    suppressed.push_back(false);
    return values.size() - 1;
  }
};

// Suppresses 1 … min_published-1, then complements until every equation has
// zero or at least two suppressed cells. Returns the number of complementary cells.
std::size_t suppress(SuppressionGrid& g, std::int64_t min_published);

}  // namespace careloop::reports
