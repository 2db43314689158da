// The audit log (table audit_log, append-only): entries written in a job of
// their own or beside the change they record, and read back newest first.
#include "sqlite_store.hpp"

namespace careloop::store::detail {
namespace {

AuditEntry audit_from(const Statement& s) {
  AuditEntry e;
  e.at_ms = s.int64(0);
  e.actor_user_id = s.int64(1);
  e.action = s.text(2);
  e.patient_id = s.opt_int64(3);
  e.clinic_id = s.opt_int64(4);
  e.detail = s.text(5);
  e.remote_addr = s.text(6);
  return e;
}
constexpr std::string_view audit_columns =
    "SELECT at_ms, actor_user_id, action, patient_id, clinic_id, detail, remote_addr FROM audit_log ";

}  // namespace

void insert_audit(Connection& db, const AuditEntry& e) {
  if (e.action.empty()) throw StoreError(core::Errc::invalid, "an audit entry needs an action");
  db.prepare(
        "INSERT INTO audit_log (at_ms, actor_user_id, action, patient_id, clinic_id, detail, remote_addr) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind_all(e.at_ms ? e.at_ms : core::now_utc_ms(), e.actor_user_id, e.action, e.patient_id, e.clinic_id, e.detail,
                e.remote_addr)
      .run();
}

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
