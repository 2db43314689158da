#pragma once
// Credentials and sessions: passwords, bearer-token sessions (stored as
// hashes), activation codes, and turning accounts on and off.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "careloop/core/domain.hpp"
#include "careloop/store/audit.hpp"
#include "careloop/store/common.hpp"
#include "careloop/store/privacy.hpp"

namespace careloop::store {

struct Session {
  std::int64_t user_id = 0;
  std::int64_t expires_at_ms = 0;
  std::int64_t last_seen_ms = 0;  // when it was last used (touch_session); creation at first
};

// A one-time code a clinic hands a patient to create (or take over) the
// patient's account. Stored only as its SHA-256.
struct ActivationCode {
  std::int64_t patient_id = 0;
  std::int64_t created_by = 0;      // the staff user who issued it
  std::int64_t expires_at_ms = 0;
};

// Redeeming an activation code: the account to create, or to give new
// credentials when the patient already has one (a lost phone or password).
struct Activation {
  std::string code_sha256;
  std::string username;
  std::string password_hash;
  std::string display_name;
  // Stored with the account in the same job (patient and user filled in),
  // so no account exists without the consent it was opened under.
  std::optional<ConsentRecord> consent;
};

class Accounts {
 public:
  virtual ~Accounts() = default;

  virtual void set_password(std::int64_t user_id, std::string password_hash, Completion<core::Unit> done) = 0;
  // Stores a new activation code for a patient; the patient's earlier unused
  // codes stop working.
  virtual void create_activation_code(std::string code_sha256, ActivationCode code, Completion<core::Unit> done) = 0;
  // Redeems an unused, unexpired code: creates the patient's account, or
  // gives the existing one the new username and password and revokes its
  // sessions. Errors: invalid naming /code (unknown, expired or used),
  // conflict naming /username (taken by someone else).
  virtual void activate(Activation a, Completion<core::User> done) = 0;
  // Sets a new password and revokes every other session of the user.
  virtual void change_password(std::int64_t user_id, std::string password_hash, std::string keep_session_sha256,
                               Completion<core::Unit> done) = 0;
  // Activates or deactivates an account, with the audit entry in the same
  // job; deactivating revokes every session of the user. not_found: no user.
  virtual void set_user_active(std::int64_t user_id, bool active, AuditEntry audit, Completion<core::User> done) = 0;
  // Revokes every open session of the user (audited); the number revoked.
  virtual void revoke_user_sessions(std::int64_t user_id, AuditEntry audit, Completion<std::int64_t> done) = 0;
  // Stores only the SHA-256 of the token.
  virtual void create_session(std::string token_sha256, Session s, Completion<core::Unit> done) = 0;
  // Marks a session used at now_ms (kept monotonic); unknown tokens are ignored.
  virtual void touch_session(std::string token_sha256, std::int64_t now_ms, Completion<core::Unit> done) = 0;
  virtual void revoke_session(std::string token_sha256, Completion<core::Unit> done) = 0;
  virtual core::Result<std::string> password_hash(std::int64_t user_id) = 0;
  // An unexpired, unrevoked session for this token hash.
  virtual core::Result<Session> session(const std::string& token_sha256) = 0;
};

}  // namespace careloop::store
