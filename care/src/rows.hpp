#pragma once
// Between the alert book (protocols::Alert) and the alerts table (store::AlertRow).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "careloop/care/care.hpp"

namespace careloop::care::detail {

// Copies the book's view of an alert onto its row. With a library, the
// clinic's reason and the patient's advice come from the rule and signal;
// without one the row keeps the words it has.
store::AlertRow to_row(const protocols::Alert& a, store::AlertRow row, const ProtocolLibrary* library);

// "alert.opened", "alert.acknowledged", ... A snooze's end is
// "alert.unsnoozed"; both resolutions are "alert.resolved" (the payload's
// "auto" says which).
std::string event_kind(protocols::EventKind k);

// The clinic event payload: {event, at, alert, note?}.
std::string event_payload(const std::string& kind, std::int64_t at_ms, const store::AlertRow& row,
                          const std::string& note = {}, std::optional<bool> automatic = std::nullopt);

// Writes what the book's events say, in the open transaction: per event the
// alert row (its reason from the signal's message when `signals` has it,
// else from the library's rule) and a clinic event; for a critical alert
// with new evidence one sync entry for the patient. Returns the number of
// clinic events written; registers the hub's wake-up after the commit.
int write_alert_events(store::WriteTxn& txn, const ProtocolLibrary* library, const std::shared_ptr<ClinicEventHub>& hub,
                       std::int64_t patient_id, std::int64_t clinic_id, const std::vector<protocols::AlertEvent>& events,
                       std::int64_t now, const std::vector<protocols::AlertSignal>* signals = nullptr);

// The patient's alert book as saved (a new one when none, or unreadable: the
// rows keep the alerts).
protocols::AlertBook load_book(const std::optional<store::PatientStateRow>& kept, std::int64_t patient_id);

}  // namespace careloop::care::detail
