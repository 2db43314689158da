// The FHIR routes end to end: a child `careloop serve` on a demo database,
// real HTTP requests, and the store opened beside it to count readings and
// read the audit trail.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <sstream>

#include "careloop/core/time.hpp"
#include "careloop/store/store.hpp"
#include "child_process.hpp"
#include "http_client.hpp"
#include "temp_dir.hpp"

using namespace careloop::testing;
using nlohmann::json;
namespace core = careloop::core;
namespace store = careloop::store;

namespace {

const std::string bin = CARELOOP_BIN;
const std::string fhir_type = "application/fhir+json";

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
    store::Options o;
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
std::string minutes_ago(int minutes) {
  return core::format_iso8601(core::Instant{core::now_utc_ms() - minutes * 60'000LL, 480});
}

json loinc(const std::string& code) { return {{"coding", {{{"system", "http://loinc.org"}, {"code", code}}}}}; }
json quantity(double v, const std::string& unit) {
  return {{"value", v}, {"unit", unit}, {"system", "http://unitsofmeasure.org"}, {"code", unit}};
}

json observation(const std::string& identifier, const std::string& code, std::int64_t subject, const std::string& when) {
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

json bp(const std::string& identifier, std::int64_t subject, const std::string& when, const std::string& panel = "85354-9",
        double systolic = 142, double diastolic = 91) {
  auto o = observation(identifier, panel, subject, when);
  o["component"] = {{{"code", loinc("8480-6")}, {"valueQuantity", quantity(systolic, "mm[Hg]")}},
                    {{"code", loinc("8462-4")}, {"valueQuantity", quantity(diastolic, "mm[Hg]")}}};
  return o;
}

json single(const std::string& identifier, const std::string& code, std::int64_t subject, const std::string& when,
            double value, const std::string& unit) {
  auto o = observation(identifier, code, subject, when);
  o["valueQuantity"] = quantity(value, unit);
  return o;
}

json entry(const json& resource) { return {{"resource", resource}, {"request", {{"method", "POST"}, {"url", "Observation"}}}}; }

json bundle(const std::string& type, const std::vector<json>& resources) {
  json entries = json::array();
  for (const auto& r : resources) entries.push_back(entry(r));
  return {{"resourceType", "Bundle"}, {"type", type}, {"entry", entries}};
}

std::string content_type(const HttpResult& r) { return std::string(r.headers[boost::beast::http::field::content_type]); }

// The expressions of an OperationOutcome's issues, joined for messages and searches.
std::string expressions(const json& oo) {
  std::string out;
  for (const auto& i : oo.value("issue", json::array()))
    for (const auto& e : i.value("expression", json::array())) out += e.get<std::string>() + " ";
  return out;
}

void require_outcome(const HttpResult& r, unsigned status) {
  INFO(r.body);
  REQUIRE(r.status == status);
  CHECK(content_type(r) == fhir_type);
  const auto j = r.json();
  CHECK(j.at("resourceType") == "OperationOutcome");
  CHECK(!j.at("issue").empty());
}

std::int64_t id_of(const HttpResult& r) { return std::stoll(r.json().at("id").get<std::string>()); }

}  // namespace

TEST_CASE("fhir create: BP panels, glucose codes and units, re-posts, who may post for whom") {
  Fixture f;
  const auto before = f.readings_of(f.patient_id);

  // Both BP panel codes, with and without a subject.
  const auto bp_id = f.new_identifier();
  auto first = f.post("/fhir/Observation", bp(bp_id, 0, minutes_ago(60)), "patient");
  INFO(first.body);
  REQUIRE(first.status == 201);
  CHECK(content_type(first) == fhir_type);
  const auto first_id = id_of(first);
  CHECK(std::string(first.headers[boost::beast::http::field::location]) == "/fhir/Observation/" + std::to_string(first_id));
  auto stored = first.json();
  CHECK(stored.at("code").at("coding").at(0).at("code") == "85354-9");
  CHECK(stored.at("subject").at("reference") == "Patient/" + std::to_string(f.patient_id));
  CHECK(stored.at("component").at(0).at("valueQuantity").at("value") == 142);
  CHECK(stored.at("component").at(1).at("valueQuantity").at("value") == 91);

  auto old_panel = f.post("/fhir/Observation", bp(f.new_identifier(), f.patient_id, minutes_ago(55), "55284-4", 150, 95), "patient");
  REQUIRE(old_panel.status == 201);
  CHECK(old_panel.json().at("component").at(0).at("valueQuantity").at("value") == 150);

  // Glucose: mass codes in mg/dL, moles codes in mmol/L; stored in mmol/L.
  auto mass = f.post("/fhir/Observation", single(f.new_identifier(), "41653-7", 0, minutes_ago(50), 126, "mg/dL"), "patient");
  REQUIRE(mass.status == 201);
  CHECK(mass.json().at("valueQuantity").at("value").get<double>() == Approx(126 / 18.016).epsilon(0.01));
  CHECK(mass.json().at("valueQuantity").at("code") == "mmol/L");
  auto moles = f.post("/fhir/Observation", single(f.new_identifier(), "14749-6", 0, minutes_ago(45), 6.4, "mmol/L"), "patient");
  REQUIRE(moles.status == 201);
  CHECK(moles.json().at("valueQuantity").at("value").get<double>() == Approx(6.4));

  // A code whose property does not match its unit is refused, located by expression.
  auto mismatch = f.post("/fhir/Observation", single(f.new_identifier(), "15074-8", 0, minutes_ago(40), 115, "mg/dL"), "patient");
  require_outcome(mismatch, 422);
  CHECK(expressions(mismatch.json()).find("Observation.valueQuantity.code") != std::string::npos);
  CHECK(mismatch.json().at("issue").at(0).at("diagnostics").get<std::string>().find("mmol/L") != std::string::npos);
  auto mismatch2 = f.post("/fhir/Observation", single(f.new_identifier(), "2345-7", 0, minutes_ago(40), 6.1, "mmol/L"), "patient");
  require_outcome(mismatch2, 422);

  // The same identifier again is a duplicate: 200 with the original.
  auto again = f.post("/fhir/Observation", bp(bp_id, 0, minutes_ago(60)), "patient");
  REQUIRE(again.status == 200);
  CHECK(id_of(again) == first_id);
  CHECK(f.readings_of(f.patient_id) == before + 4);

  // A patient posts only for itself.
  const auto p2_before = f.readings_of(f.patient2_id);
  auto for_other = f.post("/fhir/Observation", bp(f.new_identifier(), f.patient2_id, minutes_ago(30)), "patient");
  require_outcome(for_other, 403);
  CHECK(f.readings_of(f.patient2_id) == p2_before);

  // A doctor of the patient's clinic posts with a subject (audited); without one it must say whom.
  const int audits_before = f.audited(f.patient_id, "fhir.observation.create", f.doctor_id);
  auto by_doctor = f.post("/fhir/Observation", single(f.new_identifier(), "29463-7", f.patient_id, minutes_ago(20), 64.5, "kg"), "doctor");
  REQUIRE(by_doctor.status == 201);
  CHECK(f.audited(f.patient_id, "fhir.observation.create", f.doctor_id) == audits_before + 1);
  auto no_subject = f.post("/fhir/Observation", single(f.new_identifier(), "29463-7", 0, minutes_ago(20), 64.5, "kg"), "doctor");
  require_outcome(no_subject, 422);
  CHECK(expressions(no_subject.json()).find("Observation.subject") != std::string::npos);
  auto other_clinic = f.post("/fhir/Observation", bp(f.new_identifier(), f.patient_id, minutes_ago(20)), "other_doctor");
  require_outcome(other_clinic, 403);
  auto unknown = f.post("/fhir/Observation", bp(f.new_identifier(), 999999999, minutes_ago(20)), "doctor");
  require_outcome(unknown, 404);
  require_outcome(f.post("/fhir/Observation", bp(f.new_identifier(), f.patient_id, minutes_ago(20)), "authority"), 403);

  // Not an Observation, not JSON, no token.
  auto patient_resource = f.post("/fhir/Observation", {{"resourceType", "Patient"}, {"name", {{{"text", "x"}}}}}, "patient");
  require_outcome(patient_resource, 422);
  CHECK(patient_resource.json().at("issue").at(0).at("code") == "not-supported");
  require_outcome(f.post("/fhir/Observation", bundle("batch", {bp(f.new_identifier(), 0, minutes_ago(5))}), "patient"), 422);
  require_outcome(f.post_raw("/fhir/Observation", "{\"resourceType\": ", "patient", fhir_type), 400);
  require_outcome(f.post_raw("/fhir/Observation", "resourceType=Observation", "patient", "text/plain"), 415);
  auto anonymous = f.post("/fhir/Observation", bp(f.new_identifier(), f.patient_id, minutes_ago(5)), "");
  require_outcome(anonymous, 401);
  CHECK(std::string(anonymous.headers[boost::beast::http::field::www_authenticate]).rfind("Bearer", 0) == 0);
  CHECK(f.readings_of(f.patient_id) == before + 5);

  // Reading one back: the patient itself, its clinic's doctor (audited), nobody else.
  const auto path = "/fhir/Observation/" + std::to_string(first_id);
  auto own = f.get(path, "patient");
  REQUIRE(own.status == 200);
  CHECK(own.json().at("id") == std::to_string(first_id));
  const int reads_before = f.audited(f.patient_id, "fhir.observation.read", f.doctor_id);
  REQUIRE(f.get(path, "doctor").status == 200);
  CHECK(f.audited(f.patient_id, "fhir.observation.read", f.doctor_id) == reads_before + 1);
  require_outcome(f.get(path, "patient2"), 403);
  require_outcome(f.get(path, "other_doctor"), 403);
  require_outcome(f.get(path, "authority"), 403);
  require_outcome(f.get("/fhir/Observation/999999999", "patient"), 404);
  require_outcome(f.get("/fhir/Observation/abc", "patient"), 404);
  require_outcome(f.get(path, ""), 401);
}

TEST_CASE("fhir bundles: a batch stores its good entries, a transaction all or nothing") {
  Fixture f;
  const auto before = f.readings_of(f.patient_id);

  auto batch = f.post("/fhir", bundle("batch", {bp(f.new_identifier(), 0, minutes_ago(90)),
                                                single(f.new_identifier(), "29463-7", f.patient_id, minutes_ago(89), 63.5, "kg"),
                                                single(f.new_identifier(), "2339-0", 0, minutes_ago(88), 6.1, "mmol/L"),
                                                bp(f.new_identifier(), f.patient2_id, minutes_ago(87))}),
                      "patient");
  INFO(batch.body);
  REQUIRE(batch.status == 200);
  CHECK(content_type(batch) == fhir_type);
  auto b = batch.json();
  CHECK(b.at("type") == "batch-response");
  REQUIRE(b.at("entry").size() == 4);
  CHECK(b["entry"][0]["response"]["status"] == "201 Created");
  CHECK(b["entry"][0]["response"]["location"].get<std::string>().rfind("Observation/", 0) == 0);
  CHECK(b["entry"][1]["response"]["status"] == "201 Created");
  CHECK(b["entry"][2]["response"]["status"] == "422 Unprocessable Entity");
  CHECK(expressions(b["entry"][2]["response"]["outcome"]).find("Bundle.entry[2].resource.valueQuantity.code") !=
        std::string::npos);
  CHECK(b["entry"][3]["response"]["status"] == "403 Forbidden");
  CHECK(f.readings_of(f.patient_id) == before + 2);

  // An entry must say POST Observation.
  auto put = bundle("batch", {bp(f.new_identifier(), 0, minutes_ago(80))});
  put["entry"][0]["request"]["method"] = "PUT";
  auto refused_put = f.post("/fhir", put, "patient");
  REQUIRE(refused_put.status == 200);
  CHECK(refused_put.json()["entry"][0]["response"]["status"] == "422 Unprocessable Entity");
  CHECK(expressions(refused_put.json()["entry"][0]["response"]["outcome"]).find("Bundle.entry[0].request.method") !=
        std::string::npos);

  // A transaction with one bad entry stores nothing and names the entry.
  const auto mid = f.readings_of(f.patient_id);
  auto bad_tx = f.post("/fhir", bundle("transaction", {single(f.new_identifier(), "8867-4", 0, minutes_ago(70), 66, "/min"),
                                                       single(f.new_identifier(), "14749-6", 0, minutes_ago(69), 99, "mg/dL")}),
                       "patient");
  require_outcome(bad_tx, 422);
  CHECK(expressions(bad_tx.json()).find("Bundle.entry[1].resource.valueQuantity.code") != std::string::npos);
  CHECK(expressions(bad_tx.json()).find("Bundle.entry[0]") == std::string::npos);
  CHECK(f.readings_of(f.patient_id) == mid);

  // A transaction touching another patient is refused whole.
  auto forbidden_tx = f.post("/fhir", bundle("transaction", {single(f.new_identifier(), "8867-4", 0, minutes_ago(70), 66, "/min"),
                                                             bp(f.new_identifier(), f.patient2_id, minutes_ago(69))}),
                             "patient");
  require_outcome(forbidden_tx, 403);
  CHECK(f.readings_of(f.patient_id) == mid);

  // The doctor's good transaction: all stored, audited; the same again is all duplicates.
  const int audits_before = f.audited(f.patient_id, "fhir.observation.create", f.doctor_id);
  const auto tx = bundle("transaction", {single(f.new_identifier(), "8867-4", f.patient_id, minutes_ago(60), 66, "/min"),
                                         single(f.new_identifier(), "4548-4", f.patient_id, minutes_ago(59), 7.1, "%")});
  auto good = f.post("/fhir", tx, "doctor");
  INFO(good.body);
  REQUIRE(good.status == 200);
  auto g = good.json();
  CHECK(g.at("type") == "transaction-response");
  CHECK(g["entry"][0]["response"]["status"] == "201 Created");
  CHECK(g["entry"][1]["response"]["status"] == "201 Created");
  CHECK(g["entry"][1]["resource"]["code"]["coding"][0]["code"] == "4548-4");
  CHECK(f.readings_of(f.patient_id) == mid + 2);
  CHECK(f.audited(f.patient_id, "fhir.observation.create", f.doctor_id) == audits_before + 1);
  auto repeat = f.post("/fhir", tx, "doctor");
  REQUIRE(repeat.status == 200);
  CHECK(repeat.json()["entry"][0]["response"]["status"] == "200 OK");
  CHECK(repeat.json()["entry"][0]["resource"]["id"] == g["entry"][0]["resource"]["id"]);
  CHECK(f.readings_of(f.patient_id) == mid + 2);

  // One transaction, one patient: the store writes one patient's readings atomically.
  const auto neighbour_before = f.readings_of(f.neighbour_id);
  auto two_patients = f.post("/fhir", bundle("transaction", {single(f.new_identifier(), "8867-4", f.patient_id, minutes_ago(50), 70, "/min"),
                                                             single(f.new_identifier(), "8867-4", f.neighbour_id, minutes_ago(50), 71, "/min")}),
                             "doctor");
  require_outcome(two_patients, 422);
  CHECK(expressions(two_patients.json()).find("Bundle.entry[1].resource.subject") != std::string::npos);
  CHECK(f.readings_of(f.patient_id) == mid + 2);
  CHECK(f.readings_of(f.neighbour_id) == neighbour_before);
  // As a batch, both are stored, each for its own patient.
  auto two_batch = f.post("/fhir", bundle("batch", {single(f.new_identifier(), "8867-4", f.patient_id, minutes_ago(49), 70, "/min"),
                                                    single(f.new_identifier(), "8867-4", f.neighbour_id, minutes_ago(49), 71, "/min")}),
                          "doctor");
  REQUIRE(two_batch.status == 200);
  CHECK(two_batch.json()["entry"][1]["resource"]["subject"]["reference"] == "Patient/" + std::to_string(f.neighbour_id));
  CHECK(f.readings_of(f.patient_id) == mid + 3);
  CHECK(f.readings_of(f.neighbour_id) == neighbour_before + 1);

  // Another clinic's doctor, an authority, other Bundle types, too many entries.
  require_outcome(f.post("/fhir", tx, "other_doctor"), 403);
  require_outcome(f.post("/fhir", tx, "authority"), 403);
  auto collection = tx;
  collection["type"] = "collection";
  require_outcome(f.post("/fhir", collection, "doctor"), 422);
  require_outcome(f.post("/fhir", bp(f.new_identifier(), 0, minutes_ago(5)), "patient"), 422);
  std::vector<json> many;
  for (int i = 0; i < 501; ++i) many.push_back(single(f.new_identifier(), "8867-4", 0, minutes_ago(5), 70, "/min"));
  require_outcome(f.post("/fhir", bundle("batch", many), "patient"), 422);
  CHECK(f.readings_of(f.patient_id) == mid + 3);
}

TEST_CASE("fhir search: by code and dates, every match exactly once through the next links") {
  Fixture f;
  // A window of its own: two days ago, UTC, where the demo stored nothing.
  const std::int64_t day = core::now_utc_ms() / 86'400'000 - 2;
  const std::string date = core::format_date(day);
  const std::string next_date = core::format_date(day + 1);
  auto at = [&](int minute) { return core::format_iso8601(core::Instant{day * 86'400'000 + minute * 60'000LL, 480}); };
  {
    store::ReadingQuery q;
    q.patient_id = f.patient_id;
    q.from_ms = day * 86'400'000;
    q.to_ms = (day + 1) * 86'400'000;
    q.limit = 1000;
    for (const auto& r : f.st->readings(q)) INFO("demo reading in the window: " << r.id);
    REQUIRE(f.st->readings(q).empty());
  }
  std::vector<std::int64_t> glucose, bps;
  std::vector<json> resources;
  for (int i = 0; i < 23; ++i)
    resources.push_back(i % 2 ? single(f.new_identifier(), "41653-7", 0, at(10 + i * 7), 100 + i, "mg/dL")
                              : single(f.new_identifier(), "15074-8", 0, at(10 + i * 7), 5.0 + i * 0.1, "mmol/L"));
  for (int i = 0; i < 6; ++i) resources.push_back(bp(f.new_identifier(), 0, at(20 + i * 11), "85354-9", 130 + i, 85));
  auto stored = f.post("/fhir", bundle("transaction", resources), "patient");
  INFO(stored.body);
  REQUIRE(stored.status == 200);
  const auto entries = stored.json().at("entry");
  for (std::size_t i = 0; i < entries.size(); ++i) {
    REQUIRE(entries[i]["response"]["status"] == "201 Created");
    (i < 23 ? glucose : bps).push_back(std::stoll(entries[i]["resource"]["id"].get<std::string>()));
  }
  // A medication taken that day is no Observation.
  auto med = f.http->post_json("/api/v1/me/readings",
                               {{"readings", {{{"client_id", f.uuid()}, {"kind", "medication"}, {"taken_at", at(30)},
                                               {"name", "amlodipine"}, {"status", "taken"}}}}},
                               f.token.at("patient"));
  REQUIRE(med);
  REQUIRE(med->json()["results"][0]["status"] == "created");
  const auto med_id = med->json()["results"][0]["id"].get<std::int64_t>();

  // Follows next links from `target` until there is none; the ids in page order.
  auto walk = [&](std::string target, const std::string& who, int& pages) {
    std::vector<std::int64_t> ids;
    std::string last_time;
    pages = 0;
    while (!target.empty()) {
      auto r = f.get(target, who);
      INFO(target << " -> " << r.body);
      REQUIRE(r.status == 200);
      REQUIRE(content_type(r) == fhir_type);
      auto page = r.json();
      REQUIRE(page.at("type") == "searchset");
      REQUIRE(++pages < 100);
      const std::string requested = target;
      target.clear();
      int selves = 0;
      for (const auto& l : page.at("link")) {
        if (l.at("relation") == "self") selves += l.at("url") == requested;
        if (l.at("relation") == "next") target = l.at("url").get<std::string>();
      }
      CHECK(selves == 1);
      for (const auto& e : page.at("entry")) {
        CHECK(e.at("search").at("mode") == "match");
        const auto& res = e.at("resource");
        CHECK(e.at("fullUrl") == "/fhir/Observation/" + res.at("id").get<std::string>());
        ids.push_back(std::stoll(res.at("id").get<std::string>()));
      }
    }
    return ids;
  };
  auto as_set = [](const std::vector<std::int64_t>& v) { return std::set<std::int64_t>(v.begin(), v.end()); };

  int pages = 0;
  // Any glucose code finds every glucose reading, whichever code it was posted with.
  auto found = walk("/fhir/Observation?code=41653-7&date=ge" + date + "&date=lt" + next_date + "&_count=5", "patient", pages);
  CHECK(found.size() == glucose.size());
  CHECK(as_set(found) == as_set(glucose));
  CHECK(found == glucose);  // oldest first, as stored
  CHECK(pages == 5);

  // Several codes, a date-time with an offset (the same day, in +08:00), the patient named.
  found = walk("/fhir/Observation?patient=Patient/" + std::to_string(f.patient_id) + "&code=85354-9,http://loinc.org%7C14749-6" +
                   "&date=ge" + date + "T08:00:00%2B08:00&date=lt" + next_date + "T00:00:00Z&_count=4",
               "patient", pages);
  CHECK(found.size() == glucose.size() + bps.size());
  auto both = glucose;
  both.insert(both.end(), bps.begin(), bps.end());
  CHECK(as_set(found) == as_set(both));
  CHECK(as_set(found).size() == found.size());

  // No code: every Observation of the day, never the medication entry.
  found = walk("/fhir/Observation?date=eq" + date + "&_count=7", "patient", pages);
  CHECK(as_set(found) == as_set(both));
  CHECK(found.size() == both.size());
  CHECK(as_set(found).count(med_id) == 0);
  require_outcome(f.get("/fhir/Observation/" + std::to_string(med_id), "patient"), 404);

  // gt after a millisecond-precise instant excludes it; le on a second-precise one includes that second.
  auto enc = [](std::string t) {
    for (auto pos = t.find('+'); pos != std::string::npos; pos = t.find('+')) t.replace(pos, 1, "%2B");
    return t;
  };
  const auto first_glucose = at(10);  // YYYY-MM-DDThh:mm:ss.000+08:00
  found = walk("/fhir/Observation?code=15074-8&date=gt" + enc(first_glucose), "patient", pages);
  CHECK(found == std::vector<std::int64_t>(glucose.begin() + 1, glucose.end()));
  auto last_glucose = core::format_iso8601_utc(day * 86'400'000 + (10 + 22 * 7) * 60'000LL);
  last_glucose.replace(last_glucose.find('.'), 4, "");  // to the second
  found = walk("/fhir/Observation?code=15074-8&date=le" + last_glucose, "patient", pages);
  CHECK(as_set(found).count(glucose.back()) == 1);
  found = walk("/fhir/Observation?code=15074-8&date=lt" + last_glucose + "&date=ge" + date, "patient", pages);
  CHECK(found == std::vector<std::int64_t>(glucose.begin(), glucose.end() - 1));

  // Staff: the patient is required, the search is audited, another clinic refused.
  const int searches_before = f.audited(f.patient_id, "fhir.observation.search", f.doctor_id);
  found = walk("/fhir/Observation?patient=" + std::to_string(f.patient_id) + "&date=ge" + date + "&date=lt" + next_date, "doctor",
               pages);
  CHECK(as_set(found) == as_set(both));
  CHECK(f.audited(f.patient_id, "fhir.observation.search", f.doctor_id) == searches_before + 1);
  require_outcome(f.get("/fhir/Observation?code=85354-9", "doctor"), 422);
  auto unknown = f.get("/fhir/Observation?patient=999999999", "doctor");  // no such patient: nothing matches
  REQUIRE(unknown.status == 200);
  CHECK(unknown.json().at("entry").empty());
  require_outcome(f.get("/fhir/Observation?patient=" + std::to_string(f.patient_id), "other_doctor"), 403);
  require_outcome(f.get("/fhir/Observation?patient=" + std::to_string(f.patient2_id), "patient"), 403);
  require_outcome(f.get("/fhir/Observation?patient=" + std::to_string(f.patient_id), "authority"), 403);
  require_outcome(f.get("/fhir/Observation", ""), 401);

  // What is refused rather than guessed.
  for (const char* q : {"_count=0", "_count=501", "_count=x", "date=ne2026-01-01", "date=ge2026-13-01",
                        "date=ge2026-01-01T10:00:00", "code=glucose", "subject=Patient/1", "_sort=date", "_cursor=-3",
                        "patient=Patient/x", "_format=xml"})
    require_outcome(f.get(std::string("/fhir/Observation?") + q, "patient"), 422);
  auto ok_format = f.get("/fhir/Observation?_format=json&_count=1", "patient");
  CHECK(ok_format.status == 200);
}

TEST_CASE("fhir metadata: a CapabilityStatement without a token") {
  Fixture f;
  auto r = f.get("/fhir/metadata", "");
  REQUIRE(r.status == 200);
  CHECK(content_type(r) == fhir_type);
  auto cs = r.json();
  CHECK(cs.at("resourceType") == "CapabilityStatement");
  CHECK(cs.at("fhirVersion") == "4.0.1");
  CHECK(cs.at("kind") == "instance");
  const auto& obs = cs.at("rest").at(0).at("resource").at(0);
  CHECK(obs.at("type") == "Observation");
  std::set<std::string> interactions;
  for (const auto& i : obs.at("interaction")) interactions.insert(i.at("code").get<std::string>());
  CHECK(interactions == std::set<std::string>{"create", "read", "search-type"});
}
