#include "careloop/core/debouncer.hpp"

#include <boost/asio/steady_timer.hpp>

#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "careloop/core/time.hpp"

namespace careloop::core {
namespace {

const char* errc_name(Errc c) {
  switch (c) {
    case Errc::invalid: return "invalid";
    case Errc::not_found: return "not_found";
    case Errc::conflict: return "conflict";
    case Errc::forbidden: return "forbidden";
    case Errc::unavailable: return "unavailable";
    case Errc::internal: return "internal";
  }
  return "internal";
}

bool worth_retrying(Errc c) { return c == Errc::unavailable || c == Errc::internal; }

}  // namespace

struct Debouncer::State : std::enable_shared_from_this<Debouncer::State> {
  boost::asio::thread_pool& pool;
  DebouncerSettings settings;
  Job job;
  LogSink log;
  std::mutex m;
  // Patient → the timer that will run it; a newer schedule replaces it.
  std::unordered_map<std::int64_t, std::shared_ptr<boost::asio::steady_timer>> pending;
  bool stopped = false;
  std::atomic<std::uint64_t> done{0}, failed{0}, retried{0}, dropped{0};

  State(boost::asio::thread_pool& p, DebouncerSettings s, Job j, LogSink l)
      : pool(p), settings(std::move(s)), job(std::move(j)), log(std::move(l)) {}

  void arm(std::int64_t patient_id, std::chrono::milliseconds after, int attempt) {
    // A fresh timer each time: a superseded one whose handler was already
    // queued finds another timer in `pending` and does nothing.
    auto& slot = pending[patient_id];
    if (slot) slot->cancel();
    slot = std::make_shared<boost::asio::steady_timer>(pool.get_executor(), after);
    slot->async_wait([self = shared_from_this(), patient_id, t = slot, attempt](const boost::system::error_code& ec) {
      if (!ec) self->fire(patient_id, t, attempt);
    });
  }

  void fire(std::int64_t patient_id, const std::shared_ptr<boost::asio::steady_timer>& timer, int attempt) {
    {
      std::lock_guard lock(m);
      auto it = pending.find(patient_id);
      if (stopped || it == pending.end() || it->second != timer) return;  // superseded or stopped
      pending.erase(it);
    }
    std::optional<Error> error;
    try {
      if (auto st = job(patient_id); !st) error = st.error();
    } catch (const Failure& e) {
      error = Error{e.code(), e.what(), {}};
    } catch (const std::exception& e) {
      error = Error::internal(e.what());
    } catch (...) {
      error = Error::internal("unknown exception");
    }
    if (!error) {
      done.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    failed.fetch_add(1, std::memory_order_relaxed);
    bool retry = false;
    std::chrono::milliseconds after{0};
    {
      std::lock_guard lock(m);
      retry = !stopped && worth_retrying(error->code) && attempt < settings.max_attempts &&
              !pending.contains(patient_id);  // a newer schedule already covers it
      if (retry) {
        after = settings.retry_after * (1LL << (attempt - 1));
        arm(patient_id, after, attempt + 1);
      }
    }
    (retry ? retried : dropped).fetch_add(1, std::memory_order_relaxed);
    write(patient_id, attempt, *error, retry ? "retry in " + std::to_string(after.count()) + " ms" : "dropped");
  }

  void write(std::int64_t patient_id, int attempt, const Error& e, const std::string& then) const {
    const nlohmann::json line{{"level", "error"},       {"msg", "background job failed"},
                              {"job", settings.job},    {"patient_id", patient_id},
                              {"attempt", attempt},     {"error", e.message},
                              {"code", errc_name(e.code)}, {"then", then},
                              {"ts", format_iso8601_utc(now_utc_ms())}};
    const auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (log) {
      log(text);
    } else {
      std::fprintf(stderr, "%s\n", text.c_str());
    }
  }
};

Debouncer::Debouncer(boost::asio::thread_pool& pool, DebouncerSettings settings, Job job, LogSink log)
    : state_(std::make_shared<State>(pool, std::move(settings), std::move(job), std::move(log))) {}

Debouncer::~Debouncer() { stop(); }

void Debouncer::schedule(std::int64_t patient_id) {
  std::lock_guard lock(state_->m);
  if (state_->stopped) return;
  state_->arm(patient_id, state_->settings.delay, 1);
}

void Debouncer::stop() {
  std::lock_guard lock(state_->m);
  state_->stopped = true;
  for (auto& [id, timer] : state_->pending) timer->cancel();
  state_->pending.clear();
}

DebouncerCounts Debouncer::counts() const noexcept {
  return {state_->done.load(std::memory_order_relaxed), state_->failed.load(std::memory_order_relaxed),
          state_->retried.load(std::memory_order_relaxed), state_->dropped.load(std::memory_order_relaxed)};
}

}  // namespace careloop::core
