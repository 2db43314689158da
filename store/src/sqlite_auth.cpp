// Credentials, sessions and activation codes (tables credentials, sessions,
// activation_codes, and users.active): passwords set and changed, codes
// issued and redeemed, sessions created, touched, read and revoked.
#include "sqlite_store.hpp"

namespace careloop::store::detail {

void SqliteBackend::set_password(std::int64_t user_id, std::string password_hash, Completion<core::Unit> done) {
  write<core::Unit>(
      [user_id, hash = std::move(password_hash)](Connection& db) -> Result<core::Unit> {
        if (hash.empty()) return Error::invalid("empty password hash");
        if (!exists(db, "SELECT 1 FROM users WHERE id = ?", user_id))
          return Error::not_found("user " + std::to_string(user_id) + " not found");
        db.prepare(
              "INSERT INTO credentials (user_id, password_hash, updated_at_ms) VALUES (?, ?, ?) "
              "ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, "
              "updated_at_ms = excluded.updated_at_ms")
            .bind_all(user_id, hash, core::now_utc_ms())
            .run();
        return core::Unit{};
      },
      std::move(done));
}

void SqliteBackend::create_activation_code(std::string code_sha256, ActivationCode code, Completion<core::Unit> done) {
  write<core::Unit>(
      [hash = std::move(code_sha256), code](Connection& db) -> Result<core::Unit> {
        if (hash.empty()) return Error::invalid("empty activation code hash");
        std::int64_t clinic_id = 0;
        {
          Statement s = db.prepare("SELECT clinic_id, anonymised_at_ms FROM patients WHERE id = ?");
          s.bind(1, code.patient_id);
          if (!s.step()) return Error::not_found("patient " + std::to_string(code.patient_id) + " not found");
          Row r(s);
          clinic_id = r.int64();
          if (r.opt_int64()) return anonymised_error(code.patient_id);
        }
        if (!exists(db, "SELECT 1 FROM users WHERE id = ?", code.created_by))
          return Error::not_found("user " + std::to_string(code.created_by) + " not found");
        // One live code per patient: a reissued code voids the earlier ones.
        db.prepare("DELETE FROM activation_codes WHERE patient_id = ? AND used_at_ms IS NULL")
            .bind_all(code.patient_id)
            .run();
        Statement s = db.prepare(
            "INSERT INTO activation_codes (code_sha256, patient_id, clinic_id, created_by, created_at_ms, "
            "expires_at_ms) VALUES (?, ?, ?, ?, ?, ?)");
        s.bind_blob(1, hash)
            .bind(2, code.patient_id)
            .bind(3, clinic_id)
            .bind(4, code.created_by)
            .bind(5, core::now_utc_ms())
            .bind(6, code.expires_at_ms);
        s.run();
        return core::Unit{};
      },
      std::move(done));
}

void SqliteBackend::activate(Activation a, Completion<core::User> done) {
  write<core::User>(
      [a = std::move(a)](Connection& db) -> Result<core::User> {
        const std::int64_t now = core::now_utc_ms();
        std::int64_t patient_id = 0;
        {
          Statement s = db.prepare(
              "SELECT patient_id FROM activation_codes WHERE code_sha256 = ? AND used_at_ms IS NULL "
              "AND expires_at_ms > ?");
          s.bind_blob(1, a.code_sha256).bind(2, now);
          if (!s.step())
            return Error::invalid("the activation code is unknown, expired or already used",
                                  {{"/code", "unknown, expired or already used; ask the clinic for a new code"}});
          patient_id = Row(s).int64();
        }
        if (a.username.empty()) return Error::invalid("a username is required", {{"/username", "required"}});
        std::optional<std::int64_t> existing;
        {
          Statement s = db.prepare("SELECT id FROM users WHERE patient_id = ? ORDER BY id LIMIT 1");
          s.bind(1, patient_id);
          if (s.step()) existing = Row(s).int64();
        }
        {
          Statement s = db.prepare("SELECT id FROM users WHERE username = ?");
          s.bind(1, a.username);
          if (s.step() && (!existing || Row(s).int64() != *existing))
            return Error::conflict("the username '" + a.username + "' is taken", {{"/username", "taken; choose another"}});
        }
        std::int64_t user_id = 0;
        if (existing) {
          user_id = *existing;
          db.prepare("UPDATE users SET username = ?, active = 1 WHERE id = ?").bind_all(a.username, user_id).run();
          db.prepare("UPDATE sessions SET revoked_at_ms = ? WHERE user_id = ? AND revoked_at_ms IS NULL")
              .bind_all(now, user_id)
              .run();
        } else {
          std::string name = a.display_name;
          if (name.empty()) {
            Statement s = db.prepare("SELECT name FROM patients WHERE id = ?");
            s.bind(1, patient_id);
            if (s.step()) name = Row(s).text();
          }
          db.prepare(
                "INSERT INTO users (username, role, display_name, patient_id, active, created_at_ms) "
                "VALUES (?, 'patient', ?, ?, 1, ?)")
              .bind_all(a.username, name, patient_id, now)
              .run();
          user_id = db.last_insert_rowid();
        }
        db.prepare(
              "INSERT INTO credentials (user_id, password_hash, updated_at_ms) VALUES (?, ?, ?) "
              "ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, "
              "updated_at_ms = excluded.updated_at_ms")
            .bind_all(user_id, a.password_hash, now)
            .run();
        {
          Statement s = db.prepare("UPDATE activation_codes SET used_at_ms = ?, used_by = ? WHERE code_sha256 = ?");
          s.bind(1, now).bind(2, user_id).bind_blob(3, a.code_sha256);
          s.run();
        }
        if (a.consent) {
          auto c = *a.consent;
          c.patient_id = patient_id;
          c.user_id = user_id;
          if (c.at_ms == 0) c.at_ms = now;
          if (auto stored = detail::insert_consent(db, c); !stored) return stored.error();
        }
        Statement s = db.prepare(std::string(user_columns) + "WHERE id = ?");
        s.bind(1, user_id);
        if (!s.step()) return Error::internal("the activated user vanished");
        return user_from(s);
      },
      std::move(done));
}

void SqliteBackend::change_password(std::int64_t user_id, std::string password_hash, std::string keep_session_sha256,
                                    Completion<core::Unit> done) {
  write<core::Unit>(
      [user_id, hash = std::move(password_hash), keep = std::move(keep_session_sha256)](Connection& db)
          -> Result<core::Unit> {
        if (hash.empty()) return Error::invalid("empty password hash");
        if (!exists(db, "SELECT 1 FROM users WHERE id = ?", user_id))
          return Error::not_found("user " + std::to_string(user_id) + " not found");
        const std::int64_t now = core::now_utc_ms();
        db.prepare(
              "INSERT INTO credentials (user_id, password_hash, updated_at_ms) VALUES (?, ?, ?) "
              "ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, "
              "updated_at_ms = excluded.updated_at_ms")
            .bind_all(user_id, hash, now)
            .run();
        // Whoever else held a session (a lost phone) is logged out.
        Statement s = db.prepare(
            "UPDATE sessions SET revoked_at_ms = ? WHERE user_id = ? AND revoked_at_ms IS NULL AND token_sha256 <> ?");
        s.bind(1, now).bind(2, user_id).bind_blob(3, keep);
        s.run();
        return core::Unit{};
      },
      std::move(done));
}

void SqliteBackend::set_user_active(std::int64_t user_id, bool active, AuditEntry audit, Completion<core::User> done) {
  write<core::User>(
      [user_id, active, audit = std::move(audit)](Connection& db) -> Result<core::User> {
        db.prepare("UPDATE users SET active = ? WHERE id = ?").bind_all(active, user_id).run();
        if (db.changes() == 0) return Error::not_found("user " + std::to_string(user_id) + " not found");
        // A deactivated account is signed out everywhere at once.
        if (!active)
          db.prepare("UPDATE sessions SET revoked_at_ms = ? WHERE user_id = ? AND revoked_at_ms IS NULL")
              .bind_all(core::now_utc_ms(), user_id)
              .run();
        insert_audit(db, audit);
        Statement s = db.prepare(std::string(user_columns) + "WHERE id = ?");
        s.bind(1, user_id);
        s.step();
        return user_from(s);
      },
      std::move(done));
}

void SqliteBackend::revoke_user_sessions(std::int64_t user_id, AuditEntry audit, Completion<std::int64_t> done) {
  write<std::int64_t>(
      [user_id, audit = std::move(audit)](Connection& db) -> Result<std::int64_t> {
        if (!exists(db, "SELECT 1 FROM users WHERE id = ?", user_id))
          return Error::not_found("user " + std::to_string(user_id) + " not found");
        db.prepare("UPDATE sessions SET revoked_at_ms = ? WHERE user_id = ? AND revoked_at_ms IS NULL")
            .bind_all(core::now_utc_ms(), user_id)
            .run();
        const auto revoked = static_cast<std::int64_t>(db.changes());
        insert_audit(db, audit);
        return revoked;
      },
      std::move(done));
}

void SqliteBackend::touch_session(std::string token_sha256, std::int64_t now_ms, Completion<core::Unit> done) {
  write<core::Unit>(
      [token = std::move(token_sha256), now_ms](Connection& db) -> Result<core::Unit> {
        Statement s = db.prepare("UPDATE sessions SET last_seen_ms = max(last_seen_ms, ?) WHERE token_sha256 = ?");
        s.bind(1, now_ms).bind_blob(2, token);
        s.run();
        return core::Unit{};
      },
      std::move(done));
}

void SqliteBackend::create_session(std::string token_sha256, Session session, Completion<core::Unit> done) {
  write<core::Unit>(
      [token = std::move(token_sha256), session](Connection& db) -> Result<core::Unit> {
        if (token.empty()) return Error::invalid("empty token hash");
        if (!exists(db, "SELECT 1 FROM users WHERE id = ?", session.user_id))
          return Error::not_found("user " + std::to_string(session.user_id) + " not found");
        Statement s = db.prepare(
            "INSERT INTO sessions (token_sha256, user_id, created_at_ms, expires_at_ms, last_seen_ms) "
            "VALUES (?1, ?2, ?3, ?4, ?3)");
        s.bind_blob(1, token).bind(2, session.user_id).bind(3, core::now_utc_ms()).bind(4, session.expires_at_ms);
        s.run();
        return core::Unit{};
      },
      std::move(done));
}

void SqliteBackend::revoke_session(std::string token_sha256, Completion<core::Unit> done) {
  write<core::Unit>(
      [token = std::move(token_sha256)](Connection& db) -> Result<core::Unit> {
        {
          Statement s =
              db.prepare("UPDATE sessions SET revoked_at_ms = ? WHERE token_sha256 = ? AND revoked_at_ms IS NULL");
          s.bind(1, core::now_utc_ms()).bind_blob(2, token);
          s.run();
        }
        if (db.changes() > 0) return core::Unit{};
        // Revoking twice is not an error; revoking what never existed is.
        Statement s = db.prepare("SELECT 1 FROM sessions WHERE token_sha256 = ?");
        s.bind_blob(1, token);
        if (!s.step()) return Error::not_found("no such session");
        return core::Unit{};
      },
      std::move(done));
}

Result<std::string> SqliteBackend::password_hash(std::int64_t user_id) {
  return read_result<std::string>([&](Connection& db) -> Result<std::string> {
    Statement s = db.prepare("SELECT password_hash FROM credentials WHERE user_id = ?");
    s.bind(1, user_id);
    if (!s.step()) return Error::not_found("user " + std::to_string(user_id) + " has no password");
    return Row(s).text();
  });
}

Result<Session> SqliteBackend::session(const std::string& token_sha256) {
  return read_result<Session>([&](Connection& db) -> Result<Session> {
    // A deactivated user's sessions end with the account.
    Statement s = db.prepare(
        "SELECT s.user_id, s.expires_at_ms, s.last_seen_ms FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.token_sha256 = ? AND s.revoked_at_ms IS NULL AND s.expires_at_ms > ? AND u.active = 1");
    s.bind_blob(1, token_sha256).bind(2, core::now_utc_ms());
    if (!s.step()) return Error::not_found("no such session, or it has expired or been revoked");
    Row r(s);
    return Session{r.int64(), r.int64(), r.int64()};
  });
}

}  // namespace careloop::store::detail
