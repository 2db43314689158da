#include "careloop/risk/training.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "careloop/core/units.hpp"
#include "careloop/risk/chinese_diabetes_risk_score.hpp"
#include "careloop/risk/framingham_diabetes.hpp"
#include "careloop/risk/framingham_hypertension.hpp"
#include "careloop/risk/lipids.hpp"
#include "careloop/risk/logistic.hpp"
#include "xgb.hpp"

namespace careloop::risk {

namespace {

struct Data {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<float> x;       // row-major, NaN missing
  std::vector<double> x64;    // the same, for logistic regression
  std::vector<int> y;
};

core::Result<Data> prepare(const ModelSpec& spec, const Table& t) {
  Data d;
  d.rows = t.rows();
  d.cols = spec.features.size();
  const auto* outcome = t.column(spec.outcome_column);
  if (!outcome) return core::Error::invalid("the data has no outcome column '" + spec.outcome_column + "'");
  std::vector<core::FieldError> errors;
  for (std::size_t r = 0; r < d.rows; ++r) {
    const double v = (*outcome)[r];
    if (v != 0 && v != 1) {
      errors.push_back({"/" + spec.outcome_column, "row " + std::to_string(r + 1) + ": the outcome must be 0 or 1"});
      break;
    }
    d.y.push_back(v == 1 ? 1 : 0);
  }
  d.x.resize(d.rows * d.cols);
  d.x64.resize(d.rows * d.cols);
  for (std::size_t c = 0; c < d.cols; ++c) {
    const auto& f = spec.features[c];
    const auto* col = t.column(f.name);
    if (!col) {
      errors.push_back({"/" + f.name, "the data has no such column"});
      continue;
    }
    for (std::size_t r = 0; r < d.rows; ++r) {
      const double v = (*col)[r];
      if (!std::isnan(v) && (v < f.min || v > f.max)) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "row %zu: %g %s is outside the spec's range %g–%g", r + 1, v, f.unit.c_str(),
                      f.min, f.max);
        errors.push_back({"/" + f.name, buf});
        break;
      }
      d.x[r * d.cols + c] = static_cast<float>(v);
      d.x64[r * d.cols + c] = static_cast<double>(static_cast<float>(v));
    }
  }
  if (!errors.empty()) return core::Error::invalid("the data does not fit the spec", std::move(errors));
  std::size_t positives = 0;
  for (int v : d.y) positives += static_cast<std::size_t>(v);
  if (positives < static_cast<std::size_t>(spec.training.folds) ||
      d.rows - positives < static_cast<std::size_t>(spec.training.folds))
    return core::Error::invalid("each outcome class needs at least one row per fold");
  return d;
}

// A fixed published score per row, or an error naming the column it lacks.
core::Result<std::vector<double>> fixed_baseline(const BaselineInfo& b, const Table& t) {
  std::vector<const std::vector<double>*> cols;
  for (const auto& name : b.columns) {
    const auto* c = t.column(name);
    if (!c) return core::Error::invalid("baseline " + b.name + " needs the column '" + name + "'");
    for (double v : *c)
      if (std::isnan(v)) return core::Error::invalid("baseline " + b.name + " needs '" + name + "' in every row");
    cols.push_back(c);
  }
  std::vector<double> score(t.rows());
  for (std::size_t r = 0; r < t.rows(); ++r) {
    auto v = [&](std::size_t i) { return (*cols[i])[r]; };
    if (b.name == "framingham_hypertension_4y") {
      HypertensionRiskFactors f{v(0) != 0, v(1), v(2), v(3), v(4), v(5) != 0, static_cast<int>(v(6))};
      score[r] = framingham_hypertension_unchecked(f).risk_4y;
    } else if (b.name == "framingham_diabetes_8y") {
      DiabetesRiskFactors f;
      f.female = v(0) != 0;
      f.age_years = v(1);
      f.parental_diabetes = v(2) != 0;
      f.bmi_kg_m2 = v(3);
      f.systolic_mmhg = v(4);
      f.diastolic_mmhg = v(5);
      f.on_antihypertensive_treatment = v(6) != 0;
      f.hdl_mg_dl = hdl_mmol_l_to_mg_dl(v(7));
      f.triglycerides_mg_dl = triglycerides_mmol_l_to_mg_dl(v(8));
      f.fasting_glucose_mg_dl = core::mmol_l_to_mg_dl(v(9));
      score[r] = inverse_logit(framingham_diabetes_log_odds(f));
    } else if (b.name == "chinese_diabetes_risk_score") {
      ChineseDiabetesRiskFactors f;
      f.male = v(0) == 0;
      f.age_years = static_cast<int>(std::floor(v(1)));
      f.bmi_kg_m2 = v(2);
      f.waist_cm = v(3);
      f.systolic_mmhg = v(4);
      f.family_history_diabetes = v(5) != 0;
      auto s = chinese_diabetes_risk_score(f);
      if (!s) return core::Error::invalid("baseline " + b.name + ", row " + std::to_string(r + 1) + ": " + s.error().message,
                                          s.error().fields);
      score[r] = s->total_points;
    }
  }
  return score;
}

double parse_eval_value(const char* text) {
  const char* colon = std::strrchr(text, ':');
  return colon ? std::strtod(colon + 1, nullptr) : std::numeric_limits<double>::quiet_NaN();
}

std::string predict_config(int iteration_end) {
  return R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": )" + std::to_string(iteration_end) +
         R"(, "strict_shape": false})";
}

std::vector<double> predict(const xgb::Booster& b, const xgb::DMatrix& m, int iteration_end) {
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  xgb::check(XGBoosterPredictFromDMatrix(b.get(), m.get(), predict_config(iteration_end).c_str(), &shape, &dim, &out),
             "XGBoosterPredictFromDMatrix");
  return std::vector<double>(out, out + shape[0]);
}

class Trainer {
 public:
  Trainer(const ModelSpec& spec, const Data& data, const TrainingOptions& options)
      : spec_(spec), data_(data), options_(options) {}

  xgb::DMatrix matrix(const std::vector<std::size_t>& rows) const {
    std::vector<float> x(rows.size() * data_.cols);
    std::vector<float> y(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::copy_n(&data_.x[rows[i] * data_.cols], data_.cols, &x[i * data_.cols]);
      y[i] = static_cast<float>(data_.y[rows[i]]);
    }
    auto m = xgb::dense_matrix(x.data(), rows.size(), data_.cols);
    xgb::check(XGDMatrixSetFloatInfo(m.get(), "label", y.data(), y.size()), "XGDMatrixSetFloatInfo label");
    std::vector<std::string> names = spec_.feature_names();
    std::vector<const char*> cnames;
    for (const auto& n : names) cnames.push_back(n.c_str());
    xgb::check(XGDMatrixSetStrFeatureInfo(m.get(), "feature_name", cnames.data(), cnames.size()),
               "XGDMatrixSetStrFeatureInfo feature_name");
    return m;
  }

  xgb::Booster booster(const std::vector<DMatrixHandle>& cache) const {
    auto b = xgb::make_booster(cache);
    xgb::set_param(b, "objective", "binary:logistic");
    xgb::set_param(b, "eval_metric", "logloss");
    xgb::set_param(b, "seed", std::to_string(spec_.training.seed));
    xgb::set_param(b, "nthread", std::to_string(options_.threads));
    xgb::set_param(b, "verbosity", "0");
    for (const auto& [k, v] : spec_.xgboost_params) xgb::set_param(b, k, v);
    // Saved with the model, so that serving can refuse a model whose features differ from its spec.
    std::vector<std::string> names = spec_.feature_names();
    std::vector<const char*> cnames;
    for (const auto& n : names) cnames.push_back(n.c_str());
    xgb::check(XGBoosterSetStrFeatureInfo(b.get(), "feature_name", cnames.data(), cnames.size()),
               "XGBoosterSetStrFeatureInfo feature_name");
    return b;
  }

  // Trains on `fit`, stopping on `stop`; returns the booster and the best round count.
  std::pair<xgb::Booster, int> fit_with_early_stopping(const std::vector<std::size_t>& fit,
                                                       const std::vector<std::size_t>& stop,
                                                       TrainingProgress progress) const {
    auto dfit = matrix(fit);
    auto dstop = matrix(stop);
    auto b = booster({dfit.get(), dstop.get()});
    DMatrixHandle evals[] = {dstop.get()};
    const char* names[] = {"stop"};
    double best = std::numeric_limits<double>::infinity();
    int best_rounds = 0;
    for (int round = 0; round < spec_.training.max_rounds; ++round) {
      xgb::check(XGBoosterUpdateOneIter(b.get(), round, dfit.get()), "XGBoosterUpdateOneIter");
      const char* eval = nullptr;
      xgb::check(XGBoosterEvalOneIter(b.get(), round, evals, names, 1, &eval), "XGBoosterEvalOneIter");
      const double logloss = parse_eval_value(eval);
      // Strictly better, so that ties keep the smaller model.
      if (logloss < best) {
        best = logloss;
        best_rounds = round + 1;
      }
      progress.round = round + 1;
      progress.stopping_logloss = logloss;
      if (options_.progress) options_.progress(progress);
      if (round + 1 - best_rounds >= spec_.training.early_stopping_rounds) break;
    }
    return {std::move(b), best_rounds};
  }

  xgb::Booster fit_rounds(const std::vector<std::size_t>& rows, int rounds) const {
    auto d = matrix(rows);
    auto b = booster({d.get()});
    TrainingProgress p;
    p.stage = TrainingProgress::Stage::final_fit;
    for (int round = 0; round < rounds; ++round) {
      xgb::check(XGBoosterUpdateOneIter(b.get(), round, d.get()), "XGBoosterUpdateOneIter");
      p.round = round + 1;
      if (options_.progress) options_.progress(p);
    }
    return b;
  }

 private:
  const ModelSpec& spec_;
  const Data& data_;
  const TrainingOptions& options_;
};

template <class T>
std::vector<T> pick(const std::vector<T>& v, const std::vector<std::size_t>& rows) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (auto r : rows) out.push_back(v[r]);
  return out;
}

MetricSummary summarise(const std::vector<double>& v) { return {mean(v), sample_sd(v)}; }

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

// Two significant digits: a threshold is a policy, not a measurement.
double round_threshold(double p) {
  if (!(p > 0)) return p;
  const double scale = std::pow(10.0, 1 - std::floor(std::log10(p)));
  return std::round(p * scale) / scale;
}

std::string iso8601(std::int64_t utc_ms) {
  const std::time_t secs = static_cast<std::time_t>(utc_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct ScorerState {
  Evaluation eval;
  std::vector<double> stacked_p;  // out-of-fold, every repeat
  std::vector<int> stacked_y;
  std::vector<double> fold_accuracy;
  std::vector<double> fixed_score;  // for fixed published baselines
  bool logistic = false;
};

void finish(ScorerState& s) {
  s.eval.auc = summarise(s.eval.fold_auc);
  if (!s.eval.gives_probability) return;
  s.eval.accuracy = summarise(s.fold_accuracy);
  s.eval.brier = brier_score(s.stacked_p, s.stacked_y);
  s.eval.calibration = calibration(s.stacked_p, s.stacked_y);
  s.eval.reliability = reliability_table(s.stacked_p, s.stacked_y, 10);
}

core::Result<TrainedModel> train(const ModelSpec& spec, const Table& table, const TrainingOptions& options) {
  auto prepared = prepare(spec, table);
  if (!prepared) return prepared.error();
  const Data& data = *prepared;
  const std::size_t n = data.rows;
  const int k = spec.training.folds;
  const int repeats = spec.training.repeats;

  std::vector<ScorerState> scorers(1);
  scorers[0].eval.name = "xgboost";
  scorers[0].eval.description = "this model (gradient-boosted trees)";
  for (const auto& name : spec.baselines) {
    const auto& known = known_baselines();
    const auto info = std::find_if(known.begin(), known.end(), [&](const BaselineInfo& b) { return b.name == name; });
    ScorerState s;
    s.eval.name = info->name;
    s.eval.description = info->description;
    s.eval.gives_probability = info->gives_probability;
    if (info->columns.empty()) {
      s.logistic = true;
    } else {
      auto score = fixed_baseline(*info, table);
      if (!score) return score.error();
      s.fixed_score = std::move(*score);
    }
    scorers.push_back(std::move(s));
  }

  Trainer trainer(spec, data, options);
  ModelCard card;
  for (int r = 0; r < repeats; ++r) {
    const std::uint64_t repeat_seed = spec.training.seed + static_cast<std::uint64_t>(r);
    const auto fold = stratified_folds(data.y, k, repeat_seed);
    for (int f = 0; f < k; ++f) {
      std::vector<std::size_t> train_rows, test_rows;
      for (std::size_t i = 0; i < n; ++i) (fold[i] == f ? test_rows : train_rows).push_back(i);
      // The early-stopping part: one inner stratified fold of the training part.
      const auto train_y = pick(data.y, train_rows);
      const int inner_k = std::max(2, static_cast<int>(std::lround(1 / spec.training.early_stopping_fraction)));
      const auto inner = stratified_folds(train_y, inner_k, repeat_seed * 1000 + static_cast<std::uint64_t>(f) + 1);
      std::vector<std::size_t> fit_rows, stop_rows;
      for (std::size_t i = 0; i < train_rows.size(); ++i) (inner[i] == 0 ? stop_rows : fit_rows).push_back(train_rows[i]);

      TrainingProgress progress;
      progress.repeat = r + 1;
      progress.repeats = repeats;
      progress.fold = f + 1;
      progress.folds = k;
      auto [booster, best_rounds] = trainer.fit_with_early_stopping(fit_rows, stop_rows, progress);
      card.best_rounds.push_back(best_rounds);
      const auto test_y = pick(data.y, test_rows);
      const auto test_p = predict(booster, trainer.matrix(test_rows), best_rounds);

      for (auto& s : scorers) {
        std::vector<double> p;
        if (&s == &scorers[0]) {
          p = test_p;
        } else if (s.logistic) {
          std::vector<double> x;
          for (auto i : train_rows) x.insert(x.end(), &data.x64[i * data.cols], &data.x64[i * data.cols] + data.cols);
          auto lr = fit_logistic(x, data.cols, train_y);
          if (!lr) return core::Error::internal("logistic regression baseline, fold " + std::to_string(f + 1) + ": " +
                                                lr.error().message);
          for (auto i : test_rows) p.push_back(lr->probability({&data.x64[i * data.cols], data.cols}));
        } else {
          p = pick(s.fixed_score, test_rows);
        }
        s.eval.fold_auc.push_back(auc(p, test_y));
        if (s.eval.gives_probability) {
          s.fold_accuracy.push_back(accuracy(p, test_y));
          s.stacked_p.insert(s.stacked_p.end(), p.begin(), p.end());
          s.stacked_y.insert(s.stacked_y.end(), test_y.begin(), test_y.end());
        }
      }
      progress.fold_done = true;
      progress.fold_auc = scorers[0].eval.fold_auc.back();
      if (options.progress) options.progress(progress);
    }
  }
  for (auto& s : scorers) finish(s);

  std::vector<int> sorted_rounds = card.best_rounds;
  std::sort(sorted_rounds.begin(), sorted_rounds.end());
  const std::size_t m = sorted_rounds.size();
  card.final_rounds = std::max(1, m % 2 ? sorted_rounds[m / 2] : (sorted_rounds[m / 2 - 1] + sorted_rounds[m / 2] + 1) / 2);
  std::vector<std::size_t> all_rows(n);
  for (std::size_t i = 0; i < n; ++i) all_rows[i] = i;
  auto final_booster = trainer.fit_rounds(all_rows, card.final_rounds);

  TrainedModel out;
  {
    bst_ulong len = 0;
    const char* buf = nullptr;
    xgb::check(XGBoosterSaveModelToBuffer(final_booster.get(), R"({"format": "json"})", &len, &buf),
               "XGBoosterSaveModelToBuffer");
    out.model_json.assign(buf, len);
  }

  card.spec = spec;
  card.data_file = options.data_file;
  card.rows = n;
  for (int v : data.y) card.positives += static_cast<std::size_t>(v);
  card.prevalence = static_cast<double>(card.positives) / static_cast<double>(n);
  card.threads = options.threads;
  card.model = scorers[0].eval;
  for (std::size_t i = 1; i < scorers.size(); ++i) card.baselines.push_back(scorers[i].eval);

  // Importance: the final model's split gain, and mean |SHAP| over (at most 20,000 evenly spaced) rows.
  {
    bst_ulong n_features = 0, dim = 0;
    const char** names = nullptr;
    const bst_ulong* shape = nullptr;
    const float* scores = nullptr;
    xgb::check(XGBoosterFeatureScore(final_booster.get(), R"({"importance_type": "total_gain"})", &n_features, &names,
                                     &dim, &shape, &scores),
               "XGBoosterFeatureScore");
    std::vector<double> gain(data.cols, 0);
    double total = 0;
    for (bst_ulong i = 0; i < n_features; ++i) {
      for (std::size_t c = 0; c < data.cols; ++c)
        if (spec.features[c].name == names[i]) gain[c] = scores[i];
      total += scores[i];
    }
    const std::size_t step = std::max<std::size_t>(1, n / 20'000);
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < n; i += step) rows.push_back(i);
    auto d = trainer.matrix(rows);
    const bst_ulong* cshape = nullptr;
    bst_ulong cdim = 0;
    const float* contrib = nullptr;
    xgb::check(XGBoosterPredictFromDMatrix(final_booster.get(), d.get(),
                                           R"({"type": 2, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false})",
                                           &cshape, &cdim, &contrib),
               "XGBoosterPredictFromDMatrix contributions");
    std::vector<double> abs_shap(data.cols, 0);
    for (std::size_t i = 0; i < rows.size(); ++i)
      for (std::size_t c = 0; c < data.cols; ++c) abs_shap[c] += std::abs(contrib[i * (data.cols + 1) + c]);
    for (std::size_t c = 0; c < data.cols; ++c) {
      FeatureSummary fs;
      fs.spec = spec.features[c];
      double sum = 0, count = 0;
      fs.min = std::numeric_limits<double>::infinity();
      fs.max = -fs.min;
      for (std::size_t r = 0; r < n; ++r) {
        const double v = data.x64[r * data.cols + c];
        if (std::isnan(v)) {
          ++fs.missing;
          continue;
        }
        sum += v, count += 1;
        fs.min = std::min(fs.min, v);
        fs.max = std::max(fs.max, v);
      }
      fs.mean = count > 0 ? sum / count : std::numeric_limits<double>::quiet_NaN();
      fs.gain_share = total > 0 ? gain[c] / total : 0;
      fs.mean_abs_shap = abs_shap[c] / static_cast<double>(rows.size());
      card.features.push_back(fs);
    }
  }

  card.bands.spec = spec.bands;
  if (spec.bands.method == BandMethod::quantiles) {
    card.bands.moderate = round_threshold(quantile(scorers[0].stacked_p, spec.bands.moderate));
    card.bands.high = round_threshold(quantile(scorers[0].stacked_p, spec.bands.high));
  } else {
    card.bands.moderate = spec.bands.moderate;
    card.bands.high = spec.bands.high;
  }
  card.trained_at = iso8601(options.trained_at_utc_ms);
  card.xgboost_version = xgb::version();
  card.careloop_version = options.careloop_version;
  card.compiler = std::string("GCC ") + __VERSION__;
  card.json_library_version = "nlohmann/json " + std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                              std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                              std::to_string(NLOHMANN_JSON_VERSION_PATCH);
  out.card = std::move(card);
  return out;
}

core::Status write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return core::Error::internal("could not write " + p.string());
  return core::ok_status();
}

}  // namespace

core::Result<TrainedModel> train_model(const ModelSpec& spec, const Table& data, const TrainingOptions& options) {
  try {
    return train(spec, data, options);
  } catch (const xgb::Failure& f) {
    return xgb::to_error(f);
  }
}

core::Status write_trained_model(const TrainedModel& trained, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return core::Error::internal("could not create " + dir + ": " + ec.message());
  const std::filesystem::path d(dir);
  for (const auto& [name, text] : {std::pair<const char*, std::string>{"model.json", trained.model_json},
                                   {"spec.json", to_json(trained.card.spec)},
                                   {"card.json", card_to_json(trained.card)},
                                   {"card.md", card_to_markdown(trained.card)}})
    if (auto s = write_file(d / name, text); !s) return s;
  return core::ok_status();
}

}  // namespace careloop::risk
