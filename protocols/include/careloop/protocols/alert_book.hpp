#pragma once
// The alert lifecycle of one patient as a pure state machine (CLINICAL §3,
// issue item 7). The store keeps the book (to_json) beside the patient and
// feeds it the engine's signals; the events say what to write and deliver.
//
//   open ──acknowledge──► acknowledged ──resolve / cleared──► resolved
//    │  ▲                                      ▲
//    └snooze► snoozed ──until passes──► (back)  │
//    └────────── condition cleared for the configured time (auto) ┘
//
// One alert per signal: a repeat (new evidence) adds to the count and keeps
// the latest values; a critical signal on an open warning raises its tier.
// A held signal (medication-change hold) neither opens nor counts. Only a
// full evaluation (all tiers) can find a condition cleared. A critical alert
// still open (not acknowledged, not snoozed) after the escalation delay is
// escalated once: flagged and delivered again.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "careloop/core/result.hpp"
#include "careloop/protocols/engine.hpp"

namespace careloop::protocols {

enum class AlertStatus : std::uint8_t { open, acknowledged, snoozed, resolved };
enum class AckAction : std::uint8_t { called_patient, changed_medication, referred, advised_emergency_care, no_action };
std::string_view to_string(AlertStatus s) noexcept;
std::string_view to_string(AckAction a) noexcept;
std::optional<AlertStatus> parse_alert_status(std::string_view s) noexcept;
std::optional<AckAction> parse_ack_action(std::string_view s) noexcept;

struct Acknowledgement {
  std::int64_t by_user_id = 0;
  std::int64_t at_ms = 0;
  AckAction action = AckAction::no_action;
  std::string note;
};

struct Alert {
  std::string signal;
  Tier tier = Tier::warning;
  std::string rule_id;
  std::string protocol_id;
  std::string protocol_version;
  AlertStatus status = AlertStatus::open;
  std::int64_t opened_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int64_t critical_since_ms = 0;   // when it became critical (escalation clock)
  int count = 1;
  std::int64_t evidence_key = 0;
  std::string latest_json;              // the facts of the latest firing, as JSON text
  std::optional<std::int64_t> cleared_since_ms;
  std::optional<Acknowledgement> ack;
  std::optional<std::int64_t> snoozed_until_ms;
  std::optional<std::int64_t> escalated_at_ms;
  std::optional<std::int64_t> resolved_at_ms;
  std::optional<std::int64_t> resolved_by_user_id;  // unset = resolved automatically
};

enum class EventKind : std::uint8_t { opened, updated, tier_raised, held, escalated, acknowledged, snoozed, snooze_ended,
                                      resolved_auto, resolved_by_hand };
std::string_view to_string(EventKind k) noexcept;

struct AlertEvent {
  EventKind kind = EventKind::opened;
  std::int64_t at_ms = 0;
  Alert alert;  // the alert after the change (for held: what would have opened)
};

enum class Scope : std::uint8_t {
  critical_only,  // in the writer's transaction: may open and update, never clears
  full,           // after the commit or on schedule: also finds conditions cleared
};

class AlertBook {
 public:
  std::vector<AlertEvent> update(const std::vector<AlertSignal>& signals, Scope scope, std::int64_t now_ms,
                                 const AlertSettings& settings);
  // Timers only: escalation, the end of snoozes, auto-resolve of cleared alerts.
  std::vector<AlertEvent> tick(std::int64_t now_ms, const AlertSettings& settings);
  // One signal's condition has cleared (the others are not judged): its
  // alert starts its auto-resolve clock, and the same evidence may open it
  // again later. Returns what tick() returns.
  std::vector<AlertEvent> clear(std::string_view signal, std::int64_t now_ms, const AlertSettings& settings);

  core::Result<AlertEvent> acknowledge(std::string_view signal, std::int64_t by_user_id, std::int64_t at_ms, AckAction action,
                                       std::string note);
  core::Result<AlertEvent> snooze(std::string_view signal, std::int64_t until_ms, std::int64_t at_ms);
  core::Result<AlertEvent> resolve(std::string_view signal, std::int64_t by_user_id, std::int64_t at_ms);

  // Alerts not yet resolved, one per signal.
  const std::vector<Alert>& alerts() const noexcept { return alerts_; }
  const Alert* find(std::string_view signal) const noexcept;

  std::string to_json() const;
  static core::Result<AlertBook> from_json(std::string_view text);

 private:
  Alert* find_mut(std::string_view signal) noexcept;
  std::vector<Alert> alerts_;
  // Evidence each signal's last alert was resolved at: the same evidence does
  // not reopen it (a doctor who resolved a reading is not alerted on it again).
  std::map<std::string, std::int64_t, std::less<>> resolved_evidence_;
};

nlohmann::json to_json(const Alert& a);

// Signals raised from stored data rather than by a protocol rule (care/
// raises them): a risk model's score in its high band and an approved care
// plan's follow-up date gone by. The signals point into this object: keep it
// while they are used. Not copyable.
class ExtraSignals {
 public:
  ExtraSignals() = default;
  ExtraSignals(const ExtraSignals&) = delete;
  ExtraSignals& operator=(const ExtraSignals&) = delete;

  // "risk_high:<model id>", warning tier, one alert per stay in the band.
  // `latest_json`: the probability and factors; `reason`: the words.
  void risk_high(std::string_view model_id, std::string_view model_version, std::string latest_json, Text reason);
  // "follow_up_overdue", warning tier; the due day (local) is its evidence.
  void follow_up_overdue(std::int64_t due_day, std::string_view protocol_id, std::string_view protocol_version,
                         std::string_view rule_id, std::string latest_json, Text reason);
  const std::vector<AlertSignal>& signals() const noexcept { return signals_; }

 private:
  std::deque<std::string> text_;  // a deque: the signals' string_views stay valid as it grows
  std::deque<Text> reasons_;
  std::vector<AlertSignal> signals_;
};

// Per signal: how many alerts, how many acknowledged, how many with an action
// other than no_action (the "action rate" reports show).
struct ActionRate {
  std::string signal;
  int alerts = 0;
  int acknowledged = 0;
  int acted_on = 0;
  double rate() const noexcept { return alerts ? static_cast<double>(acted_on) / alerts : 0; }
};
std::vector<ActionRate> action_rates(const std::vector<Alert>& alerts);

}  // namespace careloop::protocols
