#include "careloop/auth/policy.hpp"

#include <algorithm>

namespace careloop::auth {
namespace {

bool same(const std::optional<std::int64_t>& a, const std::optional<std::int64_t>& b) {
  return a && b && *a == *b;
}

bool covers_region(const core::User& u, const Resource& r) {
  return u.region_id && std::find(r.region_path.begin(), r.region_path.end(), *u.region_id) != r.region_path.end();
}

}  // namespace

std::string_view to_string(Permission p) noexcept {
  switch (p) {
    case Permission::own_record_read: return "own_record_read";
    case Permission::own_record_write: return "own_record_write";
    case Permission::patient_read: return "patient_read";
    case Permission::patient_write: return "patient_write";
    case Permission::patient_register: return "patient_register";
    case Permission::clinic_read: return "clinic_read";
    case Permission::clinic_manage: return "clinic_manage";
    case Permission::reports_read: return "reports_read";
    case Permission::models_read: return "models_read";
    case Permission::administer: return "administer";
  }
  return "?";
}

Decision decide(const std::optional<core::User>& who, Permission p, const Resource& r) noexcept {
  if (!who || !who->active) return Decision::deny_unauthenticated;
  const core::User& u = *who;
  using core::Role;
  bool ok = false;
  switch (p) {
    case Permission::own_record_read:
    case Permission::own_record_write:
      // Only a patient has an own record; it must be the one asked about.
      ok = u.role == Role::patient && u.patient_id && (!r.patient_id || *r.patient_id == *u.patient_id);
      break;
    case Permission::patient_read:
    case Permission::patient_write:
      // A doctor sees the patients of its own clinic. Authorities see aggregates only, never a record.
      ok = (u.role == Role::doctor && same(u.clinic_id, r.clinic_id)) || u.role == Role::admin;
      break;
    case Permission::patient_register:
    case Permission::clinic_read:
    case Permission::clinic_manage:
      ok = (u.role == Role::doctor && same(u.clinic_id, r.clinic_id)) || u.role == Role::admin;
      break;
    case Permission::reports_read:
      ok = u.role == Role::admin || (u.role == Role::authority && covers_region(u, r)) ||
           (u.role == Role::doctor && same(u.clinic_id, r.clinic_id));
      break;
    case Permission::models_read:
      ok = u.role != Role::patient;
      break;
    case Permission::administer:
      ok = u.role == Role::admin;
      break;
  }
  return ok ? Decision::allow : Decision::deny;
}

}  // namespace careloop::auth
