#pragma once
// What the SQLite table-group files (sqlite_*.cpp) share: dates and enums as
// columns, the read snapshot, id lists and ranges bound as parameters, the
// batch loaders of a patient's details, and the few row mappers that more
// than one table group reads (each defined in the file that owns its table).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include "careloop/core/time.hpp"
#include "careloop/store/store.hpp"
#include "sqlite_handle.hpp"

namespace careloop::store::detail {

using core::Error;
using core::Result;

// Dates are stored as TEXT YYYY-MM-DD so that SQL (and people) can read them.
inline std::string date_text(std::int64_t days) { return core::format_date(days); }

inline std::int64_t date_days(std::string_view text) {
  // YYYY-MM-DD as the store writes it (date_text), read without sscanf: batch
  // reads parse one a patient (birth dates) and more (diagnoses, medications).
  auto digits = [&](std::size_t from, std::size_t n, int& out) {
    out = 0;
    for (std::size_t i = from; i < from + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int y = 0, m = 0, d = 0;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !digits(0, 4, y) || !digits(5, 2, m) ||
      !digits(8, 2, d) || m < 1 || m > 12 || d < 1 || d > 31)
    throw StoreError(core::Errc::internal, "malformed date in the database: " + std::string(text));
  return core::days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

// Enums are stored by their wire names (the CHECK constraints keep them
// valid) and read back with Row::enumeration.
template <class E>
std::optional<std::string_view> name_of(const std::optional<E>& e) {
  return e ? std::optional<std::string_view>(core::to_string(*e)) : std::nullopt;
}

inline std::optional<std::string_view> non_empty(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string_view>(s);
}

// A read transaction, so that a read made of several queries sees one
// committed state (WAL keeps that snapshot while the writer goes on).
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Connection& db) : db_(db) {
    // A COMMIT that failed in an earlier lease would leave its transaction open.
    if (db_.in_transaction()) db_.prepare("ROLLBACK").run();
    db_.prepare("BEGIN").run();
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  ~ReadSnapshot() {
    // Ending a read-only transaction cannot lose anything; a failure here is not the caller's.
    try {
      db_.prepare("COMMIT").run();
    } catch (const StoreError&) {
    }
  }

 private:
  Connection& db_;
};

inline bool exists(Connection& db, std::string_view sql, std::int64_t id) {
  Statement s = db.prepare(sql);
  s.bind(1, id);
  return s.step();
}

// A list of ids bound as one parameter: `x IN (SELECT value FROM json_each(?))`.
inline std::string json_ids(std::span<const std::int64_t> ids) {
  std::string out = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  return out + "]";
}

// An id range, bound as ?1 and ?2.
struct IdRange {
  std::int64_t first = 0, last = 0;
};

// A batch read's patient ids as SQL selects them: a run of ascending ids (a
// page of score --all) as a range, which is cheaper than a lookup per id
// (rows of ids in the range but not asked for are skipped with wanted()),
// any other list through json_each. Bound as ?1 (and ?2).
struct IdSelection {
  explicit IdSelection(std::span<const std::int64_t> ids) {
    if (!ids.empty() && std::is_sorted(ids.begin(), ids.end()) &&
        ids.back() - ids.front() < 2 * static_cast<std::int64_t>(ids.size())) {
      range = IdRange{ids.front(), ids.back()};
      for (auto id : ids) asked.insert(id);
    } else {
      list = json_ids(ids);
    }
  }
  // "<column> BETWEEN ?1 AND ?2" or "<column> IN (SELECT value FROM json_each(?1))".
  std::string where(std::string_view column) const {
    return std::string(column) + (range ? " BETWEEN ?1 AND ?2" : " IN (SELECT value FROM json_each(?1))");
  }
  void bind(Statement& s) const {
    if (range)
      s.bind(1, range->first).bind(2, range->last);
    else
      s.bind(1, list);
  }
  bool wanted(std::int64_t id) const { return !range || asked.contains(id); }

  std::optional<IdRange> range;
  std::unordered_set<std::int64_t> asked;
  std::string list;
};

// Binds a batch read's key: an id, a JSON list of ids, or an IdSelection.
template <class Key>
void bind_key(Statement& s, const Key& key) {
  if constexpr (std::is_same_v<Key, IdSelection>)
    key.bind(s);
  else
    s.bind(1, key);
}

inline core::Patient* target(const std::unordered_map<std::int64_t, core::Patient*>& by_id, std::int64_t id) {
  auto it = by_id.find(id);
  return it == by_id.end() ? nullptr : it->second;
}

// Which order each patient's diagnoses come in: the record's (by date), or
// the primary key's, which needs no sort (batch scoring only asks which).
enum class DiagnosisOrder { by_date, by_code };

// Loads the diagnoses of the patients that `where` selects (bound to `key`) into `by_id`.
template <class Key>
void load_diagnoses(Connection& db, std::string_view where, const Key& key,
                    const std::unordered_map<std::int64_t, core::Patient*>& by_id, DiagnosisOrder order) {
  Statement s = db.prepare(std::string("SELECT patient_id, code, diagnosed_on FROM patient_diagnoses ") +
                           std::string(where) +
                           (order == DiagnosisOrder::by_date ? " ORDER BY patient_id, diagnosed_on, code"
                                                             : " ORDER BY patient_id, code"));
  bind_key(s, key);
  while (s.step()) {
    Row r(s);
    if (auto* p = target(by_id, r.int64())) p->diagnoses.push_back({r.text(), date_days(r.view())});
  }
}

// Loads the diagnoses, comorbidities and medications of the patients that
// `where` selects (bound to `key`: an id, a JSON list of ids, or an IdSelection),
// into `by_id`.
template <class Key>
void load_patient_details(Connection& db, std::string_view where, const Key& key,
                          const std::unordered_map<std::int64_t, core::Patient*>& by_id) {
  load_diagnoses(db, where, key, by_id, DiagnosisOrder::by_date);
  {
    Statement s = db.prepare(std::string("SELECT patient_id, code FROM patient_comorbidities ") +
                             std::string(where) + " ORDER BY patient_id, code");
    bind_key(s, key);
    while (s.step()) {
      Row r(s);
      if (auto* p = target(by_id, r.int64())) p->comorbidities.push_back(r.text());
    }
  }
  {
    Statement s = db.prepare(std::string("SELECT patient_id, name, dose, since FROM patient_medications ") +
                             std::string(where) + " ORDER BY patient_id, id");
    bind_key(s, key);
    while (s.step()) {
      Row r(s);
      if (auto* p = target(by_id, r.int64())) p->medications.push_back({r.text(), r.text(), date_days(r.view())});
    }
  }
}

// ---- row mappers and writes that several table groups share (each
// defined in the file of its table).

// sqlite_directory.cpp: a users row, as user_columns selects it.
core::User user_from(const Statement& s);
extern const std::string_view user_columns;

// sqlite_patients.cpp: a patients row, as patient_columns selects it (the
// details come from load_patient_details), from a row's first columns or
// from the next columns of `row`; and the record's clinical fields alone.
core::Patient patient_from(const Statement& s);
core::Patient patient_from(Row& row);
void clinical_fields_from(Row& row, core::Patient& p);
extern const std::string_view patient_columns;

// sqlite_readings.cpp: appends to the sync feed; returns the new seq.
std::int64_t record_change(Connection& db, std::int64_t patient_id, std::int64_t clinic_id, std::string_view entity,
                           std::int64_t entity_id, std::int64_t at_ms);

// sqlite_privacy.hpp: insert_audit, audit_from and audit_columns (the audit
// log), anonymised_error, consents.

// sqlite_alerts.cpp: the clinic's newest event seq (0: none yet).
std::int64_t newest_clinic_event(Connection& db, std::int64_t clinic_id);

}  // namespace careloop::store::detail
