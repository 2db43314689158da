// /api/v1/clinic/alerts and /api/v1/clinic/events: a clinic's alerts, the
// doctor's actions on them (acknowledge, snooze, resolve — audited in the
// same transaction as the change), and the live event stream (SSE) that
// replays the clinic's durable event sequence after Last-Event-ID, then
// follows it as the writer commits.
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>

#include "careloop/core/utf8.hpp"
#include "careloop/care/care.hpp"
#include "careloop/core/time.hpp"
#include "careloop/server/body.hpp"
#include "careloop/server/offload.hpp"
#include "common.hpp"
#include "routes.hpp"

namespace careloop::mobile_api::detail {
namespace {

using server::http::status;
using server::http::verb;
using namespace std::chrono_literals;

constexpr std::size_t max_note_chars = 2000;
constexpr int events_per_query = 200;
constexpr auto heartbeat_every = 15s;
// How often a quiet stream looks up from its wait to notice a shutdown.
constexpr auto wait_slice = 1s;
constexpr std::int64_t max_snooze_ms = 30LL * 24 * 3'600'000;

struct ClinicScope {
  Principal who;
  std::int64_t clinic_id = 0;
};

// The clinic a staff route is about: ?clinic_id= (an administrator must say),
// else the doctor's own. Roles that can never read a clinic are refused
// before anything is looked up.
asio::awaitable<std::variant<ClinicScope, Response>> clinic_scope(RequestContext& ctx, Services& svc) {
  auto who = co_await authenticate(ctx, svc);
  if (!who) co_return unauthorized("log in first");
  auth::Resource probe;
  probe.clinic_id = who->user.clinic_id;
  if (who->user.role != core::Role::admin &&
      auth::decide(who->user, auth::Permission::clinic_read, probe) != auth::Decision::allow)
    co_return forbidden("only a clinic's doctors see its alerts");
  std::optional<std::int64_t> clinic = who->user.clinic_id;
  if (auto q = ctx.query_param("clinic_id")) {
    auto v = parse_int(*q);
    if (!v || *v <= 0) co_return invalid_field("/query/clinic_id", "clinic_id must be a positive integer");
    clinic = v;
  }
  if (!clinic) co_return invalid_field("/query/clinic_id", "clinic_id is required for an account without a clinic");
  auth::Resource r;
  r.clinic_id = clinic;
  if (auth::decide(who->user, auth::Permission::clinic_read, r) != auth::Decision::allow)
    co_return forbidden("you may see only your own clinic's alerts");
  co_return ClinicScope{std::move(*who), *clinic};
}

// The session behind a live stream is still valid and its user may still
// read the clinic (the checks clinic_scope made when the stream opened).
asio::awaitable<bool> may_still_listen(Services& svc, const std::string& digest, std::int64_t clinic) {
  co_return co_await server::offload(svc.compute, [&]() -> bool {
    // A stream is not activity: an unattended dashboard's session still idles out.
    auto user = session_user(svc, digest, core::now_utc_ms(), false);
    if (!user) return false;
    auth::Resource r;
    r.clinic_id = clinic;
    return auth::decide(*user, auth::Permission::clinic_read, r) == auth::Decision::allow;
  });
}

// GET /api/v1/clinic/alerts?status=&limit=&cursor=&clinic_id= → {alerts, next_cursor?}, newest first.
asio::awaitable<Response> list_alerts(RequestContext& ctx, Services& svc) {
  auto scope = co_await clinic_scope(ctx, svc);
  if (auto* refused = std::get_if<Response>(&scope)) co_return std::move(*refused);
  auto& s = std::get<ClinicScope>(scope);
  store::AlertQuery q;
  q.clinic_id = s.clinic_id;
  q.status = "open";
  std::vector<core::FieldError> errors;
  if (auto v = ctx.query_param("status")) {
    if (*v == "all")
      q.status.reset();
    else if (!protocols::parse_alert_status(*v))
      errors.push_back({"/query/status", "status must be one of open, acknowledged, snoozed, resolved, all"});
    else
      q.status = std::string(*v);
  }
  if (auto v = ctx.query_param("patient_id")) {
    auto n = parse_int(*v);
    if (!n || *n < 1)
      errors.push_back({"/query/patient_id", "patient_id must be a positive integer"});
    else
      q.patient_id = *n;
  }
  if (auto v = ctx.query_param("limit")) {
    auto n = parse_int(*v);
    if (!n || *n < 1 || *n > 500)
      errors.push_back({"/query/limit", "limit must be an integer from 1 to 500"});
    else
      q.limit = static_cast<int>(*n);
  }
  if (auto v = ctx.query_param("cursor")) {
    auto n = parse_int(*v);
    if (!n || *n < 1)
      errors.push_back({"/query/cursor", "cursor must be the next_cursor of a previous page"});
    else
      q.before_id = *n;
  }
  if (!errors.empty()) co_return invalid_fields(std::move(errors), "Invalid query");
  // One patient's alert history is a read of that patient's record: audited with the patient.
  if (auto refused = co_await audit(ctx, svc, s.who.user, "alerts.read", q.patient_id, s.clinic_id,
                                    "status=" + q.status.value_or("all")))
    co_return std::move(*refused);
  const int want = q.limit;
  q.limit = want + 1;  // one more tells whether another page exists
  auto rows = co_await server::offload(svc.compute, [&] { return svc.store.alerts(q); });
  json items = json::array();
  for (std::size_t i = 0; i < rows.size() && static_cast<int>(i) < want; ++i) items.push_back(care::alert_json(rows[i]));
  json out{{"alerts", std::move(items)}};
  if (static_cast<int>(rows.size()) > want) out["next_cursor"] = std::to_string(rows[static_cast<std::size_t>(want) - 1].id);
  co_return server::json_response(status::ok, out);
}

// The alert of the path, once the policy allows `p` on its patient.
asio::awaitable<std::variant<std::pair<Principal, store::AlertRow>, Response>> alert_of_path(RequestContext& ctx,
                                                                                           Services& svc) {
  auto who = co_await authenticate(ctx, svc);
  if (!who) co_return unauthorized("log in first");
  auth::Resource probe;
  probe.clinic_id = who->user.clinic_id;
  if (who->user.role != core::Role::admin &&
      auth::decide(who->user, auth::Permission::patient_write, probe) != auth::Decision::allow)
    co_return forbidden("only a clinic's doctors act on its alerts");
  auto id = path_id(ctx);
  if (!id) co_return server::problem_response(status::not_found, "Not Found", "no alert has this id");
  auto row = co_await server::offload(svc.compute, [&] { return svc.store.alert(*id); });
  if (!row) {
    if (row.error().code == core::Errc::not_found)
      co_return server::problem_response(status::not_found, "Not Found", "alert " + std::to_string(*id) + " not found");
    co_return server::problem_from(row.error());
  }
  auth::Resource r;
  r.patient_id = row->patient_id;
  r.clinic_id = row->clinic_id;
  // As for a missing id: another clinic's alerts are not confirmed to exist.
  if (auth::decide(who->user, auth::Permission::patient_write, r) != auth::Decision::allow)
    co_return server::problem_response(status::not_found, "Not Found", "alert " + std::to_string(*id) + " not found");
  co_return std::pair{std::move(*who), std::move(*row)};
}

using core::utf8_length;

// Checks an optional note; fills `note`.
std::optional<Response> read_note(const json& body, std::string& note) {
  if (!body.contains("note")) return std::nullopt;
  auto n = string_field(body, "note");
  if (!n || utf8_length(*n) > max_note_chars) return invalid_field("/note", "note must be a string of at most 2000 characters");
  note = *n;
  return std::nullopt;
}

std::optional<Response> unknown_fields(const json& body, std::initializer_list<std::string_view> known) {
  std::vector<core::FieldError> errors;
  add_unknown_fields(body, {known.begin(), known.size()}, errors);
  if (errors.empty()) return std::nullopt;
  return invalid_fields(std::move(errors));
}

asio::awaitable<Response> act(RequestContext& ctx, Services& svc, care::ActionKind kind) {
  auto found = co_await alert_of_path(ctx, svc);
  if (auto* refused = std::get_if<Response>(&found)) co_return std::move(*refused);
  auto& [who, row] = std::get<std::pair<Principal, store::AlertRow>>(found);
  auto body = server::parse_json_body(ctx.request);
  if (!body) co_return body.problem();
  if (!body->is_object()) co_return invalid_field("", "the body must be a JSON object");

  care::AlertAction a;
  a.kind = kind;
  a.alert_id = row.id;
  a.by_user_id = who.user.id;
  a.remote_addr = remote_address(ctx);
  switch (kind) {
    case care::ActionKind::acknowledge: {
      if (auto bad = unknown_fields(*body, {"action", "note"})) co_return std::move(*bad);
      auto action = string_field(*body, "action");
      auto parsed = action ? protocols::parse_ack_action(*action) : std::nullopt;
      if (!parsed)
        co_return invalid_field("/action", "action is required: called_patient, changed_medication, referred, "
                                           "advised_emergency_care or no_action");
      a.ack = *parsed;
      if (auto bad = read_note(*body, a.note)) co_return std::move(*bad);
      break;
    }
    case care::ActionKind::snooze: {
      if (auto bad = unknown_fields(*body, {"until", "note"})) co_return std::move(*bad);
      auto until = string_field(*body, "until");
      if (!until) co_return invalid_field("/until", "until is required: a date-time with a UTC offset");
      auto t = core::parse_iso8601(*until);
      if (!t.instant) co_return invalid_field("/until", "until: " + t.error);
      const std::int64_t now = core::now_utc_ms();
      if (t.instant->utc_ms <= now || t.instant->utc_ms > now + max_snooze_ms)
        co_return invalid_field("/until", "until must be in the future, at most 30 days ahead");
      a.snooze_until_ms = t.instant->utc_ms;
      if (auto bad = read_note(*body, a.note)) co_return std::move(*bad);
      break;
    }
    case care::ActionKind::resolve: {
      if (auto bad = unknown_fields(*body, {"note"})) co_return std::move(*bad);
      if (auto bad = read_note(*body, a.note)) co_return std::move(*bad);
      break;
    }
  }
  auto done = co_await server::await_completion<store::AlertRow>(
      [&](auto cb) { care::act_on_alert(svc.store, svc.events, std::move(a), std::move(cb)); });
  if (!done) {
    if (done.error().code == core::Errc::conflict)
      co_return server::problem_response(status::conflict, "Conflict", done.error().message);
    if (done.error().code == core::Errc::invalid) co_return invalid_field("/until", done.error().message);
    co_return server::problem_from(done.error());
  }
  co_return server::json_response(status::ok, {{"alert", care::alert_json(*done)}});
}

asio::awaitable<Response> acknowledge(RequestContext& ctx, Services& svc) {
  co_return co_await act(ctx, svc, care::ActionKind::acknowledge);
}
asio::awaitable<Response> snooze(RequestContext& ctx, Services& svc) {
  co_return co_await act(ctx, svc, care::ActionKind::snooze);
}
asio::awaitable<Response> resolve(RequestContext& ctx, Services& svc) {
  co_return co_await act(ctx, svc, care::ActionKind::resolve);
}

// Set from the writer thread (by a post onto the stream's strand) when the
// clinic has new events; the stream's wait ends early.
struct Wakeup {
  explicit Wakeup(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;
  bool pending = false;
};

// GET /api/v1/clinic/events: text/event-stream. `id:` is the clinic's event
// seq; a reconnect with Last-Event-ID (or ?last_event_id=) replays what came
// after it. Without one the stream starts at the newest event.
asio::awaitable<Response> clinic_events(RequestContext& ctx, Services& svc) {
  auto scope = co_await clinic_scope(ctx, svc);
  if (auto* refused = std::get_if<Response>(&scope)) co_return std::move(*refused);
  auto& s = std::get<ClinicScope>(scope);
  std::optional<std::int64_t> after;
  if (const auto h = ctx.request["Last-Event-ID"]; !h.empty()) {
    auto v = parse_int(h);
    if (!v || *v < 0) co_return invalid_field("/headers/Last-Event-ID", "Last-Event-ID must be an event id of this stream");
    after = *v;
  }
  if (auto q = ctx.query_param("last_event_id")) {
    auto v = parse_int(*q);
    if (!v || *v < 0) co_return invalid_field("/query/last_event_id", "last_event_id must be an event id of this stream");
    if (!after) after = *v;
  }
  if (auto refused = co_await audit(ctx, svc, s.who.user, "clinic.events", std::nullopt, s.clinic_id))
    co_return std::move(*refused);
  const std::int64_t clinic = s.clinic_id;
  if (!after) after = co_await server::offload(svc.compute, [&] { return svc.store.last_clinic_event_seq(clinic); });

  ctx.stream = [&svc, clinic, from = *after, digest = s.who.token_digest](server::StreamWriter& out) -> asio::awaitable<void> {
    auto ex = out.executor();
    auto wake = std::make_shared<Wakeup>(ex);
    std::shared_ptr<void> subscription;
    if (svc.events)
      subscription = svc.events->subscribe(clinic, [weak = std::weak_ptr<Wakeup>(wake), ex] {
        asio::post(ex, [weak] {
          if (auto w = weak.lock()) {
            w->pending = true;
            w->timer.cancel();
          }
        });
      });
    // Tell EventSource to come back quickly after a drop.
    if (co_await out.write("retry: 2000\n\n")) co_return;
    std::int64_t last = from;
    auto last_write = std::chrono::steady_clock::now();
    bool query = true;
    while (!out.stopping()) {
      if (query || wake->pending) {
        wake->pending = false;
        // Every wake and heartbeat asks again: a stream must not outlive its
        // session (logout, revocation, expiry) or its user (deactivated, moved).
        if (!co_await may_still_listen(svc, digest, clinic)) {
          (void)co_await out.write("event: end\ndata: {\"reason\":\"the session has ended\"}\n\n");
          co_return;
        }
        auto events = co_await server::offload(svc.compute,
                                               [&] { return svc.store.clinic_events(clinic, last, events_per_query); });
        for (const auto& e : events) {
          if (co_await out.write(server::sse_event(care::event_body(e), e.kind, std::to_string(e.seq)))) co_return;
          last = e.seq;
          last_write = std::chrono::steady_clock::now();
        }
        query = events.size() == static_cast<std::size_t>(events_per_query);
        if (query || wake->pending) continue;
      }
      const auto quiet = std::chrono::steady_clock::now() - last_write;
      if (quiet >= heartbeat_every) {
        if (co_await out.write(": heartbeat\n\n")) co_return;
        last_write = std::chrono::steady_clock::now();
        // A safety net: look again even if a wake-up was lost.
        query = true;
        continue;
      }
      const auto until_heartbeat = std::chrono::duration_cast<std::chrono::milliseconds>(heartbeat_every - quiet);
      wake->timer.expires_after(std::min<std::chrono::milliseconds>(wait_slice, until_heartbeat));
      boost::system::error_code ec;
      co_await wake->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  };
  Response res{status::ok, ctx.request.version()};
  res.set(server::http::field::content_type, "text/event-stream");
  res.set(server::http::field::cache_control, "no-cache");
  co_return res;
}

}  // namespace

void add_alert_routes(server::Router& router, const std::shared_ptr<Services>& svc) {
  router.add(verb::get, "/api/v1/clinic/alerts", bind(svc, list_alerts));
  router.add(verb::post, "/api/v1/clinic/alerts/{id}/acknowledge", bind(svc, acknowledge));
  router.add(verb::post, "/api/v1/clinic/alerts/{id}/snooze", bind(svc, snooze));
  router.add(verb::post, "/api/v1/clinic/alerts/{id}/resolve", bind(svc, resolve));
  router.add(verb::get, "/api/v1/clinic/events", bind(svc, clinic_events));
}

}  // namespace careloop::mobile_api::detail
