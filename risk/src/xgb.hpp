#pragma once
// The xgboost C API behind RAII handles (STYLE.md): a BoosterHandle or a
// DMatrixHandle lives in a unique_ptr whose deleter is its free function.
// Inside risk/src a failed call throws xgb::Failure; every public function
// catches it and returns core::Error, so no exception crosses the module.
#include <xgboost/c_api.h>

#include <cmath>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "careloop/core/result.hpp"

namespace careloop::risk::xgb {

struct BoosterFree {
  void operator()(void* h) const noexcept { XGBoosterFree(h); }
};
struct DMatrixFree {
  void operator()(void* h) const noexcept { XGDMatrixFree(h); }
};
using Booster = std::unique_ptr<void, BoosterFree>;
using DMatrix = std::unique_ptr<void, DMatrixFree>;

class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// XGBGetLastError is thread-local, so the message belongs to this call.
inline void check(int rc, const char* what) {
  if (rc != 0) throw Failure(std::string(what) + ": " + XGBGetLastError());
}

inline core::Error to_error(const Failure& f) { return core::Error::internal(std::string("xgboost: ") + f.what()); }

inline Booster make_booster(const std::vector<DMatrixHandle>& cache = {}) {
  BoosterHandle h = nullptr;
  check(XGBoosterCreate(cache.empty() ? nullptr : cache.data(), cache.size(), &h), "XGBoosterCreate");
  return Booster(h);
}

// Row-major floats with NaN as missing.
inline DMatrix dense_matrix(const float* data, std::size_t rows, std::size_t cols) {
  DMatrixHandle h = nullptr;
  check(XGDMatrixCreateFromMat_omp(data, rows, cols, std::nanf(""), &h, 1), "XGDMatrixCreateFromMat");
  return DMatrix(h);
}

inline void set_param(const Booster& b, const std::string& name, const std::string& value) {
  check(XGBoosterSetParam(b.get(), name.c_str(), value.c_str()), ("XGBoosterSetParam " + name).c_str());
}

inline std::string version() {
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

}  // namespace careloop::risk::xgb
