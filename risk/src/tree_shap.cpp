#include "tree_shap.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

namespace careloop::risk::detail {
namespace {

// A leaf's path may split on at most this many distinct features (its table
// holds 2^d · d values), and a model's tables at most this many values.
constexpr unsigned max_distinct = 12;
constexpr std::size_t max_table_values = std::size_t{1} << 24;
// A tree of at most this many split nodes gets one table over all its
// decision patterns (2^splits rows of its distinct features' contributions):
// a row then costs one comparison per split and no branch on the data.
constexpr std::uint32_t max_pattern_splits = 10;

}  // namespace

core::Result<TreeShap> TreeShap::from_model_json(std::string_view text, std::size_t features) {
  try {
    const auto j = nlohmann::json::parse(text);
    const auto& learner = j.at("learner");
    if (learner.at("objective").at("name").get<std::string>() != "binary:logistic")
      return core::Error::invalid("tree SHAP: only binary:logistic models");
    const auto& booster = learner.at("gradient_booster");
    if (booster.at("name").get<std::string>() != "gbtree") return core::Error::invalid("tree SHAP: only gbtree models");
    const double base = std::stod(learner.at("learner_model_param").at("base_score").get<std::string>());
    if (!(base > 0 && base < 1)) return core::Error::invalid("tree SHAP: base_score outside (0, 1)");
    TreeShap out;
    out.features_ = features;
    out.bias_ = std::log(base / (1 - base));
    for (const auto& t : booster.at("model").at("trees")) {
      const auto& left = t.at("left_children");
      const auto& right = t.at("right_children");
      const auto& split = t.at("split_indices");
      const auto& cond = t.at("split_conditions");
      const auto& dleft = t.at("default_left");
      const auto& hess = t.at("sum_hessian");
      const std::size_t n = left.size();
      if (right.size() != n || split.size() != n || cond.size() != n || dleft.size() != n || hess.size() != n || n == 0)
        return core::Error::invalid("tree SHAP: a tree's node arrays differ in length");
      if (t.contains("split_type"))
        for (const auto& st : t.at("split_type"))
          if (st.get<int>() != 0) return core::Error::invalid("tree SHAP: categorical splits are not supported");
      std::vector<RawNode> nodes(n);
      for (std::size_t i = 0; i < n; ++i) {
        RawNode& node = nodes[i];
        node.left = left[i].get<int>();
        node.right = right[i].get<int>();
        node.split = split[i].get<int>();
        node.default_left = dleft[i].get<int>() != 0;
        node.threshold = cond[i].get<float>();
        node.cover = hess[i].get<float>();
        const bool leaf = node.left == -1;
        if (!leaf && (node.left <= static_cast<int>(i) || node.right <= static_cast<int>(i) ||
                      node.left >= static_cast<int>(n) || node.right >= static_cast<int>(n) || node.split < 0 ||
                      static_cast<std::size_t>(node.split) >= features || !(node.cover > 0)))
          return core::Error::invalid("tree SHAP: a malformed tree");
      }
      if (auto added = out.add_tree(nodes); !added) return added.error();
    }
    return out;
  } catch (const std::exception& e) {
    return core::Error::invalid(std::string("tree SHAP: ") + e.what());
  }
}

core::Status TreeShap::add_tree(const std::vector<RawNode>& nodes) {
  const std::size_t n = nodes.size();
  Tree tree;
  tree.first_split = static_cast<std::uint32_t>(splits_.size());
  tree.first_leaf = static_cast<std::uint32_t>(leaves_.size());
  // Split nodes numbered in node order; each row decides each split once.
  std::vector<std::uint32_t> split_of(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    if (nodes[i].left == -1) continue;
    split_of[i] = tree.splits++;
    splits_.push_back({nodes[i].split, nodes[i].threshold, nodes[i].default_left});
  }
  max_splits_ = std::max<std::size_t>(max_splits_, tree.splits);

  // The tree's expected value, bottom-up in float like xgboost's node means
  // (children come after their parent).
  std::vector<float> mean(n, 0);
  for (std::size_t k = n; k-- > 0;) {
    const RawNode& node = nodes[k];
    if (node.left == -1) {
      mean[k] = node.threshold;
      continue;
    }
    const auto l = static_cast<std::size_t>(node.left), r = static_cast<std::size_t>(node.right);
    float m = mean[l] * nodes[l].cover;
    m += mean[r] * nodes[r].cover;
    m /= node.cover;
    mean[k] = m;
  }
  bias_ += mean[0];

  // Every leaf with the path to it: (node, side taken) from the root down.
  std::vector<PathStep> path;
  core::Status status = core::ok_status();
  auto visit = [&](auto&& self, std::size_t k) -> void {
    if (!status) return;
    const RawNode& node = nodes[k];
    if (node.left != -1) {
      path.push_back({k, true});
      self(self, static_cast<std::size_t>(node.left));
      path.back().second = false;
      self(self, static_cast<std::size_t>(node.right));
      path.pop_back();
      return;
    }
    if (path.empty()) return;  // a tree that is one leaf: only its expected value
    status = add_leaf(nodes, split_of, path, node.threshold);
  };
  visit(visit, 0);
  if (!status) return status;
  tree.leaves = static_cast<std::uint32_t>(leaves_.size()) - tree.first_leaf;
  if (tree.splits > 0 && tree.splits <= max_pattern_splits) {
    if (auto s = add_patterns(tree); !s) return s;
  }
  trees_.push_back(tree);
  return core::ok_status();
}

core::Status TreeShap::add_leaf(const std::vector<RawNode>& nodes, const std::vector<std::uint32_t>& split_of,
                                std::span<const PathStep> path, float value) {
  Leaf leaf;
  leaf.first_edge = static_cast<std::uint32_t>(edges_.size());
  leaf.edges = static_cast<std::uint32_t>(path.size());
  leaf.first_feature = static_cast<std::uint32_t>(leaf_features_.size());
  // The distinct features of the path, in order of first split, each with z:
  // the product of child cover / parent cover over its splits.
  std::vector<double> z;
  for (const auto& [k, went_left] : path) {
    const RawNode& node = nodes[k];
    const auto child = static_cast<std::size_t>(went_left ? node.left : node.right);
    const double fraction = static_cast<double>(nodes[child].cover) / static_cast<double>(node.cover);
    const auto begin = leaf_features_.begin() + leaf.first_feature;
    auto slot = static_cast<std::size_t>(std::find(begin, leaf_features_.end(), node.split) - begin);
    if (slot == z.size()) {
      if (z.size() == max_distinct)
        return core::Error::invalid("tree SHAP: a leaf's path splits on more than " + std::to_string(max_distinct) +
                                    " features");
      leaf_features_.push_back(node.split);
      z.push_back(1.0);
    }
    z[slot] *= fraction;
    edges_.push_back({split_of[k], went_left, static_cast<std::uint8_t>(slot)});
  }
  const std::size_t d = z.size();
  leaf.distinct = static_cast<std::uint8_t>(d);
  leaf.table = static_cast<std::uint32_t>(tables_.size());
  const std::size_t patterns = std::size_t{1} << d;
  if (tables_.size() + patterns * d > max_table_values)
    return core::Error::invalid("tree SHAP: the model's tables would exceed " + std::to_string(max_table_values) +
                                " values");

  // w(s) = s! (d - s - 1)! / d!, the Shapley weight of a subset of s others.
  std::vector<double> w(d, 0);
  for (std::size_t s = 0; s < d; ++s) {
    double f = 1.0 / static_cast<double>(d);
    // s! (d-s-1)! / (d-1)! = 1 / C(d-1, s)
    for (std::size_t k = 1; k <= s; ++k) f *= static_cast<double>(k) / static_cast<double>(d - k);
    w[s] = f;
  }
  // Z(T) for every subset T (bit j: slot j).
  std::vector<double> product(patterns, 1.0);
  for (std::size_t t = 1; t < patterns; ++t) {
    const auto low = static_cast<std::size_t>(std::countr_zero(t));
    product[t] = product[t & (t - 1)] * z[low];
  }
  // A(T) = sum over S ⊆ T of w(|S|) Z(T \ S), for every T but the full set.
  const std::size_t full = patterns - 1;
  std::vector<double> a(patterns, 0);
  for (std::size_t t = 0; t < full; ++t) {
    double sum = 0;
    for (std::size_t s = t;; s = (s - 1) & t) {
      sum += w[static_cast<std::size_t>(std::popcount(s))] * product[t & ~s];
      if (s == 0) break;
    }
    a[t] = sum;
  }
  const double v = value;
  for (std::size_t u = 0; u < patterns; ++u) {
    const double outside = product[full & ~u];  // Z(D \ U)
    for (std::size_t i = 0; i < d; ++i) {
      const std::size_t bit = std::size_t{1} << i;
      tables_.push_back((u & bit) != 0 ? v * (1 - z[i]) * a[u & ~bit] * outside : -v * a[u] * outside);
    }
  }
  leaves_.push_back(leaf);
  return core::ok_status();
}

core::Status TreeShap::add_patterns(Tree& tree) {
  // The tree's distinct features, each with its slot in a pattern's row.
  std::vector<int> features;
  for (std::uint32_t k = 0; k < tree.splits; ++k) {
    const int f = splits_[tree.first_split + k].feature;
    if (std::find(features.begin(), features.end(), f) == features.end()) features.push_back(f);
  }
  const std::size_t patterns = std::size_t{1} << tree.splits;
  if (patterns_.size() + patterns * features.size() > max_table_values) return core::ok_status();  // keep the leaves
  tree.first_tree_feature = static_cast<std::uint32_t>(tree_features_.size());
  tree.features = static_cast<std::uint32_t>(features.size());
  tree.patterns = static_cast<std::uint32_t>(patterns_.size());
  tree_features_.insert(tree_features_.end(), features.begin(), features.end());
  // Each pattern's row is the sum of the leaves' table values for the
  // conditions that pattern meets: what contributions() adds leaf by leaf.
  std::vector<unsigned char> went_left(tree.splits);
  std::vector<double> row(features.size());
  for (std::size_t p = 0; p < patterns; ++p) {
    for (std::uint32_t k = 0; k < tree.splits; ++k) went_left[k] = static_cast<unsigned char>((p >> k) & 1u);
    std::fill(row.begin(), row.end(), 0.0);
    for (std::uint32_t l = 0; l < tree.leaves; ++l) {
      const Leaf& leaf = leaves_[tree.first_leaf + l];
      const double* values = leaf_values(leaf, went_left.data());
      const int* feature = leaf_features_.data() + leaf.first_feature;
      for (unsigned i = 0; i < leaf.distinct; ++i) {
        const auto slot = static_cast<std::size_t>(std::find(features.begin(), features.end(), feature[i]) - features.begin());
        row[slot] += values[i];
      }
    }
    patterns_.insert(patterns_.end(), row.begin(), row.end());
  }
  // The leaves' tables are no longer read for this tree (they were the last added).
  const Leaf& first = leaves_[tree.first_leaf];
  tables_.resize(first.table);
  edges_.resize(first.first_edge);
  leaf_features_.resize(first.first_feature);
  leaves_.resize(tree.first_leaf);
  tree.leaves = 0;
  return core::ok_status();
}

const double* TreeShap::leaf_values(const Leaf& leaf, const unsigned char* went_left) const {
  const Edge* edge = edges_.data() + leaf.first_edge;
  unsigned met = (1u << leaf.distinct) - 1;
  for (std::uint32_t e = 0; e < leaf.edges; ++e)
    if (static_cast<bool>(went_left[edge[e].split]) != edge[e].left) met &= ~(1u << edge[e].slot);
  return tables_.data() + leaf.table + std::size_t{met} * leaf.distinct;
}

void TreeShap::contributions(std::span<const float> rows, std::span<float> out) const {
  const std::size_t cols = features_;
  const std::size_t n = rows.size() / cols;
  std::vector<double> phi(cols);  // the bias, the same for every row, is bias_
  std::vector<unsigned char> went_left(max_splits_);
  for (std::size_t r = 0; r < n; ++r) {
    const float* row = rows.data() + r * cols;
    std::fill(phi.begin(), phi.end(), 0.0);
    for (const Tree& tree : trees_) {
      const Split* splits = splits_.data() + tree.first_split;
      if (tree.features > 0) {
        // The decisions as one pattern.
        std::size_t pattern = 0;
        for (std::uint32_t k = 0; k < tree.splits; ++k)
          pattern |= std::size_t{splits[k].goes_left(row[splits[k].feature])} << k;
        const double* values = patterns_.data() + tree.patterns + pattern * tree.features;
        const int* feature = tree_features_.data() + tree.first_tree_feature;
        for (std::uint32_t i = 0; i < tree.features; ++i) phi[static_cast<std::size_t>(feature[i])] += values[i];
        continue;
      }
      for (std::uint32_t k = 0; k < tree.splits; ++k) went_left[k] = splits[k].goes_left(row[splits[k].feature]);
      const Leaf* leaves = leaves_.data() + tree.first_leaf;
      for (std::uint32_t l = 0; l < tree.leaves; ++l) {
        const Leaf& leaf = leaves[l];
        const double* values = leaf_values(leaf, went_left.data());
        const int* feature = leaf_features_.data() + leaf.first_feature;
        for (unsigned i = 0; i < leaf.distinct; ++i) phi[static_cast<std::size_t>(feature[i])] += values[i];
      }
    }
    float* dst = out.data() + r * (cols + 1);
    for (std::size_t c = 0; c < cols; ++c) dst[c] = static_cast<float>(phi[c]);
    dst[cols] = static_cast<float>(bias_);
  }
}

}  // namespace careloop::risk::detail
