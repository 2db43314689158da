// Follow-up visits: recorded with their audit entry in one write job.
#include "careloop/care/visits.hpp"

#include <algorithm>
#include <span>

#include <nlohmann/json.hpp>

#include "careloop/core/patient_state.hpp"
#include "careloop/store/audit.hpp"
#include "recorded.hpp"

namespace careloop::care {
namespace {

using nlohmann::json;

constexpr std::size_t max_note_bytes = 8000;  // 2,000 CJK characters

bool one_of(std::string_view v, std::span<const std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), v) != allowed.end();
}

bool same_visit(const store::VisitRow& a, const VisitInput& b) {
  return a.visited_at == b.visited_at && a.kind == b.kind && a.classification == b.classification && a.note == b.note;
}

}  // namespace

core::Status check_visit(const VisitInput& v, std::int64_t now_ms) {
  std::vector<core::FieldError> errors;
  detail::check_client_id(v.client_id, errors);
  detail::check_recorded_at(v.visited_at, now_ms, "/visited_at", errors);
  if (!one_of(v.kind, visit_kinds)) errors.push_back({"/kind", "must be one of clinic, home, phone"});
  if (!one_of(v.classification, visit_classifications))
    errors.push_back({"/classification", "must be one of controlled, uncontrolled, adverse_reaction, complication"});
  if (v.note.size() > max_note_bytes) errors.push_back({"/note", "must be at most 8000 bytes"});
  if (errors.empty()) return core::ok_status();
  return core::Error::invalid("the visit has " + std::to_string(errors.size()) + " invalid field(s)", std::move(errors));
}

void record_visit(store::Transactions& st, VisitInput v, store::Completion<RecordedVisit> done) {
  if (auto ok = check_visit(v, core::now_utc_ms()); !ok) return done(ok.error());
  auto out = std::make_shared<RecordedVisit>();
  st.transact(
      [v = std::move(v), out](store::WriteTxn& txn) -> core::Status {
        *out = {};
        auto patient = txn.patient(v.patient_id);
        if (!patient) return patient.error();
        if (auto stored = txn.visit_by_client_id(v.patient_id, v.client_id)) {
          if (!same_visit(*stored, v))
            return core::Error::conflict("client_id " + v.client_id + " names another visit of this patient");
          out->row = std::move(*stored);
          return core::ok_status();
        }
        const std::int64_t now = core::now_utc_ms();
        store::VisitRow row;
        row.patient_id = v.patient_id;
        row.clinic_id = patient->clinic_id;
        row.client_id = v.client_id;
        row.visited_at = v.visited_at;
        row.kind = v.kind;
        row.classification = v.classification;
        row.by_user_id = v.by_user_id;
        row.note = v.note;
        row.created_at_ms = now;
        row.id = txn.save_visit(row);
        txn.append_audit({now, v.by_user_id, "visit.record", v.patient_id, patient->clinic_id,
                          json{{"visit_id", row.id}, {"kind", row.kind}, {"classification", row.classification}}.dump(),
                          v.remote_addr});
        out->row = std::move(row);
        out->created = true;
        return core::ok_status();
      },
      [out, done = std::move(done)](core::Result<core::Unit> r) {
        if (!r) return done(r.error());
        done(std::move(*out));
      });
}

json visit_json(const store::VisitRow& v) {
  return {{"id", v.id},
          {"patient_id", v.patient_id},
          {"client_id", v.client_id},
          {"visited_at", core::format_iso8601(v.visited_at)},
          {"kind", v.kind},
          {"classification", v.classification},
          {"by", {{"id", v.by_user_id}, {"name", v.by_name}}},
          {"note", v.note},
          {"recorded_at", core::format_iso8601_utc(v.created_at_ms)}};
}

int consecutive_uncontrolled(const std::vector<store::VisitRow>& newest_first) {
  int n = 0;
  for (const auto& v : newest_first) {
    if (v.classification != "uncontrolled") break;
    ++n;
  }
  return n;
}

std::int64_t follow_up_due_day(std::int64_t plan_due_day, int within_days,
                               const std::vector<store::VisitRow>& newest_first) {
  if (newest_first.empty()) return plan_due_day;
  const auto& v = newest_first.front();
  const std::int64_t day = core::local_day(v.visited_at.utc_ms, v.visited_at.offset_min);
  return day >= plan_due_day - within_days ? day + within_days : plan_due_day;
}

}  // namespace careloop::care
