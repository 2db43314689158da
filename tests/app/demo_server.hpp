#pragma once
// A demo county served by a child `careloop serve`, everyone logged in, and
// the store opened beside it: the fixture of the end-to-end tests that post
// readings (FHIR routes, odd strings, store faults), with FHIR builders.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <map>
#include <set>
#include <sstream>

#include "careloop/core/time.hpp"
#include "careloop/store/sqlite.hpp"
#include "child_process.hpp"
#include "http_client.hpp"
#include "temp_dir.hpp"

namespace careloop::testing::demo {

using nlohmann::json;
namespace core = careloop::core;
namespace store = careloop::store;


inline const std::string bin = CARELOOP_BIN;
inline const std::string fhir_type = "application/fhir+json";

// A demo database with two clinics, a server on it, and everyone logged in.
struct Fixture {
  TempDir dir{"fhir"};
  std::string db = dir.file("fhir.db");
  std::unique_ptr<ChildProcess> child;
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<store::Store> st;
  std::map<std::string, std::string> token;  // role -> bearer token
  std::int64_t patient_id = 0;   // patient01
  std::int64_t patient2_id = 0;  // patient02
  std::int64_t clinic_id = 0;    // patient01's
  std::int64_t neighbour_id = 0; // another patient of that clinic
  std::int64_t doctor_id = 0;    // a doctor of patient01's clinic
  int serial = 0;

  Fixture() {
    // The demo's readings end ten days ago, leaving the last days to the tests.
    const auto end_date = core::format_date(core::now_utc_ms() / 86'400'000 - 10);
    auto demo = run_command({bin, "--db", db, "demo", "--patients", "10", "--clinics", "2", "--days", "3", "--end-date", end_date});
    REQUIRE(demo.exit_code == 0);
    store::SqliteOptions o;
    o.path = db;
    o.create_if_missing = false;
    auto opened = store::open_sqlite(o);
    REQUIRE(opened.ok());
    st = std::move(opened.value());
    patient_id = *st->user_by_username("patient01")->patient_id;
    patient2_id = *st->user_by_username("patient02")->patient_id;
    clinic_id = st->patient(patient_id)->clinic_id;
    for (const auto& p : st->patients_of_clinic(clinic_id))
      if (p.id != patient_id && neighbour_id == 0) neighbour_id = p.id;
    REQUIRE(neighbour_id > 0);
    std::string own_doctor, other_doctor;
    for (const auto& u : st->users()) {
      if (u.role != core::Role::doctor || !u.clinic_id) continue;
      if (*u.clinic_id == clinic_id && own_doctor.empty()) {
        own_doctor = u.username;
        doctor_id = u.id;
      }
      if (*u.clinic_id != clinic_id && other_doctor.empty()) other_doctor = u.username;
    }
    REQUIRE(!own_doctor.empty());
    REQUIRE(!other_doctor.empty());

    child = std::make_unique<ChildProcess>(std::vector<std::string>{bin, "--db", db, "serve", "--port", "0",
                                                                    "--io-threads", "1", "--compute-threads", "2"},
                                           dir.file("serve.log"));
    const auto line = child->wait_for_line("serving", std::chrono::seconds(20));
    REQUIRE(!line.empty());
    const int port = port_from_serving_line(line);
    REQUIRE(port > 0);
    http = std::make_unique<HttpClient>("127.0.0.1", static_cast<unsigned short>(port));
    const std::vector<std::pair<std::string, std::pair<std::string, std::string>>> logins{
        {"patient", {"patient01", "demo-patient"}}, {"patient2", {"patient02", "demo-patient"}},
        {"doctor", {own_doctor, "demo-doctor"}},    {"other_doctor", {other_doctor, "demo-doctor"}},
        {"authority", {"authority", "demo-authority"}}};
    for (const auto& [role, cred] : logins) {
      auto r = http->post_json("/api/v1/auth/login", {{"username", cred.first}, {"password", cred.second}});
      REQUIRE(r);
      REQUIRE(r->status == 200);
      token[role] = r->json().at("token").get<std::string>();
    }
  }

  HttpResult post(const std::string& target, const json& body, const std::string& who,
                  const std::string& content_type = fhir_type) {
    auto r = http->request(boost::beast::http::verb::post, target, body.dump(), who.empty() ? "" : token.at(who),
                           content_type);
    REQUIRE(r);
    return *r;
  }
  HttpResult post_raw(const std::string& target, const std::string& body, const std::string& who,
                      const std::string& content_type) {
    auto r = http->request(boost::beast::http::verb::post, target, body, token.at(who), content_type);
    REQUIRE(r);
    return *r;
  }
  HttpResult get(const std::string& target, const std::string& who) {
    auto r = http->get(target, who.empty() ? "" : token.at(who));
    REQUIRE(r);
    return *r;
  }

  std::int64_t readings_of(std::int64_t patient) { return st->count_readings(patient); }

  // Audit entries of a patient with this action, by this actor.
  int audited(std::int64_t patient, const std::string& action, std::int64_t actor) {
    int n = 0;
    for (const auto& e : st->audit_log(patient, 1000)) n += e.action == action && e.actor_user_id == actor;
    return n;
  }

  std::string new_identifier() { return "urn:uuid:" + uuid(); }
  std::string uuid() {
    char buf[40];
    std::snprintf(buf, sizeof buf, "5d0c6a1e-%04x-4abc-8def-%012x", ++serial, static_cast<unsigned>(::getpid()));
    return buf;
  }
};

// Now minus some minutes, with the +08:00 offset patients' phones send.
inline std::string minutes_ago(int minutes) {
  return core::format_iso8601(core::Instant{core::now_utc_ms() - minutes * 60'000LL, 480});
}

inline json loinc(const std::string& code) { return {{"coding", {{{"system", "http://loinc.org"}, {"code", code}}}}}; }
inline json quantity(double v, const std::string& unit) {
  return {{"value", v}, {"unit", unit}, {"system", "http://unitsofmeasure.org"}, {"code", unit}};
}

inline json observation(const std::string& identifier, const std::string& code, std::int64_t subject, const std::string& when) {
  json o{{"resourceType", "Observation"},
         {"status", "final"},
         {"identifier", {{{"system", "urn:ietf:rfc:3986"}, {"value", identifier}}}},
         {"category",
          {{{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/observation-category"}, {"code", "vital-signs"}}}}}}},
         {"code", loinc(code)},
         {"effectiveDateTime", when}};
  if (subject > 0) o["subject"] = {{"reference", "Patient/" + std::to_string(subject)}};
  return o;
}

inline json bp(const std::string& identifier, std::int64_t subject, const std::string& when, const std::string& panel = "85354-9",
        double systolic = 142, double diastolic = 91) {
  auto o = observation(identifier, panel, subject, when);
  o["component"] = {{{"code", loinc("8480-6")}, {"valueQuantity", quantity(systolic, "mm[Hg]")}},
                    {{"code", loinc("8462-4")}, {"valueQuantity", quantity(diastolic, "mm[Hg]")}}};
  return o;
}

inline json single(const std::string& identifier, const std::string& code, std::int64_t subject, const std::string& when,
            double value, const std::string& unit) {
  auto o = observation(identifier, code, subject, when);
  o["valueQuantity"] = quantity(value, unit);
  return o;
}

inline json entry(const json& resource) { return {{"resource", resource}, {"request", {{"method", "POST"}, {"url", "Observation"}}}}; }

inline json bundle(const std::string& type, const std::vector<json>& resources) {
  json entries = json::array();
  for (const auto& r : resources) entries.push_back(entry(r));
  return {{"resourceType", "Bundle"}, {"type", type}, {"entry", entries}};
}

inline std::string content_type(const HttpResult& r) { return std::string(r.headers[boost::beast::http::field::content_type]); }

// The expressions of an OperationOutcome's issues, joined for messages and searches.
inline std::string expressions(const json& oo) {
  std::string out;
  for (const auto& i : oo.value("issue", json::array()))
    for (const auto& e : i.value("expression", json::array())) out += e.get<std::string>() + " ";
  return out;
}

inline void require_outcome(const HttpResult& r, unsigned status) {
  INFO(r.body);
  REQUIRE(r.status == status);
  CHECK(content_type(r) == fhir_type);
  const auto j = r.json();
  CHECK(j.at("resourceType") == "OperationOutcome");
  CHECK(!j.at("issue").empty());
}

inline std::int64_t id_of(const HttpResult& r) { return std::stoll(r.json().at("id").get<std::string>()); }


}  // namespace careloop::testing::demo
