// Clinic messages to a patient (table messages), each with its entry in the
// sync feed.
#include "sqlite_store.hpp"

namespace careloop::store::detail {

void SqliteBackend::add_message(Message m, Completion<Message> done) {
  write<Message>(
      [m = std::move(m)](Connection& db) mutable -> Result<Message> {
        if (m.text.empty() || m.text.size() > 8000)
          return Error::invalid("a message needs a text", {{"/text", "required, at most 2000 characters"}});
        {
          Statement s = db.prepare("SELECT clinic_id, anonymised_at_ms FROM patients WHERE id = ?");
          s.bind(1, m.patient_id);
          if (!s.step()) return Error::not_found("patient " + std::to_string(m.patient_id) + " not found");
          Row r(s);
          m.clinic_id = r.int64();
          if (r.opt_int64()) return anonymised_error(m.patient_id);
        }
        {
          Statement s = db.prepare("SELECT display_name FROM users WHERE id = ?");
          s.bind(1, m.from_user_id);
          if (!s.step()) return Error::not_found("user " + std::to_string(m.from_user_id) + " not found");
          m.from_display_name = Row(s).text();
        }
        m.created_at_ms = core::now_utc_ms();
        db.prepare(
              "INSERT INTO messages (patient_id, clinic_id, from_user_id, text, created_at_ms) VALUES (?, ?, ?, ?, ?)")
            .bind_all(m.patient_id, m.clinic_id, m.from_user_id, m.text, m.created_at_ms)
            .run();
        m.id = db.last_insert_rowid();
        m.change_seq = record_change(db, m.patient_id, m.clinic_id, "message", m.id, m.created_at_ms);
        db.prepare("UPDATE messages SET change_seq = ? WHERE id = ?").bind_all(m.change_seq, m.id).run();
        return m;
      },
      std::move(done));
}

}  // namespace careloop::store::detail
