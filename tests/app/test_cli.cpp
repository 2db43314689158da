#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <future>
#include <set>

#include <filesystem>
#include <fstream>

#include "careloop/core/time.hpp"
#include "careloop/store/sqlite.hpp"
#include "child_process.hpp"
#include "temp_dir.hpp"

using careloop::testing::run_command;
using careloop::testing::TempDir;

namespace {
const std::string bin = CARELOOP_BIN;

careloop::testing::RunResult careloop_cmd(const std::string& db, std::vector<std::string> args, const std::string& input = "",
                                          const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{bin, "--db", db};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, input, env);
}

std::unique_ptr<careloop::store::SqliteStore> open(const std::string& path) {
  careloop::store::SqliteOptions o;
  o.path = path;
  o.create_if_missing = false;
  auto s = careloop::store::open_sqlite(o);
  REQUIRE(s.ok());
  return std::move(s.value());
}
}  // namespace

TEST_CASE("careloop --version and --help read well") {
  auto v = run_command({bin, "--version"});
  CHECK(v.exit_code == 0);
  CHECK(v.out.find("careloop ") == 0);
  auto h = run_command({bin, "--help"});
  CHECK(h.exit_code == 0);
  for (const char* word : {"serve", "init", "demo", "region", "clinic", "user", "backup", "CARELOOP_"})
    CHECK(h.out.find(word) != std::string::npos);
  auto none = run_command({bin});
  CHECK(none.exit_code != 0);
}

TEST_CASE("init, region add, clinic add, user add, then backup and open the backup") {
  TempDir dir("cli");
  const auto db = dir.file("c.db");
  auto init = careloop_cmd(db, {"init"});
  REQUIRE(init.exit_code == 0);
  CHECK(init.out.find("schema version") != std::string::npos);

  auto province = careloop_cmd(db, {"region", "add", "--name", "Test Province", "--level", "province", "--code", "110000"});
  REQUIRE(province.exit_code == 0);
  const auto province_id = std::stoll(province.out);
  auto community = careloop_cmd(db, {"region", "add", "--name", "East Lake", "--parent", std::to_string(province_id)});
  REQUIRE(community.exit_code == 0);
  auto clinic = careloop_cmd(db, {"clinic", "add", "--name", "East Lake CHC", "--region", community.out.substr(0, community.out.size() - 1)});
  REQUIRE(clinic.exit_code == 0);
  const auto clinic_id = std::stoll(clinic.out);

  auto doctor = careloop_cmd(db, {"user", "add", "--role", "doctor", "--username", "dr.li", "--clinic", std::to_string(clinic_id)},
                             "correct horse battery\n");
  REQUIRE(doctor.exit_code == 0);
  // Weak password, missing scope, taken username, unknown role: refused with a reason.
  auto weak = careloop_cmd(db, {"user", "add", "--role", "doctor", "--username", "dr.wang", "--clinic", std::to_string(clinic_id)}, "short\n");
  CHECK(weak.exit_code != 0);
  CHECK(weak.err.find("8 characters") != std::string::npos);
  auto scopeless = careloop_cmd(db, {"user", "add", "--role", "authority", "--username", "auth"}, "long enough pw\n");
  CHECK(scopeless.exit_code != 0);
  CHECK(scopeless.err.find("--region") != std::string::npos);
  auto taken = careloop_cmd(db, {"user", "add", "--role", "doctor", "--username", "dr.li", "--clinic", std::to_string(clinic_id)}, "another password\n");
  CHECK(taken.exit_code != 0);
  auto bad_role = careloop_cmd(db, {"user", "add", "--role", "nurse", "--username", "x"}, "long enough pw\n");
  CHECK(bad_role.exit_code != 0);

  auto list = careloop_cmd(db, {"user", "list"});
  CHECK(list.out.find("dr.li") != std::string::npos);

  const auto backup_path = dir.file("backup.db");
  auto backup = careloop_cmd(db, {"backup", backup_path});
  REQUIRE(backup.exit_code == 0);
  {
    auto copy = open(backup_path);
    CHECK(copy->integrity_check().ok());
    auto u = copy->user_by_username("dr.li");
    REQUIRE(u.ok());
    CHECK(u->clinic_id == clinic_id);
    CHECK(copy->clinics().size() == 1);
    CHECK(copy->regions().size() == 2);
  }
  // A backup never overwrites a file.
  CHECK(careloop_cmd(db, {"backup", backup_path}).exit_code != 0);

  // Who created an account and who copied the database are in the audit log.
  auto st = open(db);
  std::set<std::string> actions;
  for (const auto& e : st->audit_log(std::nullopt, 100)) actions.insert(e.action);
  CHECK(actions.contains("user.create"));
  CHECK(actions.contains("backup.create"));
}

TEST_CASE("user deactivate ends every session and stops sign-in, reactivate and revoke-sessions too, each audited") {
  TempDir dir("cli-access");
  const auto db = dir.file("c.db");
  REQUIRE(careloop_cmd(db, {"init"}).exit_code == 0);
  const auto region = careloop_cmd(db, {"region", "add", "--name", "R", "--level", "community"});
  REQUIRE(region.exit_code == 0);
  const auto clinic = careloop_cmd(db, {"clinic", "add", "--name", "C", "--region", region.out.substr(0, region.out.size() - 1)});
  REQUIRE(clinic.exit_code == 0);
  REQUIRE(careloop_cmd(db, {"user", "add", "--role", "doctor", "--username", "dr.zhao", "--clinic",
                            clinic.out.substr(0, clinic.out.size() - 1)},
                       "correct horse battery\n")
              .exit_code == 0);
  int made = 0;  // every token differs from those made before
  auto sessions = [&](int n) {
    auto st = open(db);
    const auto user = st->user_by_username("dr.zhao");
    REQUIRE(user.ok());
    std::vector<std::string> tokens;
    for (int i = 0; i < n; ++i) {
      tokens.push_back(std::string(32, static_cast<char>('a' + made++)));
      std::promise<bool> done;
      st->create_session(tokens.back(), careloop::store::Session{user->id, careloop::core::now_utc_ms() + 3'600'000, 0},
                         [&](auto r) { done.set_value(r.ok()); });
      REQUIRE(done.get_future().get());
    }
    return tokens;
  };
  auto tokens = sessions(2);

  auto off = careloop_cmd(db, {"user", "deactivate", "--username", "dr.zhao"});
  INFO(off.err);
  REQUIRE(off.exit_code == 0);
  {
    auto st = open(db);
    CHECK_FALSE(st->user_by_username("dr.zhao")->active);
    for (const auto& t : tokens) CHECK_FALSE(st->session(t).ok());
    CHECK(careloop_cmd(db, {"user", "list"}).out.find("deactivated") != std::string::npos);
  }
  REQUIRE(careloop_cmd(db, {"user", "reactivate", "--username", "dr.zhao"}).exit_code == 0);
  tokens = sessions(3);
  auto revoked = careloop_cmd(db, {"user", "revoke-sessions", "--username", "DR.ZHAO"});
  REQUIRE(revoked.exit_code == 0);
  CHECK(revoked.out.find("3 session(s) ended") != std::string::npos);
  {
    auto st = open(db);
    CHECK(st->user_by_username("dr.zhao")->active);
    for (const auto& t : tokens) CHECK_FALSE(st->session(t).ok());
    std::multiset<std::string> actions;
    for (const auto& e : st->audit_log(std::nullopt, 100)) actions.insert(e.action);
    CHECK(actions.count("user.deactivate") == 1);
    CHECK(actions.count("user.reactivate") == 1);
    CHECK(actions.count("user.sessions.revoke") == 1);
  }
  CHECK(careloop_cmd(db, {"user", "deactivate", "--username", "nobody"}).exit_code != 0);
}

TEST_CASE("settings: flag beats environment beats config file") {
  TempDir dir("settings");
  const auto from_file = dir.file("file.db");
  const auto from_env = dir.file("env.db");
  const auto from_flag = dir.file("flag.db");
  const auto config = dir.file("careloop.ini");
  {
    std::ofstream(config) << "db = " << from_file << "\n";
  }
  auto r1 = run_command({bin, "--config", config, "init"});
  REQUIRE(r1.exit_code == 0);
  CHECK(std::filesystem::exists(from_file));
  auto r2 = run_command({bin, "--config", config, "init"}, "", {"CARELOOP_DB=" + from_env});
  REQUIRE(r2.exit_code == 0);
  CHECK(std::filesystem::exists(from_env));
  auto r3 = run_command({bin, "--config", config, "--db", from_flag, "init"}, "", {"CARELOOP_DB=" + from_env});
  REQUIRE(r3.exit_code == 0);
  CHECK(std::filesystem::exists(from_flag));
}

TEST_CASE("demo builds a reproducible county through the store") {
  TempDir dir("demo");
  const auto a = dir.file("a.db"), b = dir.file("b.db");
  auto ra = careloop_cmd(a, {"demo", "--patients", "60", "--clinics", "3", "--seed", "7", "--end-date", "2026-10-31"});
  REQUIRE(ra.exit_code == 0);
  auto rb = careloop_cmd(b, {"demo", "--patients", "60", "--clinics", "3", "--seed", "7", "--end-date", "2026-10-31"});
  REQUIRE(rb.exit_code == 0);
  auto sa = open(a), sb = open(b);
  CHECK(sa->count_readings() > 60 * 50);
  CHECK(sa->count_readings() == sb->count_readings());
  const auto clinics = sa->clinics();
  REQUIRE(clinics.size() == 3);
  const auto pa = sa->patients_of_clinic(clinics[0].id);
  const auto pb = sb->patients_of_clinic(sb->clinics()[0].id);
  REQUIRE(pa.size() == pb.size());
  REQUIRE(!pa.empty());
  CHECK(pa[0].name == pb[0].name);
  careloop::store::ReadingQuery q;
  q.patient_id = pa[0].id;
  q.limit = 5000;
  const auto reads_a = sa->readings(q);
  q.patient_id = pb[0].id;
  const auto reads_b = sb->readings(q);
  REQUIRE(reads_a.size() == reads_b.size());
  for (std::size_t i = 0; i < reads_a.size(); ++i) {
    CHECK(reads_a[i].client_id == reads_b[i].client_id);
    CHECK(reads_a[i].taken_at == reads_b[i].taken_at);
  }
  // A demo never writes over an existing database.
  CHECK(careloop_cmd(a, {"demo"}).exit_code != 0);
  CHECK(sa->integrity_check().ok());
}
