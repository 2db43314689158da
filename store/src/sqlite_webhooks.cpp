// A clinic's webhook (table clinic_webhooks): the setting with its audit
// entry, the delivery cursor over clinic_events and its retry state.
#include "sqlite_store.hpp"

namespace careloop::store::detail {
namespace {

constexpr std::string_view webhook_columns =
    "SELECT clinic_id, url, secret, enabled, generation, delivered_seq, attempts, next_attempt_ms, last_error, "
    "last_error_at_ms, last_delivered_at_ms, created_at_ms, updated_at_ms FROM clinic_webhooks ";

ClinicWebhook webhook_from(const Statement& s) {
  Row r(s);
  ClinicWebhook w;
  w.clinic_id = r.int64();
  w.url = r.text();
  w.secret = r.text();
  w.enabled = r.boolean();
  w.generation = r.int64();
  w.delivered_seq = r.int64();
  w.attempts = r.int32();
  w.next_attempt_ms = r.opt_int64();
  w.last_error = r.text();
  w.last_error_at_ms = r.opt_int64();
  w.last_delivered_at_ms = r.opt_int64();
  w.created_at_ms = r.int64();
  w.updated_at_ms = r.int64();
  return w;
}

std::optional<ClinicWebhook> load_webhook(Connection& db, std::int64_t clinic_id) {
  Statement s = db.prepare(std::string(webhook_columns) + "WHERE clinic_id = ?");
  s.bind(1, clinic_id);
  if (!s.step()) return std::nullopt;
  return webhook_from(s);
}

}  // namespace

void SqliteBackend::set_webhook(std::int64_t clinic_id, std::string url, std::string secret, AuditEntry audit,
                                Completion<ClinicWebhook> done) {
  write<ClinicWebhook>(
      [clinic_id, url = std::move(url), secret = std::move(secret),
       audit = std::move(audit)](Connection& db) -> Result<ClinicWebhook> {
        std::vector<core::FieldError> errors;
        if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
          errors.push_back({"/url", "an http:// or https:// URL"});
        if (secret.size() < 16) errors.push_back({"/secret", "at least 16 characters"});
        if (!errors.empty()) return Error::invalid("invalid webhook", std::move(errors));
        if (!exists(db, "SELECT 1 FROM clinics WHERE id = ?", clinic_id))
          return Error::not_found("clinic " + std::to_string(clinic_id) + " not found");
        const std::int64_t now = audit.at_ms ? audit.at_ms : core::now_utc_ms();
        const auto old = load_webhook(db, clinic_id);
        if (old && old->enabled) {
          // The cursor stays: what is pending goes to the new URL, signed with the new secret.
          db.prepare(
                "UPDATE clinic_webhooks SET url = ?, secret = ?, generation = generation + 1, attempts = 0, "
                "next_attempt_ms = NULL, updated_at_ms = ? WHERE clinic_id = ?")
              .bind_all(url, secret, now, clinic_id)
              .run();
        } else {
          // A new (or re-enabled) webhook starts after the newest event committed before this job.
          db.prepare(
                "INSERT INTO clinic_webhooks (clinic_id, url, secret, enabled, generation, delivered_seq, "
                "attempts, next_attempt_ms, last_error, created_at_ms, updated_at_ms) "
                "VALUES (?1, ?2, ?3, 1, 1, ?4, 0, NULL, '', ?5, ?5) ON CONFLICT (clinic_id) DO UPDATE SET "
                "url = excluded.url, secret = excluded.secret, enabled = 1, generation = generation + 1, "
                "delivered_seq = excluded.delivered_seq, attempts = 0, next_attempt_ms = NULL, last_error = '', "
                "last_error_at_ms = NULL, updated_at_ms = excluded.updated_at_ms")
              .bind_all(clinic_id, url, secret, newest_clinic_event(db, clinic_id), now)
              .run();
        }
        insert_audit(db, audit);
        return *load_webhook(db, clinic_id);
      },
      std::move(done));
}

void SqliteBackend::disable_webhook(std::int64_t clinic_id, AuditEntry audit, Completion<ClinicWebhook> done) {
  write<ClinicWebhook>(
      [clinic_id, audit = std::move(audit)](Connection& db) -> Result<ClinicWebhook> {
        db.prepare(
              "UPDATE clinic_webhooks SET enabled = 0, generation = generation + 1, next_attempt_ms = NULL, "
              "updated_at_ms = ? WHERE clinic_id = ?")
            .bind_all(audit.at_ms ? audit.at_ms : core::now_utc_ms(), clinic_id)
            .run();
        if (db.changes() == 0) return Error::not_found("clinic " + std::to_string(clinic_id) + " has no webhook");
        insert_audit(db, audit);
        return *load_webhook(db, clinic_id);
      },
      std::move(done));
}

void SqliteBackend::delete_webhook(std::int64_t clinic_id, AuditEntry audit, Completion<core::Unit> done) {
  write<core::Unit>(
      [clinic_id, audit = std::move(audit)](Connection& db) -> Result<core::Unit> {
        db.prepare("DELETE FROM clinic_webhooks WHERE clinic_id = ?").bind_all(clinic_id).run();
        if (db.changes() == 0) return Error::not_found("clinic " + std::to_string(clinic_id) + " has no webhook");
        insert_audit(db, audit);
        return core::Unit{};
      },
      std::move(done));
}

void SqliteBackend::record_webhook_progress(WebhookProgress p, Completion<core::Unit> done) {
  write<core::Unit>(
      [p = std::move(p)](Connection& db) -> Result<core::Unit> {
        if (p.delivered_any) {
          db.prepare(
                "UPDATE clinic_webhooks SET delivered_seq = max(delivered_seq, ?), attempts = 0, "
                "next_attempt_ms = NULL, last_delivered_at_ms = ? WHERE clinic_id = ? AND generation = ?")
              .bind_all(p.delivered_seq, p.at_ms, p.clinic_id, p.generation)
              .run();
        }
        if (p.error) {
          db.prepare(
                "UPDATE clinic_webhooks SET attempts = ?, next_attempt_ms = ?, last_error = ?, "
                "last_error_at_ms = ? WHERE clinic_id = ? AND generation = ?")
              .bind_all(p.attempts, p.next_attempt_ms, *p.error, p.at_ms, p.clinic_id, p.generation)
              .run();
        }
        return core::Unit{};
      },
      std::move(done));
}

std::optional<ClinicWebhook> SqliteBackend::webhook(std::int64_t clinic_id) {
  return read([&](Connection& db) -> std::optional<ClinicWebhook> {
    ReadSnapshot snapshot(db);
    auto w = load_webhook(db, clinic_id);
    if (!w) return w;
    Statement s = db.prepare("SELECT count(*) FROM clinic_events WHERE clinic_id = ? AND seq > ?");
    s.bind_all(clinic_id, w->delivered_seq);
    w->pending_events = s.step() ? Row(s).int64() : 0;
    return w;
  });
}

std::vector<ClinicWebhook> SqliteBackend::enabled_webhooks() {
  return read([&](Connection& db) {
    std::vector<ClinicWebhook> out;
    Statement s = db.prepare(std::string(webhook_columns) + "WHERE enabled = 1 ORDER BY clinic_id");
    while (s.step()) out.push_back(webhook_from(s));
    return out;
  });
}

}  // namespace careloop::store::detail
