#pragma once
// The drug catalogue (protocols/catalogue/drugs.json, compiled in): the drugs
// a community clinic prescribes for hypertension, type 2 diabetes and
// lipids, one row a product, each with its class, dose range, usual dose and
// frequency, safety in pregnancy, cautions and sources (CLINICAL.md §7).
// The ladders and cautions of the protocols name its classes; a recorded
// medication's class is the catalogue's.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/result.hpp"

namespace careloop::protocols {

struct LocalText {
  std::string zh_cn, en;
};

enum class PregnancySafety { compatible, caution, avoid, contraindicated };
std::string_view to_string(PregnancySafety p) noexcept;

struct Drug {
  std::string id;          // "amlodipine", "nifedipine_cr"
  std::string ingredient;  // the generic a medication is recorded by: "nifedipine"
  LocalText names;
  std::string drug_class;  // "ccb", ... (known_drug_classes())
  std::string form;        // tablet, capsule, sustained_release, controlled_release, injection
  std::string route;       // oral, subcutaneous
  std::string unit;        // mg, µg, U
  std::optional<double> dose_min, dose_max;  // a day, or a week when dose_per_week
  bool dose_per_week = false;
  std::optional<double> usual_dose;          // one dose
  std::string usual_frequency;               // qd, bid, tid, weekly
  std::vector<std::string> frequencies;
  PregnancySafety pregnancy = PregnancySafety::caution;
  std::vector<std::string> cautions;         // codes of DrugCatalogue::caution()
  std::optional<bool> essential_list_2018;   // nullopt: not checked
  std::vector<std::string> sources;
};

struct CatalogueSource {
  std::string id, title, used_for;
};

class DrugCatalogue {
 public:
  // The compiled-in catalogue, parsed and checked once (every row's class
  // known, doses consistent, cautions and sources defined); a broken file
  // stops the process at its first use.
  static const DrugCatalogue& builtin();
  // Parses and checks a catalogue document; the errors name each row's field.
  static core::Result<DrugCatalogue> parse(std::string_view json_text);

  std::span<const Drug> drugs() const noexcept { return drugs_; }
  // By id, ingredient, or either name (English case-insensitive, spaces and
  // hyphens as written); the first row of an ingredient when several forms.
  const Drug* find(std::string_view name) const noexcept;
  // A medication name's class: the catalogue's, or any insulin ("insulin…",
  // "…胰岛素"); nullopt when unknown.
  std::optional<std::string_view> class_of(std::string_view medication_name) const noexcept;
  const LocalText* class_name(std::string_view drug_class) const noexcept;
  const LocalText* caution(std::string_view code) const noexcept;
  const LocalText* frequency(std::string_view code) const noexcept;
  std::span<const CatalogueSource> sources() const noexcept { return sources_; }
  const std::string& version() const noexcept { return version_; }

 private:
  std::string version_;
  std::vector<Drug> drugs_;
  std::vector<CatalogueSource> sources_;
  std::vector<std::pair<std::string, LocalText>> classes_, cautions_, frequencies_;
  std::vector<int> per_day_;  // of frequencies_, in order
};

}  // namespace careloop::protocols
