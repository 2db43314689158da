#include "careloop/protocols/drugs.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "careloop/protocols/facts.hpp"

namespace careloop::protocols {

std::string_view drug_catalogue_text() noexcept;  // drug_catalogue.cpp (generated)

namespace {

using nlohmann::json;

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::optional<LocalText> local_text(const json& j) {
  if (!j.is_object()) return std::nullopt;
  const auto zh = j.find("zh-CN"), en = j.find("en");
  if (zh == j.end() || en == j.end() || !zh->is_string() || !en->is_string()) return std::nullopt;
  return LocalText{zh->get<std::string>(), en->get<std::string>()};
}

std::optional<double> opt_number(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::string text(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<PregnancySafety> parse_pregnancy(std::string_view s) {
  if (s == "compatible") return PregnancySafety::compatible;
  if (s == "caution") return PregnancySafety::caution;
  if (s == "avoid") return PregnancySafety::avoid;
  if (s == "contraindicated") return PregnancySafety::contraindicated;
  return std::nullopt;
}

template <class V>
const LocalText* lookup(const V& v, std::string_view key) {
  for (const auto& [k, t] : v)
    if (k == key) return &t;
  return nullptr;
}

}  // namespace

std::string_view to_string(PregnancySafety p) noexcept {
  switch (p) {
    case PregnancySafety::compatible: return "compatible";
    case PregnancySafety::caution: return "caution";
    case PregnancySafety::avoid: return "avoid";
    case PregnancySafety::contraindicated: return "contraindicated";
  }
  return "caution";
}

core::Result<DrugCatalogue> DrugCatalogue::parse(std::string_view json_text) {
  const json doc = json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return core::Error::invalid("the drug catalogue is not a JSON object");
  DrugCatalogue c;
  std::vector<core::FieldError> errors;
  c.version_ = text(doc, "version");
  auto named_texts = [&](const char* key, std::vector<std::pair<std::string, LocalText>>& into) {
    const auto it = doc.find(key);
    if (it == doc.end() || !it->is_object()) {
      errors.push_back({std::string("/") + key, "an object of {zh-CN, en} texts is required"});
      return;
    }
    for (const auto& [k, v] : it->items()) {
      auto t = local_text(v);
      if (!t) errors.push_back({std::string("/") + key + "/" + k, "needs zh-CN and en"});
      else into.emplace_back(k, std::move(*t));
    }
  };
  named_texts("classes", c.classes_);
  named_texts("cautions", c.cautions_);
  named_texts("frequencies", c.frequencies_);
  if (const auto f = doc.find("frequencies"); f != doc.end() && f->is_object())
    for (const auto& [k, v] : f->items()) c.per_day_.push_back(v.value("per_day", 0));
  if (const auto s = doc.find("sources"); s != doc.end() && s->is_object())
    for (const auto& [k, v] : s->items()) c.sources_.push_back({k, text(v, "title"), text(v, "used_for")});
  for (const auto& [k, t] : c.classes_) {
    const auto known = known_drug_classes();
    if (std::find(known.begin(), known.end(), k) == known.end())
      errors.push_back({"/classes/" + k, "not a class the protocols know"});
  }
  const auto rows = doc.find("drugs");
  if (rows == doc.end() || !rows->is_array() || rows->empty()) return core::Error::invalid("no drugs", {{"/drugs", "required"}});
  for (std::size_t i = 0; i < rows->size(); ++i) {
    const auto& r = (*rows)[i];
    const std::string at = "/drugs/" + std::to_string(i);
    auto bad = [&](const char* field, std::string why) { errors.push_back({at + "/" + field, std::move(why)}); };
    Drug d;
    d.id = text(r, "id");
    d.ingredient = text(r, "ingredient");
    d.drug_class = text(r, "class");
    d.form = text(r, "form");
    d.route = text(r, "route");
    d.unit = text(r, "unit");
    if (d.id.empty()) bad("id", "required");
    if (d.ingredient.empty()) bad("ingredient", "required");
    if (auto n = local_text(r.value("names", json())); n) d.names = std::move(*n);
    else bad("names", "needs zh-CN and en");
    if (!lookup(c.classes_, d.drug_class)) bad("class", "'" + d.drug_class + "' is not in /classes");
    if (d.unit.empty()) bad("unit", "required");
    const json range = r.value("dose_range", json::object());
    d.dose_min = opt_number(range, "min");
    d.dose_max = opt_number(range, "max");
    d.dose_per_week = text(range, "per") == "week";
    const json usual = r.value("usual", json::object());
    d.usual_dose = opt_number(usual, "dose");
    d.usual_frequency = text(usual, "frequency");
    if (const auto f = r.find("frequencies"); f != r.end() && f->is_array())
      for (const auto& x : *f)
        if (x.is_string()) d.frequencies.push_back(x.get<std::string>());
    if (d.frequencies.empty()) bad("frequencies", "at least one");
    for (const auto& f : d.frequencies)
      if (!lookup(c.frequencies_, f)) bad("frequencies", "'" + f + "' is not in /frequencies");
    if (std::find(d.frequencies.begin(), d.frequencies.end(), d.usual_frequency) == d.frequencies.end())
      bad("usual/frequency", "must be one of the row's frequencies");
    // Doses: all three or (insulin: by weight) none; min ≤ usual a day ≤ max.
    const bool any = d.dose_min || d.dose_max || d.usual_dose;
    if (any && !(d.dose_min && d.dose_max && d.usual_dose)) bad("dose_range", "min, max and the usual dose together, or none");
    if (!any && d.drug_class != "insulin") bad("dose_range", "only insulin may go without a dose range");
    if (d.dose_min && d.dose_max && d.usual_dose) {
      int per = 0;
      for (std::size_t k = 0; k < c.frequencies_.size(); ++k)
        if (c.frequencies_[k].first == d.usual_frequency) per = c.per_day_[k];
      const double amount = d.dose_per_week ? *d.usual_dose : *d.usual_dose * std::max(per, 1);
      if (*d.dose_min <= 0 || *d.dose_min > *d.dose_max) bad("dose_range", "0 < min ≤ max");
      else if (amount < *d.dose_min - 1e-9 || amount > *d.dose_max + 1e-9)
        bad("usual", "the usual dose at its frequency falls outside the range");
      if (d.dose_per_week != (d.usual_frequency == "weekly")) bad("dose_range/per", "week exactly for weekly drugs");
    }
    if (auto p = parse_pregnancy(text(r, "pregnancy")); p) d.pregnancy = *p;
    else bad("pregnancy", "compatible, caution, avoid or contraindicated");
    if (const auto cs = r.find("cautions"); cs != r.end() && cs->is_array())
      for (const auto& x : *cs)
        if (x.is_string()) {
          d.cautions.push_back(x.get<std::string>());
          if (!lookup(c.cautions_, d.cautions.back())) bad("cautions", "'" + d.cautions.back() + "' is not in /cautions");
        }
    if (d.pregnancy == PregnancySafety::contraindicated &&
        std::find(d.cautions.begin(), d.cautions.end(), "pregnancy_contraindicated") == d.cautions.end())
      bad("cautions", "a drug contraindicated in pregnancy carries the caution pregnancy_contraindicated");
    if (const auto e = r.find("eml_2018"); e != r.end() && e->is_boolean()) d.essential_list_2018 = e->get<bool>();
    if (const auto s = r.find("sources"); s != r.end() && s->is_array())
      for (const auto& x : *s)
        if (x.is_string()) d.sources.push_back(x.get<std::string>());
    if (d.sources.empty()) bad("sources", "every row names its sources");
    for (const auto& s : d.sources)
      if (std::none_of(c.sources_.begin(), c.sources_.end(), [&](const auto& x) { return x.id == s; }))
        bad("sources", "'" + s + "' is not in /sources");
    for (const auto& other : c.drugs_)
      if (other.id == d.id) bad("id", "'" + d.id + "' twice");
    c.drugs_.push_back(std::move(d));
  }
  if (!errors.empty()) return core::Error::invalid("the drug catalogue has errors", std::move(errors));
  return c;
}

const DrugCatalogue& DrugCatalogue::builtin() {
  static const DrugCatalogue catalogue = [] {
    auto c = parse(drug_catalogue_text());
    if (!c) {
      std::fprintf(stderr, "careloop: protocols/catalogue/drugs.json: %s\n", c.error().message.c_str());
      for (const auto& f : c.error().fields) std::fprintf(stderr, "  %s: %s\n", f.pointer.c_str(), f.detail.c_str());
      std::abort();
    }
    return std::move(*c);
  }();
  return catalogue;
}

const Drug* DrugCatalogue::find(std::string_view name) const noexcept {
  const std::string n = lower_ascii(name);
  for (const auto& d : drugs_)
    if (d.id == n || lower_ascii(d.ingredient) == n || lower_ascii(d.names.en) == n || d.names.zh_cn == name) return &d;
  return nullptr;
}

std::optional<std::string_view> DrugCatalogue::class_of(std::string_view medication_name) const noexcept {
  const std::string n = lower_ascii(medication_name);
  if (n.rfind("insulin", 0) == 0 || n.find("胰岛素") != std::string::npos) return std::string_view("insulin");
  if (const auto* d = find(medication_name)) return std::string_view(d->drug_class);
  return std::nullopt;
}

const LocalText* DrugCatalogue::class_name(std::string_view c) const noexcept { return lookup(classes_, c); }
const LocalText* DrugCatalogue::caution(std::string_view code) const noexcept { return lookup(cautions_, code); }
const LocalText* DrugCatalogue::frequency(std::string_view code) const noexcept { return lookup(frequencies_, code); }

}  // namespace careloop::protocols
