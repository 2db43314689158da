#pragma once
// Between the alert book (protocols::Alert) and the alerts table (store::AlertRow).
#include <cstdint>
#include <string>

#include "careloop/care/care.hpp"

namespace careloop::care::detail {

// Copies the book's view of an alert onto its row. With a library, the
// clinic's reason and the patient's advice come from the rule and signal;
// without one the row keeps the words it has.
store::AlertRow to_row(const protocols::Alert& a, store::AlertRow row, const ProtocolLibrary* library);

// "alert.opened", "alert.acknowledged", ...
std::string event_kind(protocols::EventKind k);

// The clinic event payload: {event, at, alert, note?}.
std::string event_payload(const std::string& kind, std::int64_t at_ms, const store::AlertRow& row,
                          const std::string& note = {});

}  // namespace careloop::care::detail
