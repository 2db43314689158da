#pragma once
// Alerts (hooks.hpp AlertRow: written through a WriteTxn), the alert
// schedule's reads, and the clinic's event sequence (the live stream and the
// webhook outbox).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "careloop/core/reading.hpp"
#include "careloop/store/common.hpp"

namespace careloop::store {

struct AlertRecord {
  std::int64_t id = 0;
  std::string signal;
  std::string tier;
  std::string status;
  std::string reason;
  std::int64_t opened_at_ms = 0;
  std::string advice_zh;  // what the patient should do now, when the alert says
  std::string advice_en;
};

struct AlertQuery {
  std::int64_t clinic_id = 0;
  std::optional<std::string> status;       // open, acknowledged, snoozed, resolved; all when unset
  std::optional<std::int64_t> patient_id;  // one patient's alerts only
  std::optional<std::int64_t> before_id;   // paging: alerts with a smaller id (newest first)
  int limit = 50;
};

// A clinic's durable event sequence (hooks.hpp ClinicEvent), read by cursor:
// clinic_events(after_seq) never skips an event that commits later with a
// smaller seq (common.hpp, guarantee 4); the live stream and the webhook
// outbox resume from the last seq they saw.
class ClinicEvents {
 public:
  virtual ~ClinicEvents() = default;

  // A clinic's events after `after_seq`, in seq order; and the newest seq (0: none yet).
  virtual std::vector<ClinicEvent> clinic_events(std::int64_t clinic_id, std::int64_t after_seq, int limit) = 0;
  virtual std::int64_t last_clinic_event_seq(std::int64_t clinic_id) = 0;
};

// Alert rows are written through transact (WriteTxn::save_alert). The alert
// schedule's reads (care/) answer patient ids, ascending, without repeats.
class Alerts : public virtual Transactions {
 public:
  ~Alerts() override = default;

  virtual core::Result<AlertRow> alert(std::int64_t id) = 0;
  // A clinic's alerts, newest first.
  virtual std::vector<AlertRow> alerts(const AlertQuery& q) = 0;
  // Patients with an unresolved alert, after `after_id`, at most `limit`.
  virtual std::vector<std::int64_t> patients_with_unresolved_alerts(std::int64_t after_id, int limit) = 0;
  // Patients with an alert whose timer may have run out: snoozed until at
  // most `now_ms`, or open, critical, not escalated and opened at or before
  // `critical_opened_by_ms`.
  virtual std::vector<std::int64_t> patients_with_alert_timers_due(std::int64_t now_ms,
                                                                    std::int64_t critical_opened_by_ms) = 0;
  // Patients whose newest reading of one of `kinds` was taken in
  // [from_ms, to_ms) and who have no unresolved alert for `signal`.
  virtual std::vector<std::int64_t> patients_last_reading_between(const std::vector<core::ReadingKind>& kinds,
                                                                   std::int64_t from_ms, std::int64_t to_ms,
                                                                   const std::string& signal) = 0;
  // Patients whose approved care plan's follow-up date ($.follow_up.due of
  // plan_json, YYYY-MM-DD) is before `date` and who have no unresolved alert
  // for `signal`.
  virtual std::vector<std::int64_t> patients_follow_up_due_before(const std::string& date, const std::string& signal) = 0;
};

}  // namespace careloop::store
