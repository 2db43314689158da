#include <catch2/catch.hpp>

#include "careloop/auth/login_throttle.hpp"
#include "careloop/auth/policy.hpp"

using namespace careloop;
using auth::Decision;
using auth::Permission;

namespace {
core::User user(core::Role role, std::optional<std::int64_t> clinic = {}, std::optional<std::int64_t> region = {},
                std::optional<std::int64_t> patient = {}) {
  core::User u;
  u.id = 1;
  u.role = role;
  u.clinic_id = clinic;
  u.region_id = region;
  u.patient_id = patient;
  return u;
}
}  // namespace

TEST_CASE("policy: patients, doctors, authorities and admins") {
  const auth::Resource patient_a{100, 10, {}};
  const auto pa = user(core::Role::patient, 10, {}, 100);
  const auto pb = user(core::Role::patient, 10, {}, 101);
  const auto doctor = user(core::Role::doctor, 10);
  const auto other_doctor = user(core::Role::doctor, 11);
  const auto authority = user(core::Role::authority, {}, 3);
  const auto admin = user(core::Role::admin);

  CHECK(auth::decide(std::nullopt, Permission::own_record_read, patient_a) == Decision::deny_unauthenticated);
  CHECK(auth::decide(pa, Permission::own_record_read, patient_a) == Decision::allow);
  CHECK(auth::decide(pb, Permission::own_record_read, patient_a) == Decision::deny);
  CHECK(auth::decide(doctor, Permission::own_record_read, patient_a) == Decision::deny);
  CHECK(auth::decide(doctor, Permission::patient_read, patient_a) == Decision::allow);
  CHECK(auth::decide(other_doctor, Permission::patient_read, patient_a) == Decision::deny);
  CHECK(auth::decide(authority, Permission::patient_read, patient_a) == Decision::deny);
  CHECK(auth::decide(admin, Permission::patient_read, patient_a) == Decision::allow);
  CHECK(auth::decide(pa, Permission::patient_read, patient_a) == Decision::deny);

  const auth::Resource county_report{{}, {}, {7, 3, 2, 1}};  // community 7 in district 3 in city 2 in province 1
  CHECK(auth::decide(authority, Permission::reports_read, county_report) == Decision::allow);
  CHECK(auth::decide(user(core::Role::authority, {}, 4), Permission::reports_read, county_report) == Decision::deny);
  CHECK(auth::decide(user(core::Role::authority, {}, 7), Permission::reports_read, {{}, {}, {3, 2, 1}}) == Decision::deny);
  CHECK(auth::decide(doctor, Permission::reports_read, {{}, 10, {7, 3}}) == Decision::allow);
  CHECK(auth::decide(doctor, Permission::reports_read, county_report) == Decision::deny);
  CHECK(auth::decide(pa, Permission::reports_read, county_report) == Decision::deny);
  CHECK(auth::decide(admin, Permission::administer, {}) == Decision::allow);
  CHECK(auth::decide(doctor, Permission::administer, {}) == Decision::deny);
  auto inactive = doctor;
  inactive.active = false;
  CHECK(auth::decide(inactive, Permission::patient_read, patient_a) == Decision::deny_unauthenticated);
}

TEST_CASE("login throttle slows, then refuses, per account and per address") {
  auth::LoginThrottle t;
  const std::int64_t t0 = 1'000'000;
  CHECK(t.check("li", "10.0.0.1", t0).delay_ms == 0);
  for (int i = 0; i < 3; ++i) t.record_failure("li", "10.0.0.1", t0 + i);
  CHECK(t.check("li", "10.0.0.1", t0 + 10).delay_ms == 1000);
  CHECK(t.check("wang", "10.0.0.2", t0 + 10).delay_ms == 0);  // other account, other address
  for (int i = 3; i < 10; ++i) t.record_failure("li", "10.0.0.1", t0 + i);
  auto v = t.check("li", "10.0.0.9", t0 + 20);
  CHECK(v.retry_after_ms > 14 * 60 * 1000);
  CHECK(t.check("li", "10.0.0.9", t0 + 16 * 60 * 1000).retry_after_ms == 0);

  // Many accounts from one address: the address is slowed, then refused.
  auth::LoginThrottle a;
  for (int i = 0; i < 50; ++i) a.record_failure("user" + std::to_string(i), "10.9.9.9", t0 + i);
  CHECK(a.check("someone", "10.9.9.9", t0 + 100).retry_after_ms > 0);
  CHECK(a.check("someone", "10.9.9.8", t0 + 100).retry_after_ms == 0);
  // Success clears the account.
  auth::LoginThrottle s;
  for (int i = 0; i < 4; ++i) s.record_failure("li", "1.1.1.1", t0);
  s.record_success("li");
  CHECK(s.check("li", "2.2.2.2", t0).delay_ms == 0);
}
