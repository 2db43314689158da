// The hostile corpus: every file under corpus/ is one malformed or hostile
// request, sent byte for byte to a real `careloop serve`. Each must be
// refused with a 4xx in the right error format (problem+json, or an
// OperationOutcome under /fhir), never a 5xx or a hang, and must leave every
// table of the database exactly as it was. README.md describes the files.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "child_process.hpp"
#include "http_client.hpp"
#include "raw_exchange.hpp"
#include "request_file.hpp"
#include "temp_dir.hpp"

using namespace careloop::testing;
using namespace careloop::hostile;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string bin = CARELOOP_BIN;
// CARELOOP_HOSTILE_CORPUS in the environment points the runner at another folder.
const fs::path corpus_dir = std::getenv("CARELOOP_HOSTILE_CORPUS") ? std::getenv("CARELOOP_HOSTILE_CORPUS")
                                                                   : CARELOOP_HOSTILE_CORPUS;
constexpr auto answer_timeout = std::chrono::seconds(10);
constexpr std::size_t min_corpus_files = 200;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::vector<fs::path>& corpus_files() {
  static const std::vector<fs::path> files = [] {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(corpus_dir))
      if (e.is_regular_file() && e.path().extension() == ".http") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }();
  return files;
}

// Row count and a content hash of every table: a write of any kind
// (insert, update, delete, drop) shows up as a difference.
struct TableState {
  std::int64_t rows = 0;
  std::uint64_t hash = 0;
  bool operator==(const TableState&) const = default;
};
using DbState = std::map<std::string, TableState>;

class Database {
 public:
  explicit Database(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      error_ = sqlite3_errmsg(db_);
      sqlite3_close(db_);
      db_ = nullptr;
    }
    if (db_) sqlite3_busy_timeout(db_, 5000);
  }
  ~Database() { sqlite3_close(db_); }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  bool ok() const { return db_ != nullptr; }
  const std::string& error() const { return error_; }

  DbState state() {
    DbState out;
    for (const auto& table : column_strings("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")) {
      TableState t;
      t.hash = 1469598103934665603ULL;
      each_row("SELECT * FROM \"" + table + "\" ORDER BY rowid", [&](sqlite3_stmt* st) {
        ++t.rows;
        for (int c = 0; c < sqlite3_column_count(st); ++c) {
          const auto type = sqlite3_column_type(st, c);
          const auto* bytes = static_cast<const unsigned char*>(sqlite3_column_blob(st, c));
          const int n = sqlite3_column_bytes(st, c);
          mix(t.hash, static_cast<unsigned char>(type));
          for (int i = 0; i < n; ++i) mix(t.hash, bytes[i]);
        }
      });
      out[table] = t;
    }
    return out;
  }

  std::int64_t integer(const std::string& sql) {
    std::int64_t v = 0;
    each_row(sql, [&](sqlite3_stmt* st) { v = sqlite3_column_int64(st, 0); });
    return v;
  }

 private:
  static void mix(std::uint64_t& h, unsigned char b) { h = (h ^ b) * 1099511628211ULL; }

  template <class F>
  void each_row(const std::string& sql, F&& f) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      FAIL("sqlite: " << sqlite3_errmsg(db_) << " in " << sql);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) f(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) FAIL("sqlite: " << sqlite3_errmsg(db_) << " in " << sql);
  }

  std::vector<std::string> column_strings(const std::string& sql) {
    std::vector<std::string> out;
    each_row(sql, [&](sqlite3_stmt* st) { out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))); });
    return out;
  }

  sqlite3* db_ = nullptr;
  std::string error_;
};

std::string describe_change(const DbState& before, const DbState& after) {
  std::string out;
  std::set<std::string> names;
  for (const auto& [k, v] : before) names.insert(k);
  for (const auto& [k, v] : after) names.insert(k);
  for (const auto& name : names) {
    auto b = before.find(name), a = after.find(name);
    if (b == before.end()) out += name + ": table created; ";
    else if (a == after.end()) out += name + ": table dropped; ";
    else if (!(b->second == a->second))
      out += name + ": " + std::to_string(b->second.rows) + " → " + std::to_string(a->second.rows) + " rows" +
             (b->second.rows == a->second.rows ? " (content changed)" : "") + "; ";
  }
  return out;
}

// One demo database and one `careloop serve` for the whole corpus.
struct Fixture {
  TempDir dir{"hostile"};
  std::string db = dir.file("hostile.db");
  std::string log = dir.file("serve.log");
  std::unique_ptr<ChildProcess> server;
  std::uint16_t port = 0;
  Variables vars;
  DbState before_logins;  // right after the demo: the runner's own logins come on top
  std::unique_ptr<Database> reader;
  std::string failure;  // why the fixture could not start
};

std::string login(HttpClient& c, const std::string& username, const std::string& password) {
  auto r = c.post_json("/api/v1/auth/login", {{"username", username}, {"password", password}});
  if (!r || r->status != 200) return "";
  return r->json().at("token").get<std::string>();
}

std::unique_ptr<Fixture> start_fixture() {
  auto f = std::make_unique<Fixture>();
  auto demo = run_command({bin, "--db", f->db, "demo", "--patients", "10", "--clinics", "1", "--days", "3", "--end-date",
                           "2026-11-01"});
  if (demo.exit_code != 0) {
    f->failure = "careloop demo failed: " + demo.err;
    return f;
  }
  {
    Database d(f->db);
    if (!d.ok()) {
      f->failure = "cannot open the demo database: " + d.error();
      return f;
    }
    f->before_logins = d.state();
    f->vars["PATIENT_ID"] = std::to_string(d.integer("SELECT patient_id FROM users WHERE username = 'patient01'"));
    f->vars["OTHER_PATIENT_ID"] = std::to_string(d.integer("SELECT patient_id FROM users WHERE username = 'patient02'"));
  }
  // A short header timeout keeps the slow-header file at 2 s.
  f->server = std::make_unique<ChildProcess>(
      std::vector<std::string>{bin, "--db", f->db, "serve", "--port", "0", "--io-threads", "2", "--compute-threads", "2",
                               "--header-timeout", "2"},
      f->log);
  const auto line = f->server->wait_for_line("serving", std::chrono::seconds(20));
  f->port = static_cast<std::uint16_t>(port_from_serving_line(line));
  if (f->port == 0) {
    f->failure = "careloop serve did not start; see its log";
    return f;
  }
  HttpClient c("127.0.0.1", f->port);
  const auto patient = login(c, "patient01", "demo-patient");
  const auto doctor = login(c, "doctor01", "demo-doctor");
  if (patient.empty() || doctor.empty()) {
    f->failure = "the demo logins patient01 / doctor01 failed";
    return f;
  }
  f->vars["HOST"] = "127.0.0.1:" + std::to_string(f->port);
  f->vars["PATIENT_TOKEN"] = patient;
  f->vars["DOCTOR_TOKEN"] = doctor;
  f->reader = std::make_unique<Database>(f->db);
  if (!f->reader->ok()) f->failure = "cannot open the database read-only: " + f->reader->error();
  return f;
}

Fixture& fixture() {
  static const std::unique_ptr<Fixture> f = start_fixture();
  return *f;
}

std::string snippet(const std::string& body) {
  std::string s = body.substr(0, 300);
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return s + (body.size() > 300 ? "..." : "");
}

bool media_is(const std::string& content_type, std::string_view want) {
  return std::string_view(content_type).substr(0, content_type.find(';')) == want;
}

// "" when the answer is one the file accepts, else what is wrong with it.
std::string judge(const RequestFile& file, const Answer& a) {
  auto accepts = [&](Outcome o) {
    return std::any_of(file.expect.begin(), file.expect.end(), [o](const Expectation& e) { return e.outcome == o; });
  };
  if (!a.failure.empty()) return a.failure;
  if (a.timed_out) return "no complete answer within 10 s (a hang)";
  if (a.closed) return accepts(Outcome::closed) ? "" : "the server closed the connection without answering";

  const std::string seen = "got " + std::to_string(a.status) + " " + a.content_type + ": " + snippet(a.body);
  if (a.status >= 500) return "a server error: " + seen;
  // FHIR's batch answers per entry (R4 http.html#transaction): a 200
  // batch-response whose every entry is a 4xx is a refusal too.
  if (a.status == 200 && accepts(Outcome::entry_rejected)) {
    json j = json::parse(a.body, nullptr, false);
    if (accepts(Outcome::entry_rejected) && media_is(a.content_type, "application/fhir+json") && j.is_object() &&
        j.value("resourceType", "") == "Bundle" && j.value("type", "") == "batch-response" && j.contains("entry") &&
        j["entry"].is_array() && !j["entry"].empty() &&
        std::all_of(j["entry"].begin(), j["entry"].end(), [](const json& e) {
          return e.is_object() && e.contains("response") && e["response"].is_object() &&
                 e["response"].value("status", "").starts_with("4");
        }))
      return "";
    return "a 200 that does not refuse every entry: " + seen;
  }
  const bool status_ok = std::any_of(file.expect.begin(), file.expect.end(), [&](const Expectation& e) {
    return (e.outcome == Outcome::any_4xx && a.status >= 400 && a.status <= 499) ||
           (e.outcome == Outcome::status && a.status == e.status);
  });
  if (!status_ok) return "an unexpected status: " + seen;

  const json j = json::parse(a.body, nullptr, false);
  if (file.media == ErrorMedia::fhir) {
    if (!media_is(a.content_type, "application/fhir+json")) return "not application/fhir+json: " + seen;
    if (!j.is_object() || j.value("resourceType", "") != "OperationOutcome" || !j.contains("issue") ||
        !j["issue"].is_array() || j["issue"].empty())
      return "not an OperationOutcome with issues: " + seen;
    return "";
  }
  if (!media_is(a.content_type, "application/problem+json")) return "not application/problem+json: " + seen;
  if (!j.is_object() || !j.contains("status") || j["status"] != a.status || !j.contains("title") ||
      !j["title"].is_string() || j["title"].get<std::string>().empty())
    return "not a problem document with status and title: " + seen;
  return "";
}

}  // namespace

TEST_CASE("corpus files are well formed and cover every category") {
  std::map<std::string, int> per_category;
  std::set<std::string> numbers;
  Variables vars{{"HOST", "127.0.0.1:1"}, {"PATIENT_TOKEN", "p"}, {"DOCTOR_TOKEN", "d"}, {"PATIENT_ID", "1"},
                 {"OTHER_PATIENT_ID", "2"}};
  for (const auto& path : corpus_files()) {
    const auto name = path.filename().string();
    INFO(name);
    std::string error;
    auto file = parse_request_file(name, read_file(path), error);
    CHECK(error == "");
    if (!file) continue;
    ++per_category[file->category];
    CHECK(numbers.insert(name.substr(0, name.find('-'))).second);  // unique NNN prefixes
    auto bytes = render(*file, vars, error);
    CHECK(error == "");
    CHECK((bytes && !bytes->empty()));
  }
  CHECK(corpus_files().size() >= min_corpus_files);
  for (const auto& c : categories()) {
    INFO("category " << c);
    CHECK(per_category[c] > 0);
  }
}

TEST_CASE("request file templates expand as documented") {
  std::string error;
  const Variables vars{{"HOST", "h:1"}};
  CHECK(expand("a{{REPEAT 3}}b{{I}}{{END}}c", vars, error) == "ab0b1b2c");
  CHECK(expand("{{REPEAT 2}}[{{REPEAT 2}}{{I:3}}{{END}}]{{END}}", vars, error) == "[000001][000001]");
  CHECK(expand("{{BYTES 00 ff 41}}{{CRLF}}{{HOST}}", vars, error) == std::string("\0\xff" "A\r\nh:1", 8));
  CHECK(expand("{\"a\":{\"b\":1}}", vars, error) == "{\"a\":{\"b\":1}}");
  CHECK_FALSE(expand("{{REPEAT 2}}x", vars, error));
  CHECK_FALSE(expand("{{NOPE}}", vars, error));
  CHECK_FALSE(expand("{{I}}", vars, error));
  CHECK_FALSE(expand("{{REPEAT 100}}{{REPEAT 100}}xxxxxxxxxx{{END}}{{END}}", vars, error, 1000));

  auto f = parse_request_file("t.http", "# defect: d\n# category: truncated\n# expect: 413 4xx\nPOST /fhir/x HTTP/1.1\nContent-Length: 99\n\n{}\n", error);
  REQUIRE(f);
  CHECK(f->media == ErrorMedia::fhir);
  CHECK(f->expect.size() == 2);
  CHECK(render(*f, vars, error) == "POST /fhir/x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
  auto raw = parse_request_file("r.http", "# defect: d\n# category: framing\n# framing: raw\nGET / HTTP/1.1\nX: 1{{LF}}\n\n", error);
  REQUIRE(raw);
  CHECK(render(*raw, vars, error) == "GET / HTTP/1.1\r\nX: 1\n\r\n");
  CHECK_FALSE(parse_request_file("x.http", "# category: framing\nGET / HTTP/1.1\n", error));  // no defect
  CHECK_FALSE(parse_request_file("x.http", "# defect: d\n# category: framing\n# expect: 500\nGET / HTTP/1.1\n", error));
}

TEST_CASE("corpus requests are refused with 4xx and store nothing") {
  Fixture& fx = fixture();
  INFO(fx.failure);
  REQUIRE(fx.failure.empty());

  for (const auto& path : corpus_files()) {
    DYNAMIC_SECTION(path.filename().string()) {
      std::string error;
      auto file = parse_request_file(path.filename().string(), read_file(path), error);
      INFO("malformed corpus file: " << error);
      REQUIRE(file);
      INFO("defect: " << file->defect);
      auto bytes = render(*file, fx.vars, error);
      REQUIRE(bytes);
      const auto before = fx.reader->state();
      const auto started = std::chrono::steady_clock::now();
      const auto answer = exchange(fx.port, *bytes, file->half_close, answer_timeout);
      if (std::getenv("CARELOOP_HOSTILE_VERBOSE"))
        std::printf("%-60s %3u %-26s %6lld ms%s\n", file->name.c_str(), answer.status, answer.content_type.c_str(),
                    static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now() - started).count()),
                    answer.closed ? " (closed)" : "");
      CHECK(judge(*file, answer) == "");
      CHECK(describe_change(before, fx.reader->state()) == "");
    }
  }

  SECTION("afterwards the server is healthy and logged no error and stored only the two logins") {
    HttpClient c("127.0.0.1", fx.port);
    auto health = c.get("/healthz");
    REQUIRE(health);
    CHECK(health->status == 200);
    c.close();

    auto after = fx.reader->state();
    auto expected = fx.before_logins;
    expected["sessions"] = after["sessions"];
    CHECK(describe_change(expected, after) == "");
    CHECK(after["sessions"].rows == fx.before_logins["sessions"].rows + 2);

    std::ifstream log(fx.log);
    std::string line, errors;
    while (std::getline(log, line))
      if (line.find("\"level\":\"error\"") != std::string::npos) errors += line + "\n";
    CHECK(errors == "");

    fx.reader.reset();
    fx.server->signal(SIGTERM);
    CHECK(fx.server->wait(std::chrono::seconds(15)) == 0);
  }
}
