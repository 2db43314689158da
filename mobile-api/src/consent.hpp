#pragma once
// The wording of the separate consent to processing health data
// (consent/health-data.json, compiled in) and the JSON a patient's consent
// status is answered with.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "careloop/store/store.hpp"

namespace careloop::mobile_api::detail {

inline constexpr std::string_view health_data_purpose = "health-data";

struct ConsentWording {
  std::string version;
  std::string effective;   // YYYY-MM-DD
  nlohmann::json title;    // {"zh-CN", "en"}
  nlohmann::json text;
  std::string sha256;      // hex, of title and text, zh-CN then en, joined by "\n"
};

// Every published version, oldest first; the last is the one asked for now.
// Parsed once; a malformed file stops the process at its first use (a build
// that cannot say what a patient agrees to must not run).
const std::vector<ConsentWording>& health_data_wordings();
const ConsentWording& current_health_data_wording();
const ConsentWording* find_health_data_wording(std::string_view version);

// {"purpose","version","effective","title","text","sha256"}
nlohmann::json wording_json(const ConsentWording& w);

// The patient's status from the decisions (newest first):
// {"purpose","current_version","status":"granted"|"withdrawn"|"none",
//  "granted_version","needs_decision"} and, with history, "history".
nlohmann::json consent_status_json(const std::vector<store::ConsentRecord>& decisions, bool with_history);

// Whether the newest decision grants processing (any version).
bool consent_granted(const std::vector<store::ConsentRecord>& decisions);

}  // namespace careloop::mobile_api::detail
