#pragma once
// A protocol version as loaded from protocols/library/<id>.json: sources,
// applicability, target groups, alert rules, monitoring schedules, follow-up
// and referral rules, a medication ladder with its cautions, lifestyle goals.
// Loading validates the file against schema.json (structure) and against its
// own meaning (facts, units, ranges, ladder reachability, rule ids); every
// problem is reported with the file and the JSON pointer.
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "careloop/protocols/condition.hpp"
#include "careloop/protocols/facts.hpp"

namespace careloop::protocols {

enum class Evidence : std::uint8_t { primary, secondary, decision };
enum class Tier : std::uint8_t { critical, warning };
enum class Urgency : std::uint8_t { none, routine, urgent };
std::string_view to_string(Evidence e) noexcept;
std::string_view to_string(Tier t) noexcept;
std::string_view to_string(Urgency u) noexcept;
std::optional<Tier> parse_tier(std::string_view s) noexcept;
std::optional<Urgency> parse_urgency(std::string_view s) noexcept;

// Plain-language text in the two languages the product ships.
struct Text {
  std::string en;
  std::string zh;  // zh-CN
};

struct Source {
  std::string id;
  std::string title;
  std::string publisher;
  int year = 0;
  std::string url;
  Evidence evidence = Evidence::secondary;
};

// Where a rule comes from: source ids of the protocol, the evidence tag, and
// for "decision" the one-line reason it was decided without a primary source.
struct Provenance {
  std::vector<std::string> sources;
  Evidence evidence = Evidence::secondary;
  std::string rationale;
};

struct TargetGroup {
  std::string id;
  Condition when;
  std::array<double, target_count> values;  // NaN = not set by this group
  Text label;
  Provenance prov;
};

struct AlertRule {
  std::string id;
  std::string signal;  // one open alert per patient per signal
  Tier tier = Tier::warning;
  Condition when;
  Condition hold_when;  // empty = never held
  bool has_hold = false;
  Text message;
  Provenance prov;
};

struct MonitoringRule {
  std::string id;
  std::string measure;  // blood_pressure, glucose, weight
  Condition when;
  int days_per_week = 7;
  int times_per_day = 1;
  int readings_per_time = 1;
  std::optional<int> for_days;
  Text text;
  Provenance prov;
};

struct FollowUpRule {
  std::string id;
  Condition when;
  int within_days = 90;
  Text reason;
  Provenance prov;
};

struct ReferralRule {
  std::string id;
  Urgency urgency = Urgency::routine;
  Condition when;
  int follow_up_within_days = 14;
  Text reason;
  Provenance prov;
};

struct LifestyleGoal {
  std::string id;
  Condition when;  // empty = always
  Text text;
  Provenance prov;
};

struct RegimenComponent {
  std::vector<std::string> classes;  // any one of these drug classes
  std::string drug;                  // empty = any drug of the class
  std::optional<double> dose_mg;
};
using Regimen = std::vector<RegimenComponent>;

enum class StepAction : std::uint8_t { regimen, check_adherence_then_refer, refer };

struct LadderStep {
  std::string id;
  int number = 0;
  std::vector<Regimen> options;  // empty regimen = no drug (lifestyle only)
  std::string next;              // empty = top of the ladder
  StepAction action = StepAction::regimen;
  double adherence_at_least_percent = 80;
  Text text;
  Provenance prov;
};

struct Caution {
  std::string id;
  Condition when;
  std::vector<std::string> forbid_classes;
  Text message;
  Provenance prov;
};

// Jump from one step to a later one when a condition holds (China 2020:
// start with two drugs when BP ≥ 160/100).
struct SkipRule {
  std::string id;
  std::string from_step, to_step;
  Condition when;
  Text reason;
  Provenance prov;
};

struct AddOn {
  std::string id;
  Condition when;
  std::vector<Regimen> options;
  Text text;
  Provenance prov;
};

struct Ladder {
  std::string id;
  int min_days_at_step = 30;
  Condition step_up_when;
  Text step_up_reason;
  std::vector<LadderStep> steps;  // in file order; numbers ascending
  std::vector<Caution> cautions;
  std::vector<SkipRule> skips;
  std::vector<AddOn> add_ons;
  std::vector<std::string> classes;  // every class the ladder's regimens use
  Provenance prov;
  const LadderStep* find(std::string_view id) const noexcept;
};

struct AlertSettings {
  std::int64_t escalate_critical_after_ms = 2 * 3'600'000;
  std::int64_t auto_resolve_default_ms = 72 * 3'600'000;
  std::map<std::string, std::int64_t, std::less<>> auto_resolve_by_signal_ms;
  std::int64_t auto_resolve_ms(std::string_view signal) const;
};

struct Protocol {
  std::string id;
  std::string version;
  std::string title;
  std::string programme;  // "hypertension" or "diabetes": the measures it owns when merged
  std::string file;
  std::vector<Source> sources;
  Condition applicability;
  std::vector<TargetGroup> targets;
  std::vector<AlertRule> alerts;
  std::vector<MonitoringRule> monitoring;
  std::vector<FollowUpRule> follow_up;
  std::vector<ReferralRule> referral;
  std::vector<LifestyleGoal> lifestyle;
  std::optional<Ladder> ladder;
  AlertSettings alert_settings;
};

struct LoadResult {
  std::vector<Protocol> protocols;
  std::vector<LoadError> errors;
  bool ok() const noexcept { return errors.empty(); }
};

// One file's text; `file` names it in errors.
LoadResult load_protocol_text(std::string_view text, const std::string& file);
LoadResult load_protocol_file(const std::filesystem::path& path);
// Every *.json in `dir` (sorted by name); also reports duplicate id+version.
LoadResult load_directory(const std::filesystem::path& dir);
// What `careloop protocols check DIR` prints, one line per error; empty = valid.
std::vector<LoadError> check_directory(const std::filesystem::path& dir);

// The schema every protocol file is validated against (protocols/schema.json,
// compiled in).
std::string_view protocol_schema_text() noexcept;

}  // namespace careloop::protocols
