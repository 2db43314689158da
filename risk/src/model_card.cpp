#include "careloop/risk/model_card.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace careloop::risk {

using nlohmann::ordered_json;

namespace {

// Cards are read by people and diffed in review: round what is printed.
double round_to(double v, int digits) {
  if (!std::isfinite(v)) return v;
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

ordered_json number(double v, int digits = 4) {
  if (!std::isfinite(v)) return nullptr;
  return round_to(v, digits);
}

ordered_json evaluation_json(const Evaluation& e) {
  ordered_json j;
  j["name"] = e.name;
  j["description"] = e.description;
  j["auc"] = {{"mean", number(e.auc.mean)}, {"sd", number(e.auc.sd)}};
  ordered_json folds = ordered_json::array();
  for (double a : e.fold_auc) folds.push_back(number(a));
  j["fold_auc"] = folds;
  if (!e.gives_probability) return j;
  j["accuracy_at_0_5"] = {{"mean", number(e.accuracy.mean)}, {"sd", number(e.accuracy.sd)}};
  j["brier"] = number(e.brier, 5);
  j["calibration"] = {{"intercept_in_the_large", number(e.calibration.intercept_in_the_large)},
                      {"slope", number(e.calibration.slope)},
                      {"intercept", number(e.calibration.intercept)}};
  ordered_json rel = ordered_json::array();
  for (const auto& b : e.reliability)
    rel.push_back({{"count", b.count},
                   {"min_predicted", number(b.min_predicted)},
                   {"max_predicted", number(b.max_predicted)},
                   {"mean_predicted", number(b.mean_predicted)},
                   {"observed_rate", number(b.observed_rate)}});
  j["reliability_deciles"] = rel;
  return j;
}

std::string fmt(const char* format, double v) {
  if (!std::isfinite(v)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string percent(double p, int decimals = 1) {
  return fmt(("%." + std::to_string(decimals) + "f %%").c_str(), 100 * p);
}

std::string band_text(const RiskBands& b) {
  return "low below " + percent(b.moderate) + ", moderate " + percent(b.moderate) + " to below " + percent(b.high) +
         ", high at or above " + percent(b.high);
}

}  // namespace

std::string card_to_json(const ModelCard& c) {
  const auto& s = c.spec;
  ordered_json j;
  j["id"] = s.id;
  j["version"] = s.version;
  j["title"] = s.title;
  j["description"] = s.description;
  j["outcome"] = {{"column", s.outcome_column}, {"description", s.outcome_description}};
  j["data"] = {{"file", c.data_file},
               {"description", s.data_description},
               {"provenance", s.data_provenance},
               {"licence", s.data_licence},
               {"rows", c.rows},
               {"positives", c.positives},
               {"prevalence", number(c.prevalence)}};
  ordered_json features = ordered_json::array();
  for (const auto& f : c.features)
    features.push_back({{"name", f.spec.name},
                        {"label", f.spec.label},
                        {"unit", f.spec.unit},
                        {"allowed_min", f.spec.min},
                        {"allowed_max", f.spec.max},
                        {"description", f.spec.description},
                        {"missing", f.missing},
                        {"mean", number(f.mean, 3)},
                        {"min", number(f.min, 3)},
                        {"max", number(f.max, 3)},
                        {"gain_share", number(f.gain_share)},
                        {"mean_abs_shap_log_odds", number(f.mean_abs_shap)}});
  j["features"] = features;
  j["validation"] = {
      {"method", "repeated stratified k-fold cross-validation; every figure is computed on held-out folds only"},
      {"folds", s.training.folds},
      {"repeats", s.training.repeats},
      {"seed", s.training.seed},
      {"early_stopping",
       "on a stratified " + fmt("%.0f", 100 * s.training.early_stopping_fraction) +
           " % of each fold's training part (never the test fold), logloss, patience " +
           std::to_string(s.training.early_stopping_rounds) + " rounds, at most " +
           std::to_string(s.training.max_rounds)},
      {"best_rounds_per_fold", c.best_rounds},
      {"final_rounds", c.final_rounds},
      {"final_model", "trained on every row for the median of the folds' best round counts"},
      {"pooling", "Brier, calibration and the reliability table use the out-of-fold predictions of every repeat, stacked; "
                  "AUC and accuracy are mean ± SD over the folds"}};
  j["model"] = evaluation_json(c.model);
  ordered_json baselines = ordered_json::array();
  for (const auto& b : c.baselines) baselines.push_back(evaluation_json(b));
  j["baselines"] = baselines;
  j["bands"] = {{"moderate", c.bands.moderate},
                {"high", c.bands.high},
                {"method", c.bands.spec.method == BandMethod::quantiles ? "quantiles" : "fixed"},
                {"method_moderate", c.bands.spec.moderate},
                {"method_high", c.bands.spec.high},
                {"rationale", c.bands.spec.rationale}};
  ordered_json params = ordered_json::object();
  params["objective"] = "binary:logistic";
  for (const auto& [k, v] : s.xgboost_params) params[k] = v;
  params["seed"] = std::to_string(s.training.seed);
  params["nthread"] = std::to_string(c.threads);
  j["xgboost_params"] = params;
  j["notes"] = s.notes;
  j["trained_at"] = c.trained_at;
  j["software"] = {{"careloop", c.careloop_version},
                   {"xgboost", c.xgboost_version},
                   {"compiler", c.compiler},
                   {"json", c.json_library_version}};
  return j.dump(2) + "\n";
}

std::string card_to_markdown(const ModelCard& c) {
  const auto& s = c.spec;
  std::string md;
  auto line = [&](const std::string& l = "") { md += l + "\n"; };
  line("# Model card: " + s.id + " " + s.version);
  line();
  if (!s.title.empty()) line("**" + s.title + "**");
  line();
  if (!s.description.empty()) line(s.description), line();
  line("Outcome: " + s.outcome_description + " (column `" + s.outcome_column + "`).");
  line();
  line("## Data");
  line();
  line("| | |");
  line("| --- | --- |");
  line("| file | `" + c.data_file + "` |");
  line("| description | " + s.data_description + " |");
  line("| provenance | " + s.data_provenance + " |");
  line("| licence | " + s.data_licence + " |");
  line("| rows | " + std::to_string(c.rows) + " |");
  line("| outcome present | " + std::to_string(c.positives) + " (prevalence " + percent(c.prevalence) + ") |");
  line();
  line("## Features");
  line();
  line("| feature | unit | allowed range | missing | mean (min–max) | share of gain | mean \\|SHAP\\| (log-odds) |");
  line("| --- | --- | --- | --- | --- | --- | --- |");
  for (const auto& f : c.features)
    line("| " + f.spec.label + " (`" + f.spec.name + "`) | " + (f.spec.unit.empty() ? "–" : f.spec.unit) + " | " +
         fmt("%g", f.spec.min) + "–" + fmt("%g", f.spec.max) + " | " + std::to_string(f.missing) + " | " +
         fmt("%.3g", f.mean) + " (" + fmt("%.4g", f.min) + "–" + fmt("%.4g", f.max) + ") | " + percent(f.gain_share) +
         " | " + fmt("%.3f", f.mean_abs_shap) + " |");
  line();
  line("## Performance on held-out folds");
  line();
  line(std::to_string(s.training.repeats) + " × stratified " + std::to_string(s.training.folds) +
       "-fold cross-validation, seed " + std::to_string(s.training.seed) +
       ". The model and every baseline are scored on the same held-out folds; no figure comes from rows a "
       "scorer was fitted on. Early stopping uses " + fmt("%.0f", 100 * s.training.early_stopping_fraction) +
       " % of each fold's training part, never the test fold.");
  line();
  line("| scorer | AUC (mean ± SD) | accuracy at 0.5 | Brier | calibration-in-the-large | calibration slope |");
  line("| --- | --- | --- | --- | --- | --- |");
  auto row = [&](const Evaluation& e) {
    const bool p = e.gives_probability;
    line("| " + e.description + " | " + fmt("%.3f", e.auc.mean) + " ± " + fmt("%.3f", e.auc.sd) + " | " +
         (p ? fmt("%.3f", e.accuracy.mean) + " ± " + fmt("%.3f", e.accuracy.sd) : "–") + " | " +
         (p ? fmt("%.4f", e.brier) : "–") + " | " + (p ? fmt("%+.3f", e.calibration.intercept_in_the_large) : "–") +
         " | " + (p ? fmt("%.3f", e.calibration.slope) : "–") + " |");
  };
  row(c.model);
  for (const auto& b : c.baselines) row(b);
  line();
  line("Calibration-in-the-large is the intercept of outcome ~ logit(p) as offset (0 is ideal, > 0: risk "
       "underestimated); the slope is that of outcome ~ a + b·logit(p) (1 is ideal, < 1: predictions too extreme).");
  line();
  line("### Reliability (deciles of the model's out-of-fold predicted risk)");
  line();
  line("Out-of-fold predictions of all " + std::to_string(s.training.repeats) +
       " repeat(s), stacked: each person appears once per repeat.");
  line();
  line("| decile | predictions | predicted range | mean predicted | observed |");
  line("| --- | --- | --- | --- | --- |");
  for (std::size_t i = 0; i < c.model.reliability.size(); ++i) {
    const auto& b = c.model.reliability[i];
    line("| " + std::to_string(i + 1) + " | " + std::to_string(b.count) + " | " + percent(b.min_predicted, 2) + "–" +
         percent(b.max_predicted, 2) + " | " + percent(b.mean_predicted, 2) + " | " + percent(b.observed_rate, 2) + " |");
  }
  line();
  line("## Risk bands");
  line();
  line(band_text(c.bands) + ".");
  line();
  line(s.bands.rationale);
  line();
  if (!s.notes.empty()) {
    line("## Notes");
    line();
    for (const auto& n : s.notes) line("- " + n);
    line();
  }
  line("## Training");
  line();
  line("- Best rounds per fold (on the early-stopping part): median → " + std::to_string(c.final_rounds) +
       " rounds for the final model, trained on all " + std::to_string(c.rows) + " rows.");
  std::string params = "objective=binary:logistic";
  for (const auto& [k, v] : s.xgboost_params) params += ", " + k + "=" + v;
  line("- xgboost parameters: " + params + ", seed=" + std::to_string(s.training.seed) + ", nthread=" +
       std::to_string(c.threads) + ".");
  line("- Trained " + c.trained_at + " with CareLoop " + c.careloop_version + ", xgboost " + c.xgboost_version + ", " +
       c.compiler + ", " + c.json_library_version + ".");
  line("- Rebuild: `scripts/train-models` (deterministic for the seed and thread count).");
  return md;
}

core::Result<RiskBands> parse_card_bands(std::string_view card_json) {
  try {
    const auto j = nlohmann::json::parse(card_json);
    const auto& b = j.at("bands");
    RiskBands bands;
    bands.moderate = b.at("moderate").get<double>();
    bands.high = b.at("high").get<double>();
    bands.spec.method = b.at("method").get<std::string>() == "fixed" ? BandMethod::fixed : BandMethod::quantiles;
    bands.spec.moderate = b.at("method_moderate").get<double>();
    bands.spec.high = b.at("method_high").get<double>();
    bands.spec.rationale = b.value("rationale", "");
    if (!(bands.moderate > 0 && bands.moderate < bands.high && bands.high < 1))
      return core::Error::invalid("card.json: bands need 0 < moderate < high < 1", {{"/bands", "out of order"}});
    return bands;
  } catch (const nlohmann::json::exception& e) {
    return core::Error::invalid(std::string("card.json: ") + e.what(), {{"/bands", "missing or malformed"}});
  }
}

core::Result<std::vector<bool>> parse_card_missing(std::string_view card_json, const ModelSpec& spec) {
  try {
    const auto j = nlohmann::json::parse(card_json);
    std::vector<bool> out;
    for (const auto& f : spec.features) {
      const auto& listed = j.at("features");
      const auto it = std::find_if(listed.begin(), listed.end(),
                                   [&](const nlohmann::json& x) { return x.value("name", std::string()) == f.name; });
      if (it == listed.end() || !it->contains("missing"))
        return core::Error::invalid("card.json: no training missing count for feature " + f.name,
                                    {{"/features", f.name + ": missing count required"}});
      out.push_back(it->at("missing").get<std::int64_t>() > 0);
    }
    return out;
  } catch (const nlohmann::json::exception& e) {
    return core::Error::invalid(std::string("card.json: ") + e.what(), {{"/features", "missing or malformed"}});
  }
}

}  // namespace careloop::risk
