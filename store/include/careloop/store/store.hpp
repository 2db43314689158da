#pragma once
// The store: every durable fact of CareLoop. An interface, so that a
// PostgreSQL implementation can sit beside the SQLite one (DESIGN §4, §7).
// Store is the whole; each part is an interface of its own, in its own header,
// so that a module depends only on the part it uses:
//   directory.hpp     regions, clinics, users
//   accounts.hpp      credentials, sessions, activation codes
//   audit.hpp         the audit log
//   patients.hpp      patient records and the clinic's patient list
//   privacy.hpp       consents, the patient's access log, anonymisation
//   readings.hpp      readings, messages and the patient's sync feed
//   kept_state.hpp    the state kept per patient, batch reads with it
//   alerts.hpp        alerts, the alert schedule's reads, clinic events
//   care_records.hpp  care plans, protocol choices, visits, clinic measurements
//   rollups.hpp       month rows and report counts
//   webhooks.hpp      a clinic's webhook and its delivery cursor
//   risk_scores.hpp   risk scores
//   common.hpp        completions, StoreError, wait_for, Transactions (transact)
// sqlite.hpp opens the SQLite backend and holds what only it offers.
// common.hpp states what every backend guarantees (order of visibility, one
// writer per patient, sequence numbers, how a job learns its commit).
//
// Threads. Writes are asynchronous: a completion runs once the write is
// durable (common.hpp). Reads are synchronous and block: call them from the
// compute pool or a command-line tool, never from an I/O thread (they check).
#include <cstdint>

#include "careloop/store/accounts.hpp"
#include "careloop/store/alerts.hpp"
#include "careloop/store/audit.hpp"
#include "careloop/store/care_records.hpp"
#include "careloop/store/common.hpp"
#include "careloop/store/directory.hpp"
#include "careloop/store/hooks.hpp"
#include "careloop/store/kept_state.hpp"
#include "careloop/store/patients.hpp"
#include "careloop/store/privacy.hpp"
#include "careloop/store/readings.hpp"
#include "careloop/store/risk_scores.hpp"
#include "careloop/store/rollups.hpp"
#include "careloop/store/webhooks.hpp"

namespace careloop::store {

// Failures of the database itself (not constraint answers), counted since
// the process started and logged at error as they happen: another process
// holding the lock (busy), a full disk (full), an I/O error or an unwritable
// file (io), anything else (other). The server exports them on /metrics.
enum class StoreFaultKind { busy, full, io, other };
struct StoreFaultCounts {
  std::uint64_t busy = 0, full = 0, io = 0, other = 0;
};
StoreFaultCounts store_fault_counts() noexcept;

// What is kept, and for how long, of what only serves a while (DESIGN §4,
// PIPL's minimum necessary): a session row after it expired or was revoked,
// and a clinic event (the live stream's replay and the webhook outbox) once
// it is older than this and delivered to the clinic's webhook, if it has one.
// Audit entries and clinical records are never pruned.
struct RetentionPolicy {
  std::int64_t ended_sessions_ms = 30LL * 24 * 3600 * 1000;
  std::int64_t clinic_events_ms = 90LL * 24 * 3600 * 1000;
};
struct PruneCounts {
  std::int64_t sessions = 0;
  std::int64_t clinic_events = 0;
};

class Store : public virtual Transactions,
              public virtual ClinicEvents,
              public Directory,
              public Accounts,
              public AuditLog,
              public Patients,
              public Privacy,
              public Readings,
              public KeptState,
              public Alerts,
              public CareRecords,
              public Rollups,
              public Webhooks,
              public RiskScores {
 public:
  ~Store() override = default;

  // Deletes what the policy no longer keeps, as of now_ms, in one write job.
  virtual void prune(std::int64_t now_ms, RetentionPolicy policy, Completion<PruneCounts> done) = 0;
  virtual int schema_version() = 0;
  // Stops taking writes, commits what is queued, completes every caller,
  // joins the writer and closes every connection. Idempotent. Later writes
  // complete at once with Errc::unavailable; later reads fail the same way.
  virtual void close() = 0;
};

}  // namespace careloop::store
