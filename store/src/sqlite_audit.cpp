// The audit log (table audit_log, append-only): entries written in a job of
// their own or beside the change they record, and read back newest first.
// The row mapper and insert_audit are sqlite_privacy's, with the access log.
#include "sqlite_store.hpp"

namespace careloop::store::detail {

void SqliteWriteTxn::append_audit(const AuditEntry& e) { insert_audit(db_, e); }

void SqliteBackend::append_audit(AuditEntry e, Completion<core::Unit> done) {
  write<core::Unit>(
      [e = std::move(e)](Connection& db) -> Result<core::Unit> {
        if (e.action.empty()) return Error::invalid("an audit entry needs an action", {{"/action", "required"}});
        insert_audit(db, e);
        return core::Unit{};
      },
      std::move(done));
}

std::vector<AuditEntry> SqliteBackend::audit_log(std::optional<std::int64_t> patient_id, int limit) {
  return read([&](Connection& db) {
    std::vector<AuditEntry> out;
    if (limit <= 0) return out;
    Statement s = db.prepare(std::string(audit_columns) + (patient_id ? "WHERE patient_id = ?2 " : "") +
                             "ORDER BY id DESC LIMIT ?1");
    s.bind(1, limit);
    if (patient_id) s.bind(2, *patient_id);
    while (s.step()) out.push_back(audit_from(s));
    return out;
  });
}

}  // namespace careloop::store::detail
