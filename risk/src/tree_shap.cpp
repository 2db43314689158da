#include "tree_shap.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

namespace careloop::risk::detail {
namespace {

using Path = ShapPathElement;

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
    out.base_margin_ = static_cast<float>(std::log(base / (1 - base)));
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
      Tree tree;
      tree.nodes.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        Node& node = tree.nodes[i];
        node.left = left[i].get<int>();
        node.right = right[i].get<int>();
        node.split = split[i].get<int>();
        node.default_left = dleft[i].get<int>() != 0;
        node.threshold = cond[i].get<float>();
        node.cover = hess[i].get<float>();
        const bool leaf = node.left == -1;
        if (!leaf && (node.left <= static_cast<int>(i) || node.right <= static_cast<int>(i) ||
                      node.left >= static_cast<int>(n) || node.right >= static_cast<int>(n) || node.split < 0 ||
                      static_cast<std::size_t>(node.split) >= features))
          return core::Error::invalid("tree SHAP: a malformed tree");
      }
      // Expected values bottom-up (children come after their parent) and depths top-down.
      std::vector<float> mean(n, 0);
      for (std::size_t k = n; k-- > 0;) {
        const Node& node = tree.nodes[k];
        if (node.left == -1) {
          mean[k] = node.threshold;
        } else {
          const auto l = static_cast<std::size_t>(node.left), r = static_cast<std::size_t>(node.right);
          float m = mean[l] * tree.nodes[l].cover;
          m += mean[r] * tree.nodes[r].cover;
          m /= node.cover;
          mean[k] = m;
        }
      }
      std::vector<int> depth(n, 0);
      for (std::size_t k = 0; k < n; ++k) {
        const Node& node = tree.nodes[k];
        if (node.left == -1) continue;
        depth[static_cast<std::size_t>(node.left)] = depth[k] + 1;
        depth[static_cast<std::size_t>(node.right)] = depth[k] + 1;
      }
      tree.mean = mean[0];
      tree.depth = *std::max_element(depth.begin(), depth.end());
      out.max_depth_ = std::max(out.max_depth_, tree.depth);
      out.trees_.push_back(std::move(tree));
    }
    return out;
  } catch (const std::exception& e) {
    return core::Error::invalid(std::string("tree SHAP: ") + e.what());
  }
}

namespace {

// The path arithmetic of TreeSHAP (Lundberg et al. 2018, Algorithm 2), in
// float and in the order xgboost computes it, so the results round the same.
void extend_path(Path* path, unsigned depth, float zero_fraction, float one_fraction, int feature) {
  path[depth] = {feature, zero_fraction, one_fraction, depth == 0 ? 1.0f : 0.0f};
  for (int i = static_cast<int>(depth) - 1; i >= 0; --i) {
    const auto u = static_cast<unsigned>(i);
    path[u + 1].pweight += one_fraction * path[u].pweight * static_cast<float>(i + 1) / static_cast<float>(depth + 1);
    path[u].pweight = zero_fraction * path[u].pweight * static_cast<float>(depth - u) / static_cast<float>(depth + 1);
  }
}

void unwind_path(Path* path, unsigned depth, unsigned index) {
  const float one_fraction = path[index].one_fraction;
  const float zero_fraction = path[index].zero_fraction;
  float next_one_portion = path[depth].pweight;
  for (int i = static_cast<int>(depth) - 1; i >= 0; --i) {
    const auto u = static_cast<unsigned>(i);
    if (one_fraction != 0) {
      const float tmp = path[u].pweight;
      path[u].pweight = next_one_portion * static_cast<float>(depth + 1) / (static_cast<float>(i + 1) * one_fraction);
      next_one_portion =
          tmp - path[u].pweight * zero_fraction * static_cast<float>(depth - u) / static_cast<float>(depth + 1);
    } else {
      path[u].pweight = (path[u].pweight * static_cast<float>(depth + 1)) / (zero_fraction * static_cast<float>(depth - u));
    }
  }
  for (unsigned i = index; i < depth; ++i) {
    path[i].feature = path[i + 1].feature;
    path[i].zero_fraction = path[i + 1].zero_fraction;
    path[i].one_fraction = path[i + 1].one_fraction;
  }
}

float unwound_path_sum(const Path* path, unsigned depth, unsigned index) {
  const float one_fraction = path[index].one_fraction;
  const float zero_fraction = path[index].zero_fraction;
  float next_one_portion = path[depth].pweight;
  float total = 0;
  for (int i = static_cast<int>(depth) - 1; i >= 0; --i) {
    const auto u = static_cast<unsigned>(i);
    if (one_fraction != 0) {
      const float tmp = next_one_portion * static_cast<float>(depth + 1) / (static_cast<float>(i + 1) * one_fraction);
      total += tmp;
      next_one_portion =
          path[u].pweight - tmp * zero_fraction * (static_cast<float>(depth - u) / static_cast<float>(depth + 1));
    } else if (zero_fraction != 0) {
      total += (path[u].pweight / zero_fraction) / (static_cast<float>(depth - u) / static_cast<float>(depth + 1));
    }
  }
  return total;
}

}  // namespace

void TreeShap::shap(const Tree& tree, const float* row, float* phi, int node_index, unsigned depth,
                    Path* parent, float parent_zero, float parent_one, int parent_feature) const {
  Path* path = parent + depth + 1;
  std::copy(parent, parent + depth + 1, path);
  extend_path(path, depth, parent_zero, parent_one, parent_feature);
  const Node& node = tree.nodes[static_cast<std::size_t>(node_index)];
  if (node.left == -1) {
    for (unsigned i = 1; i <= depth; ++i) {
      const float w = unwound_path_sum(path, depth, i);
      const Path& el = path[i];
      phi[el.feature] += w * (el.one_fraction - el.zero_fraction) * node.threshold;
    }
    return;
  }
  const float v = row[node.split];
  const int hot = std::isnan(v) ? (node.default_left ? node.left : node.right) : (v < node.threshold ? node.left : node.right);
  const int cold = hot == node.left ? node.right : node.left;
  const float w = node.cover;
  const float hot_zero = tree.nodes[static_cast<std::size_t>(hot)].cover / w;
  const float cold_zero = tree.nodes[static_cast<std::size_t>(cold)].cover / w;
  float incoming_zero = 1, incoming_one = 1;
  // A feature split on again further down: its earlier entry leaves the path.
  unsigned index = 0;
  for (; index <= depth; ++index)
    if (path[index].feature == node.split) break;
  if (index != depth + 1) {
    incoming_zero = path[index].zero_fraction;
    incoming_one = path[index].one_fraction;
    unwind_path(path, depth, index);
    depth -= 1;
  }
  shap(tree, row, phi, hot, depth + 1, path, hot_zero * incoming_zero, incoming_one, node.split);
  shap(tree, row, phi, cold, depth + 1, path, cold_zero * incoming_zero, 0, node.split);
}

void TreeShap::contributions(std::span<const float> rows, std::span<float> out) const {
  const std::size_t cols = features_;
  const std::size_t n = rows.size() / cols;
  // Room for the nested copies of the path: (d + 2)(d + 3) / 2 entries for depth d, as xgboost sizes it.
  const auto maxd = static_cast<std::size_t>(max_depth_) + 2;
  std::vector<Path> paths(maxd * (maxd + 1) / 2 + maxd);
  std::vector<float> tree_phi(cols + 1);
  for (std::size_t r = 0; r < n; ++r) {
    const float* row = rows.data() + r * cols;
    float* phi = out.data() + r * (cols + 1);
    std::fill(phi, phi + cols + 1, 0.0f);
    // Per tree into its own buffer, then added, as xgboost sums them.
    for (const auto& tree : trees_) {
      std::fill(tree_phi.begin(), tree_phi.end(), 0.0f);
      tree_phi[cols] += tree.mean;
      shap(tree, row, tree_phi.data(), 0, 0, paths.data(), 1, 1, -1);
      for (std::size_t c = 0; c <= cols; ++c) phi[c] += tree_phi[c];
    }
    phi[cols] += base_margin_;
  }
}

}  // namespace careloop::risk::detail
