// Four patients upload 20000 readings in batches of 1–500, each on its own
// connection, while `careloop serve` is killed with SIGKILL at random moments
// and restarted on a new port. A batch that got no answer is sent again with
// the same client ids until one comes. Afterwards the database holds every
// reading exactly once, under the id it was acknowledged with.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "careloop/core/reading.hpp"
#include "careloop/store/sqlite.hpp"
#include "child_process.hpp"
#include "http_client.hpp"
#include "temp_dir.hpp"

using namespace careloop::testing;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

const std::string bin = CARELOOP_BIN;

constexpr int patient_count = 4;
constexpr int total_readings = 20'000;
constexpr int max_batch = 500;
constexpr int planned_kills = 20;
constexpr int min_kills = 5;
// Far below the 2-minute budget; past it the upload is abandoned and the test fails.
constexpr auto upload_deadline = std::chrono::seconds(80);

// A reading as the phone sends it, and what the store must keep of it.
struct PlannedReading {
  std::string client_id;
  careloop::core::ReadingKind kind;
  std::int64_t taken_at_utc_ms = 0;
  int offset_min = 0;
  double value_as_sent = 0;
  json body;
};

struct Batch {
  std::size_t first = 0;
  std::size_t count = 0;
};

// One patient's share of the upload: readings in send order, cut into batches.
struct Share {
  std::string username;
  std::int64_t patient_id = 0;
  std::int64_t readings_before = 0;
  std::vector<PlannedReading> readings;
  std::vector<Batch> batches;
};

std::string random_uuid(std::mt19937_64& rng) {
  std::uint8_t b[16];
  for (int i = 0; i < 16; i += 8) {
    const std::uint64_t r = rng();
    for (int j = 0; j < 8; ++j) b[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
  }
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[b[i] >> 4];
    out += hex[b[i] & 0x0F];
  }
  return out;
}

// RFC 3339 local time with its offset, the way a phone in that zone writes it.
std::string local_time(std::int64_t utc_s, int offset_min) {
  const std::time_t local = static_cast<std::time_t>(utc_s + offset_min * 60LL);
  std::tm tm{};
  ::gmtime_r(&local, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  if (offset_min == 0) return std::string(when) + "Z";
  char offset[16];
  const int a = std::abs(offset_min);
  std::snprintf(offset, sizeof offset, "%c%02d:%02d", offset_min < 0 ? '-' : '+', a / 60, a % 60);
  return std::string(when) + offset;
}

int uniform(std::mt19937_64& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

// A plausible reading of a random kind taken at `utc_s`.
PlannedReading plan_reading(std::mt19937_64& rng, std::int64_t utc_s) {
  using careloop::core::ReadingKind;
  static const int offsets_min[] = {480, 480, 330, -180, 0};
  static const char* contexts[] = {"fasting", "before_meal", "after_meal", "bedtime", "random"};
  PlannedReading r;
  r.client_id = random_uuid(rng);
  r.taken_at_utc_ms = utc_s * 1000;
  r.offset_min = offsets_min[uniform(rng, 0, 4)];
  json& j = r.body;
  j = {{"client_id", r.client_id}, {"taken_at", local_time(utc_s, r.offset_min)}, {"source", "ingest-crash-test"}};
  switch (uniform(rng, 0, 4)) {
    case 0: {
      const int systolic = uniform(rng, 95, 185);
      r.kind = ReadingKind::blood_pressure;
      r.value_as_sent = systolic;
      j["kind"] = "blood_pressure";
      j["systolic"] = systolic;
      j["diastolic"] = uniform(rng, 55, std::min(systolic - 15, 115));
      if (rng() % 2) j["pulse"] = uniform(rng, 50, 110);
      j["unit"] = "mmHg";
      break;
    }
    case 1:
      r.kind = ReadingKind::glucose;
      r.value_as_sent = uniform(rng, 35, 160) / 10.0;
      j["kind"] = "glucose";
      j["value"] = r.value_as_sent;
      j["unit"] = "mmol/L";
      j["context"] = contexts[uniform(rng, 0, 4)];
      break;
    case 2:
      r.kind = ReadingKind::glucose;
      r.value_as_sent = uniform(rng, 65, 290);
      j["kind"] = "glucose";
      j["value"] = r.value_as_sent;
      j["unit"] = "mg/dL";
      j["context"] = contexts[uniform(rng, 0, 4)];
      break;
    case 3: {
      const bool pounds = rng() % 2;
      r.kind = ReadingKind::weight;
      r.value_as_sent = pounds ? uniform(rng, 900, 2600) / 10.0 : uniform(rng, 400, 1200) / 10.0;
      j["kind"] = "weight";
      j["value"] = r.value_as_sent;
      j["unit"] = pounds ? "lb" : "kg";
      break;
    }
    default:
      r.kind = ReadingKind::heart_rate;
      r.value_as_sent = uniform(rng, 45, 120);
      j["kind"] = "heart_rate";
      j["value"] = r.value_as_sent;
      j["unit"] = "/min";
      break;
  }
  return r;
}

// Every reading taken in its own 3-minute slot before `now_s`, so no two of
// one patient's readings share an instant and none is a content duplicate.
void plan_share(Share& share, std::mt19937_64& rng, std::int64_t now_s, int readings) {
  constexpr std::int64_t slot_s = 180;
  for (int i = 0; i < readings; ++i)
    share.readings.push_back(plan_reading(rng, now_s - 3600 - i * slot_s - uniform(rng, 0, slot_s - 1)));
  // Phones send what they measured in whatever order their queue has; shuffle so batches mix ages.
  std::shuffle(share.readings.begin(), share.readings.end(), rng);
  for (std::size_t first = 0; first < share.readings.size();) {
    const auto count = std::min<std::size_t>(static_cast<std::size_t>(uniform(rng, 1, max_batch)),
                                             share.readings.size() - first);
    share.batches.push_back({first, count});
    first += count;
  }
}

// The server of the moment. The killer thread replaces it; clients follow its port.
class ServerSlot {
 public:
  struct Endpoint {
    int port = 0;
    int generation = 0;
  };
  Endpoint current() const {
    std::lock_guard lock(m_);
    return now_;
  }
  // Returns once a server newer than `generation` is up, or after `timeout`.
  void wait_newer(int generation, milliseconds timeout) const {
    std::unique_lock lock(m_);
    changed_.wait_for(lock, timeout, [&] { return now_.generation > generation; });
  }
  void publish(int port) {
    {
      std::lock_guard lock(m_);
      now_ = {port, now_.generation + 1};
    }
    changed_.notify_all();
  }

 private:
  mutable std::mutex m_;
  mutable std::condition_variable changed_;
  Endpoint now_;
};

// Starts `careloop serve` on an ephemeral port; the port is 0 when it did not come up.
std::pair<std::unique_ptr<ChildProcess>, int> start_server(const TempDir& dir, const std::string& db, int round) {
  auto child = std::make_unique<ChildProcess>(
      std::vector<std::string>{bin, "--db", db, "serve", "--port", "0", "--io-threads", "2", "--compute-threads", "2"},
      dir.file("serve-" + std::to_string(round) + ".log"));
  const auto line = child->wait_for_line("serving", std::chrono::seconds(20));
  return {std::move(child), line.empty() ? 0 : port_from_serving_line(line)};
}

// Shared between the clients, the killer and the test body.
struct Run {
  ServerSlot server;
  std::atomic<bool> abandon{false};
  std::atomic<int> acknowledged{0};  // readings acknowledged at least once
  std::atomic<int> clients_running{patient_count};
};

// One phone: logs in, then sends its batches in order, each until answered.
// Catch2 assertions are not thread-safe, so what goes wrong is written down
// in `problems` and asserted by the test body after the join.
class Uploader {
 public:
  Uploader(Run& run, const Share& share) : run_(run), share_(share), acked_id_(share.readings.size()) {}

  void operator()() {
    try {
      upload();
    } catch (const json::exception& e) {
      // An exception escaping a thread would abort the whole test binary.
      problems_.push_back(share_.username + ": unreadable answer: " + e.what());
    }
    --run_.clients_running;
  }

  const std::vector<std::optional<std::int64_t>>& acked_ids() const { return acked_id_; }
  const std::vector<std::string>& problems() const { return problems_; }
  int unanswered = 0;         // requests that got no answer
  int retried_batches = 0;    // batches answered only after an unanswered attempt
  int duplicates_after_retry = 0;  // committed before a kill, acknowledged on the retry
  int acknowledged_resends = 0;    // acknowledged batches sent again after a restart
  int token_refusals = 0;     // 401 for a token that had been accepted

 private:
  void upload() {
    if (!log_in()) return;
    for (std::size_t b = 0; b < share_.batches.size() && !run_.abandon; ++b) {
      if (!send(share_.batches[b], false)) return;
      last_acknowledged_ = b;
      if (auto again = std::exchange(resend_, std::nullopt); again && !send(share_.batches[*again], true)) return;
    }
  }

  // Posts until some server answers; nullopt only when the test is abandoned.
  std::optional<HttpResult> post(const std::string& target, const json& body, const std::string& bearer) {
    while (!run_.abandon) {
      const auto endpoint = run_.server.current();
      if (endpoint.generation != generation_) {
        // The batch acknowledged last before a kill is the likeliest to be lost if the
        // server answers before it commits: send it once more after the restart.
        if (http_ && last_acknowledged_) resend_ = last_acknowledged_;
        http_ = std::make_unique<HttpClient>("127.0.0.1", static_cast<unsigned short>(endpoint.port));
        generation_ = endpoint.generation;
      }
      if (auto r = http_->post_json(target, body, bearer)) return r;
      ++unanswered;
      run_.server.wait_newer(generation_, milliseconds(200));
    }
    return std::nullopt;
  }

  bool log_in() {
    auto r = post("/api/v1/auth/login", {{"username", share_.username}, {"password", "demo-patient"}}, "");
    if (!r) return false;
    if (r->status == 200) {
      token_ = r->json().at("token").get<std::string>();
      return true;
    }
    problems_.push_back(share_.username + ": login answered " + std::to_string(r->status) + " " + r->body);
    return false;
  }

  // Sends one batch until it is answered and checks the answer. `resend`: every
  // reading in it was acknowledged before. False when the client must stop.
  bool send(const Batch& batch, bool resend) {
    json items = json::array();
    for (std::size_t i = 0; i < batch.count; ++i) items.push_back(share_.readings[batch.first + i].body);
    const json body{{"readings", std::move(items)}};
    const int unanswered_before = unanswered;
    for (;;) {
      auto r = post("/api/v1/me/readings", body, token_);
      if (!r) return false;
      if (r->status == 401) {
        // Sessions are rows committed before login answers, so a restart must not forget them.
        ++token_refusals;
        if (!log_in()) return false;
        continue;
      }
      if (r->status != 200) {
        problems_.push_back(share_.username + ": a batch was answered " + std::to_string(r->status) + " " + r->body);
        return false;
      }
      const bool retried = unanswered > unanswered_before;
      retried_batches += retried && !resend;
      acknowledged_resends += resend;
      return check_results(batch, r->json(), retried, resend);
    }
  }

  bool check_results(const Batch& batch, const json& answer, bool retried, bool resend) {
    const auto problem = [&](std::size_t i, const std::string& what) {
      problems_.push_back(share_.username + " reading " + share_.readings[batch.first + i].client_id + ": " + what);
    };
    const auto results = answer.value("results", json::array());
    if (results.size() != batch.count) {
      problems_.push_back(share_.username + ": " + std::to_string(batch.count) + " readings sent, " +
                          std::to_string(results.size()) + " results");
      return false;
    }
    for (std::size_t i = 0; i < batch.count; ++i) {
      const auto& result = results[i];
      const auto index = batch.first + i;
      const auto status = result.value("status", "");
      if (result.value("client_id", "") != share_.readings[index].client_id) {
        problem(i, "result out of order: " + result.dump());
        continue;
      }
      if (status != "created" && status != "duplicate") {
        problem(i, "not stored: " + result.dump());
        continue;
      }
      const auto id = result.value<std::int64_t>("id", 0);
      // A duplicate means an earlier copy was committed; only a batch sent before can have one.
      if (status == "duplicate" && !retried && !resend) problem(i, "duplicate on its first delivery");
      if (status == "created" && resend) problem(i, "acknowledged, yet created again after a restart");
      auto& acked = acked_id_[index];
      if (acked && *acked != id)
        problem(i, "acknowledged as " + std::to_string(*acked) + ", later as " + std::to_string(id));
      if (!acked) {
        acked = id;
        ++run_.acknowledged;
        duplicates_after_retry += status == "duplicate";
      }
    }
    return true;
  }

  Run& run_;
  const Share& share_;
  std::unique_ptr<HttpClient> http_;
  int generation_ = 0;
  std::optional<std::size_t> last_acknowledged_;  // batch index
  std::optional<std::size_t> resend_;
  std::string token_;
  std::vector<std::optional<std::int64_t>> acked_id_;
  std::vector<std::string> problems_;
};

// Kills the server once the upload has passed each of `thresholds` (readings
// acknowledged), a random few milliseconds later, and starts a new one.
struct Killer {
  Run& run;
  const TempDir& dir;
  const std::string& db;
  std::unique_ptr<ChildProcess>& child;
  std::vector<int> thresholds;
  std::mt19937_64 rng;
  int kills = 0;
  std::vector<std::string> problems;

  void operator()() {
    for (const int threshold : thresholds) {
      while (run.acknowledged < threshold && run.clients_running > 0 && !run.abandon)
        std::this_thread::sleep_for(milliseconds(1));
      if (run.clients_running == 0 || run.abandon) break;
      std::this_thread::sleep_for(milliseconds(uniform(rng, 0, 40)));
      if (run.clients_running == 0) break;
      child->signal(SIGKILL);
      if (const int status = child->wait(std::chrono::seconds(10)); status != 128 + SIGKILL)
        problems.push_back("kill " + std::to_string(kills + 1) + ": exit status " + std::to_string(status));
      ++kills;
      auto [next, port] = start_server(dir, db, kills);
      child = std::move(next);
      if (port == 0) {
        problems.push_back("the server did not come back after kill " + std::to_string(kills));
        run.abandon = true;
        break;
      }
      run.server.publish(port);
    }
    // Unblocks clients waiting on a server that will never answer.
    while (run.clients_running > 0) {
      if (run.abandon) child->signal(SIGKILL);
      std::this_thread::sleep_for(milliseconds(5));
    }
  }
};

std::uint64_t seed_from_environment() {
  if (const char* s = std::getenv("CARELOOP_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return 20261101;
}

}  // namespace

TEST_CASE("ingest_crash: 20000 readings from 4 patients are stored exactly once through repeated SIGKILLs") {
  const auto seed = seed_from_environment();
  std::printf("ingest_crash: readings seed %llu (set CARELOOP_TEST_SEED to repeat)\n",
              static_cast<unsigned long long>(seed));
  INFO("readings seed " << seed);
  const auto started = Clock::now();

  TempDir dir("ingest-crash");
  const auto db = dir.file("ingest.db");
  // The demo makes one patient login per clinic: four clinics give patient01..patient04.
  auto demo = run_command({bin, "--db", db, "demo", "--patients", "10", "--clinics", std::to_string(patient_count),
                           "--days", "3", "--end-date", "2026-11-01"});
  REQUIRE(demo.exit_code == 0);

  std::vector<Share> shares(patient_count);
  std::int64_t readings_before = 0;
  {
    careloop::store::SqliteOptions o;
    o.path = db;
    auto st = careloop::store::open_sqlite(o);
    REQUIRE(st.ok());
    readings_before = (*st)->count_readings();
    for (int p = 0; p < patient_count; ++p) {
      auto& share = shares[static_cast<std::size_t>(p)];
      char username[16];
      std::snprintf(username, sizeof username, "patient%02d", p + 1);
      share.username = username;
      auto user = (*st)->user_by_username(username);
      REQUIRE(user.ok());
      REQUIRE(user->patient_id);
      share.patient_id = *user->patient_id;
      share.readings_before = (*st)->count_readings(share.patient_id);
    }
  }
  {
    std::mt19937_64 rng(seed);
    const std::int64_t now_s = std::time(nullptr);
    for (auto& share : shares) plan_share(share, rng, now_s, total_readings / patient_count);
  }

  Run run;
  auto [child, port] = start_server(dir, db, 0);
  REQUIRE(port > 0);
  run.server.publish(port);

  // Kill points spread over the upload, one drawn at random in each stretch.
  std::random_device timing_entropy;
  Killer killer{run, dir, db, child, {}, std::mt19937_64(timing_entropy()), 0, {}};
  for (int k = 0; k < planned_kills; ++k) {
    const double stretch = 0.9 / planned_kills;
    const double at = 0.02 + stretch * (k + std::uniform_real_distribution<double>(0, 1)(killer.rng));
    killer.thresholds.push_back(static_cast<int>(at * total_readings));
  }

  std::vector<std::unique_ptr<Uploader>> uploaders;
  for (const auto& share : shares) uploaders.push_back(std::make_unique<Uploader>(run, share));
  std::vector<std::thread> threads;
  for (auto& u : uploaders) threads.emplace_back(std::ref(*u));
  std::thread killer_thread(std::ref(killer));

  const auto deadline = Clock::now() + upload_deadline;
  while (run.clients_running > 0 && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(20));
  const bool finished_in_time = run.clients_running == 0;
  if (!finished_in_time) run.abandon = true;
  for (auto& t : threads) t.join();
  killer_thread.join();

  // A clean stop after the last restart: the writer drains and the server exits 0.
  child->signal(SIGTERM);
  CHECK(child->wait(std::chrono::seconds(20)) == 0);

  int unanswered = 0, retried = 0, duplicates_after_retry = 0, resends = 0, token_refusals = 0;
  std::vector<std::string> problems = killer.problems;
  for (const auto& u : uploaders) {
    unanswered += u->unanswered;
    retried += u->retried_batches;
    duplicates_after_retry += u->duplicates_after_retry;
    resends += u->acknowledged_resends;
    token_refusals += u->token_refusals;
    problems.insert(problems.end(), u->problems().begin(), u->problems().end());
  }
  const double elapsed_s = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf(
      "ingest_crash: %d kills, %d unanswered requests, %d batches retried, %d readings acknowledged as duplicates "
      "on a retry, %d acknowledged batches resent after a restart, %.1f s\n",
      killer.kills, unanswered, retried, duplicates_after_retry, resends, elapsed_s);
  INFO(killer.kills << " kills, " << unanswered << " unanswered requests, " << retried << " batches retried");

  REQUIRE(finished_in_time);
  std::string first_problems;
  for (std::size_t i = 0; i < problems.size() && i < 20; ++i) first_problems += problems[i] + "\n";
  INFO(problems.size() << " problems; the first:\n" << first_problems);
  CHECK(problems.empty());
  CHECK(killer.kills >= min_kills);
  // Every kill cuts off at least the clients still uploading.
  CHECK(unanswered >= killer.kills);
  CHECK(token_refusals == 0);
  CHECK(run.acknowledged == total_readings);

  careloop::store::SqliteOptions o;
  o.path = db;
  auto st = careloop::store::open_sqlite(o);
  REQUIRE(st.ok());
  CHECK((*st)->integrity_check().ok());
  CHECK((*st)->count_readings() == readings_before + total_readings);

  std::vector<std::int64_t> all_ids;
  for (std::size_t p = 0; p < shares.size(); ++p) {
    const auto& share = shares[p];
    const auto& acked = uploaders[p]->acked_ids();
    careloop::store::ReadingQuery q;
    q.patient_id = share.patient_id;
    q.limit = 1'000'000;
    const auto rows = (*st)->readings(q);
    std::unordered_map<std::string, std::vector<const careloop::core::Reading*>> by_client_id;
    for (const auto& row : rows) by_client_id[row.client_id].push_back(&row);

    int missing = 0, stored_twice = 0, wrong_id = 0, wrong_content = 0;
    for (std::size_t i = 0; i < share.readings.size(); ++i) {
      const auto& want = share.readings[i];
      const auto found = by_client_id.find(want.client_id);
      if (found == by_client_id.end()) {
        ++missing;
        continue;
      }
      stored_twice += found->second.size() > 1;
      const auto& row = *found->second.front();
      all_ids.push_back(row.id);
      wrong_id += acked[i] && *acked[i] != row.id;
      wrong_content += row.kind != want.kind || row.taken_at.utc_ms != want.taken_at_utc_ms ||
                       row.taken_at.offset_min != want.offset_min || row.value_as_sent != want.value_as_sent;
    }
    INFO(share.username << ": " << rows.size() << " readings stored, " << share.readings_before << " before");
    CHECK(static_cast<std::int64_t>(rows.size()) ==
          share.readings_before + static_cast<std::int64_t>(share.readings.size()));
    CHECK(missing == 0);
    CHECK(stored_twice == 0);
    CHECK(wrong_id == 0);
    CHECK(wrong_content == 0);
  }
  std::sort(all_ids.begin(), all_ids.end());
  CHECK(std::adjacent_find(all_ids.begin(), all_ids.end()) == all_ids.end());
}
