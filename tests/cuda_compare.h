// Helpers for the CUDA tests: skip cleanly without a GPU, and compare a CUDA result with the CPU one.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "gpu/runtime.h"
#include "tensor/tensor.h"

namespace dip::test {

// Decorator for GPU test cases: doctest reports them as skipped where no GPU is usable.
//   TEST_CASE("cuda: conv2d" * dip::test::needs_gpu()) { ... }
inline doctest::skip needs_gpu() { return doctest::skip(!gpu::available()); }

// Sets the CUDA matrix-product precision for a scope (FP32 to compare with the CPU), then restores it.
class PrecisionScope {
 public:
  explicit PrecisionScope(gpu::Precision p) : saved_(gpu::precision()) { gpu::set_precision(p); }
  ~PrecisionScope() { gpu::set_precision(saved_); }
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  gpu::Precision saved_;
};

// Normalised error ||a - b|| / max(||b||, tiny) between a CUDA tensor and the CPU reference `b`.
inline double normalized_error(const Tensor& a, const Tensor& b) {
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  REQUIRE(va.size() == vb.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    double d = double(va[i]) - double(vb[i]);
    num += d * d;
    den += double(vb[i]) * double(vb[i]);
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-12);
}

// CHECKs that the CUDA result matches the CPU result within `tol` (normalised error).
inline void check_close(const std::string& what, const Tensor& cuda_result, const Tensor& cpu_result,
                        double tol = 1e-5) {
  INFO("cuda vs cpu: ", what);
  REQUIRE(cuda_result.shape() == cpu_result.shape());
  double err = normalized_error(cuda_result, cpu_result);
  CHECK_MESSAGE(err <= tol, what, ": normalised error ", err, " > ", tol);
}

}  // namespace dip::test
