// Regions, clinics and users (tables regions, clinics, users): adding and
// reading them, and a patient's account. The users row mapper is shared with
// sqlite_auth.cpp.
#include "sqlite_store.hpp"

namespace careloop::store::detail {
namespace {

core::Region region_from(const Statement& s) {
  Row row(s);
  core::Region r;
  r.id = row.int64();
  r.parent_id = row.opt_int64();
  r.name = row.text();
  r.level = row.enumeration(core::parse_region_level);
  r.code = row.text();
  return r;
}
constexpr std::string_view region_columns = "SELECT id, parent_id, name, level, code FROM regions ";

core::Clinic clinic_from(const Statement& s) {
  Row row(s);
  core::Clinic c;
  c.id = row.int64();
  c.region_id = row.int64();
  c.name = row.text();
  c.timezone = row.text();
  return c;
}
constexpr std::string_view clinic_columns = "SELECT id, region_id, name, timezone FROM clinics ";

}  // namespace

core::User user_from(const Statement& s) {
  Row row(s);
  core::User u;
  u.id = row.int64();
  u.username = row.text();
  u.role = row.enumeration(core::parse_role);
  u.display_name = row.text();
  u.clinic_id = row.opt_int64();
  u.region_id = row.opt_int64();
  u.patient_id = row.opt_int64();
  u.active = row.boolean();
  u.created_at_ms = row.int64();
  return u;
}
const std::string_view user_columns =
    "SELECT id, username, role, display_name, clinic_id, region_id, patient_id, active, created_at_ms FROM users ";

void SqliteBackend::add_region(NewRegion r, Completion<std::int64_t> done) {
  write<std::int64_t>(
      [r = std::move(r)](Connection& db) -> Result<std::int64_t> {
        if (r.name.empty()) return Error::invalid("a region needs a name", {{"/name", "required"}});
        if (r.parent_id && !exists(db, "SELECT 1 FROM regions WHERE id = ?", *r.parent_id))
          return Error::not_found("parent region " + std::to_string(*r.parent_id) + " not found");
        db.prepare("INSERT INTO regions (parent_id, name, level, code) VALUES (?, ?, ?, ?)")
            .bind_all(r.parent_id, r.name, core::to_string(r.level), r.code)
            .run();
        return db.last_insert_rowid();
      },
      std::move(done));
}

void SqliteBackend::add_clinic(NewClinic c, Completion<std::int64_t> done) {
  write<std::int64_t>(
      [c = std::move(c)](Connection& db) -> Result<std::int64_t> {
        if (c.name.empty()) return Error::invalid("a clinic needs a name", {{"/name", "required"}});
        if (!exists(db, "SELECT 1 FROM regions WHERE id = ?", c.region_id))
          return Error::not_found("region " + std::to_string(c.region_id) + " not found");
        db.prepare("INSERT INTO clinics (region_id, name, timezone) VALUES (?, ?, ?)")
            .bind_all(c.region_id, c.name, c.timezone)
            .run();
        return db.last_insert_rowid();
      },
      std::move(done));
}

void SqliteBackend::add_user(NewUser nu, Completion<std::int64_t> done) {
  write<std::int64_t>(
      [nu = std::move(nu)](Connection& db) -> Result<std::int64_t> {
        const core::User& u = nu.user;
        if (u.username.empty()) return Error::invalid("a user needs a username", {{"/username", "required"}});
        {
          Statement s = db.prepare("SELECT 1 FROM users WHERE username = ?");
          s.bind(1, u.username);
          if (s.step()) return Error::conflict("the username '" + u.username + "' is taken");
        }
        if (u.clinic_id && !exists(db, "SELECT 1 FROM clinics WHERE id = ?", *u.clinic_id))
          return Error::not_found("clinic " + std::to_string(*u.clinic_id) + " not found");
        if (u.region_id && !exists(db, "SELECT 1 FROM regions WHERE id = ?", *u.region_id))
          return Error::not_found("region " + std::to_string(*u.region_id) + " not found");
        if (u.patient_id && !exists(db, "SELECT 1 FROM patients WHERE id = ?", *u.patient_id))
          return Error::not_found("patient " + std::to_string(*u.patient_id) + " not found");
        const std::int64_t now = core::now_utc_ms();
        db.prepare(
              "INSERT INTO users (username, role, display_name, clinic_id, region_id, patient_id, active, "
              "created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind_all(u.username, core::to_string(u.role), u.display_name, u.clinic_id, u.region_id,
                      u.patient_id, u.active, now)
            .run();
        const std::int64_t id = db.last_insert_rowid();
        if (!nu.password_hash.empty()) {
          db.prepare("INSERT INTO credentials (user_id, password_hash, updated_at_ms) VALUES (?, ?, ?)")
              .bind_all(id, nu.password_hash, now)
              .run();
        }
        return id;
      },
      std::move(done));
}

Result<core::Region> SqliteBackend::region(std::int64_t id) {
  return read_result<core::Region>([&](Connection& db) -> Result<core::Region> {
    Statement s = db.prepare(std::string(region_columns) + "WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return Error::not_found("region " + std::to_string(id) + " not found");
    return region_from(s);
  });
}

std::vector<core::Region> SqliteBackend::regions() {
  return read([&](Connection& db) {
    std::vector<core::Region> out;
    Statement s = db.prepare(std::string(region_columns) + "ORDER BY id");
    while (s.step()) out.push_back(region_from(s));
    return out;
  });
}

Result<core::Clinic> SqliteBackend::clinic(std::int64_t id) {
  return read_result<core::Clinic>([&](Connection& db) -> Result<core::Clinic> {
    Statement s = db.prepare(std::string(clinic_columns) + "WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return Error::not_found("clinic " + std::to_string(id) + " not found");
    return clinic_from(s);
  });
}

std::vector<core::Clinic> SqliteBackend::clinics() {
  return read([&](Connection& db) {
    std::vector<core::Clinic> out;
    Statement s = db.prepare(std::string(clinic_columns) + "ORDER BY id");
    while (s.step()) out.push_back(clinic_from(s));
    return out;
  });
}

Result<core::User> SqliteBackend::user(std::int64_t id) {
  return read_result<core::User>([&](Connection& db) -> Result<core::User> {
    Statement s = db.prepare(std::string(user_columns) + "WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return Error::not_found("user " + std::to_string(id) + " not found");
    return user_from(s);
  });
}

Result<core::User> SqliteBackend::user_by_username(const std::string& username) {
  return read_result<core::User>([&](Connection& db) -> Result<core::User> {
    // The column is COLLATE NOCASE: usernames match without regard to case.
    Statement s = db.prepare(std::string(user_columns) + "WHERE username = ?");
    s.bind(1, username);
    if (!s.step()) return Error::not_found("no user named '" + username + "'");
    return user_from(s);
  });
}

std::vector<core::User> SqliteBackend::users() {
  return read([&](Connection& db) {
    std::vector<core::User> out;
    Statement s = db.prepare(std::string(user_columns) + "ORDER BY id");
    while (s.step()) out.push_back(user_from(s));
    return out;
  });
}

std::optional<core::User> SqliteBackend::patient_account(std::int64_t patient_id) {
  return read([&](Connection& db) -> std::optional<core::User> {
    Statement s = db.prepare(std::string(user_columns) + "WHERE patient_id = ? ORDER BY id LIMIT 1");
    s.bind(1, patient_id);
    if (!s.step()) return std::nullopt;
    return user_from(s);
  });
}

}  // namespace careloop::store::detail
