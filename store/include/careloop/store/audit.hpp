#pragma once
// The audit log: who read or changed what, appended and never changed.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "careloop/store/common.hpp"

namespace careloop::store {

struct AuditEntry {
  std::int64_t at_ms = 0;
  std::int64_t actor_user_id = 0;
  std::string action;      // "patient.read", "reading.create", ...
  std::optional<std::int64_t> patient_id;
  std::optional<std::int64_t> clinic_id;
  std::string detail;      // short JSON or text
  std::string remote_addr;
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;

  virtual void append_audit(AuditEntry e, Completion<core::Unit> done) = 0;
  // Newest first.
  virtual std::vector<AuditEntry> audit_log(std::optional<std::int64_t> patient_id, int limit) = 0;
};

}  // namespace careloop::store
