// The binary form of PatientState (patient_state.hpp, to_binary/from_binary):
// what the writer stores per patient (patient_state.state_bin) and batch
// work reads back: half the bytes of the JSON form, decoded about 50 times
// faster (docs/PERFORMANCE.md, bench/risk).
//
// Layout, every integer and double little-endian, no padding; "uv" is an
// unsigned LEB128 varint (at most 5 bytes, at most INT32_MAX); "num" is an
// i32 when a flag says every value of its group is a whole number in i32
// range (blood pressure, pulse: half the bytes), else an f64 — exact either way:
//   header  "CLPS" | u16 version (1) | u16 flags (0) | u32 total length | u32 CRC-32 of the body
//   body    i32 last_offset_min | i64 last_offset_at_ms | i64 applied | 6 × i64 applied by kind | i64 too_old
//           u16 days, each:    day (the first an i64, the next ones a u8 step from the one before; 0, i64 day)
//                              | u8 metric mask | per set bit: uv count, u8 whole (0/1), num sum, num min, num max
//                              | uv glucose_in_range | uv medication_taken | uv medication_missed
//           u16 recent, each:  a reading
//           u8 latest mask (bit k: latest of ReadingKind k), per set bit: a reading
//   reading i64 utc_ms | i32 offset_min | u8 kind | u8 flags (bit 0 fasting, bits 1–6: systolic, diastolic,
//           pulse, glucose, weight, hba1c present, bit 7 whole) | num per present value, in that order
// A reader refuses another magic or version, a length that differs from the
// blob's, a CRC mismatch, and anything the JSON reader would also refuse
// (unknown kind or metric, days out of order, too many recent readings).
#include <array>
#include <bit>
#include <cmath>
#include <cstring>

#include "careloop/core/patient_state.hpp"

namespace careloop::core {
namespace {

constexpr std::array<char, 4> magic{'C', 'L', 'P', 'S'};
constexpr std::uint16_t binary_version = 1;
constexpr std::size_t header_size = 4 + 2 + 2 + 4 + 4;

// CRC-32 (IEEE 802.3, as zlib's crc32), eight bytes a step ("slicing by 8"):
// table k holds the CRC of a byte followed by k zero bytes.
constexpr std::array<std::array<std::uint32_t, 256>, 8> crc_tables = [] {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t k = 1; k < 8; ++k)
    for (std::size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
  return t;
}();

std::uint32_t crc32(std::string_view bytes) noexcept {
  std::uint32_t c = 0xFFFFFFFFu;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
  const auto& t = crc_tables;
  for (; n >= 8; p += 8, n -= 8) {
    const std::uint32_t lo = c ^ (static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                                  static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
        t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
  }
  for (; n > 0; ++p, --n) c = t[0][(c ^ *p) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

template <class U>
U to_little_endian(U v) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    return v;
  } else {
    U out = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) out |= static_cast<U>((v >> (8 * i)) & 0xFF) << (8 * (sizeof(U) - 1 - i));
    return out;
  }
}

// Whether v is stored as an i32: a whole number in range, not -0.0.
bool is_whole(double v) noexcept {
  return v >= -2147483648.0 && v <= 2147483647.0 && v == static_cast<double>(static_cast<std::int32_t>(v)) &&
         !(v == 0 && std::signbit(v));
}

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  template <class T>
  void put(T v) {
    using U = std::make_unsigned_t<T>;
    const U u = to_little_endian(static_cast<U>(v));
    char bytes[sizeof(U)];
    std::memcpy(bytes, &u, sizeof(U));
    out_.append(bytes, sizeof(U));
  }
  void put_double(double v) { put(std::bit_cast<std::uint64_t>(v)); }
  void put_varint(std::uint32_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void put_num(double v, bool whole) {
    if (whole)
      put<std::int32_t>(static_cast<std::int32_t>(v));
    else
      put_double(v);
  }

 private:
  std::string& out_;
};

struct Corrupt {
  const char* what;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <class T>
  T get(const char* what) {
    using U = std::make_unsigned_t<T>;
    if (in_.size() - pos_ < sizeof(U)) throw Corrupt{what};
    U u = 0;
    std::memcpy(&u, in_.data() + pos_, sizeof(U));
    pos_ += sizeof(U);
    return static_cast<T>(to_little_endian(u));
  }
  double get_double(const char* what) { return std::bit_cast<double>(get<std::uint64_t>(what)); }
  std::int32_t get_varint(const char* what) {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      const auto b = get<std::uint8_t>(what);
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) {
        if (v > 0x7FFFFFFF) throw Corrupt{"count out of range"};
        return static_cast<std::int32_t>(v);
      }
    }
    throw Corrupt{"varint too long"};
  }
  double get_num(bool whole, const char* what) {
    return whole ? static_cast<double>(get<std::int32_t>(what)) : get_double(what);
  }
  bool at_end() const noexcept { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

void put_reading(Writer& w, const RecentReading& r) {
  w.put<std::int64_t>(r.utc_ms);
  w.put<std::int32_t>(r.offset_min);
  w.put<std::uint8_t>(static_cast<std::uint8_t>(r.kind));
  const std::array<const std::optional<double>*, 6> values{&r.systolic_mmhg, &r.diastolic_mmhg, &r.pulse_bpm,
                                                           &r.glucose_mmol_l, &r.weight_kg,      &r.hba1c_percent};
  std::uint8_t flags = r.fasting ? 1 : 0;
  bool whole = true;
  for (std::size_t i = 0; i < values.size(); ++i)
    if (*values[i]) {
      flags |= static_cast<std::uint8_t>(1u << (i + 1));
      whole = whole && is_whole(**values[i]);
    }
  if (whole) flags |= 0x80;
  w.put<std::uint8_t>(flags);
  for (const auto* v : values)
    if (*v) w.put_num(**v, whole);
}

RecentReading get_reading(Reader& r) {
  RecentReading out;
  out.utc_ms = r.get<std::int64_t>("reading time");
  out.offset_min = r.get<std::int32_t>("reading offset");
  if (out.offset_min < -24 * 60 || out.offset_min > 24 * 60) throw Corrupt{"reading offset out of range"};
  const auto kind = r.get<std::uint8_t>("reading kind");
  if (kind > static_cast<std::uint8_t>(ReadingKind::medication)) throw Corrupt{"unknown reading kind"};
  out.kind = static_cast<ReadingKind>(kind);
  const auto flags = r.get<std::uint8_t>("reading flags");
  const bool whole = (flags & 0x80) != 0;
  out.fasting = (flags & 1) != 0;
  const std::array<std::optional<double>*, 6> values{&out.systolic_mmhg, &out.diastolic_mmhg, &out.pulse_bpm,
                                                     &out.glucose_mmol_l, &out.weight_kg,      &out.hba1c_percent};
  for (std::size_t i = 0; i < values.size(); ++i)
    if (flags & (1u << (i + 1))) *values[i] = r.get_num(whole, "reading value");
  return out;
}

}  // namespace

std::string PatientState::to_binary() const {
  std::string out;
  out.reserve(header_size + 80 + days_.size() * 90 + (recent_.size() + latest_.size()) * 30);
  out.append(magic.data(), magic.size());
  Writer w(out);
  w.put<std::uint16_t>(binary_version);
  w.put<std::uint16_t>(0);
  w.put<std::uint32_t>(0);  // length and CRC, filled in below
  w.put<std::uint32_t>(0);
  w.put<std::int32_t>(last_offset_min_);
  w.put<std::int64_t>(last_offset_at_ms_);
  w.put<std::int64_t>(applied_);
  for (auto n : applied_by_kind_) w.put<std::int64_t>(n);
  w.put<std::int64_t>(too_old_);
  w.put<std::uint16_t>(static_cast<std::uint16_t>(days_.size()));  // at most retained_days
  for (std::size_t d = 0; d < days_.size(); ++d) {
    const DayBucket& b = days_[d];
    // Days increase and span fewer than retained_days, so each step after the
    // first fits a u8; 0 (never a step) escapes to a whole i64 day.
    const std::int64_t step = d == 0 ? 0 : b.day - days_[d - 1].day;
    if (d > 0 && step > 0 && step <= 255) {
      w.put<std::uint8_t>(static_cast<std::uint8_t>(step));
    } else {
      if (d > 0) w.put<std::uint8_t>(0);
      w.put<std::int64_t>(b.day);
    }
    std::uint8_t mask = 0;
    for (std::size_t m = 0; m < metric_count; ++m)
      if (b.stats[m] != Stat{}) mask |= static_cast<std::uint8_t>(1u << m);
    w.put<std::uint8_t>(mask);
    for (std::size_t m = 0; m < metric_count; ++m) {
      if (!(mask & (1u << m))) continue;
      const Stat& s = b.stats[m];
      const bool whole = is_whole(s.sum) && is_whole(s.min) && is_whole(s.max);
      w.put_varint(static_cast<std::uint32_t>(s.count));
      w.put<std::uint8_t>(whole ? 1 : 0);
      w.put_num(s.sum, whole);
      w.put_num(s.min, whole);
      w.put_num(s.max, whole);
    }
    w.put_varint(static_cast<std::uint32_t>(b.glucose_in_range));
    w.put_varint(static_cast<std::uint32_t>(b.medication_taken));
    w.put_varint(static_cast<std::uint32_t>(b.medication_missed));
  }
  w.put<std::uint16_t>(static_cast<std::uint16_t>(recent_.size()));  // at most recent_capacity
  for (const auto& r : recent_) put_reading(w, r);
  std::uint8_t latest_mask = 0;
  for (std::size_t k = 0; k < latest_.size(); ++k)
    if (latest_[k]) latest_mask |= static_cast<std::uint8_t>(1u << k);
  w.put<std::uint8_t>(latest_mask);
  for (const auto& l : latest_)
    if (l) put_reading(w, *l);

  const auto length = static_cast<std::uint32_t>(out.size());
  const std::uint32_t crc = crc32(std::string_view(out).substr(header_size));
  for (std::size_t i = 0; i < 4; ++i) {
    out[8 + i] = static_cast<char>((length >> (8 * i)) & 0xFF);
    out[12 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
  }
  return out;
}

Result<PatientState> PatientState::from_binary(std::string_view bytes) {
  auto refuse = [&](const std::string& why) {
    return Error::invalid("patient state (binary, " + std::to_string(bytes.size()) + " bytes): " + why);
  };
  if (bytes.size() < header_size) return refuse("shorter than its header");
  if (std::memcmp(bytes.data(), magic.data(), magic.size()) != 0) return refuse("not a patient state (bad magic)");
  try {
    Reader h(bytes.substr(magic.size(), header_size - magic.size()));
    const auto version = h.get<std::uint16_t>("version");
    if (version != binary_version) return refuse("unknown format version " + std::to_string(version));
    if (h.get<std::uint16_t>("flags") != 0) return refuse("unknown flags");
    const auto length = h.get<std::uint32_t>("length");
    if (length != bytes.size())
      return refuse(length > bytes.size() ? "truncated (header says " + std::to_string(length) + " bytes)"
                                          : "trailing bytes (header says " + std::to_string(length) + " bytes)");
    const auto crc = h.get<std::uint32_t>("crc");
    const std::string_view body = bytes.substr(header_size);
    if (crc32(body) != crc) return refuse("checksum mismatch (corrupt)");

    Reader r(body);
    PatientState s;
    s.last_offset_min_ = r.get<std::int32_t>("offset");
    s.last_offset_at_ms_ = r.get<std::int64_t>("offset time");
    s.applied_ = r.get<std::int64_t>("readings applied");
    for (auto& n : s.applied_by_kind_) n = r.get<std::int64_t>("readings applied by kind");
    s.too_old_ = r.get<std::int64_t>("readings too old");
    const auto days = r.get<std::uint16_t>("day count");
    s.days_.reserve(days);
    for (std::uint16_t d = 0; d < days; ++d) {
      DayBucket b;
      if (d == 0) {
        b.day = r.get<std::int64_t>("day");
      } else {
        const auto step = r.get<std::uint8_t>("day step");
        b.day = step != 0 ? s.days_.back().day + step : r.get<std::int64_t>("day");
        if (b.day <= s.days_.back().day) return refuse("days out of order");
      }
      const auto mask = r.get<std::uint8_t>("metric mask");
      if (mask >> metric_count) return refuse("unknown metric");
      for (std::size_t m = 0; m < metric_count; ++m) {
        if (!(mask & (1u << m))) continue;
        Stat& st = b.stats[m];
        st.count = r.get_varint("stat count");
        const auto whole = r.get<std::uint8_t>("stat form");
        if (whole > 1) return refuse("unknown stat form");
        st.sum = r.get_num(whole != 0, "stat sum");
        st.min = r.get_num(whole != 0, "stat min");
        st.max = r.get_num(whole != 0, "stat max");
      }
      b.glucose_in_range = r.get_varint("glucose in range");
      b.medication_taken = r.get_varint("medication taken");
      b.medication_missed = r.get_varint("medication missed");
      s.days_.push_back(b);
    }
    if (!s.days_.empty() && s.days_.back().day - s.days_.front().day >= retained_days)
      return refuse("days span more than the retained " + std::to_string(retained_days));
    const auto recent = r.get<std::uint16_t>("recent count");
    if (recent > recent_capacity) return refuse("more recent readings than the ring holds");
    s.recent_.reserve(recent);
    for (std::uint16_t i = 0; i < recent; ++i) {
      s.recent_.push_back(get_reading(r));
      if (i > 0 && s.recent_[i].utc_ms < s.recent_[i - 1].utc_ms) return refuse("recent readings out of order");
    }
    const auto latest_mask = r.get<std::uint8_t>("latest mask");
    if (latest_mask >> s.latest_.size()) return refuse("unknown latest kind");
    for (std::size_t k = 0; k < s.latest_.size(); ++k)
      if (latest_mask & (1u << k)) s.latest_[k] = get_reading(r);
    if (!r.at_end()) return refuse("bytes left after the state");
    return s;
  } catch (const Corrupt& c) {
    return refuse(std::string("truncated or corrupt (") + c.what + ")");
  }
}

}  // namespace careloop::core
