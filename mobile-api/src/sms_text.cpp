#include "careloop/mobile_api/sms_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <utility>

#include "careloop/core/units.hpp"

namespace careloop::mobile_api {
namespace {

// Words are mapped to ASCII tokens before anything is read; the longest
// match wins, so 餐后两小时 is one word, not 餐后 and a stray 两小时.
struct Word {
  std::string_view text;
  std::string_view token;
};
constexpr Word words[] = {
    // blood pressure
    {"blood pressure", "bp"}, {"血压", "bp"}, {"血亚", "bp"}, {"血押", "bp"}, {"xueya", "bp"}, {"b/p", "bp"},
    {"收缩压", "sys"}, {"舒张压", "dia"}, {"高压", "sys"}, {"低压", "dia"}, {"sbp", "sys"}, {"dbp", "dia"},
    // pulse
    {"脉搏", "pulse"}, {"心率", "pulse"}, {"心跳", "pulse"}, {"脉", "pulse"}, {"pulse", "pulse"}, {"hr", "pulse"},
    // glucose
    {"血糖", "glu"}, {"血唐", "glu"}, {"血塘", "glu"}, {"glucose", "glu"}, {"sugar", "glu"}, {"glu", "glu"},
    {"bg", "glu"}, {"bs", "glu"}, {"xuetang", "glu"}, {"糖", "glu"},
    // glucose context
    {"餐后两小时", "after_meal"}, {"餐后2小时", "after_meal"}, {"饭后两小时", "after_meal"}, {"饭后2小时", "after_meal"},
    {"餐后", "after_meal"}, {"饭后", "after_meal"}, {"after meal", "after_meal"}, {"2hpp", "after_meal"},
    {"pp", "after_meal"}, {"pc", "after_meal"}, {"早餐前", "fasting"}, {"空腹", "fasting"}, {"fasting", "fasting"},
    {"fbg", "fasting_glu"}, {"fpg", "fasting_glu"}, {"餐前", "before_meal"}, {"饭前", "before_meal"},
    {"before meal", "before_meal"}, {"ac", "before_meal"}, {"睡前", "bedtime"}, {"bedtime", "bedtime"},
    {"hs", "bedtime"}, {"随机", "random"}, {"random", "random"},
    // weight
    {"体重", "wt"}, {"weight", "wt"}, {"wt", "wt"},
    // units
    {"毫米汞柱", "mmhg"}, {"mmhg", "mmhg"}, {"mmol/l", "mmol"}, {"毫摩尔", "mmol"}, {"mmol", "mmol"},
    {"mg/dl", "mgdl"}, {"mgdl", "mgdl"}, {"公斤", "kg"}, {"千克", "kg"}, {"kg", "kg"}, {"斤", "jin"},
    {"次/分", "bpm"}, {"次", "bpm"}, {"bpm", "bpm"}, {"/min", "bpm"},
    // "150比95"
    {"比", "/"}, {"over", "/"},
};

// Full-width forms (U+FF01–U+FF5E) as ASCII, ideographic space and Chinese
// punctuation as separators; ASCII letters lower-cased.
std::string normalise(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c == 0xEF && i + 2 < in.size()) {
      const auto b1 = static_cast<unsigned char>(in[i + 1]), b2 = static_cast<unsigned char>(in[i + 2]);
      const unsigned cp = ((c & 0x0Fu) << 12) | ((b1 & 0x3Fu) << 6) | (b2 & 0x3Fu);
      if (cp >= 0xFF01 && cp <= 0xFF5E) {
        char a = static_cast<char>(cp - 0xFEE0);
        if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
        out += a;
        i += 3;
        continue;
      }
    }
    if (c == 0xE3 && i + 2 < in.size() && static_cast<unsigned char>(in[i + 1]) == 0x80) {
      const auto b2 = static_cast<unsigned char>(in[i + 2]);
      if (b2 == 0x80 || b2 == 0x81 || b2 == 0x82) {  // 　 、 。
        out += ' ';
        i += 3;
        continue;
      }
    }
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
    ++i;
  }
  return out;
}

enum class Tok { number, word, slash, dash, other };
struct Token {
  Tok kind;
  std::string text;
  double value = 0;
};

bool is_ascii_letter(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::vector<Token> tokenise(const std::string& s) {
  std::vector<Token> out;
  for (std::size_t i = 0; i < s.size();) {
    // Known words first, longest match (an ASCII word only on its own).
    const Word* best = nullptr;
    for (const auto& w : words)
      if (s.compare(i, w.text.size(), w.text) == 0 && (!best || w.text.size() > best->text.size())) {
        const bool ascii = is_ascii_letter(w.text.front());
        const bool left_ok = !ascii || i == 0 || !is_ascii_letter(s[i - 1]);
        const std::size_t end = i + w.text.size();
        // "p72", "bp150/95": an ASCII word may run into digits, never into letters.
        const bool right_ok = !ascii || end >= s.size() || !is_ascii_letter(s[end]);
        if (left_ok && right_ok) best = &w;
      }
    if (best) {
      out.push_back({best->token == "/" ? Tok::slash : Tok::word, std::string(best->token)});
      i += best->text.size();
      continue;
    }
    const char c = s[i];
    if (is_digit(c) || (c == '.' && i + 1 < s.size() && is_digit(s[i + 1]))) {
      std::size_t j = i;
      bool dot = false;
      while (j < s.size() && (is_digit(s[j]) || (s[j] == '.' && !dot && j + 1 < s.size() && is_digit(s[j + 1])))) {
        if (s[j] == '.') dot = true;
        ++j;
      }
      Token t{Tok::number, s.substr(i, j - i)};
      std::from_chars(s.data() + i, s.data() + j, t.value);
      out.push_back(std::move(t));
      i = j;
      continue;
    }
    if (c == '/' || c == '\\') {
      out.push_back({Tok::slash, "/"});
      ++i;
      continue;
    }
    if (c == '-' || c == '~') {
      out.push_back({Tok::dash, "-"});
      ++i;
      continue;
    }
    if (is_ascii_letter(c)) {
      std::size_t j = i;
      while (j < s.size() && is_ascii_letter(s[j])) ++j;
      // A single "p" or "f" runs into its number ("p72", "f"): known by position below.
      out.push_back({Tok::word, s.substr(i, j - i)});
      i = j;
      continue;
    }
    if (static_cast<unsigned char>(c) >= 0x80) {
      std::size_t j = i + 1;
      while (j < s.size() && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) ++j;
      out.push_back({Tok::other, s.substr(i, j - i)});
      i = j;
      continue;
    }
    ++i;  // spaces, punctuation: separators
  }
  return out;
}

std::optional<core::GlucoseContext> context_of(std::string_view t) {
  if (t == "fasting" || t == "f" || t == "fasting_glu") return core::GlucoseContext::fasting;
  if (t == "before_meal") return core::GlucoseContext::before_meal;
  if (t == "after_meal") return core::GlucoseContext::after_meal;
  if (t == "bedtime") return core::GlucoseContext::bedtime;
  if (t == "random") return core::GlucoseContext::random;
  return std::nullopt;
}

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

class Reader {
 public:
  explicit Reader(std::vector<Token> t) : t_(std::move(t)) {}

  SmsParse read() {
    while (i_ < t_.size()) {
      const auto& tok = t_[i_];
      if (tok.kind == Tok::word && tok.text == "bp") {
        ++i_;
        if (!bp_pair()) miss("血压/BP", "blood pressure needs two numbers, such as 150/95");
      } else if (tok.kind == Tok::word && (tok.text == "sys" || tok.text == "dia")) {
        ++i_;
        if (auto v = number()) (tok.text == "sys" ? sys_ : dia_) = *v;
        else miss(tok.text == "sys" ? "高压" : "低压", "no number");
      } else if (tok.kind == Tok::word && (tok.text == "pulse" || tok.text == "p")) {
        ++i_;
        if (auto v = number()) {
          pulse_ = *v;
          skip_word("bpm");
        } else if (tok.text == "pulse") {
          miss("脉搏", "no number");
        }
      } else if (tok.kind == Tok::word && (tok.text == "glu" || tok.text == "fasting_glu")) {
        ++i_;
        glucose(tok.text == "fasting_glu" ? std::optional(core::GlucoseContext::fasting) : std::nullopt);
      } else if (tok.kind == Tok::word && tok.text == "wt") {
        ++i_;
        weight();
      } else if (tok.kind == Tok::word && context_of(tok.text) && tok.text != "f") {
        // A context before its glucose ("空腹血糖 7.8", "空腹 7.8").
        pending_context_ = context_of(tok.text);
        ++i_;
        if (i_ < t_.size() && t_[i_].kind == Tok::number) glucose(pending_context_);
      } else if (tok.kind == Tok::number) {
        bare_number();
      } else {
        ++i_;  // a word we do not know: ignored
      }
    }
    finish_bp();
    if (out_.readings.empty() && out_.not_understood.empty())
      out_.not_understood.push_back("没有读到血压、血糖或体重的数值 (no reading found)");
    return std::move(out_);
  }

 private:
  // The next number, past a few characters we do not know ("血压是150/95", "体重有65").
  std::optional<double> number() {
    std::size_t j = i_;
    while (j < t_.size() && j < i_ + 3 && t_[j].kind == Tok::other) ++j;
    if (j < t_.size() && t_[j].kind == Tok::number) {
      i_ = j + 1;
      return t_[j].value;
    }
    return std::nullopt;
  }
  bool at_word(std::string_view w) const { return i_ < t_.size() && t_[i_].kind == Tok::word && t_[i_].text == w; }
  void skip_word(std::string_view w) {
    if (at_word(w)) ++i_;
  }
  void miss(const std::string& what, const std::string& why) { out_.not_understood.push_back(what + ": " + why); }

  // After "bp": "150/95", "150 / 95", "150-95", "150 95"; then maybe mmhg, a pulse.
  bool bp_pair() {
    const auto s = number();
    if (!s) return false;
    if (i_ < t_.size() && (t_[i_].kind == Tok::slash || t_[i_].kind == Tok::dash)) ++i_;
    const auto d = number();
    if (!d) return false;
    sys_ = *s;
    dia_ = *d;
    skip_word("mmhg");
    // The third number a meter shows is the pulse: "150/95 72".
    if (i_ < t_.size() && t_[i_].kind == Tok::number && t_[i_].value >= 30 && t_[i_].value <= 220 &&
        t_[i_].text.find('.') == std::string::npos) {
      pulse_ = t_[i_++].value;
      skip_word("bpm");
    }
    return true;
  }

  void glucose(std::optional<core::GlucoseContext> ctx) {
    // A context may come before the number ("血糖 空腹 7.8") or after it ("7.8 空腹", "GLU 7.8 F").
    if (i_ < t_.size() && t_[i_].kind == Tok::word && context_of(t_[i_].text)) ctx = context_of(t_[i_++].text);
    const auto v = number();
    if (!v) {
      miss("血糖/GLU", "no number");
      return;
    }
    std::string unit;
    if (at_word("mmol")) unit = "mmol/L", ++i_;
    else if (at_word("mgdl")) unit = "mg/dL", ++i_;
    if (i_ < t_.size() && t_[i_].kind == Tok::word && context_of(t_[i_].text)) ctx = context_of(t_[i_++].text);
    if (!ctx) ctx = pending_context_;
    core::Reading r;
    r.kind = core::ReadingKind::glucose;
    r.value_as_sent = *v;
    if (unit.empty()) {
      // Chinese meters read mmol/L (to 33.3); a number a mmol/L reading cannot be is read as mg/dL.
      if (*v <= 35) unit = "mmol/L";
      else if (*v >= 40) unit = "mg/dL";
      else return miss("血糖 " + number_text(*v), "say mmol/L or mg/dL");
    }
    r.unit_as_sent = unit;
    r.glucose_mmol_l = unit == "mg/dL" ? *v / core::mg_dl_per_mmol_l : *v;
    r.glucose_context = ctx;
    out_.readings.push_back(std::move(r));
    pending_context_.reset();
  }

  void weight() {
    const auto v = number();
    if (!v) return miss("体重/WT", "no number");
    core::Reading r;
    r.kind = core::ReadingKind::weight;
    r.value_as_sent = *v;
    if (at_word("jin")) {
      ++i_;
      r.unit_as_sent = "斤";
      r.weight_kg = *v / 2;  // 1 斤 = 500 g
    } else {
      skip_word("kg");
      r.unit_as_sent = "kg";
      r.weight_kg = *v;
    }
    out_.readings.push_back(std::move(r));
  }

  // A number with no word before it: "150/95" is a blood pressure; "7.8
  // mmol" a glucose; "65 kg" or "130斤" a weight; "p72" was a pulse above.
  void bare_number() {
    const std::size_t start = i_;
    const double v = t_[i_++].value;
    if (i_ + 1 < t_.size() && t_[i_].kind == Tok::slash && t_[i_ + 1].kind == Tok::number) {
      i_ = start;
      bp_pair();
      return;
    }
    if (at_word("mmol") || at_word("mgdl") || (i_ < t_.size() && t_[i_].kind == Tok::word && context_of(t_[i_].text) &&
                                               t_[i_].text != "f")) {
      i_ = start;
      glucose(std::nullopt);
      return;
    }
    if (at_word("kg") || at_word("jin")) {
      i_ = start;
      weight();
      return;
    }
    if (at_word("bpm")) {
      ++i_;
      pulse_ = v;
      return;
    }
    if (at_word("mmhg")) {
      ++i_;
      miss(number_text(v) + " mmHg", "give both numbers, such as 150/95");
      return;
    }
    miss(number_text(v), "not clear what it measures: write 血压, 血糖 or 体重 before it");
  }

  void finish_bp() {
    if (sys_ && dia_) {
      core::Reading r;
      r.kind = core::ReadingKind::blood_pressure;
      r.systolic_mmhg = *sys_;
      r.diastolic_mmhg = *dia_;
      r.pulse_bpm = pulse_;
      r.value_as_sent = *sys_;
      r.unit_as_sent = "mmHg";
      out_.readings.insert(out_.readings.begin(), std::move(r));
    } else {
      if (sys_ || dia_) miss(sys_ ? "高压 " + number_text(*sys_) : "低压 " + number_text(*dia_), "both numbers are needed");
      if (pulse_) {
        core::Reading r;
        r.kind = core::ReadingKind::heart_rate;
        r.pulse_bpm = *pulse_;
        r.value_as_sent = *pulse_;
        r.unit_as_sent = "/min";
        out_.readings.push_back(std::move(r));
      }
    }
  }

  std::vector<Token> t_;
  std::size_t i_ = 0;
  SmsParse out_;
  std::optional<double> sys_, dia_, pulse_;
  std::optional<core::GlucoseContext> pending_context_;
};

const char* context_zh(core::GlucoseContext c) {
  switch (c) {
    case core::GlucoseContext::fasting: return "空腹";
    case core::GlucoseContext::before_meal: return "餐前";
    case core::GlucoseContext::after_meal: return "餐后";
    case core::GlucoseContext::bedtime: return "睡前";
    case core::GlucoseContext::random: return "随机";
  }
  return "";
}

}  // namespace

SmsParse parse_sms_text(std::string_view text) {
  return Reader(tokenise(normalise(text))).read();
}

std::string sms_reply_zh(const SmsParse& parsed) {
  std::string out;
  for (const auto& r : parsed.readings) {
    if (!out.empty()) out += "，";
    switch (r.kind) {
      case core::ReadingKind::blood_pressure:
        out += "血压 " + number_text(*r.systolic_mmhg) + "/" + number_text(*r.diastolic_mmhg) + " mmHg";
        if (r.pulse_bpm) out += " 脉搏 " + number_text(*r.pulse_bpm);
        break;
      case core::ReadingKind::heart_rate: out += "脉搏 " + number_text(*r.pulse_bpm); break;
      case core::ReadingKind::glucose:
        out += std::string("血糖 ") + (r.glucose_context ? context_zh(*r.glucose_context) : "") + " " +
               number_text(*r.value_as_sent) + " " + r.unit_as_sent;
        break;
      case core::ReadingKind::weight: out += "体重 " + number_text(*r.value_as_sent) + " " + r.unit_as_sent; break;
      default: break;
    }
  }
  std::string reply = out.empty() ? std::string() : "已收到：" + out + "。";
  if (!parsed.not_understood.empty()) {
    reply += "未能识别：";
    for (std::size_t i = 0; i < parsed.not_understood.size(); ++i)
      reply += (i ? "；" : "") + parsed.not_understood[i];
    reply += "。示例：血压 150/95 脉搏 72；血糖 7.8 空腹。";
  }
  return reply;
}

}  // namespace careloop::mobile_api
