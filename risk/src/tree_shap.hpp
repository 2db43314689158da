#pragma once
// SHAP contributions of a gradient-boosted tree ensemble (xgboost's JSON
// model), computed here rather than by XGBoosterPredictFromDMatrix type 2:
// the same path-dependent TreeSHAP (Lundberg, Erion & Lee 2018, Algorithm 2)
// in the same single-precision arithmetic as xgboost 1.7's
// RegTree::CalculateContributions, so the values agree with xgboost's to
// float rounding (tests/risk/model.cpp checks 1e-5), without xgboost's
// per-call DMatrix and per-row, per-tree allocations (about 100 µs a row
// for these 100-tree models; this is a few µs: docs/PERFORMANCE.md).
//
// Numerical splits only; a model with categorical splits, another objective
// than binary:logistic or a booster other than gbtree is refused (the caller
// then keeps xgboost's own path).
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "careloop/core/result.hpp"

namespace careloop::risk::detail {

// One feature on the path from the root to a node (TreeSHAP's m).
struct ShapPathElement {
  int feature = -1;
  float zero_fraction = 0;
  float one_fraction = 0;
  float pweight = 0;
};

class TreeShap {
 public:
  // Parses xgboost's JSON model (model.json); `features` is the spec's count.
  static core::Result<TreeShap> from_model_json(std::string_view json, std::size_t features);

  std::size_t features() const noexcept { return features_; }
  // rows: n × features() (NaN missing); out: n × (features() + 1), the bias
  // last. Each row's values sum to its margin.
  void contributions(std::span<const float> rows, std::span<float> out) const;

 private:
  struct Node {
    int left = -1;  // -1: a leaf
    int right = -1;
    int split = 0;  // feature index
    bool default_left = false;
    float threshold = 0;  // split condition, or the leaf's value
    float cover = 0;      // sum of hessians
  };
  struct Tree {
    std::vector<Node> nodes;
    float mean = 0;  // expected value of the tree (cover-weighted mean of its leaves)
    int depth = 0;
  };
  void shap(const Tree& tree, const float* row, float* phi, int node, unsigned depth, ShapPathElement* parent_path,
            float parent_zero, float parent_one, int parent_feature) const;

  std::size_t features_ = 0;
  float base_margin_ = 0;
  int max_depth_ = 0;
  std::vector<Tree> trees_;
};

}  // namespace careloop::risk::detail
