// A doctor's acknowledge / snooze / resolve: the alert book, the row, the
// clinic event and the audit entry commit in one write job.
#include <nlohmann/json.hpp>

#include "careloop/core/time.hpp"
#include "rows.hpp"

namespace careloop::care {
namespace {

using nlohmann::json;

const char* audit_action(ActionKind k) {
  switch (k) {
    case ActionKind::acknowledge: return "alert.acknowledge";
    case ActionKind::snooze: return "alert.snooze";
    case ActionKind::resolve: return "alert.resolve";
  }
  return "alert.action";
}

core::Status apply(store::WriteTxn& txn, const AlertAction& a, store::AlertRow& out,
                   std::int64_t& clinic_id) {
  auto row = txn.alert(a.alert_id);
  if (!row) return core::Error::not_found("alert " + std::to_string(a.alert_id) + " not found");
  if (row->status == "resolved")
    return core::Error::conflict("alert " + std::to_string(a.alert_id) + " is already resolved");
  const std::int64_t now = core::now_utc_ms();
  auto kept = txn.load_state_header(row->patient_id);
  protocols::AlertBook book;
  if (kept && !kept->alerts_json.empty()) {
    auto parsed = protocols::AlertBook::from_json(kept->alerts_json);
    if (!parsed) return core::Error::internal("patient " + std::to_string(row->patient_id) + ": " + parsed.error().message);
    book = std::move(*parsed);
  }
  core::Result<protocols::AlertEvent> event = core::Error::internal("no action");
  switch (a.kind) {
    case ActionKind::acknowledge: event = book.acknowledge(row->signal, a.by_user_id, now, a.ack, a.note); break;
    case ActionKind::snooze: event = book.snooze(row->signal, a.snooze_until_ms, now); break;
    case ActionKind::resolve: event = book.resolve(row->signal, a.by_user_id, now); break;
  }
  if (!event) {
    if (event.error().code == core::Errc::invalid) return event.error();
    return core::Error::internal("alert " + std::to_string(a.alert_id) + " is not in its patient's alert book: " +
                                 event.error().message);
  }
  *row = detail::to_row(event->alert, std::move(*row), nullptr);
  txn.save_alert(*row);

  txn.save_alert_book(row->patient_id, row->clinic_id, book.to_json(), now);

  const std::string kind = detail::event_kind(event->kind);
  const std::string event_note = a.kind == ActionKind::acknowledge ? std::string() : a.note;
  txn.append_clinic_event(
      {0, row->clinic_id, row->patient_id, kind, row->id, detail::event_payload(kind, now, *row, event_note,
                                 a.kind == ActionKind::resolve ? std::optional<bool>(false) : std::nullopt),
       now});

  json detail{{"alert_id", row->id}, {"signal", row->signal}};
  if (a.kind == ActionKind::acknowledge) detail["action"] = row->action;
  if (a.kind == ActionKind::snooze) detail["until"] = core::format_iso8601_utc(a.snooze_until_ms);
  if (!a.note.empty()) detail["note"] = a.note;
  store::AuditEntry audit;
  audit.at_ms = now;
  audit.actor_user_id = a.by_user_id;
  audit.action = audit_action(a.kind);
  audit.patient_id = row->patient_id;
  audit.clinic_id = row->clinic_id;
  audit.detail = detail.dump(-1, ' ', false, json::error_handler_t::replace);
  audit.remote_addr = a.remote_addr;
  txn.append_audit(audit);

  clinic_id = row->clinic_id;
  out = std::move(*row);
  return core::Unit{};
}

}  // namespace

void act_on_alert(store::Transactions& st, std::shared_ptr<ClinicEventHub> hub, AlertAction a,
                  store::Completion<store::AlertRow> done) {
  auto out = std::make_shared<store::AlertRow>();
  st.transact(
      [a = std::move(a), out, hub](store::WriteTxn& txn) -> core::Status {
        std::int64_t clinic_id = 0;
        auto applied = apply(txn, a, *out, clinic_id);
        if (applied && hub) txn.after_commit([hub, clinic_id] { hub->publish(clinic_id); });
        return applied;
      },
      [out, done = std::move(done)](core::Result<core::Unit> r) {
        if (!r) {
          done(r.error());
          return;
        }
        done(std::move(*out));
      });
}

}  // namespace careloop::care
