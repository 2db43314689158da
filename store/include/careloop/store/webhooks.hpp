#pragma once
// A clinic's webhook: the setting, and the delivery cursor over the clinic's
// event sequence (ClinicEvents, the outbox it delivers).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "careloop/store/alerts.hpp"
#include "careloop/store/audit.hpp"
#include "careloop/store/common.hpp"

namespace careloop::store {

// A clinic's webhook (webhooks/README.md): where its events are POSTed, the
// secret that signs them, and how far delivery has got. clinic_events is the
// outbox; delivered_seq is the highest event seq the receiver acknowledged.
struct ClinicWebhook {
  std::int64_t clinic_id = 0;
  std::string url;
  std::string secret;
  bool enabled = true;
  std::int64_t generation = 0;           // bumped by every setting; progress of an older one is not kept
  std::int64_t delivered_seq = 0;        // events up to here were acknowledged with a 2xx
  int attempts = 0;                      // failed attempts since the last success
  std::optional<std::int64_t> next_attempt_ms;  // set while backing off after a failure
  std::string last_error;
  std::optional<std::int64_t> last_error_at_ms;
  std::optional<std::int64_t> last_delivered_at_ms;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int64_t pending_events = 0;       // filled by reads: the clinic's events after delivered_seq
};

// What one delivery round achieved: the cursor after the events acknowledged
// (unchanged when none was), and the failure that ended it, if any.
struct WebhookProgress {
  std::int64_t clinic_id = 0;
  std::int64_t generation = 0;           // of the setting the round delivered under
  std::int64_t delivered_seq = 0;
  std::int64_t at_ms = 0;
  bool delivered_any = false;
  std::optional<std::string> error;      // set: the round ended on this failure
  int attempts = 0;                      // with error: failures in a row so far
  std::int64_t next_attempt_ms = 0;      // with error: when to try again
};

// Delivery is at least once: a round reads the events after delivered_seq,
// posts them, then records its progress, which only moves the cursor forward
// and is ignored for an older generation of the setting. One deliverer per
// clinic at a time is the caller's to arrange (webhooks/ runs one per
// process; several servers must claim a clinic's round, DESIGN §7).
class Webhooks : public virtual ClinicEvents {
 public:
  ~Webhooks() override = default;

  // Sets a clinic's webhook (enabled) with the audit entry in the same job.
  // A new or re-enabled webhook starts after the clinic's newest event at
  // this moment; changing the URL or secret of an enabled one keeps its
  // cursor (pending events go to the new URL). Errors: not_found (clinic),
  // invalid (URL not http(s), secret shorter than 16).
  virtual void set_webhook(std::int64_t clinic_id, std::string url, std::string secret, AuditEntry audit,
                           Completion<ClinicWebhook> done) = 0;
  // Keeps the setting but stops delivery; not_found when the clinic has none.
  virtual void disable_webhook(std::int64_t clinic_id, AuditEntry audit, Completion<ClinicWebhook> done) = 0;
  // Removes the setting; not_found when the clinic has none.
  virtual void delete_webhook(std::int64_t clinic_id, AuditEntry audit, Completion<core::Unit> done) = 0;
  // Records a delivery round; the cursor only moves forward. Ignored (not an
  // error) when the setting is gone or has a newer generation.
  virtual void record_webhook_progress(WebhookProgress p, Completion<core::Unit> done) = 0;
  // A clinic's webhook with pending_events filled; nullopt when it has none.
  virtual std::optional<ClinicWebhook> webhook(std::int64_t clinic_id) = 0;
  // Every enabled webhook (pending_events not filled), by clinic id.
  virtual std::vector<ClinicWebhook> enabled_webhooks() = 0;
};

}  // namespace careloop::store
