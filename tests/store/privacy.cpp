// Consents, the patient's access log and anonymisation (store/src/sqlite_privacy.cpp).
#include <algorithm>
#include <sstream>

#include "fixture.hpp"

namespace careloop::store::testing {
namespace {

core::Status write_ok(const std::function<void(Completion<core::Unit>)>& start) {
  auto r = wait_for<core::Unit>(start);
  if (!r) return r.error();
  return core::ok_status();
}

constexpr const char* sha_a = "0000000000000000000000000000000000000000000000000000000000000001";

ConsentRecord decision(std::int64_t patient_id, std::int64_t user_id, std::string d, std::string version = "1") {
  ConsentRecord c;
  c.patient_id = patient_id;
  c.user_id = user_id;
  c.purpose = "health-data";
  c.version = std::move(version);
  c.text_sha256 = sha_a;
  c.decision = std::move(d);
  return c;
}

std::int64_t add_account(Store& s, core::Role role, std::string username, std::optional<std::int64_t> clinic_id,
                         std::optional<std::int64_t> patient_id, std::string display_name = "") {
  NewUser u;
  u.user.username = std::move(username);
  u.user.role = role;
  u.user.display_name = std::move(display_name);
  u.user.clinic_id = clinic_id;
  u.user.patient_id = patient_id;
  u.password_hash = "$argon2id$test";
  return must(wait_for<std::int64_t>([&](auto done) { s.add_user(u, done); }));
}

// Month number (year * 12 + month - 1) → the cut a monthly report makes of it, UTC.
RollupMonth month_cut(int year, unsigned month) {
  auto start_ms = [](int y, unsigned m) {
    if (m == 13) {
      ++y;
      m = 1;
    }
    return core::days_from_civil(y, m, 1) * 86'400'000LL;
  };
  RollupMonth c;
  c.month = year * 12 + static_cast<int>(month) - 1;
  const std::int64_t end = start_ms(year, month + 1);
  int y = 0;
  unsigned m = 0, d = 0;
  core::civil_from_days(end / 86'400'000LL - 1, y, m, d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
  c.as_of_date = buf;
  c.end_ms = end;
  c.cohort_before_ms = start_ms(year, month) - 90LL * 86'400'000;
  c.month_start_ms = start_ms(year, month);
  c.left_before_ms = start_ms(year, month);
  return c;
}

std::vector<std::string> rows_of(const std::vector<RollupCount>& counts, int month) {
  std::vector<std::string> out;
  for (const auto& c : counts) {
    if (c.month != month) continue;
    std::ostringstream s;
    s << c.clinic_id << ' ' << c.sex << ' ' << c.age_decade << ' ' << c.hypertension << c.diabetes << ' '
      << c.registration << " [" << c.bp_status << "][" << c.glycemic_status << "][" << c.risk_band << "] " << c.patients;
    out.push_back(s.str());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::int64_t patients_in(const std::vector<RollupCount>& counts, int month) {
  std::int64_t n = 0;
  for (const auto& c : counts)
    if (c.month == month) n += c.patients;
  return n;
}

}  // namespace

TEST_CASE("consent decisions are kept newest first with their audit entry, and only the patient's own account decides") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto place = add_place(*store);
  const auto pid = add_patient(*store, place.clinic_id);
  const auto other = add_patient(*store, place.clinic_id, "Li Lei");
  const auto user = add_account(*store, core::Role::patient, "wang", place.clinic_id, pid);

  CHECK(store->consents(pid, "health-data").empty());
  auto first = must(wait_for<ConsentRecord>([&](auto done) { store->record_consent(decision(pid, user, "granted"), done); }));
  CHECK(first.id > 0);
  CHECK(first.at_ms > 0);
  must(wait_for<ConsentRecord>([&](auto done) { store->record_consent(decision(pid, user, "withdrawn"), done); }));
  const auto kept = store->consents(pid, "health-data");
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].decision == "withdrawn");
  CHECK(kept[1].decision == "granted");
  CHECK(kept[1].text_sha256 == sha_a);
  CHECK(store->consents(pid, "another-purpose").empty());

  // Another patient's account cannot decide for this one; nor can a bad record be stored.
  auto foreign = wait_for<ConsentRecord>([&](auto done) { store->record_consent(decision(other, user, "granted"), done); });
  REQUIRE(!foreign);
  CHECK(foreign.error().code == core::Errc::invalid);
  auto bad = decision(pid, user, "maybe");
  bad.text_sha256 = "not hex";
  auto refused = wait_for<ConsentRecord>([&](auto done) { store->record_consent(bad, done); });
  REQUIRE(!refused);
  CHECK(refused.error().fields.size() == 2);
  CHECK(store->consents(pid, "health-data").size() == 2);

  const auto log = store->access_log(pid, std::nullopt, 10);
  REQUIRE(log.size() == 2);
  CHECK(log[0].entry.action == "consent.withdrawn");
  CHECK(log[1].entry.action == "consent.granted");
  CHECK(log[0].actor_role == "patient");
}

TEST_CASE("an activation stores its consent in the same job, and a refused activation stores none") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto place = add_place(*store);
  const auto pid = add_patient(*store, place.clinic_id);
  const auto doctor = add_account(*store, core::Role::doctor, "doctor", place.clinic_id, std::nullopt);
  const auto later = core::now_utc_ms() + 3'600'000;
  REQUIRE(write_ok([&](auto done) { store->create_activation_code("code-1", {pid, doctor, later}, done); }).ok());
  auto consent = decision(0, 0, "granted");
  auto wrong = wait_for<core::User>(
      [&](auto done) { store->activate({"code-2", "wang", "hash", "", consent}, done); });
  CHECK(!wrong);
  CHECK(store->consents(pid, "health-data").empty());
  const auto user = must(wait_for<core::User>([&](auto done) { store->activate({"code-1", "wang", "hash", "", consent}, done); }));
  const auto kept = store->consents(pid, "health-data");
  REQUIRE(kept.size() == 1);
  CHECK(kept[0].user_id == user.id);
  CHECK(kept[0].patient_id == pid);
  CHECK(kept[0].decision == "granted");
}

TEST_CASE("the access log names each actor's role, name and clinic, newest first, in pages") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto place = add_place(*store);
  const auto pid = add_patient(*store, place.clinic_id);
  const auto other = add_patient(*store, place.clinic_id, "Li Lei");
  const auto doctor = add_account(*store, core::Role::doctor, "doctor", place.clinic_id, std::nullopt, "Dr Zhang");
  for (int i = 0; i < 5; ++i)
    REQUIRE(write_ok([&](auto done) {
              store->append_audit({1000 + i, doctor, "patient.read", pid, place.clinic_id, "", "127.0.0.1"}, done);
            }).ok());
  REQUIRE(write_ok([&](auto done) {
            store->append_audit({2000, doctor, "patient.read", other, place.clinic_id, "", ""}, done);
          }).ok());
  const auto page1 = store->access_log(pid, std::nullopt, 3);
  REQUIRE(page1.size() == 3);
  CHECK(page1[0].entry.at_ms == 1004);
  CHECK(page1[0].actor_role == "doctor");
  CHECK(page1[0].actor_display_name == "Dr Zhang");
  CHECK(page1[0].actor_clinic == "Zhongguancun CHC");
  const auto page2 = store->access_log(pid, page1.back().id, 3);
  REQUIRE(page2.size() == 2);
  CHECK(page2[0].entry.at_ms == 1001);
  CHECK(page2[1].entry.at_ms == 1000);
  for (const auto& e : page2) CHECK(e.entry.patient_id == pid);  // never another patient's
}

TEST_CASE("anonymising removes identity and free text, stops processing, and keeps every month's counts up to it") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto place = add_place(*store);
  const auto admin = add_admin(*store, "admin");
  const auto doctor = add_account(*store, core::Role::doctor, "doctor", place.clinic_id, std::nullopt, "Dr Zhang");
  // Ages that cross a decade within the months compared, and a 29 February birthday.
  auto born = [&](std::string name, int y, unsigned m, unsigned d) {
    auto p = sample_patient(place.clinic_id, std::move(name));
    p.birth_date = core::days_from_civil(y, m, d);
    p.registered_at_ms = core::days_from_civil(2024, 1, 10) * 86'400'000LL;
    p.external_id = "REC-" + p.name;
    return must(wait_for<std::int64_t>([&](auto done) { store->add_patient(p, done); }));
  };
  const auto wang = born("Wang Fang", 1956, 3, 14);   // 70 on 2026-03-14
  const auto leap = born("Li Na", 1960, 2, 29);       // 29 February
  const auto stays = born("Zhao Lei", 1971, 8, 2);
  const auto user = add_account(*store, core::Role::patient, "wang", place.clinic_id, wang, "Wang Fang");
  REQUIRE(write_ok([&](auto done) { store->create_session("token-wang", {user, core::now_utc_ms() + 3'600'000, 0}, done); }).ok());
  REQUIRE(write_ok([&](auto done) {
            store->create_activation_code("code-wang", {wang, doctor, core::now_utc_ms() + 3'600'000}, done);
          }).ok());
  const auto t = core::days_from_civil(2026, 5, 1) * 86'400'000LL;
  auto named = bp("w1", t, 150, 95);
  named.source = "王芳的血压计";
  named.note = "after visiting my daughter Wang Xiaomei";
  insert(*store, wang, {named, bp("w2", t + 60'000, 148, 92)});
  insert(*store, leap, {bp("l1", t, 130, 80)});
  Message m;
  m.patient_id = wang;
  m.from_user_id = doctor;
  m.text = "Wang Fang, please come in on Monday";
  must(wait_for<Message>([&](auto done) { store->add_message(m, done); }));
  AlertRow open;
  open.patient_id = wang;
  open.clinic_id = place.clinic_id;
  open.signal = "bp.high";
  open.tier = "warning";
  open.status = "open";
  open.rule_id = "r";
  open.note = "called her son";
  open.opened_at_ms = t;
  open.updated_at_ms = t;
  REQUIRE(write_ok([&](auto done) {
            store->transact([&](WriteTxn& txn) { txn.save_alert(open); return core::ok_status(); }, done);
          }).ok());

  std::vector<RollupMonth> months;
  for (int y = 2025; y <= 2026; ++y)
    for (unsigned mo = 1; mo <= 12; ++mo) months.push_back(month_cut(y, mo));
  const auto before = store->rollup_counts_months({place.clinic_id}, months);

  // Anonymised on 15 June 2026.
  const std::int64_t at = core::days_from_civil(2026, 6, 15) * 86'400'000LL;
  AuditEntry audit{at, admin, "patient.anonymise", std::nullopt, std::nullopt, R"({"reason":"patient's request"})", ""};
  const auto counts = must(wait_for<AnonymisationCounts>([&](auto done) { store->anonymise_patient(wang, audit, done); }));
  CHECK(counts.accounts_closed == 1);
  CHECK(counts.sessions_revoked == 1);
  CHECK(counts.activation_codes_deleted == 1);
  CHECK(counts.messages_deleted == 1);
  CHECK(counts.notes_cleared == 3);  // two readings (a note, device names), the alert's note
  CHECK(counts.alerts_resolved == 1);
  const auto leap_counts =
      must(wait_for<AnonymisationCounts>([&](auto done) { store->anonymise_patient(leap, audit, done); }));
  CHECK(leap_counts.accounts_closed == 0);

  // Identity and free text are gone; values, diagnoses and the birth month stay.
  const auto p = must(store->patient(wang));
  CHECK(p.name.empty());
  CHECK(p.phone.empty());
  CHECK(p.external_id.empty());
  CHECK(p.birth_date == core::days_from_civil(1956, 3, 1));
  CHECK(p.anonymised_at_ms == at);
  CHECK(p.diagnoses.size() == 2);
  CHECK(must(store->patient(leap)).birth_date == core::days_from_civil(1960, 2, 29));
  ReadingQuery q;
  q.patient_id = wang;
  const auto rs = store->readings(q);
  REQUIRE(rs.size() == 2);
  for (const auto& r : rs) {
    CHECK(r.note.empty());
    CHECK(r.source.empty());
    CHECK(r.systolic_mmhg.has_value());
  }
  for (const auto& c : store->changes(wang, 0, 100)) CHECK(c.entity != "message");
  const auto account = must(store->user(user));
  CHECK(account.username == "anonymised-" + std::to_string(user));
  CHECK(account.display_name.empty());
  CHECK(!account.active);
  CHECK(!store->password_hash(user));
  CHECK(!store->session("token-wang"));

  // Nobody is to call them: the alert is resolved, the list no longer shows them.
  AlertQuery aq;
  aq.clinic_id = place.clinic_id;
  aq.patient_id = wang;
  const auto alerts = store->alerts(aq);
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0].status == "resolved");
  CHECK(alerts[0].note.empty());
  const auto list = store->patient_list({place.clinic_id, 0});
  REQUIRE(list.size() == 1);
  CHECK(list[0].patient.id == stays);
  CHECK(store->patients_with_unresolved_alerts(0, 100).empty());
  const auto events = store->clinic_events(place.clinic_id, 0, 100);
  REQUIRE(!events.empty());
  CHECK(events.back().kind == "patient.anonymised");

  // Nothing more is recorded for the record, and it is anonymised once.
  auto again = wait_for<AnonymisationCounts>([&](auto done) { store->anonymise_patient(wang, audit, done); });
  REQUIRE(!again);
  CHECK(again.error().code == core::Errc::conflict);
  auto late = wait_for<std::vector<InsertOutcome>>([&](auto done) { store->insert_readings(wang, {bp("w3", t, 140, 90)}, done); });
  REQUIRE(!late);
  CHECK(late.error().code == core::Errc::conflict);
  CHECK(!write_ok([&](auto done) { store->create_activation_code("code-2", {wang, doctor, core::now_utc_ms() + 60'000}, done); }).ok());
  CHECK(!wait_for<ConsentRecord>([&](auto done) { store->record_consent(decision(wang, user, "granted"), done); }));
  m.text = "are you there?";
  CHECK(!wait_for<Message>([&](auto done) { store->add_message(m, done); }));
  CHECK(must(wait_for<std::vector<InsertOutcome>>([&](auto done) { store->insert_readings(stays, {bp("s1", t, 120, 80)}, done); })).size() == 1);

  // The audit entry is the patient's, with the reason.
  const auto log = store->access_log(wang, std::nullopt, 5);
  REQUIRE(!log.empty());
  CHECK(log[0].entry.action == "patient.anonymise");
  CHECK(log[0].entry.actor_user_id == admin);
  CHECK(log[0].entry.at_ms == at);

  // Every month up to the anonymisation counts as before; later months no longer count the two who left.
  const auto after = store->rollup_counts_months({place.clinic_id}, months);
  const int june_2026 = 2026 * 12 + 5;
  int compared = 0;
  for (const auto& cut : months) {
    INFO("month " << cut.month / 12 << "-" << cut.month % 12 + 1);
    if (cut.month <= june_2026) {
      CHECK(rows_of(after, cut.month) == rows_of(before, cut.month));
      ++compared;
    } else {
      CHECK(patients_in(after, cut.month) == patients_in(before, cut.month) - 2);
    }
  }
  CHECK(compared == 18);
  // The counts compared cross Wang's seventieth birthday (March 2026): the kept month gives the same decades.
  CHECK(rows_of(before, 2026 * 12 + 1) != rows_of(before, 2026 * 12 + 2));
}

}  // namespace careloop::store::testing
