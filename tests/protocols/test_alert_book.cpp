#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "careloop/protocols/alert_book.hpp"
#include "helpers.hpp"

using namespace careloop::protocols;
using namespace careloop::protocols::test;

namespace {

AlertSignal signal(std::string_view name, Tier tier, std::int64_t evidence, bool held = false) {
  AlertSignal s;
  s.signal = name;
  s.tier = tier;
  s.rule_id = tier == Tier::critical ? "critical_rule" : "warning_rule";
  s.protocol_id = "p";
  s.protocol_version = "1";
  s.evidence_key = evidence;
  s.held = held;
  return s;
}

std::vector<EventKind> kinds(const std::vector<AlertEvent>& ev) {
  std::vector<EventKind> k;
  for (const auto& e : ev) k.push_back(e.kind);
  return k;
}

const AlertSettings settings{};  // 2 h escalation, 72 h auto-resolve

}  // namespace

TEST_CASE("alert book: one alert per signal, repeats with new evidence count, re-evaluations do not") {
  AlertBook b;
  CHECK(kinds(b.update({signal("bp_high", Tier::warning, 3)}, Scope::full, 0, settings)) == std::vector{EventKind::opened});
  CHECK(b.update({signal("bp_high", Tier::warning, 3)}, Scope::full, 1000, settings).empty());
  CHECK(kinds(b.update({signal("bp_high", Tier::warning, 4)}, Scope::full, 2000, settings)) == std::vector{EventKind::updated});
  REQUIRE(b.alerts().size() == 1);
  CHECK(b.alerts()[0].count == 2);
  CHECK(b.alerts()[0].updated_at_ms == 2000);
}

TEST_CASE("alert book: a critical signal raises an open warning, escalation after 2 h unless acknowledged") {
  AlertBook b;
  (void)b.update({signal("bp_high", Tier::warning, 3)}, Scope::full, 0, settings);
  auto ev = b.update({signal("bp_high", Tier::critical, 4)}, Scope::critical_only, hour_ms, settings);
  CHECK(kinds(ev) == std::vector{EventKind::tier_raised, EventKind::updated});
  CHECK(b.tick(hour_ms + 2 * hour_ms - 1, settings).empty());
  CHECK(kinds(b.tick(3 * hour_ms, settings)) == std::vector{EventKind::escalated});
  CHECK(b.tick(10 * hour_ms, settings).empty());  // once

  AlertBook acked;
  (void)acked.update({signal("glucose_low", Tier::critical, 1)}, Scope::critical_only, 0, settings);
  REQUIRE(acked.acknowledge("glucose_low", 7, hour_ms, AckAction::called_patient, "advised to eat").ok());
  CHECK(acked.tick(5 * hour_ms, settings).empty());
  CHECK(acked.find("glucose_low")->status == AlertStatus::acknowledged);
  CHECK(acked.find("glucose_low")->ack->by_user_id == 7);
}

TEST_CASE("alert book: only a full evaluation finds a condition cleared, auto-resolve after the configured time") {
  AlertBook b;
  (void)b.update({signal("bp_low", Tier::warning, 1)}, Scope::full, 0, settings);
  (void)b.update({}, Scope::critical_only, hour_ms, settings);
  CHECK_FALSE(b.find("bp_low")->cleared_since_ms.has_value());
  (void)b.update({}, Scope::full, 2 * hour_ms, settings);
  CHECK(b.find("bp_low")->cleared_since_ms == 2 * hour_ms);
  CHECK(b.tick(2 * hour_ms + 72 * hour_ms - 1, settings).empty());
  // Firing again restarts the clearing clock.
  (void)b.update({signal("bp_low", Tier::warning, 1)}, Scope::full, 3 * hour_ms, settings);
  (void)b.update({}, Scope::full, 4 * hour_ms, settings);
  const auto ev = b.tick(4 * hour_ms + 72 * hour_ms, settings);
  REQUIRE(kinds(ev) == std::vector{EventKind::resolved_auto});
  CHECK(ev[0].alert.status == AlertStatus::resolved);
  CHECK_FALSE(ev[0].alert.resolved_by_user_id.has_value());
  CHECK(b.alerts().empty());
}

TEST_CASE("alert book: a held signal does not open, snooze ends, resolve by hand, errors for unknown signals") {
  AlertBook b;
  CHECK(kinds(b.update({signal("bp_high", Tier::warning, 5, true)}, Scope::full, 0, settings)) == std::vector{EventKind::held});
  CHECK(b.alerts().empty());
  (void)b.update({signal("bp_high", Tier::warning, 6)}, Scope::full, 10, settings);
  REQUIRE(b.snooze("bp_high", day_ms, 20).ok());
  CHECK(b.find("bp_high")->status == AlertStatus::snoozed);
  CHECK(kinds(b.tick(day_ms, settings)) == std::vector{EventKind::snooze_ended});
  CHECK(b.find("bp_high")->status == AlertStatus::open);
  CHECK_FALSE(b.snooze("bp_high", 5, 10).ok());
  auto r = b.resolve("bp_high", 3, 2 * day_ms);
  REQUIRE(r.ok());
  CHECK(r->alert.resolved_by_user_id == 3);
  CHECK(b.alerts().empty());
  CHECK(b.acknowledge("bp_high", 1, 0, AckAction::no_action, "").error().code == careloop::core::Errc::not_found);
}

TEST_CASE("alert book: JSON round trip and action rates") {
  AlertBook b;
  (void)b.update({signal("bp_high", Tier::critical, 1), signal("glucose_low", Tier::warning, 2)}, Scope::full, 0, settings);
  REQUIRE(b.acknowledge("bp_high", 9, 5, AckAction::advised_emergency_care, "told to go to A&E").ok());
  REQUIRE(b.snooze("glucose_low", day_ms, 6).ok());
  const auto text = b.to_json();
  auto back = AlertBook::from_json(text);
  REQUIRE(back.ok());
  CHECK(back->to_json() == text);
  CHECK_FALSE(AlertBook::from_json("[]").ok());

  std::vector<Alert> history = b.alerts();
  Alert quiet;
  quiet.signal = "bp_high";
  quiet.ack = Acknowledgement{1, 1, AckAction::no_action, ""};
  history.push_back(quiet);
  const auto rates = action_rates(history);
  auto bp = std::find_if(rates.begin(), rates.end(), [](const ActionRate& r) { return r.signal == "bp_high"; });
  REQUIRE(bp != rates.end());
  CHECK(bp->alerts == 2);
  CHECK(bp->acknowledged == 2);
  CHECK(bp->acted_on == 1);
  CHECK(bp->rate() == 0.5);
}
