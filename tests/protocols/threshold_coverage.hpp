#pragma once
// Threshold coverage of the protocol library by the clinical scenarios: for
// every condition of every rule (applicability, target groups, alert rules
// and their holds, monitoring, follow-up, referral, lifestyle, the ladder's
// step-up condition, cautions, skips, add-ons), whether the rule fired and
// did not fire, and whether each leaf comparison was evaluated true and
// false, over the snapshots the scenario driver evaluates — counted only where
// the engine itself evaluates that condition (a protocol's warning rules only
// when it applies, a hold only when its alert fires, a skip only at its
// starting step above target, plan rules only where the driver checks a plan).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "careloop/protocols/engine.hpp"

namespace careloop::protocols::test {

class ThresholdCoverage {
 public:
  // Walks the library's files (read again from `dir` for their JSON
  // pointers); `errors` gets what does not match the loaded protocols.
  ThresholdCoverage(const std::vector<Protocol>& library, const std::string& dir, std::vector<std::string>& errors);

  // After evaluate_alerts(s, set, filter).
  void observe_alerts(const Snapshot& s, const ProtocolSet& set, TierFilter filter);
  // After evaluate(s, set) produced `plan`.
  void observe_plan(const Snapshot& s, const ProtocolSet& set, const CarePlan& plan);

  struct Side {
    std::string protocol, rule, pointer;
    bool missing_true = false, missing_false = false;
  };
  // Leaves and rules not yet seen on both sides, allow-listed ones excluded.
  std::vector<Side> uncovered_leaves() const;
  std::vector<Side> uncovered_rules() const;
  // Allow-list entries that name no leaf any more.
  const std::vector<std::string>& stale_allowances() const noexcept { return allow_unused_; }
  // Conditions whose loaded form and the file's, compiled again here, disagreed
  // on a snapshot: the walk matched a pointer to the wrong rule.
  const std::vector<std::string>& mismatches() const noexcept { return mismatches_; }

  struct Figures {
    std::size_t leaves = 0, leaves_both = 0, leaves_allowed = 0;
    // Comparisons with a threshold (a constant or a target), and those seen
    // within one resolution step of it on both sides (e.g. 179 and 180 mmHg).
    std::size_t thresholds = 0, thresholds_tight = 0;
    std::size_t rules = 0, rules_both = 0;
    std::size_t evaluations = 0;
  };
  Figures figures() const;
  // One line per leaf: covered sides and the nearest values seen on each side.
  std::string report() const;
  // Comparisons not seen within one step of their threshold on both sides.
  std::vector<std::string> loose_thresholds() const;

 private:
  struct Leaf {
    std::string pointer;
    nlohmann::json j;
    Condition cond;           // the leaf alone
    std::vector<Condition> where_at_least;  // count_of "where" part: index k = at least k values meet it
    SeriesId series = 0;
    bool is_where = false;    // the per-value comparison of a count_of
    bool seen_true = false, seen_false = false;
    std::string allowed;      // reason, when allow-listed
    // A comparison of a fact with a threshold, constant or another fact's
    // value (a target): the compared value nearest the threshold on each side.
    struct Nearest {
      bool have = false;
      double value = 0, threshold = 0;  // canonical unit
    };
    FactId fact = 0;
    Quantity quantity = Quantity::count;
    bool numeric = false;
    bool threshold_is_fact = false;
    FactId threshold_fact = 0;
    double threshold = 0;
    Nearest near_true, near_false;
    bool tight() const;
  };
  enum class Context { applicability, target, critical, warning, hold, plan, step_up, skip };
  struct Rule {
    const Protocol* protocol = nullptr;
    std::string id, pointer;
    Context context = Context::plan;
    const Condition* engine = nullptr;  // the loaded condition
    const Condition* gate = nullptr;    // hold: the alert's when
    std::string skip_from;              // skip: its starting step
    Condition own;                      // compiled again from the file, checked against `engine`
    std::vector<Leaf> leaves;
    bool fired = false, not_fired = false;
  };

  void add_rule(const Protocol& p, const nlohmann::json& file, std::string id, std::string pointer, Context ctx,
                const Condition* engine, std::vector<std::string>& errors);
  void add_leaves(Rule& r, const nlohmann::json& j, const std::string& pointer, std::vector<std::string>& errors);
  void observe(Rule& r, const Snapshot& s, const double* facts);

  std::vector<Rule> rules_;
  std::size_t evaluations_ = 0;
  std::vector<std::string> allow_unused_;
  std::vector<std::string> mismatches_;
};

}  // namespace careloop::protocols::test
