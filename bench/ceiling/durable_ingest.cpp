// The durable ingest ceiling (issue 19): the least a server must do to
// acknowledge one reading durably, for bench/ingest to judge CareLoop's
// single-reading POSTs against, measured in the same run.
//
// Beast with careloop::server's threading model (one io_context, N I/O
// threads, a strand and a coroutine per connection); each POST's body parsed
// with nlohmann::json and its first reading checked for the fields CareLoop
// reads (client_id, kind, taken_at, systolic, diastolic, pulse, unit); handed
// to one writer thread that group-commits every waiting reading into SQLite
// (WAL, synchronous=FULL, a unique (patient, client id) key, so a resend is a
// duplicate) and answers only after the commit, with CareLoop's answer shape
// ({"results":[{"client_id","status","id"}]}). The bearer token names the
// patient (one id per distinct token). No authentication, audit, alert rules,
// kept state or change feed: those are CareLoop's own work, what the ratio
// prices.
//
//   careloop_bench_durable_ingest --db FILE [--port 8091] [--threads N] [--max-batch 1024]
#include <sqlite3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Reading {
  std::int64_t patient_id = 0;
  std::string client_id;
  std::string kind;
  std::int64_t taken_at_ms = 0;
  double systolic = 0, diastolic = 0;
  std::optional<double> pulse;
  std::string unit, source;
};

// What the writer tells a waiting request, on the request's own strand.
struct Waiter {
  explicit Waiter(asio::any_io_executor ex) : timer(ex, asio::steady_timer::time_point::max()) {}
  asio::steady_timer timer;
  bool done = false;
  bool created = false;
  std::int64_t id = 0;
  std::string error;
};

struct Job {
  Reading reading;
  std::shared_ptr<Waiter> waiter;
};

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "durable_ingest: %s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

// One thread, one connection, every waiting job in one transaction.
class Writer {
 public:
  Writer(const std::string& path, std::size_t max_batch) : max_batch_(max_batch) {
    check(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr),
          db_, "open");
    check(sqlite3_exec(db_,
                       "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                       "CREATE TABLE IF NOT EXISTS readings ("
                       "  id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL, client_id TEXT NOT NULL,"
                       "  kind TEXT NOT NULL, taken_at_ms INTEGER NOT NULL, systolic REAL, diastolic REAL,"
                       "  pulse REAL, unit TEXT NOT NULL, source TEXT NOT NULL, received_at_ms INTEGER NOT NULL,"
                       "  UNIQUE (patient_id, client_id)) STRICT;",
                       nullptr, nullptr, nullptr),
          db_, "schema");
    check(sqlite3_prepare_v3(db_,
                             "INSERT INTO readings (patient_id, client_id, kind, taken_at_ms, systolic, diastolic, "
                             "pulse, unit, source, received_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                             "ON CONFLICT (patient_id, client_id) DO NOTHING RETURNING id",
                             -1, SQLITE_PREPARE_PERSISTENT, &insert_, nullptr),
          db_, "prepare insert");
    check(sqlite3_prepare_v3(db_, "SELECT id FROM readings WHERE patient_id = ? AND client_id = ?", -1,
                             SQLITE_PREPARE_PERSISTENT, &find_, nullptr),
          db_, "prepare find");
    thread_ = std::thread([this] { run(); });
  }
  ~Writer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
    sqlite3_finalize(insert_);
    sqlite3_finalize(find_);
    sqlite3_close_v2(db_);
  }

  void submit(Job job) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(job));
    }
    wake_.notify_one();
  }

 private:
  void run() {
    std::vector<Job> batch;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, nothing left
        while (!queue_.empty() && batch.size() < max_batch_) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      check(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), db_, "begin");
      for (auto& j : batch) {
        const auto& r = j.reading;
        sqlite3_bind_int64(insert_, 1, r.patient_id);
        sqlite3_bind_text(insert_, 2, r.client_id.data(), static_cast<int>(r.client_id.size()), SQLITE_STATIC);
        sqlite3_bind_text(insert_, 3, r.kind.data(), static_cast<int>(r.kind.size()), SQLITE_STATIC);
        sqlite3_bind_int64(insert_, 4, r.taken_at_ms);
        sqlite3_bind_double(insert_, 5, r.systolic);
        sqlite3_bind_double(insert_, 6, r.diastolic);
        if (r.pulse)
          sqlite3_bind_double(insert_, 7, *r.pulse);
        else
          sqlite3_bind_null(insert_, 7);
        sqlite3_bind_text(insert_, 8, r.unit.data(), static_cast<int>(r.unit.size()), SQLITE_STATIC);
        sqlite3_bind_text(insert_, 9, r.source.data(), static_cast<int>(r.source.size()), SQLITE_STATIC);
        sqlite3_bind_int64(insert_, 10, now);
        const int rc = sqlite3_step(insert_);
        if (rc == SQLITE_ROW) {
          j.waiter->created = true;
          j.waiter->id = sqlite3_column_int64(insert_, 0);
          sqlite3_step(insert_);  // to SQLITE_DONE
        } else {
          check(rc, db_, "insert");
          // A resend: the original's id.
          sqlite3_bind_int64(find_, 1, r.patient_id);
          sqlite3_bind_text(find_, 2, r.client_id.data(), static_cast<int>(r.client_id.size()), SQLITE_STATIC);
          if (sqlite3_step(find_) == SQLITE_ROW) j.waiter->id = sqlite3_column_int64(find_, 0);
          sqlite3_reset(find_);
        }
        sqlite3_reset(insert_);
      }
      check(sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr), db_, "commit");
      // Durable now: wake each request on its own strand.
      for (auto& j : batch) {
        auto w = std::move(j.waiter);
        auto ex = w->timer.get_executor();
        asio::post(ex, [w = std::move(w)] {
          w->done = true;
          w->timer.cancel();
        });
      }
      batch.clear();
    }
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* find_ = nullptr;
  std::size_t max_batch_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

// YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm) → Unix ms; nullopt when it is not.
std::optional<std::int64_t> parse_time(const std::string& s) {
  int y, mo, d, h, mi, sec;
  char rest[32] = {};
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%31s", &y, &mo, &d, &h, &mi, &sec, rest) < 6) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::int64_t ms = static_cast<std::int64_t>(timegm(&tm)) * 1000;
  std::string_view r = rest;
  if (!r.empty() && r.front() == '.') {
    int frac = 0, digits = 0;
    std::size_t i = 1;
    for (; i < r.size() && r[i] >= '0' && r[i] <= '9'; ++i)
      if (digits < 3) frac = frac * 10 + (r[i] - '0'), ++digits;
    while (digits < 3) frac *= 10, ++digits;
    ms += frac;
    r.remove_prefix(i);
  }
  if (r == "Z") return ms;
  int oh = 0, om = 0;
  if (r.size() == 6 && (r[0] == '+' || r[0] == '-') && std::sscanf(r.data() + 1, "%2d:%2d", &oh, &om) == 2)
    return ms - (r[0] == '+' ? 1 : -1) * (oh * 60 + om) * 60'000LL;
  return std::nullopt;
}

// The first reading of {"readings":[...]}, or why not.
std::optional<Reading> parse_reading(const std::string& body, std::string& why) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return why = "the body is not a JSON object", std::nullopt;
  const auto items = j.find("readings");
  if (items == j.end() || !items->is_array() || items->empty() || !(*items)[0].is_object())
    return why = "readings: an array of readings", std::nullopt;
  const auto& r = (*items)[0];
  Reading out;
  auto text = [&](const char* k, std::string& into) {
    auto it = r.find(k);
    if (it == r.end() || !it->is_string()) return false;
    into = it->get<std::string>();
    return true;
  };
  auto number = [&](const char* k) -> std::optional<double> {
    auto it = r.find(k);
    if (it == r.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
  };
  std::string taken;
  if (!text("client_id", out.client_id) || out.client_id.empty()) return why = "client_id", std::nullopt;
  if (!text("kind", out.kind) || out.kind != "blood_pressure") return why = "kind", std::nullopt;
  if (!text("taken_at", taken)) return why = "taken_at", std::nullopt;
  const auto at = parse_time(taken);
  if (!at) return why = "taken_at", std::nullopt;
  out.taken_at_ms = *at;
  const auto sys = number("systolic"), dia = number("diastolic");
  if (!sys || !dia || *sys <= *dia || *sys > 300 || *dia < 20) return why = "systolic/diastolic", std::nullopt;
  out.systolic = *sys;
  out.diastolic = *dia;
  out.pulse = number("pulse");
  text("unit", out.unit);
  text("source", out.source);
  return out;
}

// Patients by bearer token, one id per distinct token.
class Patients {
 public:
  std::int64_t of(std::string_view token) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = ids_.try_emplace(std::string(token), static_cast<std::int64_t>(ids_.size() + 1));
    return it->second;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::int64_t> ids_;
};

http::response<http::string_body> answer(unsigned version, bool keep_alive, http::status st, std::string body) {
  http::response<http::string_body> res{st, version};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

asio::awaitable<void> session(beast::tcp_stream stream, Writer& writer, Patients& patients) {
  beast::flat_buffer buffer;
  const auto ex = co_await asio::this_coro::executor;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) break;
    const auto& req = parser.get();
    http::response<http::string_body> res;
    std::string why;
    if (req.method() != http::verb::post || req.target() != "/api/v1/me/readings") {
      res = answer(req.version(), req.keep_alive(), http::status::not_found, R"({"title":"Not Found"})");
    } else if (auto reading = parse_reading(req.body(), why); !reading) {
      res = answer(req.version(), req.keep_alive(), http::status::unprocessable_entity,
                   json{{"title", "Invalid reading"}, {"detail", why}}.dump());
    } else {
      std::string_view auth = req[http::field::authorization];
      if (auth.starts_with("Bearer ")) auth.remove_prefix(7);
      reading->patient_id = patients.of(auth);
      const std::string client_id = reading->client_id;
      auto waiter = std::make_shared<Waiter>(ex);
      writer.submit({std::move(*reading), waiter});
      while (!waiter->done) co_await waiter->timer.async_wait(use_tuple);
      json result{{"client_id", client_id}, {"status", waiter->created ? "created" : "duplicate"}, {"id", waiter->id}};
      res = answer(req.version(), req.keep_alive(), http::status::ok, json{{"results", json::array({result})}}.dump());
    }
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, Writer& writer, Patients& patients) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(acceptor.get_executor()), use_tuple);
    if (ec) {
      if (!acceptor.is_open()) co_return;
      continue;
    }
    auto ex = socket.get_executor();
    asio::co_spawn(ex, session(beast::tcp_stream(std::move(socket)), writer, patients), asio::detached);
  }
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s --db FILE [--port N (default 8091)] [--threads N (default: cores)] [--max-batch N]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 8091;
  int threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::size_t max_batch = 1024;
  std::string db;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return usage(argv[0]);
    if (arg == "--port")
      port = static_cast<unsigned short>(std::atoi(argv[++i]));
    else if (arg == "--threads")
      threads = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--max-batch")
      max_batch = static_cast<std::size_t>(std::max(1, std::atoi(argv[++i])));
    else if (arg == "--db")
      db = argv[++i];
    else
      return usage(argv[0]);
  }
  if (db.empty()) return usage(argv[0]);

  // Destroyed in reverse: the writer first (it commits what it holds and
  // posts the answers while the io_context still exists), then the context.
  asio::io_context ioc{threads};
  Patients patients;
  Writer writer(db, max_batch);
  tcp::acceptor acceptor{ioc, {asio::ip::make_address("127.0.0.1"), port}};
  std::fprintf(stderr, "durable_ingest: http://127.0.0.1:%u/api/v1/me/readings on %d threads, %s\n",
               static_cast<unsigned>(acceptor.local_endpoint().port()), threads, db.c_str());
  asio::co_spawn(ioc, listen(acceptor, writer, patients), asio::detached);

  asio::signal_set signals{ioc, SIGINT, SIGTERM};
  signals.async_wait([&](beast::error_code, int) { ioc.stop(); });

  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return 0;  // the writer commits what it holds as it is destroyed
}
