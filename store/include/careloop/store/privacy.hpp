#pragma once
// Privacy (PIPL): a patient's consent decisions, the patient's own log of who
// opened the record, and anonymising a record when its processing must stop.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "careloop/store/audit.hpp"
#include "careloop/store/common.hpp"

namespace careloop::store {

// A patient's decision on a consent (PIPL Art. 29: separate consent for
// sensitive personal information such as health data). Kept for ever, newest
// decision wins; the wording a version stands for is mobile-api's (consent/).
struct ConsentRecord {
  std::int64_t id = 0;            // filled by the store
  std::int64_t patient_id = 0;
  std::int64_t user_id = 0;       // the account that decided (filled by activate)
  std::string purpose;            // "health-data"
  std::string version;            // of the wording shown
  std::string text_sha256;        // hex SHA-256 of the wording shown
  std::string decision;           // "granted" or "withdrawn"
  std::int64_t at_ms = 0;         // 0: now
  std::string remote_addr;
};

// One entry of the log a patient reads of who opened the record: the audit
// entry with its actor as the patient may see them (no username).
struct AccessLogEntry {
  std::int64_t id = 0;             // the audit entry's (paging: before_id)
  AuditEntry entry;
  std::string actor_role;          // empty: the actor's account is unknown
  std::string actor_display_name;
  std::optional<std::string> actor_clinic;  // the actor's clinic's name
};

// What anonymising a record removed (Store::anonymise_patient).
struct AnonymisationCounts {
  std::int64_t accounts_closed = 0;       // user accounts renamed, deactivated, credentials dropped
  std::int64_t sessions_revoked = 0;
  std::int64_t activation_codes_deleted = 0;
  std::int64_t messages_deleted = 0;      // free text between clinic and patient
  std::int64_t notes_cleared = 0;         // free-text notes and sources on readings, visits, alerts, plans
  std::int64_t alerts_resolved = 0;       // open alerts closed: nobody is to call an anonymised patient
  std::int64_t anonymised_at_ms = 0;
};

class Privacy {
 public:
  virtual ~Privacy() = default;

  // Appends a consent decision of a patient, with an audit entry
  // ("consent.granted" / "consent.withdrawn") in the same job. Errors:
  // not_found (patient), invalid (decision, purpose or version empty).
  virtual void record_consent(ConsentRecord c, Completion<ConsentRecord> done) = 0;
  // A patient's consent decisions for `purpose`, newest first.
  virtual std::vector<ConsentRecord> consents(std::int64_t patient_id, const std::string& purpose) = 0;
  // The audit entries about one patient with id < before_id (all: nullopt),
  // newest first, at most `limit`, each with its actor's role, display name
  // and clinic (the patient's own access log).
  virtual std::vector<AccessLogEntry> access_log(std::int64_t patient_id, std::optional<std::int64_t> before_id,
                                                 int limit) = 0;
  // Anonymises a patient's record and stops its processing (PIPL Art. 47: the
  // law's retention keeps the clinical record, so identity is removed instead
  // of rows): name, phone and record number cleared, the birth date kept to
  // its month (the day too for 29 February, so ages on any month's last day
  // are unchanged), free text deleted (messages) or cleared (notes, sources,
  // device names), the account renamed, deactivated, its credentials and
  // activation codes dropped and sessions revoked, unresolved alerts
  // resolved; readings' values, diagnoses, month rows and risk scores stay,
  // so every report of a month up to this one counts the same. With the audit
  // entry in the same job. Errors: not_found, conflict (already anonymised).
  virtual void anonymise_patient(std::int64_t patient_id, AuditEntry audit, Completion<AnonymisationCounts> done) = 0;
};

}  // namespace careloop::store
