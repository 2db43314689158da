#include "careloop/mobile_api/patient_list.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>

#include "careloop/core/time.hpp"

namespace careloop::mobile_api {

namespace {

using nlohmann::json;
using store::PatientListRow;

constexpr std::int64_t day_ms = 86'400'000;
constexpr int min_readings_for_mean = 3;

struct Flags {
  bool uncontrolled_bp = false, uncontrolled_glucose = false, high_risk = false, moderate_risk = false;
  bool overdue = false, no_data = false, open_alerts = false, critical = false;
  int warnings = 0;
  int priority = 0;
};

int age_years(std::int64_t birth_days, std::int64_t now_ms) {
  int by = 0, ty = 0;
  unsigned bm = 0, bd = 0, tm = 0, td = 0;
  core::civil_from_days(birth_days, by, bm, bd);
  core::civil_from_days(now_ms / day_ms, ty, tm, td);
  return ty - by - ((tm < bm || (tm == bm && td < bd)) ? 1 : 0);
}

bool has(const std::vector<std::string>& v, std::string_view x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// The patient's BP target (CLINICAL.md §1): systolic, diastolic.
std::pair<double, double> bp_target(const PatientListRow& r, std::int64_t now_ms) {
  const auto& p = r.patient;
  if (p.has_diagnosis(core::dx_diabetes_t2) || has(p.comorbidities, "ckd") || has(p.comorbidities, "chd") ||
      has(p.comorbidities, "heart_failure"))
    return {130, 80};
  if (age_years(p.birth_date, now_ms) >= 80) return {150, 90};
  return {140, 90};
}

Flags flags_of(const PatientListRow& r, std::int64_t now_ms) {
  Flags f;
  const auto& p = r.patient;
  if (p.has_diagnosis(core::dx_hypertension) && r.bp_count >= min_readings_for_mean) {
    const auto [sys, dia] = bp_target(r, now_ms);
    f.uncontrolled_bp = r.systolic_sum / r.bp_count >= sys || r.diastolic_sum / r.bp_count >= dia;
  }
  if (p.has_diagnosis(core::dx_diabetes_t2)) {
    if (r.fasting_count >= min_readings_for_mean)
      f.uncontrolled_glucose = r.fasting_sum / r.fasting_count >= 7.0;
    else if (r.nonfasting_count >= min_readings_for_mean)
      f.uncontrolled_glucose = r.nonfasting_sum / r.nonfasting_count >= 10.0;
  }
  for (const auto& risk : r.risks) {
    if (risk.band == "high") f.high_risk = true;
    if (risk.band == "moderate") f.moderate_risk = true;
  }
  for (const auto& a : r.alerts) {
    if (a.signal == "follow_up_overdue") f.overdue = true;
    if (a.signal == "stale_data") f.no_data = true;
    if (a.status == "open") f.open_alerts = true;
    if (a.tier == "critical") f.critical = true;
    else ++f.warnings;
  }
  if (!r.last_reading_ms || *r.last_reading_ms < now_ms - patient_list_window_ms) f.no_data = true;
  f.priority = (f.critical ? 1000 : 0) + 100 * std::min(f.warnings, 5) + (f.high_risk ? 60 : 0) +
               (f.uncontrolled_bp ? 40 : 0) + (f.uncontrolled_glucose ? 40 : 0) + (f.overdue ? 30 : 0) +
               (f.no_data ? 20 : 0) + (!f.high_risk && f.moderate_risk ? 10 : 0);
  return f;
}

bool flag(const Flags& f, std::string_view name) {
  if (name == "uncontrolled_bp") return f.uncontrolled_bp;
  if (name == "uncontrolled_glucose") return f.uncontrolled_glucose;
  if (name == "high_risk") return f.high_risk;
  if (name == "overdue") return f.overdue;
  if (name == "no_data") return f.no_data;
  if (name == "open_alerts") return f.open_alerts;
  return false;
}

double round1(double v) { return std::round(v * 10) / 10; }

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool matches(const PatientListRow& r, const std::string& q_lower, std::optional<std::int64_t> q_id) {
  if (q_lower.empty()) return true;
  const auto& p = r.patient;
  if (q_id && p.id == *q_id) return true;
  if (lower_ascii(p.name).find(q_lower) != std::string::npos) return true;
  if (!p.external_id.empty() && lower_ascii(p.external_id).find(q_lower) != std::string::npos) return true;
  // A query of digits (spaces, dashes, + allowed) of 3 or more matches phones on their digits.
  std::string digits_q, digits_p;
  for (char c : q_lower) {
    if (std::isdigit(static_cast<unsigned char>(c))) digits_q += c;
    else if (c != ' ' && c != '-' && c != '+') return false;
  }
  for (char c : p.phone)
    if (std::isdigit(static_cast<unsigned char>(c))) digits_p += c;
  return digits_q.size() >= 3 && digits_p.find(digits_q) != std::string::npos;
}

// The total order of a sort: (primary, text, id) ascending.
struct Key {
  std::int64_t primary = 0;
  std::string text;
  std::int64_t id = 0;
  friend bool operator<(const Key& a, const Key& b) {
    if (a.primary != b.primary) return a.primary < b.primary;
    if (a.text != b.text) return a.text < b.text;
    return a.id < b.id;
  }
};

Key key_of(const PatientListRow& r, const Flags& f, const std::string& sort) {
  Key k;
  k.id = r.patient.id;
  if (sort == "priority") {
    k.primary = -f.priority;
  } else if (sort == "name") {
    k.text = r.patient.name;
  } else if (sort == "last_reading") {
    // Longest silent first; never heard from before anyone.
    k.primary = r.last_reading_ms.value_or(std::numeric_limits<std::int64_t>::min());
  }
  return k;
}

std::string hex(std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::optional<std::string> unhex(std::string_view s) {
  if (s.size() % 2) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < s.size(); i += 2) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data() + i, s.data() + i + 2, v, 16);
    if (ec != std::errc() || p != s.data() + i + 2) return std::nullopt;
    out += static_cast<char>(v);
  }
  return out;
}

std::optional<std::int64_t> to_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "<sort>.<primary>.<hex text>.<id>": opaque to clients, checked on the way back.
std::string encode_cursor(const std::string& sort, const Key& k) {
  return sort + "." + std::to_string(k.primary) + "." + hex(k.text) + "." + std::to_string(k.id);
}

std::optional<Key> decode_cursor(std::string_view c, const std::string& sort) {
  if (!c.starts_with(sort + ".")) return std::nullopt;
  c.remove_prefix(sort.size() + 1);
  const auto a = c.find('.');
  const auto b = a == std::string_view::npos ? a : c.find('.', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  auto primary = to_int(c.substr(0, a));
  auto text = unhex(c.substr(a + 1, b - a - 1));
  auto id = to_int(c.substr(b + 1));
  if (!primary || !text || !id) return std::nullopt;
  return Key{*primary, std::move(*text), *id};
}

}  // namespace

std::variant<PatientListRequest, std::vector<core::FieldError>> parse_patient_list_query(
    const std::vector<std::pair<std::string, std::string>>& query) {
  PatientListRequest req;
  std::vector<core::FieldError> errors;
  for (const auto& [name, value] : query) {
    if (name == "q") {
      if (value.size() > 100) errors.push_back({"/query/q", "q must be at most 100 bytes"});
      auto b = value.find_first_not_of(' ');
      auto e = value.find_last_not_of(' ');
      req.q = b == std::string::npos ? "" : value.substr(b, e - b + 1);
    } else if (name == "filter") {
      std::string_view rest = value;
      while (!rest.empty()) {
        const auto comma = rest.find(',');
        const auto one = rest.substr(0, comma);
        if (!one.empty()) {
          const bool known = std::any_of(std::begin(patient_list_filters), std::end(patient_list_filters),
                                         [&](const char* f) { return one == f; });
          if (!known)
            errors.push_back({"/query/filter", "unknown filter '" + std::string(one.substr(0, 40)) +
                                                   "': use uncontrolled_bp, uncontrolled_glucose, high_risk, "
                                                   "overdue, no_data or open_alerts"});
          else if (!has(req.filters, one))
            req.filters.emplace_back(one);
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else if (name == "sort") {
      if (!std::any_of(std::begin(patient_list_sorts), std::end(patient_list_sorts),
                       [&](const char* s) { return value == s; }))
        errors.push_back({"/query/sort", "sort must be priority, name, last_reading or id"});
      else
        req.sort = value;
    } else if (name == "limit") {
      auto n = to_int(value);
      if (!n || *n < 1 || *n > 200)
        errors.push_back({"/query/limit", "limit must be an integer from 1 to 200"});
      else
        req.limit = static_cast<int>(*n);
    } else if (name == "cursor") {
      req.cursor = value;
    } else if (name != "clinic_id") {
      errors.push_back({"/query/" + name.substr(0, 40), "unknown parameter"});
    }
  }
  if (!errors.empty()) return errors;
  return req;
}

json patient_summary_json(const PatientListRow& r, std::int64_t now_ms) {
  const auto f = flags_of(r, now_ms);
  const auto& p = r.patient;
  json dx = json::array();
  for (const auto& d : p.diagnoses) dx.push_back(d.code);
  json flags = json::array();
  for (const char* name : patient_list_filters)
    if (flag(f, name)) flags.push_back(name);
  json bp = nullptr;
  if (r.bp_count > 0) {
    const auto [sys, dia] = bp_target(r, now_ms);
    bp = {{"systolic_mean", round1(r.systolic_sum / r.bp_count)},
          {"diastolic_mean", round1(r.diastolic_sum / r.bp_count)},
          {"readings", r.bp_count},
          {"target", {{"systolic", sys}, {"diastolic", dia}}}};
  }
  json glucose = nullptr;
  if (r.fasting_count + r.nonfasting_count > 0) {
    glucose = {{"fasting_mean_mmol_l", r.fasting_count ? json(round1(r.fasting_sum / r.fasting_count)) : json(nullptr)},
               {"fasting_readings", r.fasting_count},
               {"nonfasting_mean_mmol_l",
                r.nonfasting_count ? json(round1(r.nonfasting_sum / r.nonfasting_count)) : json(nullptr)},
               {"nonfasting_readings", r.nonfasting_count}};
  }
  json risk = nullptr;
  for (const auto& s : r.risks)
    if (risk.is_null() || s.probability > risk["probability"].get<double>())
      risk = {{"model_id", s.model_id}, {"band", s.band}, {"probability", s.probability}};
  int critical = 0, warning = 0, open = 0;
  json signals = json::array();
  for (const auto& a : r.alerts) {
    (a.tier == "critical" ? critical : warning) += 1;
    if (a.status == "open") ++open;
    signals.push_back(a.signal);
  }
  return {{"id", p.id},
          {"clinic_id", p.clinic_id},
          {"name", p.name},
          {"sex", core::to_string(p.sex)},
          {"age", age_years(p.birth_date, now_ms)},
          {"phone", p.phone},
          {"external_id", p.external_id.empty() ? json(nullptr) : json(p.external_id)},
          {"diagnoses", dx},
          {"last_reading_at", r.last_reading_ms ? json(core::format_iso8601_utc(*r.last_reading_ms)) : json(nullptr)},
          {"bp_30d", bp},
          {"glucose_30d", glucose},
          {"risk", risk},
          {"alerts", {{"unresolved", r.alerts.size()}, {"open", open}, {"critical", critical}, {"warning", warning},
                      {"signals", signals}}},
          {"flags", flags},
          {"priority", f.priority}};
}

core::Result<json> patient_list_page(const std::vector<PatientListRow>& rows, const PatientListRequest& req,
                                     std::int64_t now_ms) {
  std::optional<Key> after;
  if (!req.cursor.empty()) {
    after = decode_cursor(req.cursor, req.sort);
    if (!after)
      return core::Error::invalid("bad cursor",
                                  {{"/query/cursor", "cursor must be the next of a previous page with the same sort"}});
  }
  const std::string q_lower = lower_ascii(req.q);
  const auto q_id = to_int(req.q);
  struct Hit {
    Key key;
    const PatientListRow* row;
  };
  std::vector<Hit> hits;
  for (const auto& r : rows) {
    if (!matches(r, q_lower, q_id)) continue;
    const auto f = flags_of(r, now_ms);
    if (!std::all_of(req.filters.begin(), req.filters.end(), [&](const std::string& x) { return flag(f, x); }))
      continue;
    hits.push_back({key_of(r, f, req.sort), &r});
  }
  std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) { return a.key < b.key; });
  auto it = hits.begin();
  if (after) it = std::upper_bound(hits.begin(), hits.end(), *after, [](const Key& k, const Hit& h) { return k < h.key; });
  json items = json::array();
  const Hit* last = nullptr;
  for (; it != hits.end() && static_cast<int>(items.size()) < req.limit; ++it) {
    items.push_back(patient_summary_json(*it->row, now_ms));
    last = &*it;
  }
  json out{{"items", std::move(items)}, {"total", hits.size()}, {"next", nullptr}};
  if (last && it != hits.end()) out["next"] = encode_cursor(req.sort, last->key);
  return out;
}

std::shared_ptr<const std::vector<PatientListRow>> PatientListCache::clinic_rows(store::Store& st,
                                                                                std::int64_t clinic_id,
                                                                                std::int64_t now_ms,
                                                                                std::string& version) {
  version = st.patient_list_version(clinic_id);
  {
    std::lock_guard lock(m_);
    auto it = entries_.find(clinic_id);
    if (it != entries_.end() && it->second.version == version && now_ms - it->second.read_at_ms < max_age_ms_)
      return it->second.rows;
  }
  store::PatientListScope scope;
  scope.clinic_id = clinic_id;
  scope.readings_from_ms = now_ms - patient_list_window_ms;
  auto rows = std::make_shared<const std::vector<PatientListRow>>(st.patient_list(scope));
  std::lock_guard lock(m_);
  entries_[clinic_id] = Entry{version, now_ms, rows};
  return rows;
}

std::shared_ptr<const std::vector<PatientListRow>> PatientListCache::rows(store::Store& st,
                                                                         std::optional<std::int64_t> clinic_id,
                                                                         std::int64_t now_ms) {
  std::string version;
  if (clinic_id) return clinic_rows(st, *clinic_id, now_ms, version);
  // Every clinic: made of the clinics' entries, so a change in one clinic reads that clinic again, not all.
  std::vector<std::shared_ptr<const std::vector<PatientListRow>>> parts;
  std::string all_versions;
  for (const auto& c : st.clinics()) {
    parts.push_back(clinic_rows(st, c.id, now_ms, version));
    all_versions += std::to_string(c.id) + ":" + version + "/" + std::to_string(parts.back()->size()) + ";";
  }
  {
    std::lock_guard lock(m_);
    auto it = entries_.find(0);
    if (it != entries_.end() && it->second.version == all_versions) return it->second.rows;
  }
  auto all = std::make_shared<std::vector<PatientListRow>>();
  for (const auto& p : parts) all->insert(all->end(), p->begin(), p->end());
  std::shared_ptr<const std::vector<PatientListRow>> rows = std::move(all);
  std::lock_guard lock(m_);
  entries_[0] = Entry{all_versions, now_ms, rows};
  return rows;
}

}  // namespace careloop::mobile_api
