// The delivery loop: one coroutine per clinic with an enabled webhook, on
// the deliverer's own io_context thread. Each round reads the cursor and the
// events after it (on the compute pool), POSTs them one by one in seq order,
// and records how far it got in one write: the cursor moves only past events
// the receiver answered with a 2xx. A failure ends the round and schedules
// the next attempt with exponential back-off.
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>

#include "careloop/core/thread_role.hpp"
#include "careloop/core/time.hpp"
#include "careloop/server/offload.hpp"
#include "careloop/webhooks/webhooks.hpp"

namespace careloop::webhooks {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// A clinic's delivery coroutine and what wakes it.
struct ClinicLoop {
  explicit ClinicLoop(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;
  bool woken = false;
  std::shared_ptr<void> subscription;  // to the hub; dropped when the loop ends
};

}  // namespace

struct Deliverer::Impl : std::enable_shared_from_this<Deliverer::Impl> {
  Impl(store::Webhooks& st, asio::thread_pool& reads, std::shared_ptr<care::ClinicEventHub> hub, Options o)
      : store(st), pool(reads), hub(std::move(hub)), options(std::move(o)), work(io.get_executor()), poll_timer(io) {
    transport = options.transport ? options.transport(io.get_executor())
                                  : make_http_transport(io.get_executor(), options.http);
  }

  store::Webhooks& store;
  asio::thread_pool& pool;
  std::shared_ptr<care::ClinicEventHub> hub;
  Options options;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::unique_ptr<Transport> transport;
  std::thread thread;

  // Touched only on the io thread.
  asio::steady_timer poll_timer;
  std::unordered_map<std::int64_t, std::shared_ptr<ClinicLoop>> loops;
  bool stopping = false;
  bool recheck = false;  // a wake-up for a clinic without a loop came while the settings were being read
  std::mt19937_64 rng{std::random_device{}()};

  // Any thread.
  std::mutex lifecycle;
  bool started = false;
  bool stopped = false;
  std::atomic<std::uint64_t> delivered{0}, failed{0};

  void wake(std::int64_t clinic_id) {
    // Weak: a wake-up still queued when the thread has stopped must not keep the deliverer alive.
    asio::post(io, [weak = weak_from_this(), clinic_id] {
      auto self = weak.lock();
      if (!self) return;
      if (auto it = self->loops.find(clinic_id); it != self->loops.end()) {
        it->second->woken = true;
        it->second->timer.cancel();
      } else {
        // Perhaps a webhook set just now: look at the settings again.
        self->recheck = true;
        self->poll_timer.cancel();
      }
    });
  }

  asio::awaitable<void> sleep(asio::steady_timer& timer, milliseconds d) {
    boost::system::error_code ec;
    timer.expires_after(d);
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  // Starts the loops of enabled webhooks that have none, every `poll`.
  asio::awaitable<void> supervise() {
    while (!stopping) {
      recheck = false;
      try {
        auto hooks = co_await server::offload(pool, [this] { return store.enabled_webhooks(); });
        for (const auto& h : hooks)
          if (!stopping && !loops.contains(h.clinic_id)) start_loop(h.clinic_id);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "careloop webhooks: cannot read the webhook settings: %s\n", e.what());
      }
      if (stopping) break;
      if (!recheck) co_await sleep(poll_timer, options.poll);
    }
  }

  void start_loop(std::int64_t clinic_id) {
    auto loop = std::make_shared<ClinicLoop>(io.get_executor());
    if (hub) {
      // The hub calls this on the writer thread after a commit: only post.
      std::weak_ptr<Impl> weak = weak_from_this();
      loop->subscription = hub->subscribe(clinic_id, [weak, clinic_id] {
        if (auto self = weak.lock()) self->wake(clinic_id);
      });
    }
    loops.emplace(clinic_id, loop);
    asio::co_spawn(io, deliver(clinic_id, loop), [self = shared_from_this(), clinic_id](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          std::fprintf(stderr, "careloop webhooks: clinic %lld: delivery stopped: %s\n",
                       static_cast<long long>(clinic_id), x.what());
        }
      }
      self->loops.erase(clinic_id);
    });
  }

  // Waits until woken, stopping, or `d` has passed.
  asio::awaitable<void> idle(ClinicLoop& loop, milliseconds d) {
    if (loop.woken || stopping) co_return;
    co_await sleep(loop.timer, d);
  }

  asio::awaitable<void> deliver(std::int64_t clinic_id, std::shared_ptr<ClinicLoop> loop) {
    while (!stopping) {
      loop->woken = false;
      std::optional<store::ClinicWebhook> hook;
      std::vector<store::ClinicEvent> events;
      bool read_failed = false;
      try {
        hook = co_await server::offload(pool, [&] { return store.webhook(clinic_id); });
        if (hook && hook->enabled && !(hook->next_attempt_ms && *hook->next_attempt_ms > core::now_utc_ms()))
          events = co_await server::offload(
              pool, [&] { return store.clinic_events(clinic_id, hook->delivered_seq, options.batch); });
      } catch (const std::exception& e) {
        std::fprintf(stderr, "careloop webhooks: clinic %lld: cannot read the outbox: %s\n",
                     static_cast<long long>(clinic_id), e.what());
        read_failed = true;
      }
      if (read_failed) {
        co_await idle(*loop, options.poll);
        continue;
      }
      if (!hook || !hook->enabled) co_return;  // removed or disabled: this loop ends
      if (const std::int64_t now = core::now_utc_ms(); hook->next_attempt_ms && *hook->next_attempt_ms > now) {
        co_await idle(*loop, std::min(options.poll, milliseconds(*hook->next_attempt_ms - now)));
        // A wake-up (a new event) does not cut a back-off short.
        loop->woken = false;
        continue;
      }
      if (events.empty()) {
        co_await idle(*loop, options.poll);
        continue;
      }

      store::WebhookProgress progress;
      progress.clinic_id = clinic_id;
      progress.generation = hook->generation;
      progress.delivered_seq = hook->delivered_seq;
      for (const auto& e : events) {
        if (stopping) break;
        Request req;
        req.url = hook->url;
        req.body = care::event_body(e);
        const std::int64_t unix_s = core::now_utc_ms() / 1000;
        req.headers = {{"CareLoop-Event-Id", std::to_string(e.seq)},
                       {"CareLoop-Event", e.kind},
                       {"CareLoop-Signature", signature_header(hook->secret, unix_s, e.seq, req.body)}};
        const Outcome out = co_await transport->post(req);
        if (out.ok()) {
          progress.delivered_seq = e.seq;
          progress.delivered_any = true;
          ++delivered;
          continue;
        }
        if (stopping) break;  // cancelled by stop(): not the receiver's failure
        ++failed;
        progress.attempts = progress.delivered_any ? 1 : hook->attempts + 1;
        const milliseconds delay =
            backoff_delay(options.backoff, progress.attempts, std::uniform_real_distribution<double>(0, 1)(rng));
        progress.error = out.error.empty() ? "HTTP " + std::to_string(out.status) : out.error;
        progress.next_attempt_ms = core::now_utc_ms() + delay.count();
        std::fprintf(stderr, "careloop webhooks: clinic %lld: event %lld not delivered (%s); attempt %d, next in %.1f s\n",
                     static_cast<long long>(clinic_id), static_cast<long long>(e.seq), progress.error->c_str(),
                     progress.attempts, static_cast<double>(delay.count()) / 1000);
        break;
      }
      if (!progress.delivered_any && !progress.error) continue;
      progress.at_ms = core::now_utc_ms();
      auto saved = co_await server::await_completion<core::Unit>(
          [&](auto done) { store.record_webhook_progress(progress, std::move(done)); });
      if (!saved) {
        std::fprintf(stderr, "careloop webhooks: clinic %lld: cannot record the delivery: %s\n",
                     static_cast<long long>(clinic_id), saved.error().message.c_str());
        co_await idle(*loop, options.poll);
      }
    }
  }

  void begin_stop() {
    asio::post(io, [self = shared_from_this()] {
      self->stopping = true;
      self->poll_timer.cancel();
      for (auto& [id, loop] : self->loops) loop->timer.cancel();
      self->transport->cancel();
    });
  }
};

Deliverer::Deliverer(store::Webhooks& st, asio::thread_pool& reads, std::shared_ptr<care::ClinicEventHub> hub,
                     Options options)
    : impl_(std::make_shared<Impl>(st, reads, std::move(hub), std::move(options))) {}

Deliverer::~Deliverer() { stop(); }

void Deliverer::start() {
  std::lock_guard lock(impl_->lifecycle);
  if (impl_->started || impl_->stopped) return;
  impl_->started = true;
  asio::co_spawn(impl_->io, impl_->supervise(), asio::detached);
  impl_->thread = std::thread([impl = impl_] {
    // The loops never block: a store read here would abort (core::require_blocking_allowed).
    core::set_thread_role(core::ThreadRole::io);
    impl->io.run();
  });
}

void Deliverer::stop() {
  {
    // Not held while joining: wake() from another thread must never wait on a shutdown.
    std::lock_guard lock(impl_->lifecycle);
    if (impl_->stopped) return;
    impl_->stopped = true;
    if (!impl_->started) return;
  }
  impl_->begin_stop();
  // Every loop ends at its next step; the io_context then runs out of work.
  impl_->work.reset();
  impl_->thread.join();
}

void Deliverer::wake(std::int64_t clinic_id) {
  std::lock_guard lock(impl_->lifecycle);
  if (impl_->started && !impl_->stopped) impl_->wake(clinic_id);
}

Counters Deliverer::counters() const { return {impl_->delivered.load(), impl_->failed.load()}; }

}  // namespace careloop::webhooks
