#pragma once
// SHAP contributions of a gradient-boosted tree ensemble (xgboost's JSON
// model), computed here rather than by XGBoosterPredictFromDMatrix type 2.
//
// The values are xgboost's path-dependent TreeSHAP (Lundberg, Erion & Lee
// 2018), computed from tables made once at load instead of by extending and
// unwinding the path for every row. For one leaf with value v, whose path
// splits on the d distinct features D (feature j with cover fraction z_j,
// the product of child/parent covers of its splits on the path), a row
// meets the conditions of a subset U of them. TreeSHAP's sum over subsets
// then reduces to (derivation in risk/README.md):
//
//   feature i in U:      v (1 - z_i) A(U \ {i}) Z(D \ U)
//   feature i not in U: -v A(U) Z(D \ U)
//
// with Z(T) the product of z_j over T, and
// A(T) = sum over S ⊆ T of |S|! (d - |S| - 1)! / d! · Z(T \ S).
// Everything but U is known at load, so each leaf keeps, for each of its
// 2^d possible U, its d contributions; a row costs one comparison per
// split node and d additions per leaf (the idea of Yang 2021, "Fast
// TreeSHAP", arXiv:2109.09847, algorithm v2). A tree of at most 10 split
// nodes (every depth-3 tree) goes one step further: the row's decisions at
// all its splits, as one bit pattern, fix every leaf's U, so the tree keeps
// one row of contributions per pattern (the sum of its leaves' table
// values, made at load) and a row costs one branch-free comparison per split
// and one addition per distinct feature of the tree. Tables are in double; the
// values agree with xgboost's single-precision ones to float rounding
// (tests/risk/model.cpp checks 1e-5; Model::load checks again and otherwise
// keeps xgboost's own call).
//
// Numerical splits only; a model with categorical splits, another objective
// than binary:logistic, another booster than gbtree, or a leaf whose path
// splits on more than 12 distinct features (tables of 2^d · d values) is
// refused, and the caller keeps xgboost's own path.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "careloop/core/result.hpp"

namespace careloop::risk::detail {

class TreeShap {
 public:
  // Parses xgboost's JSON model (model.json); `features` is the spec's count.
  static core::Result<TreeShap> from_model_json(std::string_view json, std::size_t features);

  std::size_t features() const noexcept { return features_; }
  // rows: n × features() (NaN missing); out: n × (features() + 1), the bias
  // last. Each row's values sum to its margin.
  void contributions(std::span<const float> rows, std::span<float> out) const;

 private:
  struct Split {
    int feature = 0;
    float threshold = 0;
    bool default_left = false;
    // xgboost's rule: below the threshold goes left; a missing value (NaN,
    // which compares false) takes the default side. No branch on the data.
    bool goes_left(float x) const noexcept { return (x < threshold) | (std::isnan(x) & default_left); }
  };
  // One condition on a leaf's path: the split node (index into the tree's
  // splits), the side taken, and the slot of its feature among the leaf's d.
  struct Edge {
    std::uint32_t split = 0;
    bool left = false;
    std::uint8_t slot = 0;
  };
  struct Leaf {
    std::uint32_t first_edge = 0;
    std::uint32_t edges = 0;
    std::uint32_t first_feature = 0;  // d entries in leaf_features_
    std::uint32_t table = 0;          // 2^d × d entries in tables_
    std::uint8_t distinct = 0;        // d
  };
  struct Tree {
    std::uint32_t first_split = 0;
    std::uint32_t splits = 0;
    std::uint32_t first_leaf = 0;
    std::uint32_t leaves = 0;  // 0 when the tree has a pattern table
    // A pattern table (features > 0): 2^splits rows of `features` values
    // from patterns_, bit k of a row's index = split k went left.
    std::uint32_t first_tree_feature = 0;  // `features` entries in tree_features_
    std::uint32_t features = 0;
    std::uint32_t patterns = 0;
  };

  struct RawNode {  // as model.json gives it
    int left = -1;  // -1: a leaf
    int right = -1;
    int split = 0;
    bool default_left = false;
    float threshold = 0;  // split condition, or the leaf's value
    float cover = 0;      // sum of hessians
  };
  using PathStep = std::pair<std::size_t, bool>;  // node, went left
  core::Status add_tree(const std::vector<RawNode>& nodes);
  core::Status add_leaf(const std::vector<RawNode>& nodes, const std::vector<std::uint32_t>& split_of,
                        std::span<const PathStep> path, float value);
  // Replaces a small tree's leaf tables by one row per decision pattern.
  core::Status add_patterns(Tree& tree);
  // The leaf's d contributions for the row whose split decisions are went_left.
  const double* leaf_values(const Leaf& leaf, const unsigned char* went_left) const;

  std::size_t features_ = 0;
  double bias_ = 0;  // base margin plus every tree's expected value
  std::size_t max_splits_ = 0;
  std::vector<Tree> trees_;
  std::vector<Split> splits_;
  std::vector<Leaf> leaves_;
  std::vector<Edge> edges_;
  std::vector<int> leaf_features_;
  std::vector<double> tables_;
  std::vector<int> tree_features_;
  std::vector<double> patterns_;
};

}  // namespace careloop::risk::detail
