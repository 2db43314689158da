#pragma once
// The SQLite side of the audit trail, consents, the patient's access log and
// anonymisation (tables audit_log and consents; store.hpp documents each
// operation). Functions of a connection, run by SqliteStore's writer or read
// pool.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/store/store.hpp"
#include "sqlite_handle.hpp"

namespace careloop::store::detail {

inline constexpr std::string_view audit_columns =
    "SELECT at_ms, actor_user_id, action, patient_id, clinic_id, detail, remote_addr FROM audit_log ";
// From seven columns starting at `col` (or the next seven of `row`), in audit_columns' order.
AuditEntry audit_from(const Statement& s, int col = 0);
AuditEntry audit_from(Row& row);
// Throws StoreError (invalid) for an entry without an action.
void insert_audit(Connection& db, const AuditEntry& e);

// The answer to a write about a record that was anonymised.
core::Error anonymised_error(std::int64_t patient_id);

core::Result<ConsentRecord> insert_consent(Connection& db, const ConsentRecord& c);
core::Result<ConsentRecord> record_consent(Connection& db, const ConsentRecord& c);
std::vector<ConsentRecord> consents_of(Connection& db, std::int64_t patient_id, std::string_view purpose);

std::vector<AccessLogEntry> access_log_of(Connection& db, std::int64_t patient_id, std::optional<std::int64_t> before_id,
                                          int limit);

core::Result<AnonymisationCounts> anonymise_patient(Connection& db, std::int64_t patient_id, const AuditEntry& audit);

}  // namespace careloop::store::detail
