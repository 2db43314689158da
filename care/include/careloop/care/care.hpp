#pragma once
// care/: the protocols at work on stored data. The critical-tier alert hook
// the store's writer runs inside the transaction of every reading batch
// (DESIGN §3 step 3), the doctor's actions on an alert (acknowledge, snooze,
// resolve), and the notification that wakes the clinic's live stream once an
// event has committed (step 5). Pure decisions stay in protocols/; this
// module moves them in and out of the store.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "careloop/core/result.hpp"
#include "careloop/protocols/alert_book.hpp"
#include "careloop/protocols/engine.hpp"
#include "careloop/protocols/protocol.hpp"
#include "careloop/store/store.hpp"

namespace careloop::care {

// The protocols a deployment runs, loaded and validated once at start.
// One per programme (ProtocolSet); which one is a setting.
class ProtocolLibrary {
 public:
  ProtocolLibrary() = default;
  // The set points into the loaded protocols: never copied.
  ProtocolLibrary(const ProtocolLibrary&) = delete;
  ProtocolLibrary& operator=(const ProtocolLibrary&) = delete;

  // The default choice per programme when several versions are in the folder.
  static std::vector<std::string> default_ids() { return {"cn-hypertension-primary-2020", "cn-diabetes-primary-2022"}; }

  // Loads every file of `dir` (all must be valid: the errors are the lines
  // `careloop protocols check DIR` prints) and selects `ids`. A set
  // `escalate_critical_after_ms` (the serve flag) overrides the protocols'.
  static core::Result<std::shared_ptr<const ProtocolLibrary>> load(
      const std::filesystem::path& dir, const std::vector<std::string>& ids = default_ids(),
      std::optional<std::int64_t> escalate_critical_after_ms = std::nullopt);
  // No protocols: nothing fires (tests, `careloop routes`).
  static std::shared_ptr<const ProtocolLibrary> empty();

  // The deployment's set: what a clinic that chose none uses.
  const protocols::ProtocolSet& set() const noexcept { return set_; }
  // Every protocol loaded from the folder (a clinic chooses among them).
  const std::vector<protocols::Protocol>& all() const noexcept { return all_; }
  // A loaded protocol by id (the last version in the folder) or by id and version; nullptr when absent.
  const protocols::Protocol* find(std::string_view id, std::string_view version = {}) const noexcept;
  // The set for a clinic's choice of ids: empty = set(); a programme the ids
  // do not name keeps set()'s protocol. Errors name the unknown id, or two
  // protocols of one programme.
  core::Result<protocols::ProtocolSet> choose(const std::vector<std::string>& ids) const;
  // What the alert hook and the review evaluate for a clinic: the set of the
  // clinic's stored choice (WriteTxn/Store::clinic_protocols), made once per
  // distinct choice and kept. A choice the library cannot honour any more (a
  // protocol removed from the folder since) falls back to the deployment's
  // set, with one line on stderr: alerts must not stop.
  std::shared_ptr<const protocols::ProtocolSet> set_for(const std::vector<std::string>& ids) const;
  const protocols::AlertSettings& settings() const noexcept { return settings_; }
  // The rule an alert came from (any loaded protocol), for its words; nullptr when unknown.
  const protocols::AlertRule* rule(std::string_view protocol_id, std::string_view rule_id) const noexcept;

 private:
  std::vector<protocols::Protocol> all_;
  protocols::ProtocolSet set_;
  std::shared_ptr<const protocols::ProtocolSet> shared_set_ = std::make_shared<const protocols::ProtocolSet>();
  protocols::AlertSettings settings_;
  mutable std::mutex chosen_mutex_;
  mutable std::unordered_map<std::string, std::shared_ptr<const protocols::ProtocolSet>> chosen_;
};

// Wakes whoever follows a clinic's events once new ones have committed.
// publish() runs on the writer thread: a wake function must only post.
class ClinicEventHub {
 public:
  using Wake = std::function<void()>;
  // Keep the returned handle while subscribed; dropping it unsubscribes.
  std::shared_ptr<void> subscribe(std::int64_t clinic_id, Wake wake);
  void publish(std::int64_t clinic_id);
  // Wakes every subscriber: a session ended, and each stream must ask again
  // whether it may still listen.
  void publish_all();
  std::size_t subscribers() const;

 private:
  struct Entry {
    std::int64_t clinic_id;
    Wake wake;
  };
  mutable std::mutex mutex_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, Entry> entries_;
};

// The JSON document of one clinic event: the `data:` of the live stream and
// the body of a webhook POST (the same bytes, so a receiver may use either).
const std::string& event_body(const store::ClinicEvent& e) noexcept;

// What the patient is told at once about a critical signal (CLINICAL §3):
// re-measure after rest, the symptoms that mean hospital now, and that the
// doctor has been notified. nullopt for a signal without advice.
struct Advice {
  std::string zh;
  std::string en;
};
std::optional<Advice> patient_advice(std::string_view signal);

// The hook: per batch, fold the new readings into the patient's kept state,
// then per reading run the critical-tier rules and update the alert book,
// writing alert rows, clinic events and the patient's sync entry.
// `hub` may be null (no live stream). `committed`, if set, is called with
// the patient once the batch has committed (on the writer thread: it must
// only schedule, e.g. Reviewer::schedule).
std::shared_ptr<store::ReadingsHook> make_critical_alert_hook(std::shared_ptr<const ProtocolLibrary> library,
                                                              std::shared_ptr<ClinicEventHub> hub,
                                                              std::function<void(std::int64_t)> committed = {});

// A doctor's action on one alert.
enum class ActionKind { acknowledge, snooze, resolve };
struct AlertAction {
  ActionKind kind = ActionKind::acknowledge;
  std::int64_t alert_id = 0;
  std::int64_t by_user_id = 0;
  protocols::AckAction ack = protocols::AckAction::no_action;  // acknowledge
  std::string note;                                            // acknowledge, resolve
  std::int64_t snooze_until_ms = 0;                            // snooze
  std::string remote_addr;                                     // for the audit entry
};

// Applies the action in one write job: alert book, alert row, clinic event
// and the audit entry commit together. Errors: not_found (no such alert),
// conflict (already resolved), invalid (a snooze that ends in the past).
void act_on_alert(store::Transactions& st, std::shared_ptr<ClinicEventHub> hub, AlertAction a,
                  store::Completion<store::AlertRow> done);

// The alert as the clinic API and the event stream show it.
nlohmann::json alert_json(const store::AlertRow& a);

}  // namespace careloop::care
