// CPU kernels of tensor/activation.h: one parallel, vectorisable pass per op.
#include "tensor/activation.h"

#include <algorithm>
#include <cmath>

namespace dip::cpu {

namespace {

// Below this many elements a thread team costs more than it saves.
constexpr int64_t kParallelMin = 32768;

// out[i] = f(x[i])
template <typename F>
Tensor map1(const Tensor& x, F f) {
  Tensor out = Tensor::empty(x.shape(), Device::CPU);
  const float* px = x.data();
  float* po = out.data();
  const int64_t n = x.numel();
#pragma omp parallel for simd firstprivate(f) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) po[i] = f(px[i]);
  return out;
}

// out[i] = f(a[i], b[i]), a and b of the same shape (the backward kernels: saved tensor, grad).
template <typename F>
Tensor map2(const char* op, const Tensor& a, const Tensor& b, F f) {
  DIP_CHECK(a.shape() == b.shape(), op, ": saved ", describe(a), " vs gradient ", describe(b));
  Tensor out = Tensor::empty(a.shape(), Device::CPU);
  const float* pa = a.data();
  const float* pb = b.data();
  float* po = out.data();
  const int64_t n = a.numel();
#pragma omp parallel for simd firstprivate(f) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
  return out;
}

constexpr float kInvSqrt2 = 0.70710678118654752f;    // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;  // 1 / sqrt(2 pi)

}  // namespace

Tensor leaky_relu(const Tensor& x, float slope) {
  // max/min instead of `v > 0 ? v : v * slope`: GCC will not if-convert a conditional float
  // multiply (it could trap), and the branch would stop vectorisation. Exact for either sign.
  return map1(x, [slope](float v) { return std::max(v, 0.f) + slope * std::min(v, 0.f); });
}

Tensor leaky_relu_backward(const Tensor& x, const Tensor& grad_y, float slope) {
  // At x == 0 the slope side is taken, as PyTorch does.
  return map2("leaky_relu_backward", x, grad_y,
              [slope](float v, float g) { return g * (v > 0.f ? 1.f : slope); });  // a select
}

Tensor sigmoid(const Tensor& x) {
  // exp(-x) overflows to inf for x < -88, giving the correct limit 0; no NaN either way.
  return map1(x, [](float v) { return 1.f / (1.f + std::exp(-v)); });
}

Tensor sigmoid_backward(const Tensor& y, const Tensor& grad_y) {
  return map2("sigmoid_backward", y, grad_y, [](float s, float g) { return g * s * (1.f - s); });
}

Tensor tanh(const Tensor& x) {
  return map1(x, [](float v) { return std::tanh(v); });
}

Tensor tanh_backward(const Tensor& y, const Tensor& grad_y) {
  return map2("tanh_backward", y, grad_y, [](float t, float g) { return g * (1.f - t * t); });
}

Tensor gelu(const Tensor& x) {
  // x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2
  return map1(x, [](float v) { return 0.5f * v * (1.f + std::erf(v * kInvSqrt2)); });
}

Tensor gelu_backward(const Tensor& x, const Tensor& grad_y) {
  // d/dx x Phi(x) = Phi(x) + x phi(x), phi the standard normal density.
  return map2("gelu_backward", x, grad_y, [](float v, float g) {
    float cdf = 0.5f * (1.f + std::erf(v * kInvSqrt2));
    float pdf = kInvSqrt2Pi * std::exp(-0.5f * v * v);
    return g * (cdf + v * pdf);
  });
}

}  // namespace dip::cpu
