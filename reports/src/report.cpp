#include "careloop/reports/report.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include "careloop/reports/rollup.hpp"
#include "careloop/reports/suppression.hpp"

namespace careloop::reports {

std::string_view to_string(UnitType t) noexcept { return t == UnitType::region ? "region" : "clinic"; }

namespace {

// ---- the counts every indicator is made of

constexpr std::array<std::string_view, 9> condition_counts{
    "registered_month", "registered_cumulative", "cohort", "under_care", "ltfu",
    "controlled",       "uncontrolled",          "visit_no_measure", "missed_visit"};
constexpr std::array<std::string_view, 2> conditions{"htn", "dm"};
constexpr std::array<std::string_view, 5> registry_counts{"patients_registered", "risk_high", "risk_moderate", "risk_low",
                                                          "risk_unscored"};
constexpr std::size_t per_condition = condition_counts.size();
constexpr std::size_t n_counts = conditions.size() * per_condition + registry_counts.size();

std::size_t cc(std::size_t condition, std::string_view name) {
  for (std::size_t i = 0; i < per_condition; ++i)
    if (condition_counts[i] == name) return condition * per_condition + i;
  return n_counts;
}
std::size_t rc(std::string_view name) {
  for (std::size_t i = 0; i < registry_counts.size(); ++i)
    if (registry_counts[i] == name) return conditions.size() * per_condition + i;
  return n_counts;
}

std::vector<std::string> count_names() {
  std::vector<std::string> out;
  for (auto c : conditions)
    for (auto n : condition_counts) out.push_back(std::string(c) + "_" + std::string(n));
  for (auto n : registry_counts) out.emplace_back(n);
  return out;
}

struct RateDef {
  std::string name;
  std::size_t numerator;
  std::size_t denominator;
};

std::vector<RateDef> rate_defs() {
  std::vector<RateDef> out;
  for (std::size_t c = 0; c < conditions.size(); ++c) {
    const std::string p(conditions[c]);
    for (auto n : {"under_care", "ltfu", "controlled", "uncontrolled", "visit_no_measure", "missed_visit"})
      out.push_back({p + "_" + n + "_rate", cc(c, n), cc(c, "cohort")});
    for (auto n : {"controlled", "uncontrolled", "visit_no_measure", "missed_visit"})
      out.push_back({p + "_" + n + "_rate_excl_ltfu", cc(c, n), cc(c, "under_care")});
  }
  for (auto n : {"risk_high", "risk_moderate", "risk_low", "risk_unscored"})
    out.push_back({std::string(n) + "_rate", rc(n), rc("patients_registered")});
  return out;
}

using Counts = std::array<std::int64_t, n_counts>;

// Row groups of a unit: all, by sex, by 10-year age band.
const std::vector<std::pair<std::string, std::string>>& groups() {
  static const std::vector<std::pair<std::string, std::string>> g{
      {"all", "all"},     {"sex", "female"},  {"sex", "male"},    {"age", "<30"},  {"age", "30-39"},
      {"age", "40-49"},   {"age", "50-59"},   {"age", "60-69"},   {"age", "70-79"}, {"age", "80+"}};
  return g;
}
constexpr std::size_t n_groups = 10;
std::size_t sex_group(const std::string& sex) { return sex == "male" ? 2 : 1; }
std::size_t age_group(int decade) { return static_cast<std::size_t>(3 + std::clamp(decade - 2, 0, 6)); }

// ---- the region tree

struct Node {
  UnitRef unit;
  std::optional<std::size_t> parent;
  std::vector<std::size_t> children;
};

struct Tree {
  std::vector<Node> nodes;
  std::map<std::int64_t, std::size_t> region_node;
  std::map<std::int64_t, std::size_t> clinic_node;
  std::vector<std::int64_t> clinic_ids;
};

Tree load_tree(store::Store& st) {
  Tree t;
  const auto regions = st.regions();
  for (const auto& r : regions) {
    t.region_node[r.id] = t.nodes.size();
    t.nodes.push_back({{UnitType::region, r.id, r.name, std::string(core::to_string(r.level))}, std::nullopt, {}});
  }
  for (const auto& r : regions) {
    if (!r.parent_id) continue;
    auto p = t.region_node.find(*r.parent_id);
    if (p == t.region_node.end()) continue;
    const auto self = t.region_node[r.id];
    t.nodes[self].parent = p->second;
    t.nodes[p->second].children.push_back(self);
  }
  for (const auto& c : st.clinics()) {
    const auto self = t.nodes.size();
    t.clinic_node[c.id] = self;
    t.clinic_ids.push_back(c.id);
    t.nodes.push_back({{UnitType::clinic, c.id, c.name, "clinic"}, std::nullopt, {}});
    if (auto p = t.region_node.find(c.region_id); p != t.region_node.end()) {
      t.nodes[self].parent = p->second;
      t.nodes[p->second].children.push_back(self);
    }
  }
  return t;
}

// ---- every month from before the first registration to the report's month,
// for every node of the tree, in one grid suppressed a month at a time in
// order: every report cut from it (a region's, a clinic's, the trend, the
// cohorts, of any month) publishes the same cells, a month's cells do not
// depend on the month asked for, and no relation between published cells
// (within a month, across months, across cohorts) recovers a suppressed one.

constexpr std::size_t unpublished = std::numeric_limits<std::size_t>::max();
// cell[node][group][count]: index into the grid (unpublished: not in it)
using NodeCells = std::vector<std::array<std::array<std::size_t, n_counts>, n_groups>>;

struct History {
  int first = 0;  // the first month of the grid; nobody was registered before first + 6
  SuppressionGrid grid;
  std::vector<NodeCells> months;   // [month - first]
  std::map<int, NodeCells> cohorts;  // by the quarter's first month: group all, the cohort table's counts only
  const NodeCells& month(int m) const { return months[static_cast<std::size_t>(m - first)]; }
};

void add_sum(SuppressionGrid& g, std::size_t total, const std::vector<std::size_t>& parts) {
  if (parts.empty()) return;
  std::vector<std::size_t> eq{total};
  eq.insert(eq.end(), parts.begin(), parts.end());
  g.equations.push_back(std::move(eq));
}

// The counts of every node and group: clinics from the rollup, regions as the sum of their clinics.
std::vector<std::array<Counts, n_groups>> node_counts(const Tree& tree, const std::vector<store::RollupCount>& counts) {
  std::vector<std::array<Counts, n_groups>> raw(tree.nodes.size());
  for (auto& per_node : raw)
    for (auto& c : per_node) c.fill(0);
  for (const auto& c : counts) {
    auto it = tree.clinic_node.find(c.clinic_id);
    if (it == tree.clinic_node.end()) continue;
    Counts add{};
    add.fill(0);
    const std::array<bool, 2> has{c.hypertension, c.diabetes};
    const std::array<const std::string*, 2> status{&c.bp_status, &c.glycemic_status};
    for (std::size_t k = 0; k < conditions.size(); ++k) {
      if (!has[k]) continue;
      add[cc(k, "registered_cumulative")] += c.patients;
      if (c.registration == 2) add[cc(k, "registered_month")] += c.patients;
      if (c.registration != 0) continue;
      add[cc(k, "cohort")] += c.patients;
      const std::string& s = *status[k];
      if (s.empty()) {
        add[cc(k, "ltfu")] += c.patients;
        continue;
      }
      add[cc(k, "under_care")] += c.patients;
      if (s == "controlled") add[cc(k, "controlled")] += c.patients;
      else if (s == "uncontrolled") add[cc(k, "uncontrolled")] += c.patients;
      else if (s == "missed_visit") add[cc(k, "missed_visit")] += c.patients;
      else add[cc(k, "visit_no_measure")] += c.patients;
    }
    add[rc("patients_registered")] += c.patients;
    const auto band = rc(c.risk_band.empty() ? "risk_unscored" : "risk_" + c.risk_band);
    add[band < n_counts ? band : rc("risk_unscored")] += c.patients;
    for (const auto g : {std::size_t{0}, sex_group(c.sex), age_group(c.age_decade)})
      for (std::size_t i = 0; i < n_counts; ++i) raw[it->second][g][i] += add[i];
  }
  std::vector<std::array<Counts, n_groups>> total = raw;
  for (std::size_t n = 0; n < tree.nodes.size(); ++n) {
    if (tree.nodes[n].unit.type != UnitType::clinic) continue;
    for (auto p = tree.nodes[n].parent; p; p = tree.nodes[*p].parent)
      for (std::size_t g = 0; g < n_groups; ++g)
        for (std::size_t i = 0; i < n_counts; ++i) total[*p][g][i] += raw[n][g][i];
  }
  return total;
}

// The sums within a row (a cohort and its outcomes, the registered and their
// risk bands) and within a column (a unit and its children) of the cells given.
void add_table_equations(SuppressionGrid& G, const Tree& tree, const NodeCells& cell, std::size_t groups) {
  auto sum = [&](std::size_t total, std::initializer_list<std::size_t> parts) {
    if (total == unpublished) return;
    for (const auto p : parts)
      if (p == unpublished) return;
    add_sum(G, total, parts);
  };
  for (std::size_t n = 0; n < tree.nodes.size(); ++n) {
    for (std::size_t g = 0; g < groups; ++g) {
      const auto& c = cell[n][g];
      for (std::size_t k = 0; k < conditions.size(); ++k) {
        sum(c[cc(k, "cohort")], {c[cc(k, "under_care")], c[cc(k, "ltfu")]});
        sum(c[cc(k, "under_care")],
            {c[cc(k, "controlled")], c[cc(k, "uncontrolled")], c[cc(k, "visit_no_measure")], c[cc(k, "missed_visit")]});
        sum(c[cc(k, "cohort")], {c[cc(k, "controlled")], c[cc(k, "uncontrolled")], c[cc(k, "visit_no_measure")],
                                 c[cc(k, "missed_visit")], c[cc(k, "ltfu")]});
      }
      sum(c[rc("patients_registered")], {c[rc("risk_high")], c[rc("risk_moderate")], c[rc("risk_low")], c[rc("risk_unscored")]});
      for (std::size_t i = 0; i < n_counts; ++i) {
        if (c[i] == unpublished) continue;
        std::vector<std::size_t> parts;
        for (const auto ch : tree.nodes[n].children) parts.push_back(cell[ch][g][i]);
        add_sum(G, c[i], parts);
      }
    }
    if (groups < n_groups) continue;
    // All = female + male = the age bands.
    for (std::size_t i = 0; i < n_counts; ++i) {
      add_sum(G, cell[n][0][i], {cell[n][1][i], cell[n][2][i]});
      std::vector<std::size_t> ages;
      for (std::size_t g = 3; g < n_groups; ++g) ages.push_back(cell[n][g][i]);
      add_sum(G, cell[n][0][i], ages);
    }
  }
}

// Month m's cells, its own sums, and its sums with the months before it, for
// every node, by all, female and male (ages move between bands from one
// month to the next, so bands have no exact relation across months):
// registered_cumulative(m) = registered_cumulative(m-1) + registered_month(m),
// and cohort(m) = registered_cumulative(m-3) (the same patients).
void add_month(History& h, const Tree& tree, int m, const std::vector<store::RollupCount>& counts) {
  const auto total = node_counts(tree, counts);
  auto& G = h.grid;
  NodeCells cell(tree.nodes.size());
  for (std::size_t n = 0; n < tree.nodes.size(); ++n)
    for (std::size_t g = 0; g < n_groups; ++g)
      for (std::size_t i = 0; i < n_counts; ++i) cell[n][g][i] = G.add(total[n][g][i]);
  add_table_equations(G, tree, cell, n_groups);
  for (std::size_t n = 0; n < tree.nodes.size(); ++n)
    for (std::size_t g = 0; g < 3; ++g)
      for (std::size_t k = 0; k < conditions.size(); ++k) {
        const auto cum = cc(k, "registered_cumulative");
        if (m - 1 >= h.first) add_sum(G, cell[n][g][cum], {h.month(m - 1)[n][g][cum], cell[n][g][cc(k, "registered_month")]});
        if (m - 3 >= h.first) add_sum(G, cell[n][g][cc(k, "cohort")], {h.month(m - 3)[n][g][cum]});
      }
  h.months.push_back(std::move(cell));
}

// The counts a cohort table publishes (the unit's row, group all).
bool in_cohort_table(std::size_t i) {
  for (std::size_t k = 0; k < conditions.size(); ++k)
    for (auto n : {"cohort", "under_care", "ltfu", "controlled", "uncontrolled", "visit_no_measure", "missed_visit"})
      if (cc(k, n) == i) return true;
  return false;
}

// A quarter's cohort (starting at month q) enters the grid in two steps.
// With the quarter's last month, q + 2, its size for every node: the
// patients registered in the quarter, which the months publish already as
// registered_month(q) + (q+1) + (q+2) = registered_cumulative(q+2) -
// registered_cumulative(q-1), so it is decided with those months (later, a
// small size could no longer be protected: the months are settled).
void add_cohort_size(History& h, const Tree& tree, int q) {
  auto& G = h.grid;
  NodeCells cell(tree.nodes.size());
  for (auto& per_group : cell)
    for (auto& c : per_group) c.fill(unpublished);
  for (std::size_t n = 0; n < tree.nodes.size(); ++n)
    for (std::size_t k = 0; k < conditions.size(); ++k) {
      const auto reg = cc(k, "registered_month"), cum = cc(k, "registered_cumulative");
      std::int64_t size = 0;
      for (int m = q; m <= q + 2; ++m) size += G.values[h.month(m)[n][0][reg]];
      const auto c = cell[n][0][cc(k, "cohort")] = G.add(size);
      add_sum(G, c, {h.month(q)[n][0][reg], h.month(q + 1)[n][0][reg], h.month(q + 2)[n][0][reg]});
      add_sum(G, h.month(q + 2)[n][0][cum], {h.month(q - 1)[n][0][cum], c});
    }
  add_table_equations(G, tree, cell, 1);
  h.cohorts[q] = std::move(cell);
}

// With the next quarter's last month, q + 5, its outcomes (the cohort table's
// other counts, the unit's row only) and their sums.
void add_cohort_outcomes(History& h, const Tree& tree, int q, const std::vector<store::RollupCount>& counts) {
  const auto total = node_counts(tree, counts);
  auto& G = h.grid;
  auto& cell = h.cohorts.at(q);
  for (std::size_t n = 0; n < tree.nodes.size(); ++n)
    for (std::size_t i = 0; i < n_counts; ++i)
      if (in_cohort_table(i) && cell[n][0][i] == unpublished) cell[n][0][i] = G.add(total[n][0][i]);
  add_table_equations(G, tree, cell, 1);
}

double round4(double x) { return std::round(x * 10000.0) / 10000.0; }

std::vector<std::string> indicator_columns() {
  auto cols = count_names();
  for (const auto& r : rate_defs()) cols.push_back(r.name);
  return cols;
}

Cell count_cell(const SuppressionGrid& g, std::size_t idx) {
  if (idx == unpublished) return {};
  if (g.suppressed(idx)) return {std::nullopt, true, g.hidden[idx] == Hidden::primary};
  return {static_cast<double>(g.values[idx]), false, false};
}

// The published cells of one node and group: counts, then rates (suppressed
// when either part is; never "small": a rate is not a count).
std::vector<Cell> published(const SuppressionGrid& grid, const NodeCells& cells, std::size_t node, std::size_t group) {
  std::vector<Cell> out;
  const auto& c = cells[node][group];
  for (std::size_t i = 0; i < n_counts; ++i) out.push_back(count_cell(grid, c[i]));
  for (const auto& r : rate_defs()) {
    const auto num = c[r.numerator], den = c[r.denominator];
    if (num == unpublished || den == unpublished) out.push_back({});
    else if (grid.suppressed(num) || grid.suppressed(den)) out.push_back({std::nullopt, true, false});
    else if (grid.values[den] == 0) out.push_back({std::nullopt, false, false});
    else
      out.push_back({round4(static_cast<double>(grid.values[num]) / static_cast<double>(grid.values[den])), false, false});
  }
  return out;
}

store::RollupMonth month_cut(const Calendar& cal, int month) {
  // Registered at least 3 months before the end of the month: in a month up to M-3.
  // A record anonymised before the month began has left care and is not
  // counted; one anonymised during the month still is (store.hpp RollupQuery).
  return {month, last_day(month), cal.month_end_ms(month), cal.month_start_ms(month - (recent_months - 1)),
          cal.month_start_ms(month), cal.month_start_ms(month)};
}

// The quarter cohort starting at q as a cut of month q + 5: registered before
// the quarter's end, bucket 0 before its start, bucket 1 in it (the cohort).
store::RollupMonth cohort_cut(const Calendar& cal, int q) {
  const int outcome = q + 5;
  return {outcome, last_day(outcome), cal.month_start_ms(q + 3), cal.month_start_ms(q), cal.month_start_ms(q + 3),
          cal.month_start_ms(outcome)};
}

// The first month the history must start at: six months before anyone
// registered (so the cohort and cumulative sums of its first months see only
// zeros), and 17 before `month` (the trend's first month's cohort sums).
// Found with yearly cuts back to 30 years before `month`.
int history_start(store::Store& st, const Tree& tree, const Calendar& cal, int month) {
  std::vector<store::RollupMonth> years;
  for (int y = 0; y <= 30; ++y) years.push_back(month_cut(cal, month - 12 * y));
  int earliest = month + 1;
  for (const auto& c : st.rollup_counts_months(tree.clinic_ids, years)) earliest = std::min(earliest, c.month);
  // Nobody registered by the end of month earliest - 12.
  return std::min(earliest - 12 - 6, month - 17);
}

History build_history(store::Store& st, const Tree& tree, const Calendar& cal, int month) {
  History h;
  h.first = history_start(st, tree, cal, month);
  std::vector<store::RollupMonth> months, cohort_cuts;
  for (int m = h.first; m <= month; ++m) {
    months.push_back(month_cut(cal, m));
    if (m % 3 == 2 && m - 5 - 1 >= h.first) cohort_cuts.push_back(cohort_cut(cal, m - 5));
  }
  std::map<int, std::vector<store::RollupCount>> by_month, by_outcome;
  for (auto& c : st.rollup_counts_months(tree.clinic_ids, months)) by_month[c.month].push_back(std::move(c));
  for (auto& c : st.rollup_counts_months(tree.clinic_ids, cohort_cuts)) {
    if (c.registration != 1) continue;  // registered before the quarter
    c.registration = 0;                 // everyone in the cohort is in its denominator
    by_outcome[c.month].push_back(std::move(c));
  }
  for (int m = h.first; m <= month; ++m) {
    const Settled settled{h.grid.values.size(), h.grid.equations.size()};
    add_month(h, tree, m, by_month[m]);
    // A month that ends a quarter: that quarter's cohort size, and the outcomes of the quarter before it.
    if (m % 3 == 2 && m - 2 - 1 >= h.first) add_cohort_size(h, tree, m - 2);
    if (m % 3 == 2 && h.cohorts.count(m - 5)) add_cohort_outcomes(h, tree, m - 5, by_outcome[m]);
    suppress(h.grid, min_published, settled);
  }
  return h;
}

std::vector<std::string> cohort_columns() {
  std::vector<std::string> out;
  for (auto c : conditions)
    for (auto n : {"cohort", "under_care", "ltfu", "controlled", "uncontrolled", "visit_no_measure", "missed_visit"})
      out.push_back(std::string(c) + "_" + n);
  for (const auto& r : rate_defs())
    if (r.name.rfind("risk_", 0) != 0) out.push_back(r.name);
  return out;
}

std::vector<Cell> pick_columns(const std::vector<Cell>& cells, const std::vector<std::string>& from,
                         const std::vector<std::string>& wanted) {
  std::vector<Cell> out;
  for (const auto& w : wanted) {
    auto it = std::find(from.begin(), from.end(), w);
    out.push_back(it == from.end() ? Cell{} : cells[static_cast<std::size_t>(it - from.begin())]);
  }
  return out;
}

// Alert types: the signal up to a ':' (risk_high:<model> is one type).
std::string alert_type(const std::string& signal) { return signal.substr(0, signal.find(':')); }

}  // namespace

std::optional<std::pair<std::string, std::string>> rate_parts(std::string_view column) {
  static const auto names = count_names();
  for (const auto& r : rate_defs())
    if (r.name == column) return std::pair<std::string, std::string>{names[r.numerator], names[r.denominator]};
  if (column == "action_rate") return std::pair<std::string, std::string>{"acted", "alerts"};
  return std::nullopt;
}

core::Result<Place> locate(store::Store& st, UnitType type, std::int64_t id) {
  Place p;
  std::optional<std::int64_t> region_id;
  if (type == UnitType::clinic) {
    auto c = st.clinic(id);
    if (!c) return c.error();
    p.unit = {UnitType::clinic, c->id, c->name, "clinic"};
    p.clinic_id = c->id;
    region_id = c->region_id;
  } else {
    auto r = st.region(id);
    if (!r) return r.error();
    p.unit = {UnitType::region, r->id, r->name, std::string(core::to_string(r->level))};
    region_id = r->id;
  }
  // Walk up; a cycle cannot be made through the API, but stop after 64 levels anyway.
  for (int depth = 0; region_id && depth < 64; ++depth) {
    p.region_path.push_back(*region_id);
    auto r = st.region(*region_id);
    if (!r) break;
    region_id = r->parent_id;
  }
  return p;
}

core::Result<Report> build_report(store::Store& st, const Calendar& cal, UnitType type, std::int64_t id, int month,
                                  std::int64_t now_utc_ms, Parts parts) {
  if (month > cal.current_month(now_utc_ms))
    return core::Error::invalid("no report for a month that has not begun",
                                {{"/query/month", "after the current month in " + cal.zone_name()}});
  const Tree tree = load_tree(st);
  const auto& index = type == UnitType::clinic ? tree.clinic_node : tree.region_node;
  auto found = index.find(id);
  if (found == index.end())
    return core::Error::not_found(std::string("no ") + std::string(to_string(type)) + " has id " + std::to_string(id));
  const std::size_t self = found->second;

  Report rep;
  rep.unit = tree.nodes[self].unit;
  rep.month = month;
  rep.time_zone = cal.zone_name();
  rep.period_start_ms = cal.month_start_ms(month);
  rep.period_end_ms = cal.month_end_ms(month);
  for (auto p = tree.nodes[self].parent; p; p = tree.nodes[*p].parent) rep.path.insert(rep.path.begin(), tree.nodes[*p].unit);
  for (const auto ch : tree.nodes[self].children) rep.children.push_back(tree.nodes[ch].unit);

  const auto cols = indicator_columns();
  rep.indicators.name = "indicators";
  rep.indicators.columns = cols;
  rep.trend.name = "trend";
  rep.trend.columns = cols;
  // Every month up to this one, suppressed in order (a trend without the months before it would not be safe).
  const History h = build_history(st, tree, cal, month);
  for (int m = parts.trend ? month - 11 : month; m <= month; ++m)
    rep.trend.rows.push_back({rep.unit, "month", format_month(m), published(h.grid, h.month(m), self, 0)});
  for (std::size_t g = 0; g < n_groups; ++g)
    rep.indicators.rows.push_back({rep.unit, groups()[g].first, groups()[g].second, published(h.grid, h.month(month), self, g)});
  for (const auto ch : tree.nodes[self].children)
    rep.indicators.rows.push_back({tree.nodes[ch].unit, "all", "all", published(h.grid, h.month(month), ch, 0)});

  // The four latest quarters whose next quarter has ended by the month's end.
  rep.cohorts.name = "cohorts";
  rep.cohorts.columns = cohort_columns();
  const int last_outcome_quarter_end = month - ((month % 3) == 2 ? 0 : (month % 3) + 1);  // last month ending a quarter
  for (int k = 3; parts.cohorts && k >= 0; --k) {
    const int q_first = last_outcome_quarter_end - 5 - 3 * k;
    rep.cohorts.rows.push_back({rep.unit, "quarter", format_quarter(q_first),
                                pick_columns(published(h.grid, h.cohorts.at(q_first), self, 0), cols, rep.cohorts.columns)});
  }

  // Alerts opened in the month, per type, for every node, suppressed together.
  rep.alerts.name = "alerts";
  rep.alerts.columns = {"alerts", "acted", "action_rate"};
  if (parts.alerts) {
    const auto counts = st.alert_action_counts(tree.clinic_ids, cal.month_start_ms(month), cal.month_end_ms(month));
    std::vector<std::string> types{"all"};
    for (const auto& c : counts)
      if (std::find(types.begin(), types.end(), alert_type(c.signal)) == types.end()) types.push_back(alert_type(c.signal));
    std::sort(types.begin() + 1, types.end());
    // raw[node][type] = {alerts, acted}
    std::vector<std::vector<std::array<std::int64_t, 2>>> raw(
        tree.nodes.size(), std::vector<std::array<std::int64_t, 2>>(types.size(), {0, 0}));
    for (const auto& c : counts) {
      auto it = tree.clinic_node.find(c.clinic_id);
      if (it == tree.clinic_node.end()) continue;
      const auto ti = static_cast<std::size_t>(std::find(types.begin(), types.end(), alert_type(c.signal)) - types.begin());
      for (std::optional<std::size_t> n = it->second; n; n = tree.nodes[*n].parent)
        for (const auto t : {std::size_t{0}, ti}) {
          raw[*n][t][0] += c.alerts;
          raw[*n][t][1] += c.acted;
        }
    }
    SuppressionGrid g;
    std::vector<std::vector<std::array<std::size_t, 2>>> cell(tree.nodes.size(),
                                                              std::vector<std::array<std::size_t, 2>>(types.size()));
    for (std::size_t n = 0; n < tree.nodes.size(); ++n)
      for (std::size_t t = 0; t < types.size(); ++t)
        for (std::size_t k = 0; k < 2; ++k) cell[n][t][k] = g.add(raw[n][t][k]);
    for (std::size_t n = 0; n < tree.nodes.size(); ++n)
      for (std::size_t k = 0; k < 2; ++k) {
        std::vector<std::size_t> by_type;
        for (std::size_t t = 1; t < types.size(); ++t) by_type.push_back(cell[n][t][k]);
        add_sum(g, cell[n][0][k], by_type);
        for (std::size_t t = 0; t < types.size(); ++t) {
          std::vector<std::size_t> kids;
          for (const auto ch : tree.nodes[n].children) kids.push_back(cell[ch][t][k]);
          add_sum(g, cell[n][t][k], kids);
        }
      }
    suppress(g, min_published);
    for (std::size_t t = 0; t < types.size(); ++t) {
      std::vector<Cell> cells;
      for (std::size_t k = 0; k < 2; ++k) {
        const auto i = cell[self][t][k];
        cells.push_back(count_cell(g, i));
      }
      if (cells[0].suppressed || cells[1].suppressed) cells.push_back({std::nullopt, true, false});
      else if (*cells[0].value == 0) cells.push_back({});
      else cells.push_back({round4(*cells[1].value / *cells[0].value), false, false});
      rep.alerts.rows.push_back({rep.unit, "type", types[t], std::move(cells)});
    }
  }
  return rep;
}

}  // namespace careloop::reports
