// webhooks/src/deliverer.cpp with a fake transport over a real store: the
// order, the headers, the cursor that moves only past 2xx answers, back-off,
// restarts, wake-ups, and webhooks that are absent or disabled; and with the
// real transport, one clinic's hung DNS lookup beside another's delivery.
#include <catch2/catch.hpp>

#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "careloop/webhooks/webhooks.hpp"
#include "fixture.hpp"
#include "receiver.hpp"

namespace {

using namespace careloop;
using namespace careloop::store::testing;
using careloop::store::wait_for;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

// Answers from a script (then `otherwise`), and remembers every request.
struct Script {
  std::mutex m;
  std::deque<int> statuses;
  int otherwise = 200;
  std::vector<webhooks::Request> seen;

  std::vector<webhooks::Request> requests() {
    std::lock_guard lock(m);
    return seen;
  }
  void set_otherwise(int s) {
    std::lock_guard lock(m);
    otherwise = s;
  }
};

class FakeTransport final : public webhooks::Transport {
 public:
  explicit FakeTransport(std::shared_ptr<Script> s) : script_(std::move(s)) {}
  boost::asio::awaitable<webhooks::Outcome> post(const webhooks::Request& r) override {
    int status = 0;
    {
      std::lock_guard lock(script_->m);
      script_->seen.push_back(r);
      if (!script_->statuses.empty()) {
        status = script_->statuses.front();
        script_->statuses.pop_front();
      } else {
        status = script_->otherwise;
      }
    }
    co_return webhooks::Outcome{status, status == 0 ? "connect: refused" : (status >= 300 ? "HTTP " + std::to_string(status) : "")};
  }
  void cancel() override {}

 private:
  std::shared_ptr<Script> script_;
};

webhooks::Options fast_options(std::shared_ptr<Script> script, milliseconds poll = 50ms) {
  webhooks::Options o;
  o.backoff = {20ms, 100ms};
  o.poll = poll;
  o.transport = [script](boost::asio::any_io_executor) { return std::make_unique<FakeTransport>(script); };
  return o;
}

struct Clinic {
  TempDir dir;
  std::unique_ptr<store::Store> st = open_store(dir.file("hooks.db"));
  Place place = add_place(*st);
  std::int64_t patient = add_patient(*st, place.clinic_id);
  std::shared_ptr<care::ClinicEventHub> hub = std::make_shared<care::ClinicEventHub>();
  boost::asio::thread_pool reads{2};

  ~Clinic() {
    reads.join();
    st->close();
  }

  // Commits one event of the clinic and wakes its followers; returns its seq.
  std::int64_t event(int n, std::int64_t clinic = 0) {
    if (clinic == 0) clinic = place.clinic_id;
    std::int64_t seq = 0;
    must(wait_for<core::Unit>([&](auto done) {
      st->transact(
          [&, clinic](store::WriteTxn& t) -> core::Status {
            seq = t.append_clinic_event({0, clinic, patient, "alert.opened", std::nullopt,
                                         R"({"event":"alert.opened","n":)" + std::to_string(n) + "}",
                                         core::now_utc_ms()});
            return core::ok_status();
          },
          done);
    }));
    hub->publish(clinic);
    return seq;
  }

  store::ClinicWebhook set(const std::string& url = "http://127.0.0.1:9/in", const std::string& secret = "0123456789abcdef-secret") {
    store::AuditEntry a;
    a.actor_user_id = 1;
    a.action = "clinic.webhook.set";
    a.clinic_id = place.clinic_id;
    return must(wait_for<store::ClinicWebhook>([&](auto done) { st->set_webhook(place.clinic_id, url, secret, a, done); }));
  }

  store::ClinicWebhook hook() {
    auto w = st->webhook(place.clinic_id);
    REQUIRE(w);
    return *w;
  }
};

template <class F>
bool eventually(F f, milliseconds limit = 5000ms) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

std::string header(const webhooks::Request& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

std::vector<std::int64_t> ids(const std::vector<webhooks::Request>& rs) {
  std::vector<std::int64_t> out;
  for (const auto& r : rs) out.push_back(std::stoll(header(r, "CareLoop-Event-Id")));
  return out;
}

}  // namespace

TEST_CASE("a new webhook starts after the clinic's newest event, then delivers in seq order, signed") {
  Clinic c;
  c.event(1);
  const std::int64_t before = c.event(2);
  const auto w = c.set();
  CHECK(w.delivered_seq == before);
  CHECK(c.hook().pending_events == 0);
  const std::int64_t e3 = c.event(3), e4 = c.event(4), e5 = c.event(5);
  CHECK(c.hook().pending_events == 3);

  auto script = std::make_shared<Script>();
  webhooks::Deliverer d(*c.st, c.reads, c.hub, fast_options(script));
  d.start();
  REQUIRE(eventually([&] { return c.hook().delivered_seq == e5; }));
  d.stop();

  const auto seen = script->requests();
  CHECK(ids(seen) == std::vector<std::int64_t>{e3, e4, e5});
  const auto events = c.st->clinic_events(c.place.clinic_id, before, 10);
  REQUIRE(events.size() == 3);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const auto& r = seen[i];
    CHECK(r.url == "http://127.0.0.1:9/in");
    // The body is the event as the SSE stream sends it.
    CHECK(r.body == care::event_body(events[i]));
    CHECK(header(r, "CareLoop-Event") == "alert.opened");
    const std::string sig = header(r, "CareLoop-Signature");
    REQUIRE(sig.rfind("t=", 0) == 0);
    const std::string t = sig.substr(2, sig.find(',') - 2);
    CHECK(sig == webhooks::signature_header("0123456789abcdef-secret", std::stoll(t), events[i].seq, r.body));
  }
  const auto after = c.hook();
  CHECK(after.pending_events == 0);
  CHECK(after.attempts == 0);
  CHECK(after.last_delivered_at_ms.has_value());
  CHECK(d.counters().delivered == 3);
}

TEST_CASE("the cursor moves only past 2xx answers, failures back off and the same event is retried") {
  Clinic c;
  c.set();
  const std::int64_t e1 = c.event(1), e2 = c.event(2), e3 = c.event(3);
  auto script = std::make_shared<Script>();
  script->statuses = {200, 500, 0, 503};  // then 200s
  webhooks::Deliverer d(*c.st, c.reads, c.hub, fast_options(script));
  d.start();
  REQUIRE(eventually([&] { return c.hook().delivered_seq == e3; }));
  d.stop();
  // e2 failed three times (500, no answer, 503) before its 2xx; e3 was not sent before e2 got through.
  CHECK(ids(script->requests()) == std::vector<std::int64_t>{e1, e2, e2, e2, e2, e3});
  const auto w = c.hook();
  CHECK(w.attempts == 0);            // reset by the success
  CHECK_FALSE(w.next_attempt_ms);
  CHECK(w.last_error == "HTTP 503");  // the last failure stays visible
  CHECK(d.counters().failed == 3);
}

TEST_CASE("while the receiver fails the cursor stays, attempts grow and the next attempt is scheduled") {
  Clinic c;
  const std::int64_t start = c.set().delivered_seq;
  c.event(1);
  c.event(2);
  auto script = std::make_shared<Script>();
  script->otherwise = 500;
  webhooks::Deliverer d(*c.st, c.reads, c.hub, fast_options(script));
  d.start();
  REQUIRE(eventually([&] { return c.hook().attempts >= 3; }));
  d.stop();
  const auto w = c.hook();
  CHECK(w.delivered_seq == start);
  CHECK(w.pending_events == 2);
  CHECK(w.last_error == "HTTP 500");
  CHECK(w.next_attempt_ms.has_value());
  // Only the first pending event was ever tried.
  for (auto id : ids(script->requests())) CHECK(id == start + 1);
}

TEST_CASE("after a restart delivery resumes from the stored cursor: nothing committed is lost") {
  Clinic c;
  c.set();
  const std::int64_t e1 = c.event(1);
  std::int64_t e2 = 0, e3 = 0;
  {
    auto script = std::make_shared<Script>();
    script->statuses = {200};
    script->otherwise = 0;  // then the receiver is down
    webhooks::Deliverer d(*c.st, c.reads, c.hub, fast_options(script));
    d.start();
    REQUIRE(eventually([&] { return c.hook().delivered_seq == e1; }));
    e2 = c.event(2);
    e3 = c.event(3);
    REQUIRE(eventually([&] { return c.hook().attempts >= 2; }));
    d.stop();
  }
  CHECK(c.hook().delivered_seq == e1);
  // Another deliverer (a restarted server) on the same store, the receiver back.
  auto script = std::make_shared<Script>();
  webhooks::Deliverer d(*c.st, c.reads, c.hub, fast_options(script));
  d.start();
  REQUIRE(eventually([&] { return c.hook().delivered_seq == e3; }));
  d.stop();
  CHECK(ids(script->requests()) == std::vector<std::int64_t>{e2, e3});
}

TEST_CASE("the hub wakes delivery after a commit, long before the poll") {
  Clinic c;
  c.set();
  auto script = std::make_shared<Script>();
  webhooks::Deliverer d(*c.st, c.reads, c.hub, fast_options(script, 60'000ms));
  d.start();
  // The first poll starts the clinic's loop; it then waits on the hub.
  REQUIRE(eventually([&] { return c.hub->subscribers() == 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t e1 = c.event(1);
  REQUIRE(eventually([&] { return c.hook().delivered_seq == e1; }, 3000ms));
  CHECK(std::chrono::steady_clock::now() - t0 < 3000ms);
  d.stop();
  CHECK(c.hub->subscribers() == 0);
}

TEST_CASE("a webhook set while delivery runs is taken up at once when woken, not at the next poll") {
  Clinic c;
  auto script = std::make_shared<Script>();
  webhooks::Deliverer d(*c.st, c.reads, c.hub, fast_options(script, 60'000ms));
  d.start();
  std::this_thread::sleep_for(100ms);  // the first look at the settings found none
  c.set();
  d.wake(c.place.clinic_id);  // what the admin route does after a change
  const std::int64_t e1 = c.event(1);
  CHECK(eventually([&] { return c.hook().delivered_seq == e1; }, 3000ms));
  d.stop();
  CHECK(ids(script->requests()) == std::vector<std::int64_t>{e1});
}

TEST_CASE("no webhook, a disabled one, a deleted one, another clinic's events: nothing is sent") {
  Clinic c;
  auto script = std::make_shared<Script>();
  webhooks::Deliverer d(*c.st, c.reads, c.hub, fast_options(script));
  d.start();
  c.event(1);
  std::this_thread::sleep_for(200ms);
  CHECK(script->requests().empty());

  c.set();
  store::AuditEntry a;
  a.action = "clinic.webhook.disable";
  must(wait_for<store::ClinicWebhook>([&](auto done) { c.st->disable_webhook(c.place.clinic_id, a, done); }));
  d.wake(c.place.clinic_id);
  c.event(2);
  // Another clinic's events never go to this clinic's webhook.
  const auto other = must(wait_for<std::int64_t>(
      [&](auto done) { c.st->add_clinic({c.place.region_id, "Other CHC", "Asia/Shanghai"}, done); }));
  const auto other_patient = add_patient(*c.st, other, "Li Lei");
  c.patient = other_patient;
  c.event(3, other);
  std::this_thread::sleep_for(200ms);
  CHECK(script->requests().empty());
  CHECK_FALSE(c.hook().enabled);

  a.action = "clinic.webhook.delete";
  must(wait_for<core::Unit>([&](auto done) { c.st->delete_webhook(c.place.clinic_id, a, done); }));
  CHECK_FALSE(c.st->webhook(c.place.clinic_id));
  d.stop();
  CHECK(script->requests().empty());
}

TEST_CASE("re-enabling starts after the newest event, changing the URL keeps the cursor and resets the back-off") {
  Clinic c;
  const auto first = c.set();
  c.event(1);
  c.event(2);
  // A failure recorded under the first setting.
  must(wait_for<core::Unit>([&](auto done) {
    c.st->record_webhook_progress({c.place.clinic_id, first.generation, first.delivered_seq, core::now_utc_ms(), false,
                                   std::string("HTTP 500"), 4, core::now_utc_ms() + 60'000},
                                  done);
  }));
  CHECK(c.hook().attempts == 4);
  const auto moved = c.set("https://hooks.example.cn/new", "another-secret-0123");
  CHECK(moved.delivered_seq == first.delivered_seq);  // the two events stay pending
  CHECK(moved.attempts == 0);
  CHECK_FALSE(moved.next_attempt_ms);
  CHECK(moved.generation > first.generation);
  // Progress of the older generation is not kept.
  must(wait_for<core::Unit>([&](auto done) {
    c.st->record_webhook_progress({c.place.clinic_id, first.generation, first.delivered_seq + 2, core::now_utc_ms(),
                                   true, std::nullopt, 0, 0},
                                  done);
  }));
  CHECK(c.hook().delivered_seq == first.delivered_seq);
  CHECK(c.hook().pending_events == 2);

  store::AuditEntry a;
  a.action = "clinic.webhook.disable";
  must(wait_for<store::ClinicWebhook>([&](auto done) { c.st->disable_webhook(c.place.clinic_id, a, done); }));
  const std::int64_t e3 = c.event(3);
  const auto again = c.set();
  CHECK(again.enabled);
  CHECK(again.delivered_seq == e3);
}

TEST_CASE("set_webhook refuses what the schema would, and a clinic that does not exist") {
  Clinic c;
  store::AuditEntry a;
  a.action = "clinic.webhook.set";
  auto r = wait_for<store::ClinicWebhook>([&](auto done) { c.st->set_webhook(c.place.clinic_id, "ftp://x/", "short", a, done); });
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == core::Errc::invalid);
  CHECK(r.error().fields.size() == 2);
  r = wait_for<store::ClinicWebhook>(
      [&](auto done) { c.st->set_webhook(c.place.clinic_id + 100, "http://x/", "0123456789abcdef", a, done); });
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == core::Errc::not_found);
  CHECK_FALSE(c.st->webhook(c.place.clinic_id));
  // Each change is audited in its own job; the refusals wrote nothing.
  CHECK(c.st->audit_log(std::nullopt, 10).empty());
  c.set();
  const auto log = c.st->audit_log(std::nullopt, 10);
  REQUIRE(log.size() == 1);
  CHECK(log[0].action == "clinic.webhook.set");
}

TEST_CASE("one clinic's hung DNS lookup gives up at its deadline and never delays another clinic's delivery") {
  Clinic c;
  webhooks::testing::Receiver receiver(200, "");
  const std::string port = std::to_string(receiver.port());
  // Clinic A's gateway name never answers (until the test ends); clinic B's does at once.
  struct Hang {
    std::mutex m;
    std::condition_variable cv;
    bool released = false;
    std::atomic<int> asked{0};
  };
  auto hang = std::make_shared<Hang>();
  webhooks::Options o;
  o.backoff = {20ms, 100ms};
  o.poll = 50ms;
  o.http.timeouts.resolve = 1000ms;
  o.http.policy.allow_http = true;
  o.http.policy.allow = server::AddressSet::parse({"127.0.0.1/32"}).value();
  o.http.resolve = [hang](const std::string& host) -> core::Result<std::vector<boost::asio::ip::address>> {
    if (host == "hung.clinic-a.test") {
      ++hang->asked;
      std::unique_lock lock(hang->m);
      hang->cv.wait_for(lock, 20s, [&] { return hang->released; });
      return core::Error::unavailable("released");
    }
    return std::vector<boost::asio::ip::address>{boost::asio::ip::make_address("127.0.0.1")};
  };

  c.set("http://hung.clinic-a.test:" + port + "/a");
  const auto clinic_b = must(wait_for<std::int64_t>(
      [&](auto done) { c.st->add_clinic({c.place.region_id, "Clinic B", "Asia/Shanghai"}, done); }));
  const auto patient_b = add_patient(*c.st, clinic_b, "Li Lei");
  store::AuditEntry a;
  a.action = "clinic.webhook.set";
  must(wait_for<store::ClinicWebhook>([&](auto done) {
    c.st->set_webhook(clinic_b, "http://quick.clinic-b.test:" + port + "/b", "clinic-b-secret-0123456", a, done);
  }));

  webhooks::Deliverer d(*c.st, c.reads, c.hub, o);
  d.start();
  c.event(1);
  REQUIRE(eventually([&] { return hang->asked > 0; }));
  // While clinic A's lookup hangs, clinic B's event goes out at once.
  const auto t0 = std::chrono::steady_clock::now();
  c.patient = patient_b;
  const std::int64_t b1 = c.event(2, clinic_b);
  const bool on_time = eventually([&] { return c.st->webhook(clinic_b)->delivered_seq == b1; }, 700ms);
  const auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
  INFO("clinic B delivered after " << took.count() << " ms");
  CHECK(on_time);
  // Clinic A's round ends at the deadline, its failure says why.
  CHECK(eventually([&] { return c.hook().last_error.find("no answer within 1 s") != std::string::npos; }, 3000ms));
  CHECK(c.hook().pending_events == 1);
  {
    std::lock_guard lock(hang->m);
    hang->released = true;
  }
  hang->cv.notify_all();
  d.stop();
  const auto got = receiver.requests();
  REQUIRE_FALSE(got.empty());
  CHECK(got[0].target == "/b");
}
