#pragma once
// Readings in a text message from a feature phone (issue 20, part 3): what
// patients actually type — "血压 150/95 脉搏 72", "BP 150/95 P72",
// "血糖 7.8 空腹", "GLU 7.8 F", full-width digits, Chinese or English words,
// with or without units, mg/dL, common slips — turned into readings. Only
// extraction: the readings then go through the same validation, duplicate
// check, alerts and plans as any other (reading_json's checks), and their
// time is the message's.
#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/reading.hpp"

namespace careloop::mobile_api {

struct SmsParse {
  // In the order found; kind, values, glucose context, value and unit as
  // sent. A blood pressure and a pulse in one message are one reading.
  std::vector<core::Reading> readings;
  // Numbers (with their word) that could not be read as a reading, and why;
  // words that are not numbers or known words are ignored, unless nothing
  // at all was understood.
  std::vector<std::string> not_understood;
};

SmsParse parse_sms_text(std::string_view text);

// The reply text confirming what was understood, in zh-CN (what patients of
// a Chinese clinic's number read), naming what was not.
std::string sms_reply_zh(const SmsParse& parsed);

}  // namespace careloop::mobile_api
