#include "careloop/reports/suppression.hpp"

#include <limits>

namespace careloop::reports {

std::size_t suppress(SuppressionGrid& g, std::int64_t min_published) {
  for (std::size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i] >= 1 && g.values[i] < min_published) g.suppressed[i] = true;
  std::size_t complements = 0;
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& eq : g.equations) {
      std::size_t hidden = 0;
      for (const auto c : eq) hidden += g.suppressed[c] ? 1 : 0;
      if (hidden != 1) continue;
      // The smallest published cell hides the least; a non-zero one protects
      // better than a zero (a reader may guess a zero), so prefer it.
      std::size_t pick = eq.size();
      auto rank = [&](std::size_t c) {
        return g.values[c] == 0 ? std::numeric_limits<std::int64_t>::max() / 2 : g.values[c];
      };
      for (std::size_t k = 0; k < eq.size(); ++k) {
        const auto c = eq[k];
        if (g.suppressed[c]) continue;
        if (pick == eq.size() || rank(c) < rank(eq[pick])) pick = k;
      }
      if (pick == eq.size()) continue;  // cannot happen: one hidden cell of at least two
      g.suppressed[eq[pick]] = true;
      ++complements;
      changed = true;
    }
  }
  return complements;
}

}  // namespace careloop::reports
