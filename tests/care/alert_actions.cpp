// care/src/alert_actions.cpp: acknowledge, snooze and resolve move the book,
// the row, the clinic's events and the audit log together.
#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace careloop;
using namespace careloop::care;
using namespace careloop::care::testing;

namespace {

core::Result<store::AlertRow> act(World& w, AlertAction a) {
  return store::wait_for<store::AlertRow>([&](auto done) { act_on_alert(*w.st, w.hub, a, done); });
}

}  // namespace

TEST_CASE("acknowledge then resolve: the row, the events and the audit log agree") {
  World w;
  const auto doctor = a_doctor(w);
  w.send_bp("a", 185, 122, 3);
  const auto id = w.alerts().at(0).id;
  int woken = 0;
  auto sub = w.hub->subscribe(w.place.clinic_id, [&] { ++woken; });

  AlertAction ack;
  ack.alert_id = id;
  ack.by_user_id = doctor;
  ack.ack = protocols::AckAction::called_patient;
  ack.note = "called, re-measured 150/95";
  ack.remote_addr = "10.0.0.7";
  const auto acked = must(act(w, ack));
  CHECK(acked.status == "acknowledged");
  CHECK(acked.action == "called_patient");
  CHECK(acked.acknowledged_by == doctor);
  CHECK(woken == 1);
  CHECK(w.alerts("open").empty());

  // A repeat after the acknowledgement counts on the same alert; it stays acknowledged.
  w.send_bp("b", 188, 121, 1);
  const auto after = must(w.st->alert(id));
  CHECK(after.count == 2);
  CHECK(after.status == "acknowledged");

  AlertAction res;
  res.kind = ActionKind::resolve;
  res.alert_id = id;
  res.by_user_id = doctor;
  res.note = "stable";
  CHECK(must(act(w, res)).status == "resolved");
  auto again = act(w, res);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == core::Errc::conflict);

  std::vector<std::string> kinds;
  for (const auto& e : w.st->clinic_events(w.place.clinic_id, 0, 20)) kinds.push_back(e.kind);
  CHECK(kinds == std::vector<std::string>{"alert.opened", "alert.acknowledged", "alert.updated", "alert.resolved"});
  const auto log = w.st->audit_log(w.patient, 10);
  REQUIRE(log.size() == 2);
  CHECK(log[1].action == "alert.acknowledge");
  CHECK(log[1].remote_addr == "10.0.0.7");
  CHECK(log[0].action == "alert.resolve");

  // Resolved on that evidence: a new critical reading opens a new alert.
  w.send_bp("c", 186, 120, 0);
  const auto open = w.alerts("open");
  REQUIRE(open.size() == 1);
  CHECK(open[0].id != id);
}

TEST_CASE("snooze needs an end in the future and an unknown alert is not found") {
  World w;
  const auto doctor = a_doctor(w);
  w.send_bp("a", 185, 122, 3);
  AlertAction s;
  s.kind = ActionKind::snooze;
  s.alert_id = w.alerts().at(0).id;
  s.by_user_id = doctor;
  s.snooze_until_ms = core::now_utc_ms() - 1000;
  auto past = act(w, s);
  REQUIRE_FALSE(past.ok());
  CHECK(past.error().code == core::Errc::invalid);
  s.snooze_until_ms = core::now_utc_ms() + 3'600'000;
  CHECK(must(act(w, s)).status == "snoozed");
  s.alert_id = 999999;
  auto unknown = act(w, s);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == core::Errc::not_found);
}
