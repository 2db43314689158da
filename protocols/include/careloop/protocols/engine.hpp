#pragma once
// The engine: a snapshot of one patient and the clinic's protocols in, a
// proposed care plan and alert signals out. Pure: no I/O, no clock (the
// snapshot carries `now`). A plan refers into the protocols that made it
// (rule ids, texts), so keep them loaded while it lives or call to_json().
//
// Several protocols at once (a patient with hypertension and diabetes): each
// measure's target comes from the protocol that owns it (BP from the
// hypertension programme, glucose/HbA1c/BMI from diabetes; a measure the
// owner leaves unset falls back to the other), and every protocol's rules
// are then evaluated against those merged targets. Alerts are merged by
// signal (the higher tier wins), the earliest follow-up wins, the most urgent
// referral wins, each protocol's ladder makes its own medication suggestion.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "careloop/protocols/facts.hpp"
#include "careloop/protocols/protocol.hpp"

namespace careloop::protocols {

// A clinic's chosen protocols, at most one per programme.
class ProtocolSet {
 public:
  ProtocolSet() = default;
  explicit ProtocolSet(const Protocol& p) : protocols_{&p} {}
  // Fails when two protocols share a programme.
  static core::Result<ProtocolSet> make(std::vector<const Protocol*> protocols);
  const std::vector<const Protocol*>& protocols() const noexcept { return protocols_; }

 private:
  std::vector<const Protocol*> protocols_;
};

struct FactValue {
  FactId fact = 0;
  double value = 0;  // canonical unit; NaN = no data
};

// A rule that fired, with the values of the facts its condition read.
struct Fired {
  std::string_view protocol_id;
  std::string_view rule_id;
  std::string_view kind;  // target, alert, held, monitoring, follow_up, referral, lifestyle, ladder, caution, skip, add_on
  std::vector<FactValue> facts;
};

struct PlanTarget {
  TargetKey key{};
  double value = 0;  // canonical unit of quantity_of(key)
  std::string_view protocol_id;
  std::string_view group_id;
  const Text* label = nullptr;
};

struct PlanMonitoring {
  std::string_view protocol_id;
  const MonitoringRule* rule = nullptr;
};

struct PlanFollowUp {
  int within_days = 0;
  std::int64_t due_day = 0;  // local day
  std::string_view protocol_id;
  std::string_view rule_id;
  const Text* reason = nullptr;
};

enum class MedicationAction : std::uint8_t {
  no_change,
  step_up,
  step_down,         // the current regimen holds a class a caution forbids
  check_adherence,   // top of the ladder: check adherence before referring
  refer,             // top of the ladder and adherent
  wait,              // above target but not yet long enough at this step
  blocked,           // the next step is forbidden by a caution: no change, see the doctor
  off_ladder,        // the current regimen is not a step of this ladder
};
std::string_view to_string(MedicationAction a) noexcept;

struct MedicationSuggestion {
  std::string_view protocol_id;
  std::string_view ladder_id;
  const LadderStep* current = nullptr;    // nullptr when off the ladder
  const LadderStep* suggested = nullptr;  // equals current for no change
  MedicationAction action = MedicationAction::no_change;
  std::vector<const Regimen*> options;    // allowed regimens of the suggested step
  std::vector<const Caution*> cautions;   // active cautions
  std::vector<const AddOn*> add_ons;      // allowed add-ons that apply
  std::string reason;                     // English, for the doctor
};

struct PlanReferral {
  Urgency urgency = Urgency::none;
  std::vector<std::pair<std::string_view, const ReferralRule*>> reasons;  // protocol id, rule
};

struct PlanLifestyle {
  std::string_view protocol_id;
  const LifestyleGoal* goal = nullptr;
};

struct CarePlan {
  std::vector<std::pair<std::string_view, std::string_view>> protocols;  // id, version
  std::int64_t generated_at_ms = 0;
  std::vector<PlanTarget> targets;
  std::vector<PlanMonitoring> monitoring;
  std::optional<PlanFollowUp> follow_up;
  std::vector<MedicationSuggestion> medication;
  std::vector<PlanLifestyle> lifestyle;
  PlanReferral referral;
  std::vector<Fired> rationale;
};

struct AlertSignal {
  std::string_view signal;
  Tier tier = Tier::warning;
  std::string_view rule_id;
  std::string_view protocol_id;
  std::string_view protocol_version;
  bool held = false;               // a hold_when held it (medication-change hold)
  std::int64_t evidence_key = 0;   // changes with each new reading the rule reads
  const Text* message = nullptr;
  std::vector<FactValue> facts;
  // For a signal raised outside the rules (risk, follow-up): the latest
  // values as JSON text, kept instead of the facts. Empty for a rule's signal.
  std::string_view latest_json;
};

enum class TierFilter : std::uint8_t { critical, warning, all };

CarePlan evaluate(const Snapshot& s, const ProtocolSet& set);
inline CarePlan evaluate(const Snapshot& s, const Protocol& p) { return evaluate(s, ProtocolSet(p)); }

// Critical rules alone for the in-transaction path; all after the commit.
// At most one signal per signal name (the higher tier, an unheld one first).
std::vector<AlertSignal> evaluate_alerts(const Snapshot& s, const ProtocolSet& set, TierFilter filter);
inline std::vector<AlertSignal> evaluate_alerts(const Snapshot& s, const Protocol& p, TierFilter filter) {
  return evaluate_alerts(s, ProtocolSet(p), filter);
}

// The facts `p`'s rules are evaluated against within `set`: the snapshot's,
// the merged target.* facts and p's own ladder.* facts (unset when p does not
// apply, as for its critical rules then). For audits and tests (the
// threshold-coverage test evaluates each condition leaf against them); the
// engine's own evaluation does not call it.
std::array<double, max_facts> rule_facts(const Snapshot& s, const ProtocolSet& set, const Protocol& p);

// The alert settings of a set: the first protocol's, with the per-signal
// auto-resolve periods of the others added where the first is silent.
AlertSettings merged_alert_settings(const ProtocolSet& set);

// The plan as the store keeps it (plan_json) and the rationale (rationale_json).
nlohmann::json to_json(const CarePlan& plan);
nlohmann::json to_json(const std::vector<Fired>& rationale);
nlohmann::json to_json(const AlertSignal& a);

enum class Language : std::uint8_t { en, zh_cn };
// Plain language for the patient: targets, schedule, next visit, lifestyle,
// and (after the doctor approved it) the medication plan and referral.
std::string render_for_patient(const CarePlan& plan, Language lang);
// The same from a plan as stored (to_json, or a doctor's edit of it).
std::string render_for_patient(const nlohmann::json& plan, Language lang);

}  // namespace careloop::protocols
