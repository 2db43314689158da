// The drug catalogue (protocols/catalogue/drugs.json, protocols/drugs.hpp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>

#include "careloop/protocols/drugs.hpp"
#include "careloop/protocols/facts.hpp"

using careloop::protocols::DrugCatalogue;
using careloop::protocols::PregnancySafety;

TEST_CASE("drug catalogue: the compiled-in catalogue is complete and consistent") {
  const auto& c = DrugCatalogue::builtin();
  REQUIRE(c.drugs().size() >= 60);
  std::set<std::string> classes;
  for (const auto& d : c.drugs()) {
    INFO(d.id);
    classes.insert(d.drug_class);
    CHECK(!d.names.zh_cn.empty());
    CHECK(!d.names.en.empty());
    CHECK(!d.sources.empty());
    CHECK(c.class_name(d.drug_class) != nullptr);
    // A dose the row suggests is inside its own range (insulin goes by weight).
    if (d.drug_class != "insulin") {
      REQUIRE(d.dose_min);
      REQUIRE(d.usual_dose);
      CHECK(*d.dose_min <= *d.dose_max);
    }
  }
  // Every class a ladder or caution may name has drugs.
  for (auto k : careloop::protocols::known_drug_classes()) CHECK(classes.count(std::string(k)) == 1);
}

TEST_CASE("drug catalogue: every drug of a class the protocols forbid in pregnancy is not compatible with it") {
  const auto& c = DrugCatalogue::builtin();
  for (const auto& d : c.drugs()) {
    INFO(d.id);
    if (d.drug_class == "acei" || d.drug_class == "arb" || d.drug_class == "statin") {
      CHECK(d.pregnancy == PregnancySafety::contraindicated);
      CHECK(std::find(d.cautions.begin(), d.cautions.end(), "pregnancy_contraindicated") != d.cautions.end());
    }
    if (d.drug_class == "thiazide") CHECK(d.pregnancy != PregnancySafety::compatible);
    if (d.drug_class == "acei" || d.drug_class == "arb")
      CHECK(std::find(d.cautions.begin(), d.cautions.end(), "acei_arb_together") != d.cautions.end());
    if (d.ingredient == "metformin")
      CHECK(std::find(d.cautions.begin(), d.cautions.end(), "egfr_below_30") != d.cautions.end());
  }
  // The guideline's drugs in pregnancy (CLINICAL.md §7; cn-htn-primary-2020): nifedipine and labetalol.
  CHECK(c.find("nifedipine")->pregnancy == PregnancySafety::compatible);
  CHECK(c.find("labetalol")->pregnancy == PregnancySafety::compatible);
}

TEST_CASE("drug catalogue: CLINICAL.md's example doses") {
  const auto& c = DrugCatalogue::builtin();
  auto usual = [&](const char* id) { return *c.find(id)->usual_dose; };
  auto max = [&](const char* id) { return *c.find(id)->dose_max; };
  CHECK(usual("amlodipine") == 5);
  CHECK(max("amlodipine") == 10);
  CHECK(usual("nifedipine_cr") == 30);
  CHECK(max("nifedipine_cr") == 60);
  CHECK(max("enalapril") == 40);
  CHECK(usual("losartan") == 50);
  CHECK(max("losartan") == 100);
  CHECK(usual("valsartan") == 80);
  CHECK(max("valsartan") == 160);
  CHECK(usual("indapamide_sr") == 1.5);
  CHECK(usual("metoprolol_succinate") == 47.5);
  CHECK(max("metoprolol_succinate") == 190);
  CHECK(max("bisoprolol") == 10);
  CHECK(max("metformin") == 2000);
  CHECK(usual("gliclazide_mr") == 30);
  CHECK(max("gliclazide_mr") == 120);
  CHECK(usual("acarbose") == 50);
  CHECK(c.find("acarbose")->usual_frequency == "tid");
}

TEST_CASE("drug catalogue: a medication is found by id, generic, English or Chinese name, and classed") {
  const auto& c = DrugCatalogue::builtin();
  CHECK(c.find("氨氯地平")->id == "amlodipine");
  CHECK(c.find("Amlodipine")->id == "amlodipine");
  CHECK(c.find("nifedipine_sr")->ingredient == "nifedipine");
  CHECK(c.find("made-up-drug") == nullptr);
  CHECK(c.class_of("Metformin") == "metformin");
  CHECK(c.class_of("二甲双胍缓释片") == "metformin");
  CHECK(c.class_of("insulin aspart") == "insulin");
  CHECK(c.class_of("门冬胰岛素") == "insulin");
  CHECK(!c.class_of("aspirin"));
  // What the protocols' facts read goes through the catalogue.
  CHECK(careloop::protocols::drug_class("telmisartan") == "arb");
  CHECK(careloop::protocols::drug_class("METOPROLOL") == "beta_blocker");
  // Every generic the protocols classed before the catalogue keeps its class.
  const std::pair<const char*, const char*> before[] = {
      {"enalapril", "acei"},         {"perindopril", "acei"},       {"imidapril", "acei"},     {"allisartan", "arb"},
      {"olmesartan", "arb"},         {"levamlodipine", "ccb"},      {"felodipine", "ccb"},     {"lacidipine", "ccb"},
      {"labetalol", "beta_blocker"}, {"chlorthalidone", "thiazide"}, {"indapamide", "thiazide"},
      {"gliquidone", "sulfonylurea"}, {"nateglinide", "glinide"},   {"miglitol", "agi"},       {"alogliptin", "dpp4i"},
      {"rosiglitazone", "tzd"},      {"henagliflozin", "sglt2i"},   {"lixisenatide", "glp1ra"}, {"pitavastatin", "statin"}};
  for (const auto& [name, cls] : before) {
    INFO(name);
    CHECK(careloop::protocols::drug_class(name) == cls);
  }
}

TEST_CASE("drug catalogue: a broken catalogue is refused with every field named") {
  auto r = DrugCatalogue::parse(R"({
    "version": "t", "sources": {"s": {"title": "t"}},
    "classes": {"ccb": {"zh-CN": "x", "en": "x"}},
    "cautions": {"c": {"zh-CN": "x", "en": "x"}},
    "frequencies": {"qd": {"zh-CN": "x", "en": "x", "per_day": 1}},
    "drugs": [
      {"id": "a", "ingredient": "a", "names": {"zh-CN": "甲", "en": "a"}, "class": "ccb", "unit": "mg",
       "dose_range": {"min": 5, "max": 10, "per": "day"}, "usual": {"dose": 20, "frequency": "qd"},
       "frequencies": ["qd"], "pregnancy": "contraindicated", "cautions": ["c"], "sources": ["s"]},
      {"id": "a", "ingredient": "b", "names": {"zh-CN": "乙"}, "class": "nope", "unit": "mg",
       "usual": {"frequency": "bid"}, "frequencies": ["bid"], "pregnancy": "maybe", "cautions": ["zz"], "sources": ["q"]}
    ]})");
  REQUIRE(!r);
  std::set<std::string> pointers;
  for (const auto& f : r.error().fields) pointers.insert(f.pointer);
  for (const char* p : {"/drugs/0/usual", "/drugs/0/cautions", "/drugs/1/id", "/drugs/1/names", "/drugs/1/class",
                        "/drugs/1/frequencies", "/drugs/1/pregnancy", "/drugs/1/cautions", "/drugs/1/sources",
                        "/drugs/1/dose_range"}) {
    INFO(p);
    CHECK(pointers.count(p) == 1);
  }
}
