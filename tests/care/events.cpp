// care/src/events.cpp: the hub wakes the subscribers of one clinic only,
// and a dropped handle unsubscribes.
#include <catch2/catch.hpp>

#include "careloop/care/care.hpp"

using namespace careloop::care;

TEST_CASE("the event hub wakes the clinic's subscribers only") {
  ClinicEventHub hub;
  int a = 0, b = 0;
  auto sub_a = hub.subscribe(1, [&] { ++a; });
  auto sub_b = hub.subscribe(2, [&] { ++b; });
  hub.publish(1);
  CHECK(a == 1);
  CHECK(b == 0);
  sub_a.reset();
  hub.publish(1);
  CHECK(a == 1);
  CHECK(hub.subscribers() == 1);
}

TEST_CASE("an event's body is its stored JSON, unchanged (the SSE data and the webhook body)") {
  careloop::store::ClinicEvent e;
  e.kind = "alert.opened";
  e.payload_json = R"({"event":"alert.opened","alert":{"id":7,"reason":"血压很高"}})";
  CHECK(event_body(e) == e.payload_json);
  CHECK(&event_body(e) == &e.payload_json);
}
