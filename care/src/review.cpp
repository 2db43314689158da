// Alerts after the commit and on a schedule: full reviews, timers, risk
// alerts (review.hpp). Reads and evaluation run on the caller's (compute)
// thread; the alert book is only changed inside a write job, so the writer's
// critical hook and these jobs never race on it.
#include "careloop/care/review.hpp"
#include "careloop/care/visits.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "careloop/core/patient_state.hpp"
#include "careloop/core/time.hpp"
#include "rows.hpp"

namespace careloop::care {
namespace {

using nlohmann::json;
constexpr std::int64_t day_ms = 86'400'000;

std::string percent_text(double p) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", p * 100);
  return buf;
}

// Saves the book when it changed (a cleared-since time counts) and writes its events.
int finish_patient(store::WriteTxn& txn, const ProtocolLibrary& library, const std::shared_ptr<ClinicEventHub>& hub,
                   std::int64_t patient_id, const std::optional<store::PatientStateRow>& kept,
                   const protocols::AlertBook& book, const std::vector<protocols::AlertEvent>& events, std::int64_t now,
                   const std::vector<protocols::AlertSignal>* signals) {
  const std::string saved = book.to_json();
  const bool changed = kept ? kept->alerts_json != saved : !book.alerts().empty() || !events.empty();
  if (!changed && events.empty()) return 0;
  std::int64_t clinic_id = 0;
  if (kept) {
    clinic_id = kept->clinic_id;
  } else {
    auto patient = txn.patient(patient_id);
    if (!patient) throw store::StoreError(core::Errc::not_found, patient.error().message);
    clinic_id = patient->clinic_id;
  }
  txn.save_alert_book(patient_id, clinic_id, saved, now);
  return detail::write_alert_events(txn, &library, hub, patient_id, clinic_id, events, now, signals);
}

}  // namespace

protocols::Text risk_reason(const store::StoredRiskScore& score) {
  std::string en = "High risk (" + score.model_id + "): " + percent_text(score.probability);
  std::string zh = "高风险（" + score.model_id + "）：" + percent_text(score.probability);
  const json factors = json::parse(score.factors_json, nullptr, false);
  std::string top;
  if (factors.is_array())
    for (const auto& f : factors) {
      if (!f.is_object()) continue;
      const std::string text = f.value("text", f.value("label", std::string()));
      if (!text.empty()) top += (top.empty() ? "" : "; ") + text;
    }
  if (!top.empty()) {
    en += ". Top factors: " + top;
    zh += "。主要因素：" + top;
  }
  return {en, zh};
}

core::Result<std::unique_ptr<Review>> prepare_review(store::Store& st, const ProtocolLibrary& library,
                                                     std::int64_t patient_id, std::int64_t now_ms) {
  // The record and the kept state caught up (the shared batch read; without a
  // saved state, the fold of the retained days).
  auto got = st.patients_with_state({&patient_id, 1}, now_ms - core::PatientState::retained_days * day_ms,
                                    now_ms + day_ms);
  if (got.empty()) return core::Error::not_found("patient " + std::to_string(patient_id) + " not found");
  const core::Patient* patient = &got.front().patient;
  const core::PatientState& state = got.front().state;
  auto review = std::make_unique<Review>();
  review->patient_id = patient_id;
  review->now_ms = now_ms;

  protocols::SnapshotContext context;
  const auto scores = st.latest_risk_scores(patient_id);
  for (const auto& s : scores) {
    context.risk.push_back({s.model_id, s.probability, s.band == "high"});
    if (s.band != "high") continue;
    json latest{{"probability", s.probability}, {"band", s.band}, {"model_version", s.model_version},
                {"computed_at", core::format_iso8601_utc(s.computed_at_ms)}};
    latest["factors"] = json::parse(s.factors_json, nullptr, false);
    if (latest["factors"].is_discarded()) latest["factors"] = json::array();
    review->extra.risk_high(s.model_id, s.model_version, latest.dump(), risk_reason(s));
  }
  const auto visits = st.visits(patient_id, 16);
  context.consecutive_uncontrolled_visits = consecutive_uncontrolled(visits);
  const auto snapshot = protocols::make_snapshot(state, *patient, context, now_ms);
  const auto set = library.set_for(st.clinic_protocols(patient->clinic_id));
  review->signals = protocols::evaluate_alerts(snapshot, *set, protocols::TierFilter::all);

  if (auto plan = st.approved_care_plan(patient_id)) {
    const json j = json::parse(plan->plan_json, nullptr, false);
    const json* fu = j.is_object() && j.contains("follow_up") && j["follow_up"].is_object() ? &j["follow_up"] : nullptr;
    const auto plan_due = fu && (*fu).contains("due") && (*fu)["due"].is_string()
                              ? core::parse_date_days((*fu)["due"].get<std::string>())
                              : std::nullopt;
    // A visit since the plan's interval began moves the due date to that visit plus the interval.
    const int within_days = fu && (*fu).contains("within_days") && (*fu)["within_days"].is_number_integer()
                                ? (*fu)["within_days"].get<int>()
                                : 0;
    const auto due = plan_due && within_days > 0 ? std::optional<std::int64_t>(follow_up_due_day(*plan_due, within_days, visits))
                                                 : plan_due;
    if (due && snapshot.today > *due) {
      const std::string date = core::format_date(*due);
      const std::string pid = fu->value("protocol", std::string());
      std::string version;
      if (j.contains("protocols") && j["protocols"].is_array())
        for (const auto& p : j["protocols"])
          if (p.is_object() && p.value("id", std::string()) == pid) version = p.value("version", std::string());
      std::string why_en, why_zh;
      if (fu->contains("reason") && (*fu)["reason"].is_object()) {
        why_en = (*fu)["reason"].value("en", std::string());
        why_zh = (*fu)["reason"].value("zh-CN", std::string());
      }
      json latest{{"due", date}, {"care_plan_version", plan->version}, {"days_overdue", snapshot.today - *due}};
      protocols::Text reason{"Follow-up overdue: the approved care plan (version " + std::to_string(plan->version) +
                                 ") set the next visit by " + date + (why_en.empty() ? "" : " (" + why_en + ")"),
                             "随访逾期：已批准的管理计划（第 " + std::to_string(plan->version) + " 版）要求在 " + date +
                                 " 之前随访" + (why_zh.empty() ? "" : "（" + why_zh + "）")};
      review->extra.follow_up_overdue(*due, pid, version, fu->value("rule", std::string("follow_up")), latest.dump(),
                                      std::move(reason));
    }
  }
  const auto& extra = review->extra.signals();
  review->signals.insert(review->signals.end(), extra.begin(), extra.end());
  return review;
}

void apply_reviews(store::Store& st, std::shared_ptr<const ProtocolLibrary> library, std::shared_ptr<ClinicEventHub> hub,
                   std::vector<std::unique_ptr<Review>> reviews, store::Completion<ReviewOutcome> done) {
  auto outcome = std::make_shared<ReviewOutcome>();
  auto owned = std::make_shared<std::vector<std::unique_ptr<Review>>>(std::move(reviews));
  st.transact(
      [library, hub, owned, outcome](store::WriteTxn& txn) -> core::Status {
        *outcome = {};
        for (const auto& r : *owned) {
          const auto kept = txn.load_state_header(r->patient_id);
          auto book = detail::load_book(kept, r->patient_id);
          const auto events = book.update(r->signals, protocols::Scope::full, r->now_ms, library->settings());
          outcome->events += finish_patient(txn, *library, hub, r->patient_id, kept, book, events, r->now_ms, &r->signals);
          ++outcome->patients;
        }
        return core::Unit{};
      },
      [outcome, owned, done = std::move(done)](core::Result<core::Unit> r) {
        if (!r) return done(r.error());
        done(*outcome);
      });
}

void tick_alerts(store::Store& st, std::shared_ptr<const ProtocolLibrary> library, std::shared_ptr<ClinicEventHub> hub,
                 std::vector<std::int64_t> patient_ids, std::int64_t now_ms, store::Completion<ReviewOutcome> done) {
  auto outcome = std::make_shared<ReviewOutcome>();
  st.transact(
      [library, hub, ids = std::move(patient_ids), now_ms, outcome](store::WriteTxn& txn) -> core::Status {
        *outcome = {};
        for (std::int64_t id : ids) {
          const auto kept = txn.load_state_header(id);
          if (!kept || kept->alerts_json.empty()) continue;
          auto book = detail::load_book(kept, id);
          const auto events = book.tick(now_ms, library->settings());
          outcome->events += finish_patient(txn, *library, hub, id, kept, book, events, now_ms, nullptr);
          ++outcome->patients;
        }
        return core::Unit{};
      },
      [outcome, done = std::move(done)](core::Result<core::Unit> r) {
        if (!r) return done(r.error());
        done(*outcome);
      });
}

core::Result<ReviewOutcome> review_patients(store::Store& st, std::shared_ptr<const ProtocolLibrary> library,
                                            std::shared_ptr<ClinicEventHub> hub, const std::vector<std::int64_t>& ids,
                                            std::int64_t now_ms, int batch) {
  ReviewOutcome total;
  std::vector<std::unique_ptr<Review>> pending;
  auto flush = [&]() -> core::Status {
    if (pending.empty()) return core::ok_status();
    auto r = store::wait_for<ReviewOutcome>(
        [&](auto done) { apply_reviews(st, library, hub, std::move(pending), std::move(done)); });
    pending.clear();
    if (!r) return r.error();
    total.patients += r->patients;
    total.events += r->events;
    return core::ok_status();
  };
  for (std::int64_t id : ids) {
    auto review = prepare_review(st, *library, id, now_ms);
    if (!review) continue;  // removed meanwhile
    pending.push_back(std::move(*review));
    if (static_cast<int>(pending.size()) >= std::max(1, batch))
      if (auto f = flush(); !f) return f.error();
  }
  if (auto f = flush(); !f) return f.error();
  return total;
}

core::Status apply_risk_alerts(store::WriteTxn& txn, const ProtocolLibrary& library,
                               const std::shared_ptr<ClinicEventHub>& hub,
                               const std::vector<store::StoredRiskScore>& scores, std::int64_t now_ms) {
  std::map<std::int64_t, std::vector<const store::StoredRiskScore*>> by_patient;
  for (const auto& s : scores) by_patient[s.patient_id].push_back(&s);
  for (const auto& [patient_id, mine] : by_patient) {
    const auto kept = txn.load_state_header(patient_id);
    const bool any_high = std::any_of(mine.begin(), mine.end(), [](const auto* s) { return s->band == "high"; });
    // Nothing high and no risk alert kept: nothing to do (the common case).
    if (!any_high && (!kept || kept->alerts_json.find("\"risk_high:") == std::string::npos)) continue;
    auto book = detail::load_book(kept, patient_id);
    protocols::ExtraSignals extra;
    std::vector<protocols::AlertEvent> events;
    for (const auto* s : mine) {
      if (s->band != "high") {
        auto cleared = book.clear("risk_high:" + s->model_id, now_ms, library.settings());
        events.insert(events.end(), cleared.begin(), cleared.end());
        continue;
      }
      json latest{{"probability", s->probability}, {"band", s->band}, {"model_version", s->model_version},
                  {"computed_at", core::format_iso8601_utc(s->computed_at_ms)}};
      latest["factors"] = json::parse(s->factors_json, nullptr, false);
      if (latest["factors"].is_discarded()) latest["factors"] = json::array();
      extra.risk_high(s->model_id, s->model_version, latest.dump(), risk_reason(*s));
    }
    // critical_only: opens and updates these signals, judges no other.
    auto opened = book.update(extra.signals(), protocols::Scope::critical_only, now_ms, library.settings());
    events.insert(events.end(), opened.begin(), opened.end());
    finish_patient(txn, library, hub, patient_id, kept, book, events, now_ms, &extra.signals());
  }
  return core::Unit{};
}

// ---- Reviewer

Reviewer::Reviewer(store::Store& st, std::shared_ptr<const ProtocolLibrary> library, std::shared_ptr<ClinicEventHub> hub,
                   boost::asio::thread_pool& pool, std::chrono::milliseconds delay, std::function<std::int64_t()> clock)
    : debouncer_(pool, core::DebouncerSettings{"review", delay},
                 [&st, library = library ? std::move(library) : ProtocolLibrary::empty(), hub = std::move(hub),
                  clock = std::move(clock)](std::int64_t patient_id) -> core::Status {
                   auto reviewed = review_patients(st, library, hub, {patient_id}, clock ? clock() : core::now_utc_ms(), 1);
                   if (!reviewed) return reviewed.error();
                   return core::ok_status();
                 }) {}

void Reviewer::schedule(std::int64_t patient_id) { debouncer_.schedule(patient_id); }
void Reviewer::stop() { debouncer_.stop(); }
std::uint64_t Reviewer::reviewed() const noexcept { return debouncer_.counts().done; }
core::DebouncerCounts Reviewer::counts() const noexcept { return debouncer_.counts(); }

// ---- AlertSchedule

struct AlertSchedule::State : std::enable_shared_from_this<AlertSchedule::State> {
  store::Store& st;
  std::shared_ptr<const ProtocolLibrary> library;
  std::shared_ptr<ClinicEventHub> hub;
  ScheduleSettings settings;
  std::function<std::int64_t()> clock;
  std::mutex sweep_m;  // one sweep at a time
  std::mutex m;
  std::condition_variable idle;
  bool stopped = false;
  bool running = false;
  std::shared_ptr<boost::asio::steady_timer> timer;
  std::optional<std::int64_t> last_full_ms;
  std::int64_t stale_checked_to_ms = 0;  // newest-reading ages below this were looked at

  State(store::Store& s, std::shared_ptr<const ProtocolLibrary> l, std::shared_ptr<ClinicEventHub> h,
        ScheduleSettings set, std::function<std::int64_t()> c)
      : st(s), library(std::move(l)), hub(std::move(h)), settings(set), clock(std::move(c)) {}

  std::int64_t now() const { return clock ? clock() : core::now_utc_ms(); }

  core::Result<SweepSummary> sweep() {
    std::lock_guard one(sweep_m);
    const std::int64_t now_ms = now();
    SweepSummary sum;
    // Timers: only patients whose snooze ended or whose critical alert is old enough.
    const auto due = st.patients_with_alert_timers_due(now_ms, now_ms - library->settings().escalate_critical_after_ms);
    const std::size_t step = static_cast<std::size_t>(std::max(1, settings.batch));
    for (std::size_t i = 0; i < due.size(); i += step) {
      std::vector<std::int64_t> chunk(due.begin() + static_cast<std::ptrdiff_t>(i),
                                      due.begin() + static_cast<std::ptrdiff_t>(std::min(due.size(), i + step)));
      auto r = store::wait_for<ReviewOutcome>(
          [&](auto done) { tick_alerts(st, library, hub, std::move(chunk), now_ms, std::move(done)); });
      if (!r) return r.error();
      sum.ticked += r->patients;
      sum.events += r->events;
    }
    if (last_full_ms && now_ms - *last_full_ms < settings.full_every.count()) return sum;

    // Full reviews: unresolved alerts (cleared by time?), newly stale, follow-up gone by.
    std::set<std::int64_t> ids;
    for (std::int64_t after = 0;;) {
      auto page = st.patients_with_unresolved_alerts(after, 10'000);
      if (page.empty()) break;
      ids.insert(page.begin(), page.end());
      after = page.back();
    }
    const std::int64_t stale_to = now_ms - settings.stale_after_days * day_ms;
    for (std::int64_t id : st.patients_last_reading_between(
             {core::ReadingKind::blood_pressure, core::ReadingKind::glucose}, stale_checked_to_ms, stale_to, "stale_data"))
      ids.insert(id);
    // The date in the easternmost zone (UTC+14): every patient whose local date has passed the due date is a candidate.
    const std::string today_east = core::format_date(core::local_day(now_ms, 14 * 60));
    for (std::int64_t id : st.patients_follow_up_due_before(today_east, "follow_up_overdue")) ids.insert(id);
    auto r = review_patients(st, library, hub, std::vector<std::int64_t>(ids.begin(), ids.end()), now_ms, settings.batch);
    if (!r) return r.error();
    sum.reviewed = r->patients;
    sum.events += r->events;
    sum.full = true;
    last_full_ms = now_ms;
    stale_checked_to_ms = std::max(stale_checked_to_ms, stale_to);
    return sum;
  }

  void arm(boost::asio::thread_pool& pool, std::chrono::milliseconds after) {
    std::lock_guard lock(m);
    if (stopped) return;
    timer = std::make_shared<boost::asio::steady_timer>(pool.get_executor(), after);
    timer->async_wait([self = shared_from_this(), &pool](const boost::system::error_code& ec) {
      if (ec) return;
      {
        std::lock_guard lock(self->m);
        if (self->stopped) return;
        self->running = true;
      }
      try {
        if (auto r = self->sweep(); !r)
          std::fprintf(stderr, "careloop care: alert sweep failed: %s\n", r.error().message.c_str());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "careloop care: alert sweep failed: %s\n", e.what());
      }
      {
        std::lock_guard lock(self->m);
        self->running = false;
      }
      self->idle.notify_all();
      self->arm(pool, self->settings.interval);
    });
  }
};

AlertSchedule::AlertSchedule(store::Store& st, std::shared_ptr<const ProtocolLibrary> library,
                             std::shared_ptr<ClinicEventHub> hub, ScheduleSettings settings,
                             std::function<std::int64_t()> clock)
    : state_(std::make_shared<State>(st, library ? std::move(library) : ProtocolLibrary::empty(), std::move(hub),
                                     settings, std::move(clock))) {}

AlertSchedule::~AlertSchedule() { stop(); }

// The first sweep (a full one) one interval after the start: not in the
// middle of a start-up, and a short-lived server writes nothing it was not asked to.
void AlertSchedule::start(boost::asio::thread_pool& pool) { state_->arm(pool, state_->settings.interval); }

void AlertSchedule::stop() {
  std::unique_lock lock(state_->m);
  state_->stopped = true;
  if (state_->timer) state_->timer->cancel();
  state_->idle.wait(lock, [&] { return !state_->running; });
}

core::Result<SweepSummary> AlertSchedule::sweep() { return state_->sweep(); }

}  // namespace careloop::care
