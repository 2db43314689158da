// Clinic measurements: checked against core's kinds, recorded with their
// audit entry in one write job.
#include "careloop/care/measurements.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "careloop/core/clinic_measurement.hpp"
#include "careloop/store/audit.hpp"
#include "recorded.hpp"

namespace careloop::care {
namespace {

using nlohmann::json;


std::string number(double v) { return json(v).dump(); }

// The stored rows (by kind) are the record `m` describes.
bool same_record(const std::vector<store::ClinicMeasurementRow>& stored, const MeasurementInput& m) {
  if (stored.size() != m.values.size()) return false;
  for (const auto& r : stored) {
    if (r.measured_at != m.measured_at || r.visit_id != m.visit_id) return false;
    const auto it = std::find_if(m.values.begin(), m.values.end(), [&](const MeasurementValue& v) { return v.kind == r.kind; });
    if (it == m.values.end() || it->value != r.value) return false;
  }
  return true;
}

}  // namespace

core::Status check_measurements(const MeasurementInput& m, std::int64_t now_ms) {
  std::vector<core::FieldError> errors;
  detail::check_client_id(m.client_id, errors);
  detail::check_recorded_at(m.measured_at, now_ms, "/measured_at", errors);
  if (m.values.empty()) errors.push_back({"/values", "at least one value is required"});
  std::set<std::string> seen;
  for (const auto& v : m.values) {
    const auto* k = core::find_measurement_kind(v.kind);
    if (!k) {
      std::string names;
      for (const auto& kind : core::measurement_kinds) names += (names.empty() ? "" : ", ") + std::string(kind.name);
      errors.push_back({v.pointer, "unknown kind '" + v.kind + "'; one of " + names});
      continue;
    }
    if (!seen.insert(v.kind).second) {
      errors.push_back({v.pointer, "kind " + v.kind + " appears more than once"});
      continue;
    }
    if (!std::isfinite(v.value) || v.value < k->min || v.value > k->max)
      errors.push_back({v.pointer, number(v.value) + " " + std::string(k->unit) + " is outside the plausible range " +
                                       number(k->min) + "–" + number(k->max) + " " + std::string(k->unit)});
  }
  if (errors.empty()) return core::ok_status();
  return core::Error::invalid("the measurements have " + std::to_string(errors.size()) + " invalid field(s)",
                              std::move(errors));
}

void record_measurements(store::Transactions& st, MeasurementInput m, store::Completion<RecordedMeasurements> done) {
  if (auto ok = check_measurements(m, core::now_utc_ms()); !ok) return done(ok.error());
  std::sort(m.values.begin(), m.values.end(), [](const auto& a, const auto& b) { return a.kind < b.kind; });
  auto out = std::make_shared<RecordedMeasurements>();
  st.transact(
      [m = std::move(m), out](store::WriteTxn& txn) -> core::Status {
        *out = {};
        auto patient = txn.patient(m.patient_id);
        if (!patient) return patient.error();
        if (auto stored = txn.clinic_measurements_by_client_id(m.patient_id, m.client_id); !stored.empty()) {
          if (!same_record(stored, m))
            return core::Error::conflict("client_id " + m.client_id +
                                         " names other measurements of this patient");
          out->rows = std::move(stored);
          return core::ok_status();
        }
        if (m.visit_id) {
          const auto visits = txn.visits_of(m.patient_id);
          if (std::none_of(visits.begin(), visits.end(), [&](const store::VisitRow& v) { return v.id == *m.visit_id; }))
            return core::Error::invalid("no such visit",
                                        {{"/visit_id", "names no visit of patient " + std::to_string(m.patient_id)}});
        }
        const std::int64_t now = core::now_utc_ms();
        json kinds = json::object();
        for (const auto& v : m.values) {
          store::ClinicMeasurementRow row;
          row.patient_id = m.patient_id;
          row.clinic_id = patient->clinic_id;
          row.client_id = m.client_id;
          row.measured_at = m.measured_at;
          row.kind = v.kind;
          row.value = v.value;
          row.by_user_id = m.by_user_id;
          row.visit_id = m.visit_id;
          row.created_at_ms = now;
          row.id = txn.save_clinic_measurement(row);
          kinds[v.kind] = row.id;
          out->rows.push_back(std::move(row));
        }
        txn.append_audit({now, m.by_user_id, "measurements.record", m.patient_id, patient->clinic_id,
                          json{{"client_id", m.client_id}, {"ids", kinds}}.dump(), m.remote_addr});
        out->created = true;
        return core::ok_status();
      },
      [out, done = std::move(done)](core::Result<core::Unit> r) {
        if (!r) return done(r.error());
        done(std::move(*out));
      });
}

json measurement_json(const store::ClinicMeasurementRow& r) {
  const auto* k = core::find_measurement_kind(r.kind);
  json j{{"id", r.id},
         {"client_id", r.client_id},
         {"kind", r.kind},
         {"value", r.value},
         {"unit", k ? std::string(k->unit) : std::string()},
         {"loinc", k ? json{{"code", k->loinc}, {"display", k->loinc_display}} : json(nullptr)},
         {"measured_at", core::format_iso8601(r.measured_at)},
         {"visit_id", r.visit_id ? json(*r.visit_id) : json(nullptr)},
         {"by", {{"id", r.by_user_id}, {"name", r.by_name}}},
         {"recorded_at", core::format_iso8601_utc(r.created_at_ms)}};
  return j;
}

json measurement_record_json(const std::vector<store::ClinicMeasurementRow>& rows) {
  json items = json::array();
  for (const auto& r : rows) items.push_back(measurement_json(r));
  json out{{"items", items}};
  if (!rows.empty()) {
    out["client_id"] = rows.front().client_id;
    out["measured_at"] = core::format_iso8601(rows.front().measured_at);
  }
  return out;
}

}  // namespace careloop::care
