#pragma once
// The clinic's patient list (GET /api/v1/clinic/patients): who needs
// attention, ranked. A pure function of the store's list rows, so search,
// filters, ranking and cursors are tested without a server.
//
// Per patient, over the readings of the last 30 days (the window the list
// shows means for; CLINICAL.md §1–§3):
//   uncontrolled_bp       hypertension, ≥ 3 BP readings, mean at or above the
//                         patient's target: 140/90; 130/80 with diabetes, CKD,
//                         coronary heart disease or heart failure; 150/90 from 80
//   uncontrolled_glucose  type 2 diabetes and ≥ 3 fasting readings with mean
//                         ≥ 7.0 mmol/L, or (fewer fasting) ≥ 3 non-fasting
//                         readings with mean ≥ 10.0 mmol/L
//   high_risk             a risk model's newest score is in its high band
//   overdue               an unresolved follow_up_overdue alert (the alert
//                         schedules decide when a follow-up is late)
//   no_data               no reading in 30 days, or an unresolved stale_data alert
//   open_alerts           an alert nobody has acknowledged or snoozed yet
// Priority (higher first): 1000 for an unresolved critical alert, 100 per
// unresolved warning (at most 5), 60 high risk, 40 each uncontrolled measure,
// 30 overdue, 20 no data, 10 moderate risk.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "careloop/core/result.hpp"
#include "careloop/store/store.hpp"

namespace careloop::mobile_api {

inline constexpr std::int64_t patient_list_window_ms = 30LL * 86'400'000;

struct PatientListRequest {
  std::string q;                     // name, phone, external id or patient id
  std::vector<std::string> filters;  // all must hold
  std::string sort = "priority";     // priority, name, last_reading (longest silent first), id
  int limit = 50;
  std::string cursor;                // "next" of the previous page; empty: the first page
};

inline constexpr const char* patient_list_filters[] = {"uncontrolled_bp", "uncontrolled_glucose", "high_risk",
                                                       "overdue",         "no_data",              "open_alerts"};
inline constexpr const char* patient_list_sorts[] = {"priority", "name", "last_reading", "id"};

// The request from query parameters; field errors name /query/<param>.
std::variant<PatientListRequest, std::vector<core::FieldError>> parse_patient_list_query(
    const std::vector<std::pair<std::string, std::string>>& query);

// One patient as the list shows it: PatientSummary in openapi.json.
nlohmann::json patient_summary_json(const store::PatientListRow& row, std::int64_t now_ms);

// {items, total, next}; an error naming /query/cursor for a cursor this
// request did not hand out (another sort, or not a cursor at all).
core::Result<nlohmann::json> patient_list_page(const std::vector<store::PatientListRow>& rows,
                                               const PatientListRequest& request, std::int64_t now_ms);

// The store's list rows per clinic, kept between requests: reading them walks
// a month of the clinic's readings (about 75 ms for a clinic of 200 patients),
// while the list is asked for far more often than the data changes. An entry
// is used while the store's patient_list_version of the clinic is unchanged
// and it is younger than max_age (the 30-day window moves with time). Every
// clinic's list (admin) is made of the clinics' entries, so an upload reads
// one clinic again, not the county. Call from a compute thread: it reads the store.
class PatientListCache {
 public:
  explicit PatientListCache(std::int64_t max_age_ms = 5 * 60'000) : max_age_ms_(max_age_ms) {}
  std::shared_ptr<const std::vector<store::PatientListRow>> rows(store::Store& st, std::optional<std::int64_t> clinic_id,
                                                                 std::int64_t now_ms);

 private:
  std::shared_ptr<const std::vector<store::PatientListRow>> clinic_rows(store::Store& st, std::int64_t clinic_id,
                                                                        std::int64_t now_ms, std::string& version);
  struct Entry {
    std::string version;
    std::int64_t read_at_ms = 0;
    std::shared_ptr<const std::vector<store::PatientListRow>> rows;
  };
  std::int64_t max_age_ms_;
  std::mutex m_;
  std::map<std::int64_t, Entry> entries_;  // by clinic id; 0: every clinic
};

}  // namespace careloop::mobile_api
