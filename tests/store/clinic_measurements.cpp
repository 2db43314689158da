// store/: the clinic_measurements table — rows saved in a write job, a
// patient's history newest first, the batch read of the newest value of each
// kind since a time (Store::latest_clinic_measurements), and the unique
// (patient, client_id, kind) that makes a resend detectable.
#include <catch2/catch.hpp>

#include <vector>

#include "fixture.hpp"

using namespace careloop;
using namespace careloop::store;
using namespace careloop::store::testing;

namespace {

constexpr std::int64_t day_ms = 86'400'000;

std::int64_t a_doctor(Store& s, std::int64_t clinic_id) {
  core::User u;
  u.username = "dr.zhao";
  u.display_name = "赵医生";
  u.role = core::Role::doctor;
  u.clinic_id = clinic_id;
  return must(wait_for<std::int64_t>([&](auto done) { s.add_user({u, "x"}, done); }));
}

ClinicMeasurementRow row(std::int64_t patient, std::int64_t clinic, std::int64_t by, std::string client_id,
                         std::int64_t at_ms, std::string kind, double value) {
  ClinicMeasurementRow r;
  r.patient_id = patient;
  r.clinic_id = clinic;
  r.client_id = std::move(client_id);
  r.measured_at = {at_ms, 480};
  r.kind = std::move(kind);
  r.value = value;
  r.by_user_id = by;
  r.created_at_ms = at_ms + 1000;
  return r;
}

core::Status save(Store& s, std::vector<ClinicMeasurementRow> rows) {
  auto r = wait_for<core::Unit>([&](auto done) {
    s.transact(
        [&rows](WriteTxn& txn) -> core::Status {
          for (const auto& r : rows) txn.save_clinic_measurement(r);
          return core::ok_status();
        },
        done);
  });
  if (!r) return r.error();
  return core::ok_status();
}

}  // namespace

TEST_CASE("clinic measurements: history newest first, rows of a client id, the recorder's name") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  TempDir dir;
  auto st = backend.open(dir);
  const auto place = add_place(*st);
  const auto p = add_patient(*st, place.clinic_id);
  const auto doctor = a_doctor(*st, place.clinic_id);
  const std::int64_t t0 = 1'750'000'000'000;
  REQUIRE(save(*st, {row(p, place.clinic_id, doctor, "a", t0, "waist_cm", 88.5),
                     row(p, place.clinic_id, doctor, "a", t0, "hdl_mmol_l", 1.1)}));
  REQUIRE(save(*st, {row(p, place.clinic_id, doctor, "b", t0 + 30 * day_ms, "waist_cm", 90)}));
  REQUIRE(save(*st, {row(p, place.clinic_id, doctor, "c", t0 - 30 * day_ms, "triglycerides_mmol_l", 2.3)}));

  const auto all = st->clinic_measurements(p, 10);
  REQUIRE(all.size() == 4);
  CHECK(all[0].client_id == "b");
  CHECK(all[0].value == 90);
  // Same time: the later row first.
  CHECK(all[1].kind == "hdl_mmol_l");
  CHECK(all[2].kind == "waist_cm");
  CHECK(all[3].client_id == "c");
  CHECK(all[0].by_name == "赵医生");
  CHECK(all[0].measured_at == core::Instant{t0 + 30 * day_ms, 480});
  CHECK_FALSE(all[0].visit_id);
  CHECK(st->clinic_measurements(p, 2).size() == 2);

  auto rows = must(wait_for<std::vector<ClinicMeasurementRow>>([&](auto done) {
    auto out = std::make_shared<std::vector<ClinicMeasurementRow>>();
    st->transact(
        [out, p](WriteTxn& txn) -> core::Status {
          *out = txn.clinic_measurements_by_client_id(p, "a");
          return core::ok_status();
        },
        [out, done](core::Result<core::Unit> r) {
          if (!r) return done(r.error());
          done(*out);
        });
  }));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].kind == "hdl_mmol_l");  // by kind
  CHECK(rows[1].kind == "waist_cm");
}

TEST_CASE("clinic measurements: one value per kind and client id, a failed job stores nothing") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  TempDir dir;
  auto st = backend.open(dir);
  const auto place = add_place(*st);
  const auto p = add_patient(*st, place.clinic_id);
  const auto doctor = a_doctor(*st, place.clinic_id);
  const std::int64_t t0 = 1'750'000'000'000;
  REQUIRE(save(*st, {row(p, place.clinic_id, doctor, "a", t0, "waist_cm", 88.5)}));
  // The same client id and kind again, with another kind in the same job: refused whole.
  CHECK_FALSE(save(*st, {row(p, place.clinic_id, doctor, "a", t0, "hdl_mmol_l", 1.2),
                         row(p, place.clinic_id, doctor, "a", t0, "waist_cm", 91)}));
  // A patient of another clinic than the row says: the foreign key refuses it.
  CHECK_FALSE(save(*st, {row(p, place.clinic_id + 1, doctor, "z", t0, "waist_cm", 80)}));
  const auto all = st->clinic_measurements(p, 10);
  REQUIRE(all.size() == 1);
  CHECK(all[0].value == 88.5);
}

TEST_CASE("clinic measurements: the newest of each kind since a time, for a page of patients in one read") {
  const auto backend = GENERATE(from_range(backends()));
  INFO("backend: " << backend.name);
  TempDir dir;
  auto st = backend.open(dir);
  const auto place = add_place(*st);
  const auto a = add_patient(*st, place.clinic_id, "A");
  const auto b = add_patient(*st, place.clinic_id, "B");
  const auto c = add_patient(*st, place.clinic_id, "C");
  const auto none = add_patient(*st, place.clinic_id, "D");
  const auto doctor = a_doctor(*st, place.clinic_id);
  const std::int64_t now = 1'760'000'000'000;
  const std::int64_t since = now - 396 * day_ms;
  REQUIRE(save(*st, {row(a, place.clinic_id, doctor, "a1", now - 500 * day_ms, "waist_cm", 100),  // too old
                     row(a, place.clinic_id, doctor, "a1", now - 500 * day_ms, "hdl_mmol_l", 0.9)}));
  REQUIRE(save(*st, {row(a, place.clinic_id, doctor, "a2", now - 200 * day_ms, "waist_cm", 95),
                     row(a, place.clinic_id, doctor, "a2", now - 200 * day_ms, "triglycerides_mmol_l", 1.8)}));
  REQUIRE(save(*st, {row(a, place.clinic_id, doctor, "a3", now - 10 * day_ms, "waist_cm", 93)}));
  // Exactly at since_ms counts.
  REQUIRE(save(*st, {row(b, place.clinic_id, doctor, "b1", since, "hdl_mmol_l", 1.3)}));
  // Two rows at the same time: the later one wins.
  REQUIRE(save(*st, {row(b, place.clinic_id, doctor, "b2", now - 5 * day_ms, "fasting_glucose_mmol_l", 5.1)}));
  REQUIRE(save(*st, {row(b, place.clinic_id, doctor, "b3", now - 5 * day_ms, "fasting_glucose_mmol_l", 5.4)}));
  // Again, the later one with the smaller value (the index orders ties by value).
  REQUIRE(save(*st, {row(b, place.clinic_id, doctor, "b4", now - 6 * day_ms, "triglycerides_mmol_l", 2.6)}));
  REQUIRE(save(*st, {row(b, place.clinic_id, doctor, "b5", now - 6 * day_ms, "triglycerides_mmol_l", 1.4)}));
  // Only too-old values: absent from the answer.
  REQUIRE(save(*st, {row(c, place.clinic_id, doctor, "c1", since - 1, "waist_cm", 80)}));

  const std::vector<std::int64_t> ids{a, b, c, none};
  const auto got = st->latest_clinic_measurements(ids, since);
  CHECK(got.size() == 2);
  REQUIRE(got.contains(a));
  const auto& sa = got.at(a);
  REQUIRE(sa.latest.size() == 2);
  CHECK(sa.latest[0].kind == "triglycerides_mmol_l");  // by kind
  REQUIRE(sa.find("waist_cm"));
  CHECK(sa.find("waist_cm")->value == 93);
  CHECK(sa.find("waist_cm")->measured_at.utc_ms == now - 10 * day_ms);
  CHECK(sa.find("triglycerides_mmol_l")->value == 1.8);
  CHECK_FALSE(sa.find("hdl_mmol_l"));  // only the too-old one
  REQUIRE(got.contains(b));
  CHECK(got.at(b).find("hdl_mmol_l")->value == 1.3);
  CHECK(got.at(b).find("fasting_glucose_mmol_l")->value == 5.4);
  CHECK(got.at(b).find("triglycerides_mmol_l")->value == 1.4);
  CHECK_FALSE(got.contains(c));
  CHECK_FALSE(got.contains(none));

  // A page that leaves a patient out does not answer for it; an older since_ms brings back old values.
  const std::vector<std::int64_t> only_b{b};
  CHECK(st->latest_clinic_measurements(only_b, since).size() == 1);
  CHECK(st->latest_clinic_measurements(ids, 0).at(a).find("hdl_mmol_l")->value == 0.9);
  CHECK(st->latest_clinic_measurements(ids, 0).at(c).find("waist_cm")->value == 80);
  CHECK(st->latest_clinic_measurements({}, 0).empty());
  // Ids in any order (looked up one by one rather than read as a range): the same answer.
  const std::vector<std::int64_t> shuffled{none, c, a, b};
  const auto again = st->latest_clinic_measurements(shuffled, since);
  CHECK(again.size() == 2);
  CHECK(again.at(a).find("waist_cm")->value == 93);
}
