#pragma once
// Risk scores: what risk/ computed for a patient, kept with its explanation.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "careloop/store/common.hpp"

namespace careloop::store {

// A model's score of one patient (risk/ computes it; the store keeps it).
struct StoredRiskScore {
  std::int64_t patient_id = 0;
  std::string model_id;
  std::string model_version;
  double probability = 0;
  std::string band;            // "low", "moderate", "high"
  std::string factors_json;    // the explanation, as risk/ wrote it
  std::int64_t computed_at_ms = 0;
};

class RiskScores {
 public:
  virtual ~RiskScores() = default;

  // Stores scores (of any patients) in one write; each patient must exist.
  virtual void add_risk_scores(std::vector<StoredRiskScore> scores, Completion<core::Unit> done) = 0;
  // The newest score of each model for a patient, by model id.
  virtual std::vector<StoredRiskScore> latest_risk_scores(std::int64_t patient_id) = 0;
};

}  // namespace careloop::store
