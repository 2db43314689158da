#include "careloop/reports/rollup.hpp"

#include <algorithm>
#include <iterator>
#include <optional>
#include <string>

namespace careloop::reports {
namespace {

bool newer(std::int64_t taken_ms, std::int64_t id, std::int64_t than_ms, const std::optional<std::int64_t>& than_id) {
  if (!than_id) return true;
  return taken_ms > than_ms || (taken_ms == than_ms && id > *than_id);
}

// A fasting glucose or an HbA1c: the readings diabetes control is judged on.
std::optional<std::pair<std::string, double>> glycemic_value(const core::Reading& r) {
  if (r.kind == core::ReadingKind::glucose && r.glucose_context == core::GlucoseContext::fasting && r.glucose_mmol_l)
    return std::pair<std::string, double>{"fasting_glucose", *r.glucose_mmol_l};
  if (r.kind == core::ReadingKind::hba1c && r.hba1c_percent) return std::pair<std::string, double>{"hba1c", *r.hba1c_percent};
  return std::nullopt;
}

}  // namespace

std::string bp_status(const store::PatientMonthRow& r, std::int64_t window_start_ms) {
  if (r.last_contact_ms < window_start_ms) return "missed_visit";
  if (!r.bp_reading_id) return "no_bp";
  return r.systolic_mmhg < controlled_systolic_below_mmhg && r.diastolic_mmhg < controlled_diastolic_below_mmhg
             ? "controlled"
             : "uncontrolled";
}

std::string glycemic_status(const store::PatientMonthRow& r, std::int64_t window_start_ms) {
  if (r.last_contact_ms < window_start_ms) return "missed_visit";
  if (!r.glycemic_reading_id) return "no_glycemic";
  const double below = r.glycemic_kind == "hba1c" ? controlled_hba1c_below_percent : controlled_fasting_glucose_below_mmol_l;
  return r.glycemic_value < below ? "controlled" : "uncontrolled";
}

void MonthFold::load(std::vector<store::PatientMonthRow> rows) {
  for (auto& r : rows) {
    loaded_[r.month] = r;
    rows_[r.month] = std::move(r);
  }
}

store::PatientMonthRow& MonthFold::row(std::map<int, store::PatientMonthRow>& in, int month) {
  auto [it, inserted] = in.try_emplace(month);
  if (inserted) {
    it->second.patient_id = patient_id_;
    it->second.clinic_id = clinic_id_;
    it->second.month = month;
  }
  return it->second;
}

void MonthFold::apply(const core::Reading& r) {
  const std::int64_t t = r.taken_at.utc_ms;
  if (t < cached_start_ms_ || t >= cached_end_ms_) {
    cached_month_ = calendar_.month_of(t);
    cached_start_ms_ = calendar_.month_start_ms(cached_month_);
    cached_end_ms_ = calendar_.month_end_ms(cached_month_);
    // A month whose bounds do not hold the instant (cannot happen in a sane zone): never reuse it.
    if (t < cached_start_ms_ || t >= cached_end_ms_) cached_end_ms_ = cached_start_ms_;
  }
  auto& own = row(own_, cached_month_);
  own.last_contact_ms = std::max(own.last_contact_ms, t);
  if (r.kind == core::ReadingKind::blood_pressure && r.systolic_mmhg && r.diastolic_mmhg &&
      newer(t, r.id, own.bp_taken_ms, own.bp_reading_id)) {
    own.bp_reading_id = r.id;
    own.bp_taken_ms = t;
    own.systolic_mmhg = *r.systolic_mmhg;
    own.diastolic_mmhg = *r.diastolic_mmhg;
  }
  if (const auto gly = glycemic_value(r); gly && newer(t, r.id, own.glycemic_taken_ms, own.glycemic_reading_id)) {
    own.glycemic_reading_id = r.id;
    own.glycemic_taken_ms = t;
    own.glycemic_kind = gly->first;
    own.glycemic_value = gly->second;
  }
}

// A month's own readings reach its row and the 11 after it (contact), and
// the 2 after it (the latest values). Newer wins, so the order does not matter.
void MonthFold::spread() {
  for (const auto& [m, own] : own_) {
    for (int month = m; month < m + under_care_months; ++month) {
      auto& r = row(rows_, month);
      r.last_contact_ms = std::max(r.last_contact_ms, own.last_contact_ms);
      if (month >= m + recent_months) continue;
      if (own.bp_reading_id && newer(own.bp_taken_ms, *own.bp_reading_id, r.bp_taken_ms, r.bp_reading_id)) {
        r.bp_reading_id = own.bp_reading_id;
        r.bp_taken_ms = own.bp_taken_ms;
        r.systolic_mmhg = own.systolic_mmhg;
        r.diastolic_mmhg = own.diastolic_mmhg;
      }
      if (own.glycemic_reading_id &&
          newer(own.glycemic_taken_ms, *own.glycemic_reading_id, r.glycemic_taken_ms, r.glycemic_reading_id)) {
        r.glycemic_reading_id = own.glycemic_reading_id;
        r.glycemic_taken_ms = own.glycemic_taken_ms;
        r.glycemic_kind = own.glycemic_kind;
        r.glycemic_value = own.glycemic_value;
      }
    }
  }
  own_.clear();
}

void MonthFold::contact(std::int64_t at_ms) {
  // Contact only: spread() carries it to the month's row and the 11 after it.
  auto& own = row(own_, calendar_.month_of(at_ms));
  own.last_contact_ms = std::max(own.last_contact_ms, at_ms);
}

store::PatientMonthRow MonthFold::with_status(store::PatientMonthRow r) const {
  const std::int64_t window_start = calendar_.month_start_ms(r.month - (recent_months - 1));
  r.bp_status = bp_status(r, window_start);
  r.glycemic_status = glycemic_status(r, window_start);
  return r;
}

std::vector<store::PatientMonthRow> MonthFold::changed() {
  spread();
  std::vector<store::PatientMonthRow> out;
  for (const auto& [month, r] : rows_) {
    auto next = with_status(r);
    auto it = loaded_.find(month);
    if (it == loaded_.end() || !(it->second == next)) out.push_back(std::move(next));
  }
  return out;
}

std::vector<store::PatientMonthRow> MonthFold::rows() {
  spread();
  std::vector<store::PatientMonthRow> out;
  out.reserve(rows_.size());
  for (const auto& [month, r] : rows_) out.push_back(with_status(r));
  return out;
}

namespace {

class RollupHook final : public store::ReadingsHook {
 public:
  explicit RollupHook(Calendar calendar) : calendar_(std::move(calendar)) {}

  void on_readings_created(store::WriteTxn& txn, std::int64_t patient_id, std::int64_t clinic_id,
                           std::span<const core::Reading> created) override {
    if (created.empty()) return;
    int lo = calendar_.month_of(created.front().taken_at.utc_ms);
    int hi = lo;
    for (const auto& r : created) {
      const int m = calendar_.month_of(r.taken_at.utc_ms);
      lo = std::min(lo, m);
      hi = std::max(hi, m);
    }
    MonthFold fold(calendar_, patient_id, clinic_id);
    fold.load(txn.patient_months(patient_id, lo, hi + under_care_months - 1));
    for (const auto& r : created) fold.apply(r);
    for (const auto& row : fold.changed()) txn.save_patient_month(row);
  }

  void on_visit_recorded(store::WriteTxn& txn, const store::VisitRow& visit) override {
    const int m = calendar_.month_of(visit.visited_at.utc_ms);
    MonthFold fold(calendar_, visit.patient_id, visit.clinic_id);
    fold.load(txn.patient_months(visit.patient_id, m, m + under_care_months - 1));
    fold.contact(visit.visited_at.utc_ms);
    for (const auto& row : fold.changed()) txn.save_patient_month(row);
  }

 private:
  Calendar calendar_;
};

}  // namespace

std::shared_ptr<store::ReadingsHook> make_rollup_hook(Calendar calendar) {
  return std::make_shared<RollupHook>(std::move(calendar));
}

core::Result<RebuildSummary> rebuild(store::Store& st, const Calendar& calendar,
                                     const std::function<void(std::int64_t)>& progress) {
  RebuildSummary summary;
  std::int64_t after = 0;
  constexpr int page = 1000;
  for (;;) {
    const auto ids = st.patient_ids(after, page);
    if (ids.empty()) break;
    std::int64_t rows = 0;
    auto done = store::wait_for<core::Unit>([&](auto complete) {
      st.transact(
          [&ids, &calendar, &rows](store::WriteTxn& txn) -> core::Status {
            for (const auto id : ids) txn.clear_patient_months(id);
            // The page's readings in one pass, patient by patient, then their visits.
            std::map<std::int64_t, MonthFold> folds;
            MonthFold* fold = nullptr;
            txn.scan_readings(ids.front(), ids.back(), [&](const core::Reading& r) {
              if (!fold || r.patient_id != fold->patient_id())
                fold = &folds.try_emplace(r.patient_id, calendar, r.patient_id, r.clinic_id).first->second;
              fold->apply(r);
            });
            for (const auto id : ids)
              for (const auto& v : txn.visits_of(id))
                folds.try_emplace(id, calendar, id, v.clinic_id).first->second.contact(v.visited_at.utc_ms);
            rows = 0;
            for (auto& [id, f] : folds)
              for (const auto& row : f.rows()) {
                txn.save_patient_month(row);
                ++rows;
              }
            return core::ok_status();
          },
          std::move(complete));
    });
    if (!done) return done.error();
    summary.patients += static_cast<std::int64_t>(ids.size());
    summary.rows += rows;
    after = ids.back();
    if (progress) progress(summary.patients);
  }
  return summary;
}

}  // namespace careloop::reports
