// What reports/ reads and keeps (table patient_months, and counts over
// patients, diagnoses, month rows, risk scores and alerts): the month rows,
// the rollup counts of one or several months, alert action counts.
#include <array>
#include <cstdlib>
#include <limits>

#include "sqlite_store.hpp"

namespace careloop::store::detail {
namespace {

constexpr std::string_view month_columns =
    "SELECT patient_id, clinic_id, month, last_contact_ms, bp_reading_id, bp_taken_ms, systolic_mmhg, diastolic_mmhg, "
    "glycemic_reading_id, glycemic_taken_ms, glycemic_kind, glycemic_value, bp_status, glycemic_status "
    "FROM patient_months ";

PatientMonthRow month_from(const Statement& s) {
  Row row(s);
  PatientMonthRow r;
  r.patient_id = row.int64();
  r.clinic_id = row.int64();
  r.month = row.int32();
  r.last_contact_ms = row.int64();
  r.bp_reading_id = row.opt_int64();
  r.bp_taken_ms = row.int64();
  r.systolic_mmhg = row.opt_real().value_or(0);
  r.diastolic_mmhg = row.opt_real().value_or(0);
  r.glycemic_reading_id = row.opt_int64();
  r.glycemic_taken_ms = row.int64();
  r.glycemic_kind = row.text();
  r.glycemic_value = row.opt_real().value_or(0);
  r.bp_status = row.text();
  r.glycemic_status = row.text();
  return r;
}

// One cut of the rollups: a month row joined, for patients registered in
// [registered_from_ms, registered_before_ms), bucketed as RollupCount says.
struct RollupCut {
  int month = 0;
  std::string as_of_date;
  std::int64_t registered_before_ms = 0;
  std::int64_t registered_from_ms = 0;
  std::int64_t cohort_before_ms = 0;
  std::int64_t month_start_ms = 0;
  std::int64_t risk_before_ms = 0;
  std::int64_t left_before_ms = 0;
};

// The rollup counts of several cuts in one read of each table: the clinics'
// patients, their two diagnoses, their month rows of the cuts' months (the
// covering index patient_months_clinic) and their risk scores, joined and
// counted here rather than by a correlated SQL per patient and month.
std::vector<RollupCount> rollup_scan(Connection& db, const std::vector<std::int64_t>& clinic_ids,
                                     const std::vector<RollupCut>& cuts, bool set_month) {
  std::vector<RollupCount> out;
  if (cuts.empty() || clinic_ids.empty()) return out;
  const std::string clinics = json_ids(clinic_ids);
  std::int64_t newest_end = std::numeric_limits<std::int64_t>::min();
  int first_month = cuts.front().month, last_month = cuts.front().month;
  for (const auto& c : cuts) {
    newest_end = std::max(newest_end, c.registered_before_ms);
    first_month = std::min(first_month, c.month);
    last_month = std::max(last_month, c.month);
  }
  // Texts (sexes, statuses) are kept as small numbers; 0 is the empty text.
  std::vector<std::string> words{""};
  std::unordered_map<std::string, std::uint8_t> word_ids{{"", 0}};
  auto word = [&](std::string_view w) -> std::uint8_t {
    auto it = word_ids.find(std::string(w));
    if (it != word_ids.end()) return it->second;
    if (words.size() >= 255) throw StoreError(core::Errc::internal, "rollups: too many distinct status words");
    words.emplace_back(w);
    return word_ids.emplace(std::string(w), static_cast<std::uint8_t>(words.size() - 1)).first->second;
  };
  struct P {
    std::int64_t id, clinic_id, registered_at_ms;
    std::int64_t left_at_ms;  // anonymised at; max when not
    int birth_year, birth_mmdd;
    std::uint8_t sex;
    bool htn = false, dm = false;
  };
  std::vector<P> ps;
  std::unordered_map<std::int64_t, std::uint32_t> index;
  {
    Statement s = db.prepare(
        "SELECT id, clinic_id, sex, birth_date, registered_at_ms, anonymised_at_ms FROM patients "
        "WHERE clinic_id IN (SELECT value FROM json_each(?1)) AND registered_at_ms < ?2");
    s.bind_all(clinics, newest_end);
    while (s.step()) {
      Row r(s);
      const std::int64_t id = r.int64();
      const std::int64_t clinic_id = r.int64();
      const std::uint8_t sex = word(r.view());
      const auto b = r.view();  // YYYY-MM-DD (the column's CHECK)
      const std::int64_t registered_at_ms = r.int64();
      const std::int64_t left_at_ms = r.opt_int64().value_or(std::numeric_limits<std::int64_t>::max());
      auto num = [&](std::size_t at, std::size_t n) {
        int v = 0;
        for (std::size_t i = at; i < at + n && i < b.size(); ++i) v = v * 10 + (b[i] - '0');
        return v;
      };
      index.emplace(id, static_cast<std::uint32_t>(ps.size()));
      ps.push_back({id, clinic_id, registered_at_ms, left_at_ms, num(0, 4), num(5, 2) * 100 + num(8, 2), sex});
    }
  }
  {
    Statement s = db.prepare(
        "SELECT patient_id, code FROM patient_diagnoses WHERE clinic_id IN (SELECT value FROM json_each(?1)) "
        "AND code IN ('hypertension', 'diabetes_t2')");
    s.bind_all(clinics);
    while (s.step()) {
      Row r(s);
      auto it = index.find(r.int64());
      if (it == index.end()) continue;
      (r.view() == "hypertension" ? ps[it->second].htn : ps[it->second].dm) = true;
    }
  }
  // statuses[cut][patient] = {bp, glycemic}
  std::vector<std::vector<std::array<std::uint8_t, 2>>> statuses(cuts.size(),
                                                                  std::vector<std::array<std::uint8_t, 2>>(ps.size()));
  {
    Statement s = db.prepare(
        "SELECT patient_id, month, bp_status, glycemic_status FROM patient_months "
        "WHERE clinic_id IN (SELECT value FROM json_each(?1)) AND month BETWEEN ?2 AND ?3");
    s.bind_all(clinics, first_month, last_month);
    while (s.step()) {
      Row r(s);
      auto it = index.find(r.int64());
      if (it == index.end()) continue;
      const int m = r.int32();
      const std::uint8_t bp = word(r.view());
      const std::uint8_t glycemic = word(r.view());
      for (std::size_t c = 0; c < cuts.size(); ++c)
        if (cuts[c].month == m) statuses[c][it->second] = {bp, glycemic};
    }
  }
  // risk[cut][patient]: the highest band (3 high, 2 moderate, 1 low, 0 other) of
  // each model's newest score before the cut's risk_before_ms.
  std::vector<std::vector<std::uint8_t>> risk(cuts.size(), std::vector<std::uint8_t>(ps.size(), 0));
  {
    Statement s = db.prepare(
        "SELECT patient_id, model_id, band, computed_at_ms FROM risk_scores "
        "WHERE clinic_id IN (SELECT value FROM json_each(?1)) ORDER BY patient_id, model_id, computed_at_ms, id");
    s.bind_all(clinics);
    std::int64_t cur_patient = 0;
    std::string cur_model;
    std::vector<std::uint8_t> newest(cuts.size(), 0);
    std::optional<std::uint32_t> cur;
    auto close_group = [&] {
      if (!cur) return;
      for (std::size_t c = 0; c < cuts.size(); ++c) risk[c][*cur] = std::max(risk[c][*cur], newest[c]);
    };
    bool any = false;
    while (s.step()) {
      Row r(s);
      const std::int64_t pid = r.int64();
      const auto model = r.view();
      if (!any || pid != cur_patient || model != cur_model) {
        close_group();
        any = true;
        cur_patient = pid;
        cur_model = std::string(model);
        std::fill(newest.begin(), newest.end(), 0);
        auto it = index.find(pid);
        cur = it == index.end() ? std::nullopt : std::optional<std::uint32_t>(it->second);
      }
      if (!cur) continue;
      const auto band = r.view();
      const std::uint8_t rank = band == "high" ? 3 : band == "moderate" ? 2 : band == "low" ? 1 : 0;
      const std::int64_t at = r.int64();
      // Ascending (computed_at, id): the last one before the cut is the newest.
      for (std::size_t c = 0; c < cuts.size(); ++c)
        if (at < cuts[c].risk_before_ms) newest[c] = rank;
    }
    close_group();
  }
  struct Key {
    std::int64_t clinic_id;
    int age_decade;
    std::uint8_t sex, registration, bp, gly, risk;
    bool htn, dm;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
      std::uint64_t h = static_cast<std::uint64_t>(k.clinic_id) * 0x9E3779B97F4A7C15ULL;
      h ^= static_cast<std::uint64_t>(static_cast<std::uint32_t>(k.age_decade)) << 32;
      h ^= (static_cast<std::uint64_t>(k.sex) << 0) ^ (static_cast<std::uint64_t>(k.registration) << 8) ^
           (static_cast<std::uint64_t>(k.bp) << 16) ^ (static_cast<std::uint64_t>(k.gly) << 24) ^
           (static_cast<std::uint64_t>(k.risk) << 40) ^ (static_cast<std::uint64_t>(k.htn) << 48) ^
           (static_cast<std::uint64_t>(k.dm) << 49);
      return static_cast<std::size_t>(h * 0xBF58476D1CE4E5B9ULL);
    }
  };
  static constexpr std::array<std::string_view, 4> bands{"", "low", "moderate", "high"};
  for (std::size_t c = 0; c < cuts.size(); ++c) {
    const auto& cut = cuts[c];
    const int as_year = std::atoi(cut.as_of_date.substr(0, 4).c_str());
    const int as_mmdd = cut.as_of_date.size() >= 10
                            ? std::atoi(cut.as_of_date.substr(5, 2).c_str()) * 100 + std::atoi(cut.as_of_date.substr(8, 2).c_str())
                            : 0;
    std::unordered_map<Key, std::int64_t, KeyHash> counts;
    for (std::size_t i = 0; i < ps.size(); ++i) {
      const auto& p = ps[i];
      if (p.registered_at_ms >= cut.registered_before_ms || p.registered_at_ms < cut.registered_from_ms) continue;
      if (p.left_at_ms < cut.left_before_ms) continue;  // anonymised before this month: left care
      // Completed years on as_of_date, as the integer division of SQL (toward zero).
      const int age = (as_year - p.birth_year) - (as_mmdd < p.birth_mmdd ? 1 : 0);
      const std::uint8_t reg = p.registered_at_ms < cut.cohort_before_ms ? 0 : p.registered_at_ms < cut.month_start_ms ? 1 : 2;
      ++counts[{p.clinic_id, age / 10, p.sex, reg, statuses[c][i][0], statuses[c][i][1], risk[c][i], p.htn, p.dm}];
    }
    for (const auto& [k, n] : counts) {
      RollupCount rc;
      rc.month = set_month ? cut.month : 0;
      rc.clinic_id = k.clinic_id;
      rc.sex = words[k.sex];
      rc.age_decade = k.age_decade;
      rc.hypertension = k.htn;
      rc.diabetes = k.dm;
      rc.registration = k.registration;
      rc.bp_status = words[k.bp];
      rc.glycemic_status = words[k.gly];
      rc.risk_band = std::string(bands[k.risk]);
      rc.patients = n;
      out.push_back(std::move(rc));
    }
  }
  return out;
}

}  // namespace

std::vector<PatientMonthRow> SqliteWriteTxn::patient_months(std::int64_t patient_id, int from_month, int to_month) {
  std::vector<PatientMonthRow> out;
  Statement s = db_.prepare(std::string(month_columns) + "WHERE patient_id = ? AND month BETWEEN ? AND ? ORDER BY month");
  s.bind_all(patient_id, from_month, to_month);
  while (s.step()) out.push_back(month_from(s));
  return out;
}

void SqliteWriteTxn::save_patient_month(const PatientMonthRow& r) {
  const bool bp = r.bp_reading_id.has_value();
  const bool gl = r.glycemic_reading_id.has_value();
  // Most saves move a row's newest contact or latest values and keep its
  // statuses: an UPDATE that sets no indexed column rewrites the row alone,
  // where a REPLACE would delete and reinsert it in both indexes.
  db_.prepare(
        "UPDATE patient_months SET last_contact_ms = ?, bp_reading_id = ?, bp_taken_ms = ?, systolic_mmhg = ?, "
        "diastolic_mmhg = ?, glycemic_reading_id = ?, glycemic_taken_ms = ?, glycemic_kind = ?, glycemic_value = ? "
        "WHERE patient_id = ? AND month = ? AND clinic_id = ? AND bp_status = ? AND glycemic_status = ?")
      .bind_all(r.last_contact_ms, r.bp_reading_id, r.bp_taken_ms,
                bp ? std::optional<double>(r.systolic_mmhg) : std::nullopt,
                bp ? std::optional<double>(r.diastolic_mmhg) : std::nullopt, r.glycemic_reading_id,
                r.glycemic_taken_ms, r.glycemic_kind, gl ? std::optional<double>(r.glycemic_value) : std::nullopt,
                r.patient_id, r.month, r.clinic_id, r.bp_status, r.glycemic_status)
      .run();
  if (db_.changes() > 0) return;
  db_.prepare(
        "INSERT OR REPLACE INTO patient_months (patient_id, clinic_id, month, last_contact_ms, bp_reading_id, "
        "bp_taken_ms, systolic_mmhg, diastolic_mmhg, glycemic_reading_id, glycemic_taken_ms, glycemic_kind, "
        "glycemic_value, bp_status, glycemic_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(r.patient_id, r.clinic_id, r.month, r.last_contact_ms, r.bp_reading_id, r.bp_taken_ms,
                bp ? std::optional<double>(r.systolic_mmhg) : std::nullopt,
                bp ? std::optional<double>(r.diastolic_mmhg) : std::nullopt, r.glycemic_reading_id,
                r.glycemic_taken_ms, r.glycemic_kind, gl ? std::optional<double>(r.glycemic_value) : std::nullopt,
                r.bp_status, r.glycemic_status)
      .run();
}

void SqliteWriteTxn::clear_patient_months(std::int64_t patient_id) {
  db_.prepare("DELETE FROM patient_months WHERE patient_id = ?").bind(1, patient_id).run();
}

std::vector<RollupCount> SqliteBackend::rollup_counts(const RollupQuery& q) {
  return read([&](Connection& db) {
    return rollup_scan(db, q.clinic_ids,
                       {{q.month, q.as_of_date, q.registered_before_ms, q.registered_from_ms, q.cohort_before_ms,
                         q.month_start_ms, q.risk_before_ms, q.left_before_ms}},
                       false);
  });
}

std::vector<RollupCount> SqliteBackend::rollup_counts_months(const std::vector<std::int64_t>& clinic_ids,
                                                             const std::vector<RollupMonth>& months) {
  return read([&](Connection& db) {
    std::vector<RollupCut> cuts;
    for (const auto& m : months)
      cuts.push_back({m.month, m.as_of_date, m.end_ms, std::numeric_limits<std::int64_t>::min(), m.cohort_before_ms,
                      m.month_start_ms, m.end_ms, m.left_before_ms});
    return rollup_scan(db, clinic_ids, cuts, true);
  });
}

std::vector<AlertActionCount> SqliteBackend::alert_action_counts(const std::vector<std::int64_t>& clinic_ids, std::int64_t from_ms,
                                                                 std::int64_t to_ms) {
  return read([&](Connection& db) {
    std::vector<AlertActionCount> out;
    Statement s = db.prepare(
        "SELECT clinic_id, signal, count(*), "
        "sum(acknowledged_at_ms IS NOT NULL AND action IS NOT NULL AND action <> 'no_action') "
        "FROM alerts WHERE clinic_id IN (SELECT value FROM json_each(?1)) AND opened_at_ms >= ?2 "
        "AND opened_at_ms < ?3 GROUP BY clinic_id, signal ORDER BY clinic_id, signal");
    s.bind_all(json_ids(clinic_ids), from_ms, to_ms);
    while (s.step()) {
      Row r(s);
      out.push_back({r.int64(), r.text(), r.int64(), r.int64()});
    }
    return out;
  });
}

std::vector<PatientMonthRow> SqliteBackend::patient_months(std::int64_t patient_id) {
  return read([&](Connection& db) {
    std::vector<PatientMonthRow> out;
    Statement s = db.prepare(std::string(month_columns) + "WHERE patient_id = ? ORDER BY month");
    s.bind(1, patient_id);
    while (s.step()) out.push_back(month_from(s));
    return out;
  });
}

}  // namespace careloop::store::detail
