#include "careloop/mobile_api/fhir.hpp"

#include <charconv>

#include <array>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "careloop/auth/password.hpp"
#include "careloop/core/plausibility.hpp"
#include "careloop/core/units.hpp"
#include "careloop/core/utf8.hpp"
#include "careloop/mobile_api/reading_json.hpp"

namespace careloop::mobile_api::fhir {
namespace {

using nlohmann::json;
using core::FieldError;
using core::ReadingKind;

// LOINC codes of CLINICAL.md §5.
constexpr const char* bp_panel = "85354-9";
constexpr const char* bp_panel_old = "55284-4";
constexpr const char* systolic_code = "8480-6";
constexpr const char* diastolic_code = "8462-4";
constexpr const char* heart_rate_code = "8867-4";
constexpr const char* weight_code = "29463-7";
constexpr const char* weight_code_alt = "3141-9";
constexpr const char* hba1c_code = "4548-4";

enum class GlucoseProperty { mass, moles };
struct GlucoseCode {
  const char* code;
  GlucoseProperty property;
  const char* display;
};
constexpr std::array<GlucoseCode, 5> glucose_codes{{
    {"2339-0", GlucoseProperty::mass, "Glucose [Mass/volume] in Blood"},
    {"2345-7", GlucoseProperty::mass, "Glucose [Mass/volume] in Serum or Plasma"},
    {"41653-7", GlucoseProperty::mass, "Glucose [Mass/volume] in Capillary blood by Glucometer"},
    {"15074-8", GlucoseProperty::moles, "Glucose [Moles/volume] in Blood"},
    {"14749-6", GlucoseProperty::moles, "Glucose [Moles/volume] in Serum or Plasma"},
}};

const GlucoseCode* find_glucose_code(const std::string& code) {
  for (const auto& g : glucose_codes)
    if (code == g.code) return &g;
  return nullptr;
}

// The LOINC codes of a CodeableConcept, in order.
std::vector<std::string> loinc_codes(const json& codeable) {
  std::vector<std::string> out;
  if (!codeable.is_object()) return out;
  auto coding = codeable.find("coding");
  if (coding == codeable.end() || !coding->is_array()) return out;
  for (const auto& c : *coding) {
    if (!c.is_object()) continue;
    auto sys = c.find("system"), code = c.find("code");
    if (sys != c.end() && sys->is_string() && *sys == loinc_system && code != c.end() && code->is_string())
      out.push_back(code->get<std::string>());
  }
  return out;
}

struct Quantity {
  double value = 0;
  std::string code;  // UCUM code (or unit when no code)
};

class Reader {
 public:
  explicit Reader(std::string pointer) : base_(std::move(pointer)) {}

  std::optional<Quantity> quantity(const json& parent, const std::string& at) {
    auto q = parent.find("valueQuantity");
    const std::string ptr = at + "/valueQuantity";
    if (q == parent.end() || !q->is_object()) {
      error(ptr, "valueQuantity is required");
      return std::nullopt;
    }
    auto v = q->find("value");
    if (v == q->end() || !v->is_number()) {
      error(ptr + "/value", "valueQuantity.value must be a number");
      return std::nullopt;
    }
    const double value = v->get<double>();
    if (!std::isfinite(value)) {
      error(ptr + "/value", "valueQuantity.value must be finite");
      return std::nullopt;
    }
    auto sys = q->find("system");
    if (sys != q->end() && (!sys->is_string() || *sys != ucum_system)) {
      error(ptr + "/system", std::string("units must be UCUM (") + ucum_system + ")");
      return std::nullopt;
    }
    std::string code;
    if (auto c = q->find("code"); c != q->end() && c->is_string())
      code = c->get<std::string>();
    else if (auto u = q->find("unit"); u != q->end() && u->is_string())
      code = u->get<std::string>();
    if (code.empty()) {
      error(ptr + "/code", "valueQuantity.code (a UCUM unit) is required");
      return std::nullopt;
    }
    return Quantity{value, code};
  }

  void error(const std::string& rel, std::string detail) { errors.push_back({base_ + rel, std::move(detail)}); }
  std::vector<FieldError> errors;

 private:
  std::string base_;
};

}  // namespace

std::string client_id_for_identifier(const std::string& system, const std::string& value) {
  std::string v = value;
  if (v.rfind("urn:uuid:", 0) == 0) v = v.substr(9);
  if (is_uuid(v)) {
    for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v;
  }
  // RFC 9562 version 8 (custom) UUID from SHA-256 of "system|value".
  std::string h = auth::token_digest(system + "|" + value).substr(0, 32);
  h[12] = '8';
  h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20, 12);
}

std::string content_client_id(const core::Reading& r) {
  std::string key(core::to_string(r.kind));
  key += '|' + std::to_string(r.taken_at.utc_ms);
  char num[40];
  for (const auto& v : {r.systolic_mmhg, r.diastolic_mmhg, r.pulse_bpm, r.glucose_mmol_l, r.weight_kg, r.hba1c_percent}) {
    std::snprintf(num, sizeof num, "|%.17g", v.value_or(-1));
    key += num;
  }
  if (r.glucose_context) key += '|' + std::string(core::to_string(*r.glucose_context));
  return client_id_for_identifier("urn:careloop:observation-content", key);
}

core::Result<std::string> client_id_for_condition(std::string_view condition) {
  if (condition.starts_with('?')) condition.remove_prefix(1);
  auto decode = [](std::string_view in) -> std::optional<std::string> {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '+') {
        out += ' ';
      } else if (in[i] != '%') {
        out += in[i];
      } else {
        unsigned v = 0;
        if (i + 2 >= in.size() || std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16).ptr != in.data() + i + 3)
          return std::nullopt;
        out += static_cast<char>(v);
        i += 2;
      }
    }
    return out;
  };
  std::optional<std::string> found;
  while (!condition.empty()) {
    const auto amp = condition.find('&');
    const auto part = condition.substr(0, amp);
    condition = amp == std::string_view::npos ? std::string_view{} : condition.substr(amp + 1);
    const auto eq = part.find('=');
    if (part.substr(0, eq) != "identifier" || eq == std::string_view::npos || found)
      return core::Error::invalid("If-None-Exist supports one search parameter, identifier=[system|]value");
    auto value = decode(part.substr(eq + 1));
    if (!value || value->empty() || !core::valid_utf8(*value))
      return core::Error::invalid("If-None-Exist: identifier must be [system|]value, percent-encoded UTF-8");
    const auto bar = value->find('|');
    found = bar == std::string::npos ? client_id_for_identifier("", *value)
                                     : client_id_for_identifier(value->substr(0, bar), value->substr(bar + 1));
  }
  if (!found) return core::Error::invalid("If-None-Exist must name an identifier=[system|]value");
  return *found;
}

ObservationResult parse_observation(const json& res, const std::string& pointer, std::int64_t now_ms) {
  Reader in(pointer);
  if (!res.is_object()) return std::vector<FieldError>{{pointer, "the resource must be a JSON object"}};
  auto rt = res.find("resourceType");
  if (rt == res.end() || !rt->is_string() || *rt != "Observation")
    return std::vector<FieldError>{{pointer + "/resourceType", "resourceType must be Observation"}};

  core::Reading r;
  ParsedObservation out;
  if (auto st = res.find("status"); st == res.end() || !st->is_string()) {
    in.error("/status", "status is required");
  } else if (*st != "final" && *st != "amended" && *st != "corrected" && *st != "preliminary") {
    in.error("/status", "status must be final, amended, corrected or preliminary");
  }

  // The observation's own identifier makes a re-post a duplicate.
  // Without one, the client id is made from the content (content_client_id below).
  auto ids = res.find("identifier");
  if (ids != res.end() && (!ids->is_array() || ids->empty() || !(*ids)[0].is_object())) {
    in.error("/identifier", "identifier must be an array of {system, value}");
  } else if (ids != res.end()) {
    const auto& id = (*ids)[0];
    auto val = id.find("value");
    auto sys = id.find("system");
    if (val == id.end() || !val->is_string() || val->get<std::string>().empty() || val->get<std::string>().size() > 200)
      in.error("/identifier/0/value", "identifier.value must be a non-empty string of at most 200 characters");
    else
      r.client_id = client_id_for_identifier(sys != id.end() && sys->is_string() ? sys->get<std::string>() : "",
                                             val->get<std::string>());
  }

  if (auto subj = res.find("subject"); subj != res.end()) {
    auto ref = subj->is_object() ? subj->find("reference") : subj->end();
    std::string s = ref != subj->end() && ref->is_string() ? ref->get<std::string>() : "";
    std::int64_t id = 0;
    if (s.rfind("Patient/", 0) == 0 && s.size() > 8 && s.find_first_not_of("0123456789", 8) == std::string::npos) {
      // from_chars reports an id beyond int64 instead of throwing (stoll would).
      auto [end, ec] = std::from_chars(s.data() + 8, s.data() + s.size(), id);
      if (ec != std::errc() || end != s.data() + s.size()) id = 0;
    }
    if (id > 0)
      out.subject_patient_id = id;
    else
      in.error("/subject/reference", "subject.reference must be Patient/{id}");
  }

  std::string when;
  if (auto e = res.find("effectiveDateTime"); e != res.end() && e->is_string())
    when = e->get<std::string>();
  else if (auto i = res.find("effectiveInstant"); i != res.end() && i->is_string())
    when = i->get<std::string>();
  if (when.empty()) {
    in.error("/effectiveDateTime", "effectiveDateTime (with a UTC offset) is required");
  } else {
    auto t = core::parse_iso8601(when);
    if (t.instant)
      r.taken_at = *t.instant;
    else
      in.error("/effectiveDateTime", "effectiveDateTime: " + t.error);
  }
  if (auto dev = res.find("device"); dev != res.end() && dev->is_object())
    if (auto d = dev->find("display"); d != dev->end() && d->is_string()) r.source = core::utf8_prefix(d->get_ref<const std::string&>(), 64);

  const auto codes = loinc_codes(res.value("code", json::object()));
  if (codes.empty()) {
    in.error("/code/coding", "code must carry a LOINC coding (system http://loinc.org)");
    return std::move(in.errors);
  }
  auto has = [&](const char* c) { return std::find(codes.begin(), codes.end(), c) != codes.end(); };

  if (has(bp_panel) || has(bp_panel_old)) {
    r.kind = ReadingKind::blood_pressure;
    auto comps = res.find("component");
    if (comps == res.end() || !comps->is_array()) {
      in.error("/component", "a blood pressure panel needs systolic (8480-6) and diastolic (8462-4) components");
    } else {
      for (std::size_t i = 0; i < comps->size(); ++i) {
        const auto& c = (*comps)[i];
        const std::string at = "/component/" + std::to_string(i);
        const auto cc = loinc_codes(c.is_object() ? c.value("code", json::object()) : json::object());
        if (cc.empty()) continue;
        std::optional<double>* target = cc[0] == systolic_code    ? &r.systolic_mmhg
                                        : cc[0] == diastolic_code  ? &r.diastolic_mmhg
                                        : cc[0] == heart_rate_code ? &r.pulse_bpm
                                                                   : nullptr;
        if (!target) continue;
        auto q = in.quantity(c, at);
        if (!q) continue;
        const bool pulse = target == &r.pulse_bpm;
        if (pulse ? (q->code != "/min") : (q->code != "mm[Hg]"))
          in.error(at + "/valueQuantity/code", pulse ? "heart rate must be in /min" : "blood pressure must be in mm[Hg]");
        else
          *target = q->value;
      }
      if (!r.systolic_mmhg) in.error("/component", "the systolic component (8480-6) is missing");
      if (!r.diastolic_mmhg) in.error("/component", "the diastolic component (8462-4) is missing");
    }
    r.value_as_sent = r.systolic_mmhg;
    r.unit_as_sent = "mmHg";
  } else if (has(heart_rate_code)) {
    r.kind = ReadingKind::heart_rate;
    if (auto q = in.quantity(res, "")) {
      if (q->code != "/min")
        in.error("/valueQuantity/code", "heart rate must be in /min");
      else
        r.pulse_bpm = r.value_as_sent = q->value;
    }
    r.unit_as_sent = "/min";
  } else if (has(weight_code) || has(weight_code_alt)) {
    r.kind = ReadingKind::weight;
    if (auto q = in.quantity(res, "")) {
      std::optional<core::WeightUnit> u = q->code == "kg" ? std::optional(core::WeightUnit::kg)
                                          : q->code == "g" ? std::optional(core::WeightUnit::g)
                                          : q->code == "[lb_av]" ? std::optional(core::WeightUnit::lb)
                                                                 : std::nullopt;
      if (!u) {
        in.error("/valueQuantity/code", "body weight must be in kg, g or [lb_av]");
      } else {
        r.weight_kg = core::weight_to_kg(q->value, *u);
        r.value_as_sent = q->value;
        r.unit_as_sent = *u == core::WeightUnit::lb ? "lb" : q->code;
      }
    }
  } else if (has(hba1c_code)) {
    r.kind = ReadingKind::hba1c;
    if (auto q = in.quantity(res, "")) {
      if (q->code != "%")
        in.error("/valueQuantity/code", "HbA1c (4548-4) must be in %");
      else
        r.hba1c_percent = r.value_as_sent = q->value;
    }
    r.unit_as_sent = "%";
  } else if (const GlucoseCode* g = [&]() -> const GlucoseCode* {
               for (const auto& c : codes)
                 if (auto* found = find_glucose_code(c)) return found;
               return nullptr;
             }()) {
    r.kind = ReadingKind::glucose;
    r.glucose_context = core::GlucoseContext::random;
    if (auto exts = res.find("extension"); exts != res.end() && exts->is_array()) {
      for (std::size_t i = 0; i < exts->size(); ++i) {
        const auto& e = (*exts)[i];
        // value() would throw on a url or valueCode of another type: look, then compare.
        auto url = e.is_object() ? e.find("url") : e.end();
        if (!e.is_object() || url == e.end() || !url->is_string() || *url != glucose_context_url) continue;
        auto code = e.find("valueCode");
        auto ctx = code != e.end() && code->is_string() ? core::parse_glucose_context(code->get<std::string>())
                                                        : std::nullopt;
        if (ctx)
          r.glucose_context = ctx;
        else
          in.error("/extension/" + std::to_string(i) + "/valueCode",
                   "glucose context must be fasting, before_meal, after_meal, bedtime or random");
      }
    }
    if (auto q = in.quantity(res, "")) {
      const bool mass_unit = q->code == "mg/dL";
      const bool moles_unit = q->code == "mmol/L";
      if (!mass_unit && !moles_unit) {
        in.error("/valueQuantity/code", "glucose must be in mg/dL or mmol/L");
      } else if ((g->property == GlucoseProperty::mass) != mass_unit) {
        in.error("/valueQuantity/code", std::string("LOINC ") + g->code + " (" + g->display + ") is measured in " +
                                            (g->property == GlucoseProperty::mass ? "mg/dL" : "mmol/L") +
                                            ", not " + q->code);
      } else {
        r.value_as_sent = q->value;
        r.unit_as_sent = q->code;
        r.glucose_mmol_l = core::glucose_to_mmol_l(q->value, mass_unit ? core::GlucoseUnit::mg_dl : core::GlucoseUnit::mmol_l);
      }
    }
  } else {
    in.error("/code/coding", "LOINC " + codes[0] + " is not a home reading CareLoop accepts (see CLINICAL.md §5)");
  }
  if (!in.errors.empty()) return std::move(in.errors);
  if (auto problems = core::check_plausibility(r, pointer, now_ms); !problems.empty()) {
    // Point at the FHIR field rather than at the mobile API's names.
    for (auto& p : problems) {
      if (p.pointer.ends_with("/taken_at")) p.pointer = pointer + "/effectiveDateTime";
      else if (r.kind == ReadingKind::blood_pressure) p.pointer = pointer + "/component";
      else p.pointer = pointer + "/valueQuantity/value";
    }
    return problems;
  }
  r.received_at_ms = now_ms;
  if (r.client_id.empty()) r.client_id = content_client_id(r);
  out.reading = std::move(r);
  return out;
}

json to_observation(const core::Reading& r) {
  auto quantity = [](double v, const char* unit) { return json{{"value", v}, {"unit", unit}, {"system", ucum_system}, {"code", unit}}; };
  auto codeable = [](const char* code, const char* display) {
    return json{{"coding", {{{"system", loinc_system}, {"code", code}, {"display", display}}}}, {"text", display}};
  };
  json o{{"resourceType", "Observation"},
         {"id", std::to_string(r.id)},
         {"status", "final"},
         {"identifier", {{{"system", "urn:ietf:rfc:3986"}, {"value", "urn:uuid:" + r.client_id}}}},
         {"category", {{{"coding", {{{"system", category_system}, {"code", "vital-signs"}, {"display", "Vital Signs"}}}}}}},
         {"subject", {{"reference", "Patient/" + std::to_string(r.patient_id)}}},
         {"effectiveDateTime", core::format_iso8601(r.taken_at)},
         {"issued", core::format_iso8601_utc(r.received_at_ms)}};
  switch (r.kind) {
    case ReadingKind::blood_pressure: {
      o["code"] = codeable(bp_panel, "Blood pressure panel with all children optional");
      json comps = json::array();
      comps.push_back({{"code", codeable(systolic_code, "Systolic blood pressure")}, {"valueQuantity", quantity(r.systolic_mmhg.value_or(0), "mm[Hg]")}});
      comps.push_back({{"code", codeable(diastolic_code, "Diastolic blood pressure")}, {"valueQuantity", quantity(r.diastolic_mmhg.value_or(0), "mm[Hg]")}});
      if (r.pulse_bpm) comps.push_back({{"code", codeable(heart_rate_code, "Heart rate")}, {"valueQuantity", quantity(*r.pulse_bpm, "/min")}});
      o["component"] = comps;
      break;
    }
    case ReadingKind::heart_rate:
      o["code"] = codeable(heart_rate_code, "Heart rate");
      o["valueQuantity"] = quantity(r.pulse_bpm.value_or(0), "/min");
      break;
    case ReadingKind::weight:
      o["code"] = codeable(weight_code, "Body weight");
      o["valueQuantity"] = quantity(r.weight_kg.value_or(0), "kg");
      break;
    case ReadingKind::hba1c:
      o["code"] = codeable(hba1c_code, "Hemoglobin A1c/Hemoglobin.total in Blood");
      o["valueQuantity"] = quantity(r.hba1c_percent.value_or(0), "%");
      break;
    case ReadingKind::glucose:
      o["code"] = codeable("15074-8", "Glucose [Moles/volume] in Blood");
      o["valueQuantity"] = quantity(r.glucose_mmol_l.value_or(0), "mmol/L");
      if (r.glucose_context)
        o["extension"] = {{{"url", glucose_context_url}, {"valueCode", core::to_string(*r.glucose_context)}}};
      break;
    case ReadingKind::medication:
      break;  // adherence entries are not vital signs; the FHIR search never returns them
  }
  if (!r.source.empty()) o["device"] = {{"display", r.source}};
  return o;
}

std::string fhirpath_of(const std::string& resource_type, const std::string& pointer) {
  std::string out = resource_type;
  std::size_t i = 0;
  while (i < pointer.size()) {
    const std::size_t next = pointer.find('/', i + 1);
    const std::string seg = pointer.substr(i + 1, next == std::string::npos ? std::string::npos : next - i - 1);
    if (!seg.empty() && seg.find_first_not_of("0123456789") == std::string::npos)
      out += "[" + seg + "]";
    else if (!seg.empty())
      out += "." + seg;
    if (next == std::string::npos) break;
    i = next;
  }
  return out;
}

json operation_outcome(const std::vector<FieldError>& errors, const std::string& code) {
  json issues = json::array();
  for (const auto& e : errors) {
    // Inside a Bundle ("/entry/N/..."), the path starts at the Bundle; the
    // resource of an entry is reached by whole segments ("/entry/3/resource/...").
    std::string rel = e.pointer;
    std::string type = "Observation";
    if (rel.starts_with("/entry/")) {
      type = "Bundle";
      const auto slash = rel.find('/', 7);
      if (slash != std::string::npos && rel.compare(slash, 9, "/resource") == 0 &&
          (rel.size() == slash + 9 || rel[slash + 9] == '/')) {
        type = fhirpath_of("Bundle", rel.substr(0, slash + 9));
        rel = rel.substr(slash + 9);
      }
    }
    json issue{{"severity", "error"}, {"code", code}, {"diagnostics", e.detail}};
    if (!e.pointer.empty()) issue["expression"] = {fhirpath_of(type, rel)};
    issues.push_back(std::move(issue));
  }
  if (issues.empty()) issues.push_back({{"severity", "error"}, {"code", code}});
  return {{"resourceType", "OperationOutcome"}, {"issue", issues}};
}

}  // namespace careloop::mobile_api::fhir
