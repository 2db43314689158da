// Readings in a feature phone's text message (mobile-api/sms_text.hpp): a
// table of what patients type, and what must come of it.
#include <catch2/catch.hpp>

#include <cmath>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "careloop/mobile_api/sms_text.hpp"

using careloop::core::GlucoseContext;
using careloop::core::ReadingKind;
using careloop::mobile_api::parse_sms_text;
using careloop::mobile_api::sms_reply_zh;

namespace {

// What one message must give: "bp 150/95 p72", "glu 7.8 fasting", "wt 65", "hr 72", in order;
// `misses`: how many things it must say it did not understand.
struct Case {
  const char* text;
  const char* expect;
  int misses = 0;
};

std::string describe(const careloop::core::Reading& r) {
  std::ostringstream s;
  auto num = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", std::round(v * 100) / 100);
    return std::string(b);
  };
  switch (r.kind) {
    case ReadingKind::blood_pressure:
      s << "bp " << num(*r.systolic_mmhg) << "/" << num(*r.diastolic_mmhg);
      if (r.pulse_bpm) s << " p" << num(*r.pulse_bpm);
      break;
    case ReadingKind::heart_rate: s << "hr " << num(*r.pulse_bpm); break;
    case ReadingKind::glucose:
      s << "glu " << num(*r.glucose_mmol_l);
      if (r.glucose_context) s << " " << careloop::core::to_string(*r.glucose_context);
      break;
    case ReadingKind::weight: s << "wt " << num(*r.weight_kg); break;
    default: s << "?";
  }
  return s.str();
}

const Case cases[] = {
    // Blood pressure, Chinese
    {"血压 150/95 脉搏 72", "bp 150/95 p72"},
    {"血压150/95脉搏72", "bp 150/95 p72"},
    {"血压：150/95，脉搏：72", "bp 150/95 p72"},
    {"血压 150/95", "bp 150/95"},
    {"血压150／95", "bp 150/95"},
    {"血压１５０／９５　脉搏７２", "bp 150/95 p72"},
    {"血压150比95", "bp 150/95"},
    {"血压 150 95", "bp 150/95"},
    {"血压150-95", "bp 150/95"},
    {"血压 150/95 72", "bp 150/95 p72"},
    {"血压150/95mmHg 心率68", "bp 150/95 p68"},
    {"高压150 低压95", "bp 150/95"},
    {"收缩压 142 舒张压 88 脉搏 80次/分", "bp 142/88 p80"},
    {"今天早上血压145/90", "bp 145/90"},
    {"血亚150/95", "bp 150/95"},      // a slip of the input method
    {"血押 138/86", "bp 138/86"},
    {"我的血压是160/100，谢谢医生", "bp 160/100"},
    {"血压150/95，脉搏72次", "bp 150/95 p72"},
    {"150/95", "bp 150/95"},
    {"150/95 脉搏72", "bp 150/95 p72"},
    {"xueya 150/95", "bp 150/95"},
    {"血压是150/95", "bp 150/95"},
    {"量了血压为148/92，心跳76", "bp 148/92 p76"},
    // Blood pressure, English and abbreviations
    {"BP 150/95 P72", "bp 150/95 p72"},
    {"bp150/95p72", "bp 150/95 p72"},
    {"BP: 150/95, P: 72", "bp 150/95 p72"},
    {"BP 150/95 HR 72", "bp 150/95 p72"},
    {"Bp 150 / 95 pulse 72", "bp 150/95 p72"},
    {"blood pressure 150 over 95", "bp 150/95"},
    {"ＢＰ　１５０／９５", "bp 150/95"},
    {"B/P 130/80", "bp 130/80"},
    {"SBP 150 DBP 95", "bp 150/95"},
    {"150/95 72", "bp 150/95 p72"},
    // Pulse alone
    {"脉搏 72", "hr 72"},
    {"心率78", "hr 78"},
    {"P72", "hr 72"},
    {"72次", "hr 72"},
    // Glucose, Chinese
    {"血糖 7.8 空腹", "glu 7.8 fasting"},
    {"血糖7.8空腹", "glu 7.8 fasting"},
    {"空腹血糖7.8", "glu 7.8 fasting"},
    {"空腹 6.1", "glu 6.1 fasting"},
    {"血糖 空腹 6.1", "glu 6.1 fasting"},
    {"餐后2小时血糖 9.5", "glu 9.5 after_meal"},
    {"饭后两小时血糖11.2", "glu 11.2 after_meal"},
    {"血糖 9.5 餐后", "glu 9.5 after_meal"},
    {"餐前血糖5.6", "glu 5.6 before_meal"},
    {"睡前血糖 7.0", "glu 7 bedtime"},
    {"随机血糖 12.3", "glu 12.3 random"},
    {"血糖7.8", "glu 7.8"},
    {"血糖 7.8mmol/L", "glu 7.8"},
    {"血糖７．８", "glu 7.8"},
    {"血唐 6.5 空腹", "glu 6.5 fasting"},
    {"糖 8.1", "glu 8.1"},
    {"早餐前血糖6.2", "glu 6.2 fasting"},
    {"血糖 140 mg/dL", "glu 7.77"},
    {"血糖140", "glu 7.77"},  // no mmol/L reading is 140: mg/dL
    // Glucose, English
    {"GLU 7.8 F", "glu 7.8 fasting"},
    {"glu 7.8 fasting", "glu 7.8 fasting"},
    {"FBG 6.4", "glu 6.4 fasting"},
    {"BG 9.1 PP", "glu 9.1 after_meal"},
    {"sugar 5.9 before meal", "glu 5.9 before_meal"},
    {"BS 7.2 HS", "glu 7.2 bedtime"},
    {"glucose 126 mg/dl fasting", "glu 6.99 fasting"},
    {"7.8 mmol", "glu 7.8"},
    {"7.8 空腹", "glu 7.8 fasting"},
    // Weight
    {"体重 65", "wt 65"},
    {"体重65公斤", "wt 65"},
    {"体重130斤", "wt 65"},
    {"65kg", "wt 65"},
    {"WT 70.5 kg", "wt 70.5"},
    {"体重有65公斤", "wt 65"},
    // Several in one
    {"血压150/95 脉搏72 血糖7.8空腹", "bp 150/95 p72, glu 7.8 fasting"},
    {"BP 150/95 P72 GLU 7.8 F", "bp 150/95 p72, glu 7.8 fasting"},
    {"血压 140/90，体重 68公斤", "bp 140/90, wt 68"},
    {"血糖6.1空腹，餐后8.9", "glu 6.1 fasting, glu 8.9 after_meal"},
    // What is not understood is said, and what is understood still counts
    {"血压 150", "", 1},
    {"血压150/95 另外 123", "bp 150/95", 1},
    {"7.8", "", 1},
    {"血糖 37", "", 1},  // neither a plausible mmol/L nor mg/dL: ask
    {"你好医生", "", 1},
    {"", "", 1},
    {"高压150", "", 1},
    {"150 mmHg", "", 1},
};

}  // namespace

TEST_CASE("SMS: the table of real-world texts") {
  int n = 0;
  for (const auto& c : cases) {
    ++n;
    INFO("text: " << c.text);
    const auto got = parse_sms_text(c.text);
    std::string all;
    for (const auto& r : got.readings) all += (all.empty() ? "" : ", ") + describe(r);
    CHECK(all == c.expect);
    CHECK(static_cast<int>(got.not_understood.size()) == c.misses);
  }
  CHECK(n >= 60);
}

TEST_CASE("SMS: values keep what was sent, and a pulse travels with its blood pressure") {
  auto p = parse_sms_text("血糖 140 mg/dL");
  REQUIRE(p.readings.size() == 1);
  CHECK(p.readings[0].value_as_sent == 140);
  CHECK(p.readings[0].unit_as_sent == "mg/dL");
  p = parse_sms_text("体重130斤");
  REQUIRE(p.readings.size() == 1);
  CHECK(p.readings[0].unit_as_sent == "斤");
  CHECK(p.readings[0].value_as_sent == 130);
  p = parse_sms_text("脉搏72 血压150/95");
  REQUIRE(p.readings.size() == 1);
  CHECK(p.readings[0].kind == ReadingKind::blood_pressure);
  CHECK(p.readings[0].pulse_bpm == 72);
}

TEST_CASE("SMS: the reply confirms what was stored and names what was not understood") {
  CHECK(sms_reply_zh(parse_sms_text("血压 150/95 脉搏 72")) == "已收到：血压 150/95 mmHg 脉搏 72。");
  CHECK(sms_reply_zh(parse_sms_text("GLU 7.8 F")) == "已收到：血糖 空腹 7.8 mmol/L。");
  const auto partly = sms_reply_zh(parse_sms_text("血压150/95 另外 123"));
  CHECK(partly.find("已收到：血压 150/95 mmHg。") == 0);
  CHECK(partly.find("未能识别：123") != std::string::npos);
  CHECK(sms_reply_zh(parse_sms_text("你好")).find("示例") != std::string::npos);
}
