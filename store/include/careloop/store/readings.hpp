#pragma once
// Readings and the patient's sync feed (readings, messages, approved care
// plans and alerts, in seq order), and the hook that runs in a readings job.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "careloop/core/reading.hpp"
#include "careloop/store/alerts.hpp"
#include "careloop/store/care_records.hpp"
#include "careloop/store/common.hpp"

namespace careloop::store {

enum class InsertStatus { created, duplicate };

struct InsertOutcome {
  InsertStatus status = InsertStatus::created;
  std::int64_t id = 0;  // the new row, or the original for a duplicate
  std::int64_t change_seq = 0;  // the row's sync sequence number
};

struct Message {
  std::int64_t id = 0;
  std::int64_t patient_id = 0;
  std::int64_t clinic_id = 0;
  std::int64_t from_user_id = 0;
  std::string from_display_name;    // filled by reads
  std::string text;
  std::int64_t created_at_ms = 0;
  std::int64_t change_seq = 0;
};

// One entry of a patient's sync feed: what changed, in seq order. Exactly
// one of the payloads is set, matching `entity`.
struct Change {
  std::int64_t seq = 0;
  std::string entity;               // "reading", "message", "care_plan", "alert"
  std::int64_t entity_id = 0;
  std::int64_t at_ms = 0;
  std::optional<core::Reading> reading;
  std::optional<Message> message;
  std::optional<CarePlanRecord> care_plan;
  std::optional<AlertRecord> alert;
};

struct ReadingQuery {
  std::int64_t patient_id = 0;
  std::optional<core::ReadingKind> kind;
  std::optional<std::int64_t> from_ms;     // taken_at >= from
  std::optional<std::int64_t> to_ms;       // taken_at < to
  std::optional<std::int64_t> after_id;    // paging: the readings after this one in (taken_at, id) order
  int limit = 100;                         // at most this many; <= 0 returns none
};

// A readings job writes one patient (common.hpp, guarantee 3): its readings,
// their feed entries and whatever the hook writes commit together. The feed
// is read by cursor (guarantee 4): changes(after_seq) never skips an entry.
class Readings {
 public:
  virtual ~Readings() = default;

  // Inserts the readings of one patient. A client_id already stored for the
  // patient, or the same kind, instant and values under another client_id,
  // is a duplicate and returns the original id. One outcome per reading, in order.
  virtual void insert_readings(std::int64_t patient_id, std::vector<core::Reading> readings,
                               Completion<std::vector<InsertOutcome>> done) = 0;
  // Installs the hook insert_readings calls inside its transaction; set it
  // before serving (not thread-safe against concurrent writes). While no hook
  // is set, insert_readings marks the patient's kept state stale instead.
  virtual void set_readings_hook(std::shared_ptr<ReadingsHook> hook) = 0;
  virtual void add_message(Message m, Completion<Message> done) = 0;
  virtual std::vector<core::Reading> readings(const ReadingQuery& q) = 0;
  virtual core::Result<core::Reading> reading(std::int64_t id) = 0;
  virtual std::int64_t count_readings(std::optional<std::int64_t> patient_id = std::nullopt) = 0;
  // The patient's readings with change_seq > after_seq, in change_seq order
  // (to catch a saved state up, as the writer's hook does).
  virtual std::vector<core::Reading> readings_after(std::int64_t patient_id, std::int64_t after_seq) = 0;
  // The patient's sync feed after `after_seq`, at most `limit` entries, in
  // seq order. Care plans appear only once approved.
  virtual std::vector<Change> changes(std::int64_t patient_id, std::int64_t after_seq, int limit) = 0;
};

}  // namespace careloop::store
