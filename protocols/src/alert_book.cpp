#include "careloop/protocols/alert_book.hpp"

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

#include "careloop/core/enum_names.hpp"

namespace careloop::protocols {
namespace {

using nlohmann::json;

constexpr core::NameTable<AlertStatus, 4> statuses{{
    {"open", AlertStatus::open},
    {"acknowledged", AlertStatus::acknowledged},
    {"snoozed", AlertStatus::snoozed},
    {"resolved", AlertStatus::resolved},
}};
constexpr core::NameTable<AckAction, 5> actions{{
    {"called_patient", AckAction::called_patient},
    {"changed_medication", AckAction::changed_medication},
    {"referred", AckAction::referred},
    {"advised_emergency_care", AckAction::advised_emergency_care},
    {"no_action", AckAction::no_action},
}};
constexpr core::NameTable<EventKind, 10> event_kinds{{
    {"opened", EventKind::opened},
    {"updated", EventKind::updated},
    {"tier_raised", EventKind::tier_raised},
    {"held", EventKind::held},
    {"escalated", EventKind::escalated},
    {"acknowledged", EventKind::acknowledged},
    {"snoozed", EventKind::snoozed},
    {"snooze_ended", EventKind::snooze_ended},
    {"resolved_auto", EventKind::resolved_auto},
    {"resolved_by_hand", EventKind::resolved_by_hand},
}};

std::string facts_text(const AlertSignal& s) {
  if (!s.latest_json.empty()) return std::string(s.latest_json);
  json facts = to_json(s)["facts"];
  return facts.dump();
}

template <class T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}
template <class T>
std::optional<T> opt_from(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<T>();
}

}  // namespace

std::string_view to_string(AlertStatus s) noexcept { return core::enum_name(statuses, s); }
std::string_view to_string(AckAction a) noexcept { return core::enum_name(actions, a); }
std::string_view to_string(EventKind k) noexcept { return core::enum_name(event_kinds, k); }
std::optional<AlertStatus> parse_alert_status(std::string_view s) noexcept { return core::enum_from_name(statuses, s); }
std::optional<AckAction> parse_ack_action(std::string_view s) noexcept { return core::enum_from_name(actions, s); }

Alert* AlertBook::find_mut(std::string_view signal) noexcept {
  for (auto& a : alerts_)
    if (a.signal == signal) return &a;
  return nullptr;
}

const Alert* AlertBook::find(std::string_view signal) const noexcept {
  for (const auto& a : alerts_)
    if (a.signal == signal) return &a;
  return nullptr;
}

std::vector<AlertEvent> AlertBook::update(const std::vector<AlertSignal>& signals, Scope scope, std::int64_t now,
                                          const AlertSettings& settings) {
  std::vector<AlertEvent> events;
  for (const auto& s : signals) {
    Alert* a = find_mut(s.signal);
    if (s.held) {
      if (a) {
        a->cleared_since_ms.reset();
      } else {
        Alert would;
        would.signal = std::string(s.signal);
        would.tier = s.tier;
        would.rule_id = std::string(s.rule_id);
        would.protocol_id = std::string(s.protocol_id);
        would.protocol_version = std::string(s.protocol_version);
        would.opened_at_ms = would.updated_at_ms = now;
        would.latest_json = facts_text(s);
        events.push_back({EventKind::held, now, std::move(would)});
      }
      continue;
    }
    if (!a) {
      if (auto r = resolved_evidence_.find(s.signal); r != resolved_evidence_.end() && r->second == s.evidence_key) continue;
      Alert n;
      n.signal = std::string(s.signal);
      n.tier = s.tier;
      n.rule_id = std::string(s.rule_id);
      n.protocol_id = std::string(s.protocol_id);
      n.protocol_version = std::string(s.protocol_version);
      n.opened_at_ms = n.updated_at_ms = now;
      n.critical_since_ms = now;
      n.evidence_key = s.evidence_key;
      n.latest_json = facts_text(s);
      alerts_.push_back(n);
      events.push_back({EventKind::opened, now, std::move(n)});
      continue;
    }
    a->cleared_since_ms.reset();
    if (s.tier == Tier::critical && a->tier != Tier::critical) {
      a->tier = Tier::critical;
      a->critical_since_ms = now;
      a->rule_id = std::string(s.rule_id);
      if (a->status == AlertStatus::snoozed) {
        // A critical signal ends a snooze taken on a warning.
        a->status = a->ack ? AlertStatus::acknowledged : AlertStatus::open;
        a->snoozed_until_ms.reset();
      }
      a->updated_at_ms = now;
      events.push_back({EventKind::tier_raised, now, *a});
    }
    if (s.evidence_key != a->evidence_key) {
      ++a->count;
      a->evidence_key = s.evidence_key;
      a->latest_json = facts_text(s);
      a->updated_at_ms = now;
      if (s.tier == a->tier) a->rule_id = std::string(s.rule_id);
      events.push_back({EventKind::updated, now, *a});
    }
  }
  if (scope == Scope::full) {
    auto firing = [&](std::string_view signal) {
      return std::any_of(signals.begin(), signals.end(), [&](const AlertSignal& s) { return s.signal == signal; });
    };
    for (auto& a : alerts_)
      if (!firing(a.signal) && !a.cleared_since_ms) a.cleared_since_ms = now;
    // Once the condition has cleared, a new firing is new whatever its evidence.
    for (auto it = resolved_evidence_.begin(); it != resolved_evidence_.end();)
      it = firing(it->first) ? std::next(it) : resolved_evidence_.erase(it);
  }
  auto timed = tick(now, settings);
  events.insert(events.end(), std::make_move_iterator(timed.begin()), std::make_move_iterator(timed.end()));
  return events;
}

std::vector<AlertEvent> AlertBook::tick(std::int64_t now, const AlertSettings& settings) {
  std::vector<AlertEvent> events;
  for (auto it = alerts_.begin(); it != alerts_.end();) {
    Alert& a = *it;
    if (a.cleared_since_ms && now - *a.cleared_since_ms >= settings.auto_resolve_ms(a.signal)) {
      a.status = AlertStatus::resolved;
      a.resolved_at_ms = now;
      a.updated_at_ms = now;
      events.push_back({EventKind::resolved_auto, now, a});
      it = alerts_.erase(it);
      continue;
    }
    if (a.status == AlertStatus::snoozed && a.snoozed_until_ms && now >= *a.snoozed_until_ms) {
      a.status = a.ack ? AlertStatus::acknowledged : AlertStatus::open;
      a.snoozed_until_ms.reset();
      a.updated_at_ms = now;
      events.push_back({EventKind::snooze_ended, now, a});
    }
    if (a.tier == Tier::critical && a.status == AlertStatus::open && !a.escalated_at_ms &&
        now - a.critical_since_ms >= settings.escalate_critical_after_ms) {
      a.escalated_at_ms = now;
      a.updated_at_ms = now;
      events.push_back({EventKind::escalated, now, a});
    }
    ++it;
  }
  return events;
}

std::vector<AlertEvent> AlertBook::clear(std::string_view signal, std::int64_t now, const AlertSettings& settings) {
  if (Alert* a = find_mut(signal); a && !a->cleared_since_ms) a->cleared_since_ms = now;
  if (auto r = resolved_evidence_.find(signal); r != resolved_evidence_.end()) resolved_evidence_.erase(r);
  return tick(now, settings);
}

void ExtraSignals::risk_high(std::string_view model_id, std::string_view model_version, std::string latest_json,
                             Text reason) {
  const std::string& name = text_.emplace_back("risk_high:" + std::string(model_id));
  const std::string& id = text_.emplace_back(model_id);
  const std::string& version = text_.emplace_back(model_version);
  const std::string& latest = text_.emplace_back(std::move(latest_json));
  AlertSignal s;
  s.signal = name;
  s.tier = Tier::warning;
  s.rule_id = "risk_high_band";
  s.protocol_id = id;
  s.protocol_version = version;
  // One alert per stay in the high band: rescoring while high is not new evidence.
  s.evidence_key = 1;
  s.message = &reasons_.emplace_back(std::move(reason));
  s.latest_json = latest;
  signals_.push_back(std::move(s));
}

void ExtraSignals::follow_up_overdue(std::int64_t due_day, std::string_view protocol_id, std::string_view protocol_version,
                                     std::string_view rule_id, std::string latest_json, Text reason) {
  const std::string& pid = text_.emplace_back(protocol_id);
  const std::string& pv = text_.emplace_back(protocol_version);
  const std::string& rid = text_.emplace_back(rule_id);
  const std::string& latest = text_.emplace_back(std::move(latest_json));
  AlertSignal s;
  s.signal = "follow_up_overdue";
  s.tier = Tier::warning;
  s.rule_id = rid;
  s.protocol_id = pid;
  s.protocol_version = pv;
  // A later plan with a later due date that passes too is new evidence.
  s.evidence_key = due_day;
  s.message = &reasons_.emplace_back(std::move(reason));
  s.latest_json = latest;
  signals_.push_back(std::move(s));
}

core::Result<AlertEvent> AlertBook::acknowledge(std::string_view signal, std::int64_t by, std::int64_t at, AckAction action,
                                                std::string note) {
  Alert* a = find_mut(signal);
  if (!a) return core::Error::not_found("no unresolved alert for signal " + std::string(signal));
  a->ack = Acknowledgement{by, at, action, std::move(note)};
  a->status = AlertStatus::acknowledged;
  a->snoozed_until_ms.reset();
  a->updated_at_ms = at;
  return AlertEvent{EventKind::acknowledged, at, *a};
}

core::Result<AlertEvent> AlertBook::snooze(std::string_view signal, std::int64_t until, std::int64_t at) {
  Alert* a = find_mut(signal);
  if (!a) return core::Error::not_found("no unresolved alert for signal " + std::string(signal));
  if (until <= at) return core::Error::invalid("a snooze ends after it starts");
  a->status = AlertStatus::snoozed;
  a->snoozed_until_ms = until;
  a->updated_at_ms = at;
  return AlertEvent{EventKind::snoozed, at, *a};
}

core::Result<AlertEvent> AlertBook::resolve(std::string_view signal, std::int64_t by, std::int64_t at) {
  auto it = std::find_if(alerts_.begin(), alerts_.end(), [&](const Alert& a) { return a.signal == signal; });
  if (it == alerts_.end()) return core::Error::not_found("no unresolved alert for signal " + std::string(signal));
  Alert a = *it;
  alerts_.erase(it);
  resolved_evidence_[a.signal] = a.evidence_key;
  a.status = AlertStatus::resolved;
  a.resolved_at_ms = at;
  a.resolved_by_user_id = by;
  a.updated_at_ms = at;
  return AlertEvent{EventKind::resolved_by_hand, at, std::move(a)};
}

json to_json(const Alert& a) {
  json j = {{"signal", a.signal},
            {"tier", to_string(a.tier)},
            {"rule", a.rule_id},
            {"protocol", a.protocol_id},
            {"protocol_version", a.protocol_version},
            {"status", to_string(a.status)},
            {"opened_at_ms", a.opened_at_ms},
            {"updated_at_ms", a.updated_at_ms},
            {"critical_since_ms", a.critical_since_ms},
            {"count", a.count},
            {"evidence_key", a.evidence_key},
            {"latest", a.latest_json},
            {"cleared_since_ms", opt(a.cleared_since_ms)},
            {"snoozed_until_ms", opt(a.snoozed_until_ms)},
            {"escalated_at_ms", opt(a.escalated_at_ms)},
            {"resolved_at_ms", opt(a.resolved_at_ms)},
            {"resolved_by", opt(a.resolved_by_user_id)}};
  if (a.ack)
    j["ack"] = {{"by", a.ack->by_user_id}, {"at_ms", a.ack->at_ms}, {"action", to_string(a.ack->action)}, {"note", a.ack->note}};
  else
    j["ack"] = nullptr;
  return j;
}

std::string AlertBook::to_json() const {
  json arr = json::array();
  for (const auto& a : alerts_) arr.push_back(protocols::to_json(a));
  return json{{"v", 1}, {"alerts", std::move(arr)}, {"resolved_evidence", resolved_evidence_}}.dump();
}

core::Result<AlertBook> AlertBook::from_json(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("alerts")) return core::Error::invalid("alert book: not a JSON object with alerts");
  AlertBook b;
  try {
    for (const auto& x : j.at("alerts")) {
      Alert a;
      a.signal = x.at("signal").get<std::string>();
      a.tier = parse_tier(x.at("tier").get<std::string>()).value_or(Tier::warning);
      a.rule_id = x.at("rule").get<std::string>();
      a.protocol_id = x.at("protocol").get<std::string>();
      a.protocol_version = x.at("protocol_version").get<std::string>();
      auto st = parse_alert_status(x.at("status").get<std::string>());
      if (!st) return core::Error::invalid("alert book: unknown status");
      a.status = *st;
      a.opened_at_ms = x.at("opened_at_ms").get<std::int64_t>();
      a.updated_at_ms = x.at("updated_at_ms").get<std::int64_t>();
      a.critical_since_ms = x.at("critical_since_ms").get<std::int64_t>();
      a.count = x.at("count").get<int>();
      a.evidence_key = x.at("evidence_key").get<std::int64_t>();
      a.latest_json = x.at("latest").get<std::string>();
      a.cleared_since_ms = opt_from<std::int64_t>(x, "cleared_since_ms");
      a.snoozed_until_ms = opt_from<std::int64_t>(x, "snoozed_until_ms");
      a.escalated_at_ms = opt_from<std::int64_t>(x, "escalated_at_ms");
      a.resolved_at_ms = opt_from<std::int64_t>(x, "resolved_at_ms");
      a.resolved_by_user_id = opt_from<std::int64_t>(x, "resolved_by");
      if (!x.at("ack").is_null()) {
        const auto& k = x["ack"];
        auto act = parse_ack_action(k.at("action").get<std::string>());
        if (!act) return core::Error::invalid("alert book: unknown action");
        a.ack = Acknowledgement{k.at("by").get<std::int64_t>(), k.at("at_ms").get<std::int64_t>(), *act, k.at("note").get<std::string>()};
      }
      b.alerts_.push_back(std::move(a));
    }
    if (j.contains("resolved_evidence"))
      for (const auto& [k, v] : j["resolved_evidence"].items()) b.resolved_evidence_[k] = v.get<std::int64_t>();
  } catch (const json::exception& e) {
    return core::Error::invalid(std::string("alert book: ") + e.what());
  }
  return b;
}

std::vector<ActionRate> action_rates(const std::vector<Alert>& alerts) {
  std::vector<ActionRate> out;
  for (const auto& a : alerts) {
    auto it = std::find_if(out.begin(), out.end(), [&](const ActionRate& r) { return r.signal == a.signal; });
    if (it == out.end()) {
      out.push_back({a.signal});
      it = std::prev(out.end());
    }
    ++it->alerts;
    if (a.ack) {
      ++it->acknowledged;
      if (a.ack->action != AckAction::no_action) ++it->acted_on;
    }
  }
  return out;
}

}  // namespace careloop::protocols
