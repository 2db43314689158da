#include "careloop/core/patient_state.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace careloop::core {
namespace {

constexpr std::int64_t ms_per_day = 86'400'000;
constexpr std::int64_t ms_per_minute = 60'000;
constexpr int state_format_version = 1;

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::size_t idx(Metric m) noexcept { return static_cast<std::size_t>(m); }
std::size_t idx(ReadingKind k) noexcept { return static_cast<std::size_t>(k); }

std::optional<double> metric_value(const RecentReading& r, Metric m) noexcept {
  switch (m) {
    case Metric::systolic: return r.systolic_mmhg;
    case Metric::diastolic: return r.diastolic_mmhg;
    case Metric::pulse: return r.pulse_bpm;
    case Metric::glucose_fasting: return r.fasting ? r.glucose_mmol_l : std::nullopt;
    case Metric::glucose_nonfasting: return r.fasting ? std::nullopt : r.glucose_mmol_l;
    case Metric::weight: return r.weight_kg;
  }
  return std::nullopt;
}

RecentReading compact(const Reading& r) {
  RecentReading c;
  c.utc_ms = r.taken_at.utc_ms;
  c.offset_min = r.taken_at.offset_min;
  c.kind = r.kind;
  switch (r.kind) {
    case ReadingKind::blood_pressure:
      c.systolic_mmhg = r.systolic_mmhg;
      c.diastolic_mmhg = r.diastolic_mmhg;
      c.pulse_bpm = r.pulse_bpm;
      break;
    case ReadingKind::heart_rate: c.pulse_bpm = r.pulse_bpm; break;
    case ReadingKind::glucose:
      c.glucose_mmol_l = r.glucose_mmol_l;
      c.fasting = is_fasting(r);
      break;
    case ReadingKind::weight: c.weight_kg = r.weight_kg; break;
    case ReadingKind::hba1c: c.hba1c_percent = r.hba1c_percent; break;
    case ReadingKind::medication: break;
  }
  return c;
}

using nlohmann::json;

json opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
std::optional<double> opt_from(const json& j) {
  if (j.is_null()) return std::nullopt;
  return j.get<double>();
}

json reading_json(const RecentReading& r) {
  return json::array({r.utc_ms, r.offset_min, static_cast<int>(r.kind), r.fasting ? 1 : 0, opt(r.systolic_mmhg),
                      opt(r.diastolic_mmhg), opt(r.pulse_bpm), opt(r.glucose_mmol_l), opt(r.weight_kg),
                      opt(r.hba1c_percent)});
}

RecentReading reading_from(const json& j) {
  if (!j.is_array() || j.size() != 10) throw std::invalid_argument("a reading is an array of 10");
  RecentReading r;
  r.utc_ms = j[0].get<std::int64_t>();
  r.offset_min = j[1].get<int>();
  const int kind = j[2].get<int>();
  if (kind < 0 || kind > 5) throw std::invalid_argument("unknown reading kind");
  r.kind = static_cast<ReadingKind>(kind);
  r.fasting = j[3].get<int>() != 0;
  r.systolic_mmhg = opt_from(j[4]);
  r.diastolic_mmhg = opt_from(j[5]);
  r.pulse_bpm = opt_from(j[6]);
  r.glucose_mmol_l = opt_from(j[7]);
  r.weight_kg = opt_from(j[8]);
  r.hba1c_percent = opt_from(j[9]);
  return r;
}

}  // namespace

std::string_view to_string(Metric m) noexcept {
  switch (m) {
    case Metric::systolic: return "systolic";
    case Metric::diastolic: return "diastolic";
    case Metric::pulse: return "pulse";
    case Metric::glucose_fasting: return "glucose_fasting";
    case Metric::glucose_nonfasting: return "glucose_nonfasting";
    case Metric::weight: return "weight";
  }
  return "?";
}

void Stat::add(double v) noexcept {
  if (count == 0) {
    min = max = v;
  } else {
    min = std::min(min, v);
    max = std::max(max, v);
  }
  ++count;
  sum += v;
}

void Stat::merge(const Stat& o) noexcept {
  if (o.count == 0) return;
  if (count == 0) {
    *this = o;
    return;
  }
  count += o.count;
  sum += o.sum;
  min = std::min(min, o.min);
  max = std::max(max, o.max);
}

std::optional<double> Stat::mean() const noexcept {
  if (count == 0) return std::nullopt;
  return sum / count;
}

bool is_fasting(const Reading& r) noexcept {
  return r.glucose_context && *r.glucose_context == GlucoseContext::fasting;
}

std::int64_t local_day(std::int64_t utc_ms, int offset_min) noexcept {
  return floor_div(utc_ms + offset_min * ms_per_minute, ms_per_day);
}

DayBucket* PatientState::bucket_for(std::int64_t d) {
  if (!days_.empty() && d <= days_.back().day - retained_days) return nullptr;
  auto it = std::lower_bound(days_.begin(), days_.end(), d, [](const DayBucket& b, std::int64_t v) { return b.day < v; });
  if (it != days_.end() && it->day == d) return &*it;
  DayBucket b;
  b.day = d;
  it = days_.insert(it, b);
  const auto pos = it - days_.begin();
  const std::int64_t keep_from = days_.back().day - retained_days + 1;
  const auto first_kept =
      std::lower_bound(days_.begin(), days_.end(), keep_from, [](const DayBucket& x, std::int64_t v) { return x.day < v; });
  const auto dropped = first_kept - days_.begin();
  days_.erase(days_.begin(), first_kept);
  return &days_[static_cast<std::size_t>(pos - dropped)];
}

void PatientState::add_recent(const RecentReading& rr) {
  auto it = std::upper_bound(recent_.begin(), recent_.end(), rr.utc_ms,
                             [](std::int64_t t, const RecentReading& x) { return t < x.utc_ms; });
  if (recent_.size() >= recent_capacity) {
    // A late reading older than everything in a full ring is not kept raw.
    if (it == recent_.begin()) return;
    recent_.insert(it, rr);
    recent_.erase(recent_.begin());
    return;
  }
  recent_.insert(it, rr);
}

void PatientState::apply(const Reading& r) {
  ++applied_;
  ++applied_by_kind_[idx(r.kind)];
  const std::int64_t t = r.taken_at.utc_ms;
  if (r.kind != ReadingKind::medication && t >= last_offset_at_ms_) {
    last_offset_at_ms_ = t;
    last_offset_min_ = r.taken_at.offset_min;
  }
  const RecentReading rr = compact(r);
  if (r.kind != ReadingKind::medication) {
    auto& latest = latest_[idx(r.kind)];
    if (!latest || t >= latest->utc_ms) latest = rr;
    add_recent(rr);
  }
  DayBucket* b = bucket_for(local_day(t, r.taken_at.offset_min));
  if (b == nullptr) {
    ++too_old_;
    return;
  }
  for (std::size_t m = 0; m < metric_count; ++m)
    if (auto v = metric_value(rr, static_cast<Metric>(m))) b->stats[m].add(*v);
  if (rr.glucose_mmol_l && *rr.glucose_mmol_l >= glucose_range_low_mmol_l && *rr.glucose_mmol_l <= glucose_range_high_mmol_l)
    ++b->glucose_in_range;
  if (r.kind == ReadingKind::medication && r.medication_status) {
    if (*r.medication_status == MedicationStatus::taken)
      ++b->medication_taken;
    else
      ++b->medication_missed;
  }
}

PatientState PatientState::from_readings(const std::vector<Reading>& readings) {
  PatientState s;
  for (const auto& r : readings) s.apply(r);
  return s;
}

std::int64_t PatientState::today(std::int64_t now_ms) const noexcept { return local_day(now_ms, last_offset_min_); }

Stat PatientState::window(Metric m, std::int64_t today, int days) const noexcept {
  Stat s;
  for (auto it = days_.rbegin(); it != days_.rend() && it->day > today - days; ++it)
    if (it->day <= today) s.merge(it->stats[idx(m)]);
  return s;
}

PatientState PatientState::digest(std::span<const KeptWindow> keep, std::int64_t now_ms) const {
  PatientState d;
  d.last_offset_min_ = last_offset_min_;
  d.last_offset_at_ms_ = last_offset_at_ms_;
  d.applied_ = applied_;
  d.applied_by_kind_ = applied_by_kind_;
  d.too_old_ = too_old_;
  const std::int64_t t = today(now_ms);
  for (const auto& b : days_) {
    DayBucket kept;
    kept.day = b.day;
    bool any = false;
    for (const auto& k : keep)
      // One day more than the window: exact from the day before today(now_ms) on.
      if (b.day > t - k.days - 1 && b.stats[idx(k.metric)].count > 0) {
        kept.stats[idx(k.metric)] = b.stats[idx(k.metric)];
        any = true;
      }
    if (any) d.days_.push_back(kept);
  }
  return d;
}

Stat PatientState::window_24h(Metric m, std::int64_t now_ms) const noexcept {
  Stat s;
  for (auto it = recent_.rbegin(); it != recent_.rend() && it->utc_ms > now_ms - ms_per_day; ++it)
    if (it->utc_ms <= now_ms)
      if (auto v = metric_value(*it, m)) s.add(*v);
  return s;
}

std::optional<double> PatientState::slope_per_day(Metric m, std::int64_t today, int days) const noexcept {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (auto it = days_.rbegin(); it != days_.rend() && it->day > today - days; ++it) {
    if (it->day > today) continue;
    const auto mean = it->stats[idx(m)].mean();
    if (!mean) continue;
    const double x = static_cast<double>(it->day - today);
    n += 1;
    sx += x;
    sy += *mean;
    sxx += x * x;
    sxy += x * *mean;
  }
  if (n < 3) return std::nullopt;
  const double denom = n * sxx - sx * sx;
  if (denom == 0) return std::nullopt;
  return (n * sxy - sx * sy) / denom;
}

std::pair<std::int32_t, std::int32_t> PatientState::glucose_in_range(std::int64_t today, int days) const noexcept {
  std::int32_t in = 0, all = 0;
  for (auto it = days_.rbegin(); it != days_.rend() && it->day > today - days; ++it) {
    if (it->day > today) continue;
    in += it->glucose_in_range;
    all += it->stats[idx(Metric::glucose_fasting)].count + it->stats[idx(Metric::glucose_nonfasting)].count;
  }
  return {in, all};
}

std::pair<std::int32_t, std::int32_t> PatientState::medication_log(std::int64_t today, int days) const noexcept {
  std::int32_t taken = 0, missed = 0;
  for (auto it = days_.rbegin(); it != days_.rend() && it->day > today - days; ++it) {
    if (it->day > today) continue;
    taken += it->medication_taken;
    missed += it->medication_missed;
  }
  return {taken, missed};
}

const DayBucket* PatientState::day(std::int64_t d) const noexcept {
  auto it = std::lower_bound(days_.begin(), days_.end(), d, [](const DayBucket& b, std::int64_t v) { return b.day < v; });
  return (it != days_.end() && it->day == d) ? &*it : nullptr;
}

const std::optional<RecentReading>& PatientState::latest(ReadingKind k) const noexcept { return latest_[idx(k)]; }

std::optional<std::int64_t> PatientState::last_reading_ms() const noexcept {
  std::optional<std::int64_t> t;
  for (const auto& l : latest_)
    if (l && (!t || l->utc_ms > *t)) t = l->utc_ms;
  return t;
}

std::string PatientState::to_json() const {
  json days = json::array();
  for (const auto& b : days_) {
    json stats = json::array();
    for (std::size_t m = 0; m < metric_count; ++m) {
      const Stat& s = b.stats[m];
      if (s.count > 0) stats.push_back(json::array({m, s.count, s.sum, s.min, s.max}));
    }
    days.push_back(json::array({b.day, std::move(stats), b.glucose_in_range, b.medication_taken, b.medication_missed}));
  }
  json recent = json::array();
  for (const auto& r : recent_) recent.push_back(reading_json(r));
  json latest = json::array();
  for (const auto& l : latest_) latest.push_back(l ? reading_json(*l) : json(nullptr));
  json j = {{"v", state_format_version}, {"off", last_offset_min_}, {"off_at", last_offset_at_ms_}, {"n", applied_}, {"nk", applied_by_kind_},
            {"old", too_old_}, {"days", std::move(days)}, {"recent", std::move(recent)}, {"latest", std::move(latest)}};
  return j.dump();
}

Result<PatientState> PatientState::from_saved(std::string_view binary, std::string_view json) {
  return !binary.empty() ? from_binary(binary) : from_json(json);
}

Result<PatientState> PatientState::from_json(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error::invalid("patient state: not a JSON object");
  try {
    if (j.at("v").get<int>() != state_format_version) return Error::invalid("patient state: unknown format version");
    PatientState s;
    s.last_offset_min_ = j.at("off").get<int>();
    s.last_offset_at_ms_ = j.at("off_at").get<std::int64_t>();
    s.applied_ = j.at("n").get<std::int64_t>();
    s.applied_by_kind_ = j.at("nk").get<std::array<std::int64_t, 6>>();
    s.too_old_ = j.at("old").get<std::int64_t>();
    for (const auto& d : j.at("days")) {
      DayBucket b;
      b.day = d.at(0).get<std::int64_t>();
      for (const auto& st : d.at(1)) {
        const auto m = st.at(0).get<std::size_t>();
        if (m >= metric_count) return Error::invalid("patient state: unknown metric");
        b.stats[m] = Stat{st.at(1).get<std::int32_t>(), st.at(2).get<double>(), st.at(3).get<double>(), st.at(4).get<double>()};
      }
      b.glucose_in_range = d.at(2).get<std::int32_t>();
      b.medication_taken = d.at(3).get<std::int32_t>();
      b.medication_missed = d.at(4).get<std::int32_t>();
      if (!s.days_.empty() && b.day <= s.days_.back().day) return Error::invalid("patient state: days out of order");
      s.days_.push_back(b);
    }
    for (const auto& r : j.at("recent")) s.recent_.push_back(reading_from(r));
    const auto& latest = j.at("latest");
    if (!latest.is_array() || latest.size() != s.latest_.size()) return Error::invalid("patient state: latest has 6 entries");
    for (std::size_t k = 0; k < s.latest_.size(); ++k)
      if (!latest[k].is_null()) s.latest_[k] = reading_from(latest[k]);
    return s;
  } catch (const std::exception& e) {
    return Error::invalid(std::string("patient state: ") + e.what());
  }
}

}  // namespace careloop::core
