#pragma once
// Shared by the care tests: a store in a temporary directory with the
// critical alert hook installed over the real protocol library.
#include "careloop/care/care.hpp"
#include "careloop/core/time.hpp"
#include "fixture.hpp"

namespace careloop::care::testing {

using namespace careloop::store::testing;

struct World {
  TempDir dir;
  std::shared_ptr<const ProtocolLibrary> library = must(ProtocolLibrary::load(CARELOOP_PROTOCOL_DIR));
  std::shared_ptr<ClinicEventHub> hub = std::make_shared<ClinicEventHub>();
  std::unique_ptr<store::SqliteStore> st = open_store(dir.file("care.db"));
  Place place = add_place(*st);
  std::int64_t patient = add_patient(*st, place.clinic_id);  // hypertension and diabetes

  World() { st->set_readings_hook(make_critical_alert_hook(library, hub)); }

  std::vector<store::AlertRow> alerts(std::optional<std::string> status = std::nullopt) {
    store::AlertQuery q;
    q.clinic_id = place.clinic_id;
    q.status = std::move(status);
    return st->alerts(q);
  }
  // A blood pressure taken `minutes_ago` before now.
  std::vector<store::InsertOutcome> send_bp(const std::string& id, double sys, double dia, int minutes_ago) {
    return insert(*st, patient, {bp(id, core::now_utc_ms() - minutes_ago * 60'000LL, sys, dia)});
  }
};

// A doctor of the world's clinic (the actor of acknowledgements, decisions, visits).
inline std::int64_t a_doctor(World& w, const std::string& username = "dr.li", const std::string& display_name = "") {
  core::User u;
  u.username = username;
  u.display_name = display_name;
  u.role = core::Role::doctor;
  u.clinic_id = w.place.clinic_id;
  return must(store::wait_for<std::int64_t>([&](auto done) { w.st->add_user({u, "x"}, done); }));
}

}  // namespace careloop::care::testing
