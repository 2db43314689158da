#include "careloop/reports/suppression.hpp"

#include <algorithm>

namespace careloop::reports {

std::size_t suppress(SuppressionGrid& g, std::int64_t min_published, Settled settled) {
  const std::size_t n = g.values.size();
  for (std::size_t i = settled.cells; i < n; ++i)
    if (g.values[i] >= 1 && g.values[i] < min_published) g.hidden[i] = Hidden::primary;

  // The open equations of each open cell, and how many suppressed cells each equation holds.
  std::vector<std::vector<std::size_t>> of_cell(n - settled.cells);
  std::vector<std::size_t> hidden_count(g.equations.size(), 0);
  std::vector<std::size_t> work;
  for (std::size_t e = settled.equations; e < g.equations.size(); ++e) {
    for (const auto c : g.equations[e]) {
      if (c >= settled.cells) of_cell[c - settled.cells].push_back(e);
      hidden_count[e] += g.suppressed(c) ? 1 : 0;
    }
    if (hidden_count[e] == 1) work.push_back(e);
  }

  // Hiding c would open an equation nothing can close: all its other cells settled and published.
  auto pinned = [&](std::size_t c) {
    for (const auto e : of_cell[c - settled.cells]) {
      bool open_other = false, hidden_other = false;
      for (const auto o : g.equations[e]) {
        if (o == c) continue;
        open_other = open_other || o >= settled.cells;
        hidden_other = hidden_other || g.suppressed(o);
      }
      if (!open_other && !hidden_other) return true;
    }
    return false;
  };
  // What hiding c costs, looking one step ahead: its own value, plus for each
  // equation it opens (none of its cells hidden yet) the cheapest cell that
  // will then have to close it, minus for each other equation it closes at
  // once (one hidden cell) the cheapest cell that would otherwise have to.
  // A zero is worth little to hide (a reader guesses it) and is the last choice.
  constexpr double zero_weight = 1e12;
  auto weight = [&](std::size_t c) { return g.values[c] == 0 ? zero_weight : static_cast<double>(g.values[c]); };
  auto cheapest_other = [&](std::size_t e, std::size_t c) {
    double best = zero_weight * 2;
    for (const auto o : g.equations[e])
      if (o != c && o >= settled.cells && !g.suppressed(o)) best = std::min(best, weight(o));
    return best;
  };
  auto cost = [&](std::size_t c, std::size_t closing) {
    double k = weight(c);
    for (const auto e : of_cell[c - settled.cells]) {
      if (e == closing) continue;
      if (hidden_count[e] == 0) k += cheapest_other(e, c);
      else if (hidden_count[e] == 1) k -= cheapest_other(e, c);
    }
    return k;
  };

  std::size_t complements = 0;
  while (!work.empty()) {
    const auto e = work.back();
    work.pop_back();
    if (hidden_count[e] != 1) continue;
    std::size_t pick = n;
    double best = 0;
    for (const auto c : g.equations[e]) {
      if (c < settled.cells || g.suppressed(c) || pinned(c)) continue;
      const double k = cost(c, e);
      if (pick == n || k < best) pick = c, best = k;
    }
    // Only when the data changed between two reads of one report: every open equation holds an open cell.
    if (pick == n) continue;
    g.hidden[pick] = Hidden::complementary;
    ++complements;
    for (const auto f : of_cell[pick - settled.cells])
      if (++hidden_count[f] == 1) work.push_back(f);
  }
  return complements;
}

}  // namespace careloop::reports
