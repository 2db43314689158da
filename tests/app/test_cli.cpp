#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "careloop/store/store.hpp"
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

std::unique_ptr<careloop::store::Store> open(const std::string& path) {
  careloop::store::Options o;
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
