// The critical tier inside the writer's transaction (issue 4 item 6): a
// reading acknowledged to the phone never lacks its alert, because both
// commit together or neither does.
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "careloop/core/patient_state.hpp"
#include "careloop/core/time.hpp"
#include "rows.hpp"

namespace careloop::care {
namespace detail {

using nlohmann::json;

store::AlertRow to_row(const protocols::Alert& a, store::AlertRow row, const ProtocolLibrary* library) {
  row.signal = a.signal;
  row.tier = std::string(protocols::to_string(a.tier));
  row.status = std::string(protocols::to_string(a.status));
  row.rule_id = a.rule_id;
  row.protocol_id = a.protocol_id;
  row.protocol_version = a.protocol_version;
  if (library) {
    if (const auto* rule = library->rule(a.protocol_id, a.rule_id)) {
      row.reason = rule->message.zh;
      row.reason_en = rule->message.en;
    }
    if (a.tier == protocols::Tier::critical) {
      if (auto advice = patient_advice(a.signal)) {
        row.advice_zh = advice->zh;
        row.advice_en = advice->en;
      }
    }
  }
  row.opened_at_ms = a.opened_at_ms;
  row.updated_at_ms = a.updated_at_ms;
  row.count = a.count;
  row.latest_value_json = a.latest_json.empty() ? "{}" : a.latest_json;
  if (a.ack) {
    row.acknowledged_by = a.ack->by_user_id;
    row.acknowledged_at_ms = a.ack->at_ms;
    row.action = std::string(protocols::to_string(a.ack->action));
    row.note = a.ack->note;
  }
  row.snoozed_until_ms = a.snoozed_until_ms;
  row.resolved_at_ms = a.resolved_at_ms;
  row.resolved_by = a.resolved_by_user_id;
  row.escalated_at_ms = a.escalated_at_ms;
  return row;
}

std::string event_kind(protocols::EventKind k) {
  switch (k) {
    case protocols::EventKind::snooze_ended: return "alert.unsnoozed";
    case protocols::EventKind::resolved_auto:
    case protocols::EventKind::resolved_by_hand: return "alert.resolved";
    default: return "alert." + std::string(protocols::to_string(k));
  }
}

std::string event_payload(const std::string& kind, std::int64_t at_ms, const store::AlertRow& row,
                          const std::string& note, std::optional<bool> automatic) {
  json j{{"event", kind}, {"at", core::format_iso8601_utc(at_ms)}, {"alert", alert_json(row)}};
  if (automatic) j["auto"] = *automatic;
  if (!note.empty()) j["note"] = note;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

protocols::AlertBook load_book(const std::optional<store::PatientStateRow>& kept, std::int64_t patient_id) {
  if (!kept || kept->alerts_json.empty()) return {};
  auto parsed = protocols::AlertBook::from_json(kept->alerts_json);
  if (parsed) return std::move(*parsed);
  // Refusing would block every later reading of the patient; the rows keep the alerts.
  std::fprintf(stderr, "careloop care: patient %lld: unreadable alert book (%s); starting a new one\n",
               static_cast<long long>(patient_id), parsed.error().message.c_str());
  return {};
}

int write_alert_events(store::WriteTxn& txn, const ProtocolLibrary* library, const std::shared_ptr<ClinicEventHub>& hub,
                       std::int64_t patient_id, std::int64_t clinic_id, const std::vector<protocols::AlertEvent>& events,
                       std::int64_t now, const std::vector<protocols::AlertSignal>* signals) {
  std::vector<std::int64_t> tell_patient;
  int written = 0;
  for (const auto& e : events) {
    if (e.kind == protocols::EventKind::held) continue;
    store::AlertRow row;
    if (auto open = txn.open_alert(patient_id, e.alert.signal)) {
      row = std::move(*open);
    } else {
      row.patient_id = patient_id;
      row.clinic_id = clinic_id;
    }
    row = to_row(e.alert, std::move(row), library);
    if (signals)
      for (const auto& s : *signals)
        if (s.signal == e.alert.signal && s.message && (!library || !library->rule(s.protocol_id, s.rule_id))) {
          row.reason = s.message->zh;
          row.reason_en = s.message->en;
        }
    row.id = txn.save_alert(row);
    const std::string kind = event_kind(e.kind);
    std::optional<bool> automatic;
    if (e.kind == protocols::EventKind::resolved_auto) automatic = true;
    if (e.kind == protocols::EventKind::resolved_by_hand) automatic = false;
    txn.append_clinic_event({0, clinic_id, patient_id, kind, row.id, event_payload(kind, now, row, {}, automatic), now});
    ++written;
    const bool new_evidence = e.kind == protocols::EventKind::opened || e.kind == protocols::EventKind::updated ||
                              e.kind == protocols::EventKind::tier_raised;
    if (new_evidence && e.alert.tier == protocols::Tier::critical && !row.advice_zh.empty() &&
        std::find(tell_patient.begin(), tell_patient.end(), row.id) == tell_patient.end())
      tell_patient.push_back(row.id);
  }
  // One sync entry per alert per batch: what to do now, and that the doctor knows.
  for (std::int64_t id : tell_patient) txn.record_change(patient_id, clinic_id, "alert", id, now);
  if (written > 0 && hub) txn.after_commit([hub, clinic_id] { hub->publish(clinic_id); });
  return written;
}

}  // namespace detail

namespace {

using nlohmann::json;

json iso_or_null(const std::optional<std::int64_t>& ms) {
  return ms ? json(core::format_iso8601_utc(*ms)) : json(nullptr);
}

// The states of recently written patients, kept between batches on the
// writer thread. The database holds a saved state (state_seq: the highest
// reading change_seq folded in) that may lag behind; an entry here is the
// caught-up state and is used only while the saved state is still the one it
// grew from. A job whose writes are discarded forgets its patient's entry
// (WriteTxn::on_rollback), so the cache is never ahead of the database.
class StateCache {
 public:
  struct Entry {
    core::PatientState state;
    std::int64_t applied_seq = 0;  // highest readings.change_seq folded in
    std::int64_t saved_seq = 0;    // state_seq of the saved state it grew from; 0: none saved
    std::int64_t unsaved = 0;      // readings applied since that save
  };

  std::optional<Entry> take(std::int64_t patient_id) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(patient_id);
    if (it == entries_.end()) return std::nullopt;
    Entry e = std::move(it->second);
    entries_.erase(it);
    return e;
  }
  void put(std::int64_t patient_id, Entry e) {
    std::lock_guard lock(mutex_);
    // Bounded: a full cache forgets an arbitrary entry (a miss costs a parse and a catch-up).
    if (entries_.size() >= capacity && !entries_.contains(patient_id)) entries_.erase(entries_.begin());
    entries_.insert_or_assign(patient_id, std::move(e));
  }
  void forget(std::int64_t patient_id) {
    std::lock_guard lock(mutex_);
    entries_.erase(patient_id);
  }

 private:
  static constexpr std::size_t capacity = 4096;
  std::mutex mutex_;
  std::unordered_map<std::int64_t, Entry> entries_;
};

// The state is saved once this many readings have been applied since the
// last save: it bounds the catch-up after a restart or a cache miss.
constexpr std::int64_t save_every_readings = 32;

class CriticalAlertHook final : public store::ReadingsHook {
 public:
  CriticalAlertHook(std::shared_ptr<const ProtocolLibrary> library, std::shared_ptr<ClinicEventHub> hub,
                    std::function<void(std::int64_t)> committed)
      : library_(std::move(library)), hub_(std::move(hub)), committed_(std::move(committed)) {}

  void on_readings_created(store::WriteTxn& txn, std::int64_t patient_id, std::int64_t clinic_id,
                           std::span<const core::Reading> created) override {
    const std::int64_t now = core::now_utc_ms();
    // Should this job be rolled back, whatever it leaves in the cache goes too.
    txn.on_rollback([this, patient_id] { cache_.forget(patient_id); });
    const auto kept = txn.load_state_header(patient_id);
    StateCache::Entry entry = load_entry(txn, patient_id, kept ? kept->state_seq : 0, created);
    const core::PatientState& state = entry.state;

    protocols::AlertBook book = detail::load_book(kept, patient_id);

    std::vector<protocols::AlertEvent> events;
    // The clinic's own choice of protocols (issue 4 item 1), as its plans and reviews use.
    const auto set = library_->all().empty() ? nullptr : library_->set_for(txn.clinic_protocols(clinic_id));
    if (set && !set->protocols().empty()) {
      auto patient = txn.patient(patient_id);
      if (!patient) throw std::runtime_error("patient " + std::to_string(patient_id) + ": " + patient.error().message);
      const protocols::SnapshotContext context;
      // Every reading is applied first, so a repeat within the batch can confirm or cancel (protocols/README.md).
      for (const auto& r : created) {
        if (r.kind == core::ReadingKind::medication) continue;
        const auto snapshot = protocols::make_snapshot(state, *patient, context, now, &r);
        auto signals = protocols::evaluate_alerts(snapshot, *set, protocols::TierFilter::critical);
        if (signals.empty()) continue;
        auto fired = book.update(signals, protocols::Scope::critical_only, now, library_->settings());
        for (auto& e : fired) events.push_back(std::move(e));
      }
    }

    // The book is saved whenever it changes, the state only every save_every_readings readings.
    if (entry.saved_seq == 0 || entry.unsaved >= save_every_readings) {
      store::PatientStateRow row{patient_id, clinic_id, {}, {}, now, entry.applied_seq, state.to_binary()};
      row.alerts_json = events.empty() && kept && !kept->alerts_json.empty() ? kept->alerts_json : book.to_json();
      txn.save_state(row);
      entry.saved_seq = entry.applied_seq;
      entry.unsaved = 0;
    } else if (!events.empty()) {
      txn.save_alert_book(patient_id, clinic_id, book.to_json(), now);
    }
    if (!events.empty()) detail::write_alert_events(txn, library_.get(), hub_, patient_id, clinic_id, events, now);
    cache_.put(patient_id, std::move(entry));
    // The warning tier and the windows are judged after the commit, off the writer (review.hpp).
    if (committed_) txn.after_commit([f = committed_, patient_id] { f(patient_id); });
  }

 private:
  // The patient's state with every stored reading applied, the created ones
  // included: the cached entry if it grew from the saved state (`saved_seq`),
  // else the saved state, caught up with the readings stored after it; else
  // rebuilt from every reading.
  StateCache::Entry load_entry(store::WriteTxn& txn, std::int64_t patient_id, std::int64_t saved_seq,
                               std::span<const core::Reading> created) {
    std::optional<StateCache::Entry> base;
    if (saved_seq > 0) {
      if (auto cached = cache_.take(patient_id); cached && cached->saved_seq == saved_seq) {
        base = std::move(cached);
      } else if (auto row = txn.load_state(patient_id); row && row->state_seq == saved_seq) {
        if (auto parsed = store::saved_state(*row))
          base = StateCache::Entry{std::move(*parsed), saved_seq, saved_seq, 0};
      }
    }
    // The created readings must all be after the base; one that is not means
    // the base is not what the database holds: rebuild.
    for (const auto& r : created)
      if (base && r.change_seq <= base->applied_seq) base.reset();
    if (base) {
      for (const auto& r : txn.readings_after(patient_id, base->applied_seq)) {
        base->state.apply(r);
        base->applied_seq = std::max(base->applied_seq, r.change_seq);
        ++base->unsaved;
      }
      return std::move(*base);
    }
    StateCache::Entry fresh;
    const auto all = txn.readings_of(patient_id);
    fresh.state = core::PatientState::from_readings(all);
    for (const auto& r : all) fresh.applied_seq = std::max(fresh.applied_seq, r.change_seq);
    fresh.unsaved = static_cast<std::int64_t>(all.size());
    return fresh;
  }

  std::shared_ptr<const ProtocolLibrary> library_;
  std::shared_ptr<ClinicEventHub> hub_;
  std::function<void(std::int64_t)> committed_;
  StateCache cache_;
};

}  // namespace

nlohmann::json alert_json(const store::AlertRow& a) {
  json latest = json::parse(a.latest_value_json, nullptr, false);
  json ack = nullptr;
  if (a.acknowledged_at_ms)
    ack = {{"by", a.acknowledged_by.value_or(0)},
           {"at", core::format_iso8601_utc(*a.acknowledged_at_ms)},
           {"action", a.action},
           {"note", a.note}};
  json advice = nullptr;
  if (!a.advice_zh.empty()) advice = {{"zh-CN", a.advice_zh}, {"en", a.advice_en}};
  return {{"id", a.id},
          {"patient_id", a.patient_id},
          {"clinic_id", a.clinic_id},
          {"signal", a.signal},
          {"tier", a.tier},
          {"status", a.status},
          {"rule", a.rule_id},
          {"protocol", {{"id", a.protocol_id}, {"version", a.protocol_version}}},
          {"reason", {{"zh-CN", a.reason}, {"en", a.reason_en}}},
          {"patient_advice", advice},
          {"opened_at", core::format_iso8601_utc(a.opened_at_ms)},
          {"updated_at", core::format_iso8601_utc(a.updated_at_ms)},
          {"count", a.count},
          {"latest", latest.is_discarded() ? json(nullptr) : latest},
          {"acknowledgement", ack},
          {"snoozed_until", iso_or_null(a.snoozed_until_ms)},
          {"resolved_at", iso_or_null(a.resolved_at_ms)},
          {"resolved_by", a.resolved_by ? json(*a.resolved_by) : json(nullptr)},
          {"escalated_at", iso_or_null(a.escalated_at_ms)}};
}

std::shared_ptr<store::ReadingsHook> make_critical_alert_hook(std::shared_ptr<const ProtocolLibrary> library,
                                                              std::shared_ptr<ClinicEventHub> hub,
                                                              std::function<void(std::int64_t)> committed) {
  return std::make_shared<CriticalAlertHook>(library ? std::move(library) : ProtocolLibrary::empty(), std::move(hub),
                                             std::move(committed));
}

}  // namespace careloop::care
