// CPU kernels of tensor/softmax.h. Threads split the rows of the (rows, D) view.
#include "tensor/softmax.h"

#include <algorithm>
#include <cmath>

namespace dip::cpu {

namespace {
constexpr int64_t kParallelMin = 32768;
}  // namespace

Tensor softmax_lastdim(const Tensor& x) {
  DIP_CHECK(x.rank() >= 1 && x.size(-1) > 0, "softmax: needs a non-empty last dimension, got ", describe(x));
  const int64_t dim = x.size(-1), rows = x.numel() / dim;
  Tensor y = Tensor::empty(x.shape(), Device::CPU);
  const float* px = x.data();
  float* py = y.data();
#pragma omp parallel for schedule(static) if (x.numel() > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = px + r * dim;  // (D)
    float* q = py + r * dim;
    float mx = p[0];
#pragma omp simd reduction(max : mx)
    for (int64_t i = 0; i < dim; ++i) mx = std::max(mx, p[i]);
    // exp(x - max) <= 1: no overflow, and the largest term is exactly 1 so the sum is >= 1.
    double sum = 0;
    for (int64_t i = 0; i < dim; ++i) {
      q[i] = std::exp(p[i] - mx);
      sum += q[i];
    }
    const float inv = static_cast<float>(1.0 / sum);
#pragma omp simd
    for (int64_t i = 0; i < dim; ++i) q[i] *= inv;
  }
  return y;
}

Tensor softmax_lastdim_backward(const Tensor& y, const Tensor& grad_y) {
  DIP_CHECK(y.shape() == grad_y.shape(), "softmax_backward: output ", describe(y), " vs gradient ",
            describe(grad_y));
  const int64_t dim = y.size(-1), rows = y.numel() / dim;
  Tensor gx = Tensor::empty(y.shape(), Device::CPU);
  const float* py = y.data();
  const float* pg = grad_y.data();
  float* pgx = gx.data();
#pragma omp parallel for schedule(static) if (y.numel() > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = py + r * dim;  // (D)
    const float* g = pg + r * dim;
    float* q = pgx + r * dim;
    double dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t i = 0; i < dim; ++i) dot += double(g[i]) * s[i];
    const float d = static_cast<float>(dot);
#pragma omp simd
    for (int64_t i = 0; i < dim; ++i) q[i] = s[i] * (g[i] - d);
  }
  return gx;
}

}  // namespace dip::cpu
