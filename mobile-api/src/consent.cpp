#include "consent.hpp"

#include <cstdio>
#include <cstdlib>

#include "careloop/auth/password.hpp"
#include "careloop/core/time.hpp"

namespace careloop::mobile_api::detail {

std::string_view health_data_consent_document();  // consent_text.cpp (generated)

namespace {

using nlohmann::json;

[[noreturn]] void bad_file(const std::string& why) {
  std::fprintf(stderr, "careloop: consent/health-data.json: %s\n", why.c_str());
  std::abort();
}

std::vector<ConsentWording> parse_wordings() {
  const json doc = json::parse(health_data_consent_document(), nullptr, false);
  if (doc.is_discarded() || !doc.contains("versions") || !doc["versions"].is_array() || doc["versions"].empty())
    bad_file("no versions");
  std::vector<ConsentWording> out;
  for (const auto& v : doc["versions"]) {
    ConsentWording w;
    w.version = v.value("version", std::string());
    w.effective = v.value("effective", std::string());
    w.title = v.value("title", json::object());
    w.text = v.value("text", json::object());
    for (const char* lang : {"zh-CN", "en"})
      if (!w.title.contains(lang) || !w.title[lang].is_string() || !w.text.contains(lang) || !w.text[lang].is_string())
        bad_file("version '" + w.version + "' lacks its " + lang + " title or text");
    if (w.version.empty()) bad_file("a version without a name");
    for (const auto& earlier : out)
      if (earlier.version == w.version) bad_file("version '" + w.version + "' twice");
    // The digest of what was shown: the same bytes give the same digest
    // whatever JSON formatting the file uses.
    const std::string shown = w.title["zh-CN"].get<std::string>() + "\n" + w.text["zh-CN"].get<std::string>() + "\n" +
                              w.title["en"].get<std::string>() + "\n" + w.text["en"].get<std::string>();
    w.sha256 = auth::token_digest(shown);  // hex SHA-256
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace

const std::vector<ConsentWording>& health_data_wordings() {
  static const std::vector<ConsentWording> all = parse_wordings();
  return all;
}

const ConsentWording& current_health_data_wording() { return health_data_wordings().back(); }

}  // namespace careloop::mobile_api::detail

namespace careloop::mobile_api {

store::ConsentRecord health_data_consent_grant() {
  const auto& w = detail::current_health_data_wording();
  store::ConsentRecord c;
  c.purpose = std::string(detail::health_data_purpose);
  c.version = w.version;
  c.text_sha256 = w.sha256;
  c.decision = "granted";
  return c;
}

}  // namespace careloop::mobile_api

namespace careloop::mobile_api::detail {

const ConsentWording* find_health_data_wording(std::string_view version) {
  for (const auto& w : health_data_wordings())
    if (w.version == version) return &w;
  return nullptr;
}

json wording_json(const ConsentWording& w) {
  return {{"purpose", health_data_purpose}, {"version", w.version}, {"effective", w.effective},
          {"title", w.title},               {"text", w.text},       {"sha256", w.sha256}};
}

bool consent_granted(const std::vector<store::ConsentRecord>& decisions) {
  return !decisions.empty() && decisions.front().decision == "granted";
}

json consent_status_json(const std::vector<store::ConsentRecord>& decisions, bool with_history) {
  const auto& current = current_health_data_wording();
  const std::string status = decisions.empty() ? "none" : decisions.front().decision;
  const bool granted = status == "granted";
  json out{{"purpose", health_data_purpose},
           {"current_version", current.version},
           {"status", status},
           {"granted_version", granted ? json(decisions.front().version) : json(nullptr)},
           // Asked again when nothing was decided, or the grant was of older wording.
           {"needs_decision", decisions.empty() || (granted && decisions.front().version != current.version)}};
  if (with_history) {
    json history = json::array();
    for (const auto& d : decisions)
      history.push_back({{"version", d.version},
                         {"decision", d.decision},
                         {"at", core::format_iso8601_utc(d.at_ms)},
                         {"sha256", d.text_sha256}});
    out["history"] = std::move(history);
  }
  return out;
}

}  // namespace careloop::mobile_api::detail
