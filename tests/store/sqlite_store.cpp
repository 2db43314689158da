// store/src/sqlite_store.cpp through the Store interface: what goes in comes
// back out, duplicates are recognised, and close/reopen/backup keep the data.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include <fstream>

#include "fixture.hpp"
#include "sqlite_handle.hpp"

using namespace careloop;
using namespace careloop::store;
using namespace careloop::store::testing;

namespace {

core::Status write_status(const std::function<void(Completion<core::Unit>)>& start) {
  return wait_for<core::Unit>(start);
}

}  // namespace

TEST_CASE("regions, clinics and users read back as written") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto place = add_place(*store);

  const auto region = must(store->region(place.region_id));
  CHECK(region.name == "Haidian");
  CHECK(region.level == core::RegionLevel::district);
  CHECK(region.code == "110108");
  CHECK_FALSE(region.parent_id);
  CHECK(store->regions().size() == 1);
  CHECK(must(store->clinic(place.clinic_id)).region_id == place.region_id);
  CHECK(store->clinics().size() == 1);
  CHECK(store->region(999).error().code == core::Errc::not_found);

  auto bad_clinic = wait_for<std::int64_t>([&](auto done) { store->add_clinic({999, "Nowhere", "UTC"}, done); });
  CHECK(bad_clinic.error().code == core::Errc::not_found);

  NewUser doctor;
  doctor.user.username = "dr.li";
  doctor.user.role = core::Role::doctor;
  doctor.user.display_name = "Dr Li";
  doctor.user.clinic_id = place.clinic_id;
  doctor.password_hash = "$argon2id$first";
  const auto id = must(wait_for<std::int64_t>([&](auto done) { store->add_user(doctor, done); }));

  const auto user = must(store->user_by_username("Dr.Li"));
  CHECK(user.id == id);
  CHECK(user.role == core::Role::doctor);
  CHECK(user.clinic_id == place.clinic_id);
  CHECK(user.active);
  CHECK(user.created_at_ms > 0);
  CHECK(must(store->password_hash(id)) == "$argon2id$first");

  REQUIRE(write_status([&](auto done) { store->set_password(id, "$argon2id$second", done); }).ok());
  CHECK(must(store->password_hash(id)) == "$argon2id$second");
  CHECK(write_status([&](auto done) { store->set_password(4242, "$x", done); }).error().code ==
        core::Errc::not_found);

  // Usernames are unique regardless of case.
  doctor.user.username = "DR.LI";
  auto taken = wait_for<std::int64_t>([&](auto done) { store->add_user(doctor, done); });
  CHECK(taken.error().code == core::Errc::conflict);
  CHECK(store->users().size() == 1);
}

TEST_CASE("a patient reads back with diagnoses, comorbidities and medications") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto place = add_place(*store);
  const auto id = add_patient(*store, place.clinic_id);
  add_patient(*store, place.clinic_id, "Zhao Min");

  const auto want = sample_patient(place.clinic_id);
  const auto p = must(store->patient(id));
  CHECK(p.id == id);
  CHECK(p.clinic_id == place.clinic_id);
  CHECK(p.name == want.name);
  CHECK(p.phone == want.phone);
  CHECK(p.birth_date == want.birth_date);
  CHECK(p.height_cm == want.height_cm);
  CHECK(p.smoking == core::Smoking::former);
  CHECK(p.parents_with_hypertension == 1);
  CHECK(p.family_history_diabetes);
  CHECK_FALSE(p.pregnant);
  CHECK(p.registered_at_ms == want.registered_at_ms);
  CHECK(p.has_diagnosis(core::dx_hypertension));
  CHECK(p.has_diagnosis(core::dx_diabetes_t2));
  CHECK(p.comorbidities == std::vector<std::string>{"ckd"});
  REQUIRE(p.medications.size() == 2);
  CHECK(p.medications[0].name == "amlodipine");
  CHECK(p.medications[1].dose == "500 mg twice daily");
  CHECK(p.medications[1].since == want.medications[1].since);

  const auto all = store->patients_of_clinic(place.clinic_id);
  REQUIRE(all.size() == 2);
  CHECK(all[0].diagnoses.size() == 2);
  CHECK(all[1].name == "Zhao Min");
  CHECK(all[1].medications.size() == 2);
  CHECK(store->patients_of_clinic(place.clinic_id + 1).empty());

  auto orphan = wait_for<std::int64_t>([&](auto done) { store->add_patient(sample_patient(999), done); });
  CHECK(orphan.error().code == core::Errc::not_found);
  CHECK(store->patient(12345).error().code == core::Errc::not_found);
  must(store->integrity_check());
}

TEST_CASE("readings: a repeated client id or the same reading again is a duplicate") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto place = add_place(*store);
  const auto alice = add_patient(*store, place.clinic_id, "Alice");
  const auto bob = add_patient(*store, place.clinic_id, "Bob");
  const std::int64_t t0 = 1'750'000'000'000;

  SECTION("within one batch") {
    const auto out = insert(*store, alice, {bp("u1", t0, 140, 90), bp("u1", t0 + 1000, 150, 95)});
    REQUIRE(out.size() == 2);
    CHECK(out[0].status == InsertStatus::created);
    CHECK(out[1].status == InsertStatus::duplicate);
    CHECK(out[1].id == out[0].id);
    CHECK(store->count_readings(alice) == 1);
  }
  SECTION("across batches") {
    const auto first = insert(*store, alice, {bp("u1", t0, 140, 90)});
    const auto again = insert(*store, alice, {bp("u1", t0, 140, 90), bp("u2", t0 + 60'000, 135, 85)});
    CHECK(again[0].status == InsertStatus::duplicate);
    CHECK(again[0].id == first[0].id);
    CHECK(again[0].change_seq == first[0].change_seq);
    CHECK(again[1].status == InsertStatus::created);
    CHECK(store->count_readings(alice) == 2);
  }
  SECTION("the same content under another client id") {
    const auto first = insert(*store, alice, {bp("phone-a", t0, 140, 90)});
    auto other = bp("phone-b", t0, 140, 90);
    other.source = "second phone";
    const auto again = insert(*store, alice, {other});
    CHECK(again[0].status == InsertStatus::duplicate);
    CHECK(again[0].id == first[0].id);
    // One value different, or another instant: a new reading.
    const auto differs = insert(*store, alice, {bp("phone-c", t0, 141, 90), bp("phone-d", t0 + 1, 140, 90)});
    CHECK(differs[0].status == InsertStatus::created);
    CHECK(differs[1].status == InsertStatus::created);
    CHECK(store->count_readings(alice) == 3);
  }
  SECTION("NULL values compare as equal in the content check") {
    core::Reading g;
    g.client_id = "g1";
    g.kind = core::ReadingKind::glucose;
    g.taken_at = {t0, 480};
    g.glucose_mmol_l = 7.2;
    g.glucose_context = core::GlucoseContext::fasting;
    auto g2 = g;
    g2.client_id = "g2";
    auto g3 = g;
    g3.client_id = "g3";
    g3.glucose_context = core::GlucoseContext::after_meal;
    const auto out = insert(*store, alice, {g, g2, g3});
    CHECK(out[0].status == InsertStatus::created);
    CHECK(out[1].status == InsertStatus::duplicate);
    CHECK(out[2].status == InsertStatus::created);
  }
  SECTION("different patients may use the same client id") {
    const auto a = insert(*store, alice, {bp("shared", t0, 140, 90)});
    const auto b = insert(*store, bob, {bp("shared", t0, 140, 90)});
    CHECK(a[0].status == InsertStatus::created);
    CHECK(b[0].status == InsertStatus::created);
    CHECK(a[0].id != b[0].id);
  }
  SECTION("an unknown patient or a missing client id stores nothing") {
    auto unknown = wait_for<std::vector<InsertOutcome>>(
        [&](auto done) { store->insert_readings(9999, {bp("x", t0, 120, 80)}, done); });
    CHECK(unknown.error().code == core::Errc::not_found);
    auto anonymous = wait_for<std::vector<InsertOutcome>>(
        [&](auto done) { store->insert_readings(alice, {bp("ok", t0, 120, 80), bp("", t0, 121, 80)}, done); });
    REQUIRE_FALSE(anonymous.ok());
    CHECK(anonymous.error().code == core::Errc::invalid);
    REQUIRE(anonymous.error().fields.size() == 1);
    CHECK(anonymous.error().fields[0].pointer == "/1/client_id");
    CHECK(store->count_readings() == 0);
  }
}

TEST_CASE("readings carry clinic, values and an increasing change sequence") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);

  core::Reading w;
  w.client_id = "w1";
  w.kind = core::ReadingKind::weight;
  w.taken_at = {1'750'000'000'000, -300};
  w.weight_kg = 69.853;
  w.value_as_sent = 154;
  w.unit_as_sent = "lb";
  w.note = "after breakfast";
  const auto out = insert(*store, patient, {bp("b1", 1'750'000'100'000, 132, 84), w});
  CHECK(out[1].change_seq > out[0].change_seq);

  const auto got = store->readings({patient, core::ReadingKind::weight, {}, {}, {}, 10});
  REQUIRE(got.size() == 1);
  const auto& r = got[0];
  CHECK(r.id == out[1].id);
  CHECK(r.patient_id == patient);
  CHECK(r.clinic_id == place.clinic_id);
  CHECK(r.client_id == "w1");
  CHECK(r.taken_at == w.taken_at);
  CHECK(r.received_at_ms > 0);
  CHECK(r.weight_kg == 69.853);
  CHECK_FALSE(r.systolic_mmhg);
  CHECK(r.value_as_sent == 154);
  CHECK(r.unit_as_sent == "lb");
  CHECK(r.note == "after breakfast");
  CHECK(r.change_seq == out[1].change_seq);
}

TEST_CASE("readings page in (taken_at, id) order with after_id") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);
  const auto other = add_patient(*store, place.clinic_id, "Other");

  // 30 readings over 10 instants, inserted out of order, three per instant.
  std::vector<core::Reading> batch;
  for (int i = 29; i >= 0; --i)
    batch.push_back(bp("r" + std::to_string(i), 1'750'000'000'000 + (i % 10) * 60'000, 120 + i, 80));
  insert(*store, patient, batch);
  insert(*store, other, {bp("o", 1'750'000'000'000, 170, 100)});

  const auto all = store->readings({patient, {}, {}, {}, {}, 1000});
  REQUIRE(all.size() == 30);
  CHECK(std::is_sorted(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return std::pair(a.taken_at.utc_ms, a.id) < std::pair(b.taken_at.utc_ms, b.id);
  }));

  std::vector<core::Reading> paged;
  ReadingQuery q{patient, {}, {}, {}, {}, 7};
  for (;;) {
    const auto page = store->readings(q);
    paged.insert(paged.end(), page.begin(), page.end());
    if (page.size() < 7) break;
    q.after_id = page.back().id;
  }
  REQUIRE(paged.size() == all.size());
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(paged[i].id == all[i].id);

  // from is inclusive, to exclusive.
  const auto window = store->readings({patient, {}, 1'750'000'060'000, 1'750'000'180'000, {}, 100});
  CHECK(window.size() == 6);
  CHECK(store->readings({patient, core::ReadingKind::glucose, {}, {}, {}, 100}).empty());
  CHECK(store->readings({patient, {}, {}, {}, {}, 0}).empty());
  // Another patient's reading is no anchor.
  const auto foreign = store->readings({other, {}, {}, {}, {}, 10});
  REQUIRE(foreign.size() == 1);
  CHECK(store->readings({patient, {}, {}, {}, foreign[0].id, 10}).empty());
  CHECK(store->count_readings() == 31);
}

TEST_CASE("sessions expire and can be revoked") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto uid = add_admin(*store, "admin");
  const auto now = core::now_utc_ms();
  const std::string live(32, '\x11'), expired(32, '\x22');

  REQUIRE(write_status([&](auto done) { store->create_session(live, {uid, now + 3'600'000}, done); }).ok());
  REQUIRE(write_status([&](auto done) { store->create_session(expired, {uid, now - 1}, done); }).ok());
  CHECK(must(store->session(live)).user_id == uid);
  CHECK(store->session(expired).error().code == core::Errc::not_found);
  CHECK(store->session("unknown").error().code == core::Errc::not_found);
  CHECK(write_status([&](auto done) { store->create_session(live, {uid, now + 1}, done); }).error().code ==
        core::Errc::conflict);
  CHECK(write_status([&](auto done) { store->create_session("x", {999, now + 1}, done); }).error().code ==
        core::Errc::not_found);

  REQUIRE(write_status([&](auto done) { store->revoke_session(live, done); }).ok());
  CHECK(store->session(live).error().code == core::Errc::not_found);
  CHECK(write_status([&](auto done) { store->revoke_session(live, done); }).ok());
  CHECK(write_status([&](auto done) { store->revoke_session("never", done); }).error().code ==
        core::Errc::not_found);
}

TEST_CASE("a session records its last use, a deactivated user's sessions end with it, and sessions end on demand") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto uid = add_admin(*store, "dr.sun");
  const auto now = core::now_utc_ms();
  const std::string a(32, '\x31'), b(32, '\x32'), c(32, '\x33');
  for (const auto& t : {a, b})
    REQUIRE(write_status([&](auto done) { store->create_session(t, {uid, now + 3'600'000}, done); }).ok());
  const auto created = must(store->session(a)).last_seen_ms;
  CHECK(created >= now - 1000);
  REQUIRE(write_status([&](auto done) { store->touch_session(a, created + 60'000, done); }).ok());
  REQUIRE(write_status([&](auto done) { store->touch_session(a, created + 10, done); }).ok());  // never backwards
  CHECK(must(store->session(a)).last_seen_ms == created + 60'000);

  AuditEntry e;
  e.actor_user_id = uid;
  e.action = "user.deactivate";
  const auto off = must(wait_for<core::User>([&](auto done) { store->set_user_active(uid, false, e, done); }));
  CHECK_FALSE(off.active);
  CHECK_FALSE(store->session(a).ok());
  CHECK_FALSE(store->session(b).ok());
  e.action = "user.reactivate";
  CHECK(must(wait_for<core::User>([&](auto done) { store->set_user_active(uid, true, e, done); })).active);
  CHECK_FALSE(store->session(a).ok());  // ended sessions stay ended
  REQUIRE(write_status([&](auto done) { store->create_session(c, {uid, now + 3'600'000}, done); }).ok());
  e.action = "user.sessions.revoke";
  CHECK(must(wait_for<std::int64_t>([&](auto done) { store->revoke_user_sessions(uid, e, done); })) == 1);
  CHECK_FALSE(store->session(c).ok());
  CHECK(wait_for<core::User>([&](auto done) { store->set_user_active(999, false, e, done); }).error().code ==
        core::Errc::not_found);
  int audited = 0;
  for (const auto& entry : store->audit_log(std::nullopt, 10)) audited += entry.actor_user_id == uid;
  CHECK(audited == 3);
}

TEST_CASE("retention prunes ended sessions and old delivered clinic events, and keeps the rest") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto uid = add_admin(*store, "admin");
  const auto now = core::now_utc_ms();
  const std::int64_t day = 86'400'000;
  const std::string live(32, '\x41'), long_expired(32, '\x42'), just_expired(32, '\x43');
  REQUIRE(write_status([&](auto done) { store->create_session(live, {uid, now + day}, done); }).ok());
  REQUIRE(write_status([&](auto done) { store->create_session(long_expired, {uid, now - 40 * day}, done); }).ok());
  REQUIRE(write_status([&](auto done) { store->create_session(just_expired, {uid, now - day}, done); }).ok());
  const auto pruned = must(wait_for<PruneCounts>([&](auto done) { store->prune(now, RetentionPolicy{}, done); }));
  CHECK(pruned.sessions == 1);
  CHECK(store->session(live).ok());
  // The prune is idempotent.
  CHECK(must(wait_for<PruneCounts>([&](auto done) { store->prune(now, RetentionPolicy{}, done); })).sessions == 0);

  // Clinic events: old ones go, unless the clinic's webhook has not had them yet.
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);
  auto event_at = [&](std::int64_t at_ms) {
    must(wait_for<core::Unit>([&](auto done) {
      store->transact(
          [&](WriteTxn& txn) -> core::Status {
            txn.append_clinic_event({0, place.clinic_id, patient, "alert.opened", std::nullopt, "{}", at_ms});
            return core::ok_status();
          },
          done);
    }));
    return store->last_clinic_event_seq(place.clinic_id);
  };
  const auto old1 = event_at(now - 100 * day);
  const auto old2 = event_at(now - 95 * day);
  const auto recent = event_at(now - day);
  AuditEntry e;
  e.action = "clinic.webhook.set";
  must(wait_for<ClinicWebhook>([&](auto done) {
    store->set_webhook(place.clinic_id, "https://gw.example.cn/hook", "a-secret-of-16-chars", e, done);
  }));
  // A new webhook starts after the newest event: every event counts as delivered.
  CHECK(must(wait_for<PruneCounts>([&](auto done) { store->prune(now, RetentionPolicy{}, done); })).clinic_events == 2);
  const auto left = store->clinic_events(place.clinic_id, 0, 10);
  REQUIRE(left.size() == 1);
  CHECK(left[0].seq == recent);
  CHECK(old1 < old2);
  // Undelivered (the receiver is behind): kept however old.
  const auto late = event_at(now - 200 * day);
  CHECK(must(wait_for<PruneCounts>([&](auto done) { store->prune(now, RetentionPolicy{}, done); })).clinic_events == 0);
  CHECK(store->clinic_events(place.clinic_id, recent, 10).at(0).seq == late);
}

TEST_CASE("the database, its WAL and a backup are readable by their owner only") {
  namespace fs = std::filesystem;
  TempDir dir;
  const auto path = dir.file("care.db");
  const auto loose = fs::perms::group_all | fs::perms::others_all;
  {
    // A database made looser than it should be (an older version, a copy).
    std::ofstream(path).close();
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
    fs::remove(path);
    auto first = open_store(path);
    first->close();
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  }
  auto store = open_store(path);
  const auto place = add_place(*store);
  add_patient(*store, place.clinic_id);
  CHECK((fs::status(path).permissions() & loose) == fs::perms::none);
  REQUIRE(fs::exists(path + "-wal"));
  CHECK((fs::status(path + "-wal").permissions() & loose) == fs::perms::none);
  const auto copy = dir.file("backup.db");
  REQUIRE(store->backup_to(copy).ok());
  CHECK((fs::status(copy).permissions() & loose) == fs::perms::none);
}

TEST_CASE("an activation code creates the account once, a reissued one voids it, reactivation takes over") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto place = add_place(*store);
  const auto pid = add_patient(*store, place.clinic_id);
  NewUser doc;
  doc.user.username = "doctor";
  doc.user.role = core::Role::doctor;
  doc.user.clinic_id = place.clinic_id;
  const auto doctor = must(wait_for<std::int64_t>([&](auto done) { store->add_user(doc, done); }));
  const auto later = core::now_utc_ms() + 3'600'000;
  auto issue = [&](const std::string& hash, std::int64_t expires) {
    return write_status([&](auto done) { store->create_activation_code(hash, {pid, doctor, expires}, done); });
  };
  auto redeem = [&](const std::string& hash, const std::string& username) {
    return wait_for<core::User>([&](auto done) { store->activate({hash, username, "hash-" + username, "", std::nullopt}, done); });
  };

  REQUIRE(issue("code-1", later).ok());
  CHECK(issue("code-x", later).ok());  // voids code-1
  auto voided = redeem("code-1", "wang");
  REQUIRE(!voided);
  CHECK(voided.error().code == core::Errc::invalid);
  CHECK(voided.error().fields.at(0).pointer == "/code");

  auto taken = redeem("code-x", "doctor");  // someone else's username: the code survives
  REQUIRE(!taken);
  CHECK(taken.error().code == core::Errc::conflict);
  const auto user = must(redeem("code-x", "wang"));
  CHECK(user.role == core::Role::patient);
  CHECK(user.patient_id == pid);
  CHECK(user.display_name == "Wang Fang");
  CHECK(must(store->password_hash(user.id)) == "hash-wang");
  CHECK(!redeem("code-x", "wang2"));  // used
  CHECK(store->patient_account(pid)->id == user.id);

  // A lost phone: a new code gives the same account new credentials and ends its sessions.
  REQUIRE(write_status([&](auto done) { store->create_session("s1", {user.id, later}, done); }).ok());
  REQUIRE(issue("code-2", later).ok());
  const auto again = must(redeem("code-2", "wang-new"));
  CHECK(again.id == user.id);
  CHECK(again.username == "wang-new");
  CHECK(must(store->password_hash(user.id)) == "hash-wang-new");
  CHECK(store->session("s1").error().code == core::Errc::not_found);

  REQUIRE(issue("code-old", core::now_utc_ms() - 1).ok());
  CHECK(redeem("code-old", "late").error().code == core::Errc::invalid);  // expired
  CHECK(issue("code-3", later + 1).ok());
  CHECK(write_status([&](auto done) { store->create_activation_code("c", {999, doctor, later}, done); }).error().code ==
        core::Errc::not_found);
}

TEST_CASE("a password change keeps only the session that made it") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  NewUser u;
  u.user.username = "admin";
  u.user.role = core::Role::admin;
  u.password_hash = "old";
  const auto uid = must(wait_for<std::int64_t>([&](auto done) { store->add_user(u, done); }));
  const auto later = core::now_utc_ms() + 3'600'000;
  for (const char* t : {"keep", "other-1", "other-2"})
    REQUIRE(write_status([&](auto done) { store->create_session(t, {uid, later}, done); }).ok());
  REQUIRE(write_status([&](auto done) { store->change_password(uid, "new", "keep", done); }).ok());
  CHECK(must(store->password_hash(uid)) == "new");
  CHECK(store->session("keep").ok());
  CHECK(!store->session("other-1").ok());
  CHECK(!store->session("other-2").ok());
  CHECK(write_status([&](auto done) { store->change_password(999, "x", "", done); }).error().code ==
        core::Errc::not_found);
}

TEST_CASE("the sync feed lists readings and messages in seq order and hides unapproved plans") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto place = add_place(*store);
  const auto a = add_patient(*store, place.clinic_id, "A");
  const auto b = add_patient(*store, place.clinic_id, "B");
  NewUser doc;
  doc.user.username = "doctor";
  doc.user.display_name = "Dr Li";
  doc.user.role = core::Role::doctor;
  doc.user.clinic_id = place.clinic_id;
  const auto doctor = must(wait_for<std::int64_t>([&](auto done) { store->add_user(doc, done); }));
  const auto t = 1'780'000'000'000LL;
  const auto first = insert(*store, a, {bp("a1", t, 130, 80), bp("a2", t + 60'000, 131, 81)});
  insert(*store, b, {bp("b1", t, 150, 95)});
  Message m;
  m.patient_id = a;
  m.from_user_id = doctor;
  m.text = "please come in";
  const auto sent = must(wait_for<Message>([&](auto done) { store->add_message(m, done); }));
  CHECK(sent.clinic_id == place.clinic_id);
  CHECK(sent.change_seq > first[1].change_seq);
  m.text = "";
  CHECK(wait_for<Message>([&](auto done) { store->add_message(m, done); }).error().code == core::Errc::invalid);

  auto feed = store->changes(a, 0, 100);
  REQUIRE(feed.size() == 3);
  CHECK(feed[0].entity == "reading");
  CHECK(feed[0].reading->client_id == "a1");
  CHECK(feed[1].reading->client_id == "a2");
  CHECK(feed[2].entity == "message");
  CHECK(feed[2].message->text == "please come in");
  CHECK(feed[2].message->from_display_name == "Dr Li");
  CHECK(feed[0].seq < feed[1].seq);
  CHECK(feed[1].seq < feed[2].seq);
  // Paging by cursor; another patient's rows never appear.
  auto page = store->changes(a, feed[0].seq, 1);
  REQUIRE(page.size() == 1);
  CHECK(page[0].seq == feed[1].seq);
  CHECK(store->changes(a, feed[2].seq, 10).empty());
  for (const auto& c : store->changes(b, 0, 10)) CHECK(c.reading->patient_id == b);
  CHECK(!store->approved_care_plan(a));
  CHECK(must(store->reading(first[0].id)).client_id == "a1");
  CHECK(store->reading(424242).error().code == core::Errc::not_found);
}

TEST_CASE("the audit log lists newest first, per patient or all") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  for (int i = 0; i < 5; ++i) {
    AuditEntry e;
    e.at_ms = 1000 + i;
    e.actor_user_id = 7;
    e.action = "patient.read";
    if (i % 2 == 0) e.patient_id = 42;
    e.detail = std::to_string(i);
    e.remote_addr = "127.0.0.1";
    REQUIRE(write_status([&](auto done) { store->append_audit(e, done); }).ok());
  }
  const auto all = store->audit_log(std::nullopt, 3);
  REQUIRE(all.size() == 3);
  CHECK(all[0].detail == "4");
  CHECK(all[2].detail == "2");
  const auto mine = store->audit_log(42, 10);
  REQUIRE(mine.size() == 3);
  CHECK(mine[0].detail == "4");
  CHECK(mine[2].detail == "0");
  CHECK(mine[0].remote_addr == "127.0.0.1");
}

TEST_CASE("many threads read at once through a small pool") {
  TempDir dir;
  Options options;
  options.read_connections = 2;
  auto store = open_store(dir.file("care.db"), options);
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);
  insert(*store, patient, {bp("a", 1, 120, 80), bp("b", 2, 121, 80)});

  std::atomic<int> good{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 6; ++t)
    readers.emplace_back([&] {
      for (int i = 0; i < 50; ++i)
        if (store->readings({patient, {}, {}, {}, {}, 10}).size() == 2 && store->patient(patient).ok()) ++good;
    });
  for (auto& t : readers) t.join();
  CHECK(good == 300);
}

TEST_CASE("data survives close and reopen, close is idempotent, later calls are refused") {
  TempDir dir;
  const auto path = dir.file("care.db");
  std::int64_t patient = 0;
  {
    auto store = open_store(path);
    const auto place = add_place(*store);
    patient = add_patient(*store, place.clinic_id);
    insert(*store, patient, {bp("a", 1'750'000'000'000, 120, 80)});
    store->close();
    store->close();

    auto late = wait_for<std::vector<InsertOutcome>>(
        [&](auto done) { store->insert_readings(patient, {bp("b", 1'750'000'000'001, 121, 80)}, done); });
    CHECK(late.error().code == core::Errc::unavailable);
    CHECK(store->patient(patient).error().code == core::Errc::unavailable);
    CHECK_THROWS_AS(store->count_readings(), StoreError);
    // The checkpoint at close folded the WAL into the file.
    CHECK_FALSE(std::filesystem::exists(path + "-wal"));
  }
  auto store = open_store(path);
  CHECK(store->count_readings(patient) == 1);
  CHECK(must(store->patient(patient)).diagnoses.size() == 2);
}

TEST_CASE("backup copies a consistent database to a new file, never over one") {
  TempDir dir;
  auto store = open_store(dir.file("care.db"));
  const auto place = add_place(*store);
  const auto patient = add_patient(*store, place.clinic_id);
  insert(*store, patient, {bp("a", 1'750'000'000'000, 120, 80), bp("b", 1'750'000'060'000, 125, 82)});

  const auto target = dir.file("backup.db");
  REQUIRE(store->backup_to(target).ok());
  auto again = store->backup_to(target);
  CHECK(again.error().code == core::Errc::conflict);
  CHECK(store->backup_to(dir.file("no/such/dir/backup.db")).error().code == core::Errc::internal);

  // The original keeps working, and the copy stands alone.
  insert(*store, patient, {bp("c", 1'750'000'120'000, 130, 85)});
  store->close();
  auto copy = open_store(target);
  must(copy->integrity_check());
  CHECK(copy->schema_version() == latest_schema_version());
  CHECK(copy->count_readings(patient) == 2);
  CHECK(must(copy->patient(patient)).name == "Wang Fang");
}

TEST_CASE("the alert schedule's reads: unresolved, due timers, newest reading's age, follow-up dates") {
  TempDir dir;
  auto st = open_store(dir.file("sweep.db"));
  const auto place = add_place(*st);
  const auto a = add_patient(*st, place.clinic_id, "A");
  const auto b = add_patient(*st, place.clinic_id, "B");
  const auto c = add_patient(*st, place.clinic_id, "C");
  constexpr std::int64_t day = 86'400'000;
  const std::int64_t now = core::now_utc_ms();
  insert(*st, a, {bp("a1", now - 20 * day, 120, 80)});
  insert(*st, b, {bp("b1", now - 20 * day, 120, 80), bp("b2", now - 2 * day, 120, 80)});
  auto alert = [&](std::int64_t patient, std::string signal, std::string tier, std::string status, std::int64_t opened,
                   std::optional<std::int64_t> snoozed_until = std::nullopt) {
    AlertRow r;
    r.patient_id = patient;
    r.clinic_id = place.clinic_id;
    r.signal = std::move(signal);
    r.tier = std::move(tier);
    r.status = std::move(status);
    r.rule_id = "r";
    r.opened_at_ms = r.updated_at_ms = opened;
    r.snoozed_until_ms = snoozed_until;
    if (r.status == "resolved") r.resolved_at_ms = opened;
    REQUIRE(wait_for<core::Unit>([&](auto done) {
      st->transact(
          [&](WriteTxn& txn) -> core::Status {
            txn.save_alert(r);
            return core::Unit{};
          },
          done);
    }));
  };
  alert(a, "bp_high", "critical", "open", now - 3 * 3'600'000);   // due: opened 3 h ago
  alert(b, "bp_high", "critical", "open", now - 60'000);          // not yet
  alert(c, "bp_low", "warning", "snoozed", now - day, now - 1);   // snooze ended
  alert(b, "stale_data", "warning", "resolved", now - day);       // resolved: not unresolved
  alert(a, "stale_data", "warning", "open", now - day);

  CHECK(st->patients_with_unresolved_alerts(0, 10) == std::vector<std::int64_t>{a, b, c});
  CHECK(st->patients_with_unresolved_alerts(a, 1) == std::vector<std::int64_t>{b});
  CHECK(st->patients_with_alert_timers_due(now, now - 2 * 3'600'000) == std::vector<std::int64_t>{a, c});
  CHECK(st->patients_with_alert_timers_due(now - 2, now - 4 * 3'600'000).empty());

  // Newest BP reading 14+ days old: b's newest is 2 days old; a has a stale_data alert already.
  const std::vector<core::ReadingKind> kinds{core::ReadingKind::blood_pressure};
  CHECK(st->patients_last_reading_between(kinds, 0, now - 14 * day, "stale_data").empty());
  CHECK(st->patients_last_reading_between(kinds, 0, now - 14 * day, "other") == std::vector<std::int64_t>{a});
  CHECK(st->patients_last_reading_between(kinds, now - 19 * day, now - 14 * day, "other").empty());

  CHECK(st->readings_after(b, 0).size() == 2);
  CHECK(st->readings_after(b, st->readings_after(b, 0).front().change_seq).size() == 1);
  CHECK(st->patients_follow_up_due_before("2026-01-01", "follow_up_overdue").empty());
}

TEST_CASE("risk scores are stored with the patient's clinic, and a job with an unknown patient or a bad score stores none") {
  TempDir dir;
  const auto path = dir.file("care.db");
  auto store = open_store(path);
  const auto place = add_place(*store);
  const auto other = must(wait_for<std::int64_t>(
      [&](auto done) { store->add_clinic({place.region_id, "Haidian CHC 2", "Asia/Shanghai"}, done); }));
  const auto a = add_patient(*store, place.clinic_id, "A");
  const auto b = add_patient(*store, other, "B");
  auto score = [](std::int64_t patient, std::string model, double p, std::int64_t at) {
    return StoredRiskScore{patient, std::move(model), "1.0.0", p, "moderate", R"([{"feature":"age_years"}])", at};
  };
  REQUIRE(write_status([&](auto done) {
    store->add_risk_scores({score(a, "diabetes-8y", 0.12, 1000), score(b, "hypertension-4y", 0.31, 1000),
                            score(a, "diabetes-8y", 0.14, 2000)},
                           done);
  }));
  const auto latest = store->latest_risk_scores(a);
  REQUIRE(latest.size() == 1);
  CHECK(latest[0].probability == 0.14);
  CHECK(latest[0].factors_json == R"([{"feature":"age_years"}])");
  CHECK(store->latest_risk_scores(b).size() == 1);

  auto clinics_of_scores = [&] {
    auto db = detail::Connection::open(path, detail::OpenMode::read_only, 1000);
    std::vector<std::pair<std::int64_t, std::int64_t>> rows;
    auto s = db.prepare("SELECT patient_id, clinic_id FROM risk_scores ORDER BY id");
    while (s.step()) rows.emplace_back(s.int64(0), s.int64(1));
    return rows;
  };
  const std::vector<std::pair<std::int64_t, std::int64_t>> expected{{a, place.clinic_id}, {b, other}, {a, place.clinic_id}};
  CHECK(clinics_of_scores() == expected);

  // An unknown patient: the whole job fails with not_found, its valid score is not kept.
  const auto unknown = write_status(
      [&](auto done) { store->add_risk_scores({score(a, "diabetes-8y", 0.5, 3000), score(999'999, "diabetes-8y", 0.5, 3000)}, done); });
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == core::Errc::not_found);
  // A probability outside [0, 1]: invalid, nothing kept either.
  const auto bad = write_status([&](auto done) { store->add_risk_scores({score(a, "diabetes-8y", 1.5, 3000)}, done); });
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == core::Errc::invalid);
  CHECK(clinics_of_scores() == expected);
  CHECK(store->latest_risk_scores(a)[0].probability == 0.14);
}
