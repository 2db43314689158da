#include "careloop/risk/model.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "careloop/risk/logistic.hpp"
#include "tree_shap.hpp"
#include "xgb.hpp"

namespace careloop::risk {

namespace {

constexpr const char* value_config =
    R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "missing": NaN, "cache_id": 0})";
constexpr const char* contribution_config =
    R"({"type": 2, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false})";

// numpy's __array_interface__ for a row-major float32 matrix.
std::string array_interface(const float* data, std::size_t rows, std::size_t cols) {
  char buf[160];
  std::snprintf(buf, sizeof buf, R"({"data": [%zu, true], "shape": [%zu, %zu], "typestr": "<f4", "version": 3})",
                reinterpret_cast<std::uintptr_t>(data), rows, cols);
  return buf;
}

core::Result<std::string> read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return core::Error::not_found("cannot open " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// printf's "%.<precision><format>" of v (to_chars is specified to write
// exactly what printf writes in the C locale), appended without a temporary.
void append_number(std::string& out, double v, std::chars_format format, int precision) {
  char buf[64];
  const auto end = std::to_chars(buf, buf + sizeof buf, v, format, precision).ptr;
  out.append(buf, end);
}

void append_value(std::string& out, const FeatureSpec& f, double v) {
  if (f.unit == "yes/no") {
    out += v != 0 ? "yes" : "no";
    return;
  }
  // Whole numbers for counts and mmHg, otherwise three significant digits.
  if (f.unit.empty() || f.unit == "mmHg" || f.unit == "years" || f.unit == "count")
    append_number(out, v, std::chars_format::fixed, 0);
  else
    append_number(out, v, std::chars_format::general, 3);
  if (!f.unit.empty() && f.unit != "count") {
    out += ' ';
    out += f.unit;
  }
}

}  // namespace

std::string_view to_string(RiskBand b) noexcept {
  switch (b) {
    case RiskBand::low: return "low";
    case RiskBand::moderate: return "moderate";
    case RiskBand::high: return "high";
  }
  return "low";
}

std::string describe_factor(const FeatureSpec& feature, std::optional<double> value, double contribution) {
  // One string, built in place: batch scoring words three factors a score.
  std::string out;
  out.reserve(feature.label.size() + 64);
  out += feature.label;
  const bool yes_no = feature.unit == "yes/no";
  if (!value) {
    out += " not recorded";
  } else {
    out += yes_no ? ": " : " ";
    append_value(out, feature, *value);
  }
  out += yes_no && value ? "; " : ": ";
  out += contribution > 0 ? "raises risk" : contribution < 0 ? "lowers risk" : "no effect";
  out += " (";
  if (!std::signbit(contribution)) out += '+';  // printf's "%+.2f"
  append_number(out, contribution, std::chars_format::fixed, 2);
  out += " log-odds)";
  return out;
}

struct Model::Impl {
  ModelSpec spec;
  RiskBands bands;
  std::vector<bool> trained_with_missing;  // per spec feature
  // SHAP computed here (tree_shap.hpp); empty: xgboost's own (type 2) call.
  std::optional<detail::TreeShap> shap;
  xgb::Booster booster;
};

namespace {

// xgboost's SHAP contributions of n rows: n × (cols + 1), the bias last.
std::vector<float> xgboost_contributions(const xgb::Booster& booster, std::span<const float> rows, std::size_t n,
                                         std::size_t cols) {
  auto matrix = xgb::dense_matrix(rows.data(), n, cols);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  xgb::check(XGBoosterPredictFromDMatrix(booster.get(), matrix.get(), contribution_config, &shape, &dim, &out),
             "XGBoosterPredictFromDMatrix contributions");
  return std::vector<float>(out, out + n * (cols + 1));
}

std::vector<float> contributions_of(const Model::Impl& impl, std::span<const float> rows, std::size_t n,
                                    std::size_t cols) {
  if (!impl.shap) return xgboost_contributions(impl.booster, rows, n, cols);
  std::vector<float> out(n * (cols + 1));
  impl.shap->contributions(rows, out);
  return out;
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const ModelSpec& Model::spec() const noexcept { return impl_->spec; }
const RiskBands& Model::bands() const noexcept { return impl_->bands; }
std::size_t Model::feature_count() const noexcept { return impl_->spec.features.size(); }
bool Model::own_tree_shap() const noexcept { return impl_->shap.has_value(); }
bool Model::trained_with_missing(std::size_t feature) const noexcept {
  return feature < impl_->trained_with_missing.size() && impl_->trained_with_missing[feature];
}

RiskBand Model::band(double p) const noexcept {
  if (p >= impl_->bands.high) return RiskBand::high;
  if (p >= impl_->bands.moderate) return RiskBand::moderate;
  return RiskBand::low;
}

core::Result<std::shared_ptr<const Model>> Model::load(const std::filesystem::path& dir) {
  auto spec = read_model_spec((dir / "spec.json").string());
  if (!spec) return spec.error();
  auto card = read_text(dir / "card.json");
  if (!card) return card.error();
  auto bands = parse_card_bands(*card);
  if (!bands) return core::Error::invalid((dir / "card.json").string() + ": " + bands.error().message, bands.error().fields);
  const auto model_path = dir / "model.json";
  if (!std::filesystem::exists(model_path)) return core::Error::not_found("no model.json in " + dir.string());
  try {
    auto impl = std::make_unique<Impl>();
    impl->spec = std::move(*spec);
    impl->bands = *bands;
    impl->booster = xgb::make_booster();
    xgb::check(XGBoosterLoadModel(impl->booster.get(), model_path.c_str()), "XGBoosterLoadModel");
    // Each call predicts on its caller's thread; the server's pool gives the parallelism.
    xgb::set_param(impl->booster, "nthread", "1");
    bst_ulong n_features = 0;
    xgb::check(XGBoosterGetNumFeature(impl->booster.get(), &n_features), "XGBoosterGetNumFeature");
    bst_ulong n_names = 0;
    const char** names = nullptr;
    xgb::check(XGBoosterGetStrFeatureInfo(impl->booster.get(), "feature_name", &n_names, &names),
               "XGBoosterGetStrFeatureInfo");
    const auto expected = impl->spec.feature_names();
    std::vector<std::string> actual(names, names + n_names);
    if (n_features != expected.size() || actual != expected) {
      std::string a, e;
      for (const auto& s : actual) a += (a.empty() ? "" : ", ") + s;
      for (const auto& s : expected) e += (e.empty() ? "" : ", ") + s;
      return core::Error::invalid(model_path.string() + ": the model's features do not match its spec",
                                  {{"/features", "model has " + std::to_string(n_features) + " [" + a + "], spec has " +
                                                     std::to_string(expected.size()) + " [" + e + "]"}});
    }
    // Checked after the features: a card that names other features than the spec belongs to another model.
    auto missing = parse_card_missing(*card, impl->spec);
    if (!missing)
      return core::Error::invalid((dir / "card.json").string() + ": " + missing.error().message, missing.error().fields);
    impl->trained_with_missing = std::move(*missing);
    // Our TreeSHAP, kept only if it agrees with xgboost's on rows spread over
    // every feature's range, each feature missing in turn (else xgboost's).
    if (auto text = read_text(model_path)) {
      if (auto own = detail::TreeShap::from_model_json(*text, impl->spec.features.size())) {
        const std::size_t cols = impl->spec.features.size();
        std::vector<float> rows;
        for (std::size_t r = 0; r < 3 * cols + 3; ++r)
          for (std::size_t c = 0; c < cols; ++c) {
            const auto& f = impl->spec.features[c];
            const double t = static_cast<double>((r * 7 + c * 3) % 11) / 10.0;
            rows.push_back(r % (cols + 1) == c ? std::nanf("") : static_cast<float>(f.min + t * (f.max - f.min)));
          }
        const std::size_t n = rows.size() / cols;
        const auto theirs = xgboost_contributions(impl->booster, rows, n, cols);
        std::vector<float> ours(theirs.size());
        own->contributions(rows, ours);
        double worst = 0;
        for (std::size_t i = 0; i < ours.size(); ++i)
          worst = std::max(worst, static_cast<double>(std::abs(ours[i] - theirs[i])));
        if (worst <= 1e-5)
          impl->shap = std::move(*own);
        else
          std::fprintf(stderr, "careloop risk: %s: own TreeSHAP differs from xgboost's by %g; using xgboost's\n",
                       impl->spec.id.c_str(), worst);
      }
    }
    std::shared_ptr<const Model> model(new Model(std::move(impl)));
    // Warm-up: the first prediction configures the learner; do it before traffic.
    std::vector<float> row(model->feature_count(), std::nanf(""));
    for (std::size_t i = 0; i < row.size(); ++i) {
      const auto& f = model->spec().features[i];
      if (i % 2 == 0) row[i] = static_cast<float>((f.min + f.max) / 2);
    }
    if (auto p = model->predict(row); !p) return p.error();
    if (auto e = model->explain(row); !e) return e.error();
    return model;
  } catch (const xgb::Failure& f) {
    return xgb::to_error(f);
  }
}

core::Result<double> Model::predict(std::span<const float> row) const {
  if (row.size() != feature_count())
    return core::Error::invalid("expected " + std::to_string(feature_count()) + " features, got " + std::to_string(row.size()));
  const std::string values = array_interface(row.data(), 1, row.size());
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  if (XGBoosterPredictFromDense(impl_->booster.get(), values.c_str(), value_config, nullptr, &shape, &dim, &out) != 0)
    return core::Error::internal(std::string("xgboost: XGBoosterPredictFromDense: ") + XGBGetLastError());
  return static_cast<double>(out[0]);
}

core::Status Model::predict_batch(std::span<const float> rows, std::span<float> out) const {
  const std::size_t cols = feature_count();
  if (rows.size() != out.size() * cols)
    return core::Error::invalid("rows must be " + std::to_string(cols) + " values per output");
  if (out.empty()) return core::ok_status();
  const std::string values = array_interface(rows.data(), out.size(), cols);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  if (XGBoosterPredictFromDense(impl_->booster.get(), values.c_str(), value_config, nullptr, &shape, &dim, &result) != 0)
    return core::Error::internal(std::string("xgboost: XGBoosterPredictFromDense: ") + XGBGetLastError());
  std::copy_n(result, out.size(), out.begin());
  return core::ok_status();
}

core::Result<Explanation> Model::explain(std::span<const float> row) const {
  const std::size_t cols = feature_count();
  if (row.size() != cols)
    return core::Error::invalid("expected " + std::to_string(cols) + " features, got " + std::to_string(row.size()));
  try {
    const auto out = contributions_of(*impl_, row, 1, cols);
    Explanation e;
    e.contributions.assign(out.begin(), out.end());
    for (double c : e.contributions) e.margin += c;
    e.probability = inverse_logit(e.margin);
    return e;
  } catch (const xgb::Failure& f) {
    return xgb::to_error(f);
  }
}

namespace {

// The largest |contribution| first; ties keep the spec's order.
std::vector<RiskFactor> top_factors_of(const ModelSpec& spec, std::span<const float> row,
                                       std::span<const float> contributions, int top) {
  std::vector<std::size_t> order(row.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::abs(contributions[a]) > std::abs(contributions[b]);
  });
  std::vector<RiskFactor> out;
  for (std::size_t k = 0; k < order.size() && static_cast<int>(k) < top; ++k) {
    const std::size_t i = order[k];
    const auto& f = spec.features[i];
    RiskFactor rf;
    rf.feature = f.name;
    rf.label = f.label;
    rf.unit = f.unit;
    if (!std::isnan(row[i])) rf.value = row[i];
    rf.contribution_log_odds = contributions[i];
    rf.text = describe_factor(f, rf.value, rf.contribution_log_odds);
    out.push_back(std::move(rf));
  }
  return out;
}

}  // namespace

core::Result<RiskScore> Model::score(std::span<const float> row, int top_factors, std::int64_t now_ms) const {
  if (row.size() != feature_count())
    return core::Error::invalid("expected " + std::to_string(feature_count()) + " features, got " + std::to_string(row.size()));
  auto scores = score_batch(row, top_factors, now_ms);
  if (!scores) return scores.error();
  return std::move(scores->front());
}

core::Result<std::vector<RiskScore>> Model::score_batch(std::span<const float> rows, int top_factors,
                                                        std::int64_t now_ms) const {
  const std::size_t cols = feature_count();
  if (rows.size() % cols != 0)
    return core::Error::invalid("rows must be " + std::to_string(cols) + " values each");
  const std::size_t n = rows.size() / cols;
  std::vector<RiskScore> out(n);
  if (n == 0) return out;
  // The probability of record is the plain prediction, so it equals predict() to the last bit.
  std::vector<float> probability(n);
  if (auto p = predict_batch(rows, probability); !p) return p.error();
  std::vector<float> all;
  const float* contributions = nullptr;
  if (top_factors > 0) {
    try {
      all = contributions_of(*impl_, rows, n, cols);
      contributions = all.data();
    } catch (const xgb::Failure& f) {
      return xgb::to_error(f);
    }
  }
  for (std::size_t r = 0; r < n; ++r) {
    auto& s = out[r];
    s.model_id = impl_->spec.id;
    s.model_version = impl_->spec.version;
    s.scored_at_ms = now_ms;
    s.probability = probability[r];
    s.band = band(s.probability);
    if (contributions)
      s.factors = top_factors_of(impl_->spec, rows.subspan(r * cols, cols),
                                 {contributions + r * (cols + 1), cols + 1}, top_factors);
  }
  return out;
}

}  // namespace careloop::risk
