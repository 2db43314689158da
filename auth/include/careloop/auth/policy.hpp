#pragma once
// The one policy function that decides every access (DESIGN §4, Security).
// Handlers describe what they are about to do (a Permission) and to what (a
// Resource); `decide` answers. It is pure, so it is tested as a matrix of
// permission × role × owner.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "careloop/core/domain.hpp"

namespace careloop::auth {

enum class Permission {
  own_record_read,    // a patient reads its own profile, readings, plan, risk, sync feed
  own_record_write,   // a patient writes its own readings, changes its password
  patient_read,       // staff read one patient's record (audited)
  patient_write,      // staff write into one patient's record: readings, plan decisions (audited)
  patient_register,   // staff register a patient in a clinic
  clinic_read,        // a clinic's alerts, patient list, live events
  clinic_manage,      // a clinic's settings: protocols, webhook
  reports_read,       // aggregate indicators of a region or clinic
  models_read,        // model cards
  administer,         // users, regions, clinics
};

std::string_view to_string(Permission p) noexcept;

// What an action touches. Unset fields are not part of the question.
struct Resource {
  std::optional<std::int64_t> patient_id;
  std::optional<std::int64_t> clinic_id;      // the patient's clinic, or the clinic itself
  // For reports: the region asked about and its ancestors, nearest first
  // (a clinic's report carries its region's path).
  std::vector<std::int64_t> region_path;
};

enum class Decision { allow, deny_unauthenticated, deny };

// `who` is nullopt for an anonymous caller.
Decision decide(const std::optional<core::User>& who, Permission p, const Resource& r) noexcept;

}  // namespace careloop::auth
