// CPU kernels of tensor/activation.h: one parallel, vectorisable pass per op.
#include "tensor/activation.h"
#include "tensor/cpu/leaky_relu.h"
#include "tensor/cpu/simd.h"

#include <omp.h>

#include <cmath>
#include <cstdint>

namespace dip::cpu {

namespace {

// Below this many elements a thread team costs more than it saves.
constexpr int64_t kParallelMin = 32768;

// Calls f(begin, end) once per thread on contiguous spans that together cover [0, n); span
// boundaries fall on 16-float (64-byte) lines so no two threads write the same cache line.
template <typename F>
void for_spans(int64_t n, F f) {
#pragma omp parallel if (n > kParallelMin)
  {
    const int64_t t = omp_get_thread_num(), team = omp_get_num_threads();
    const int64_t begin = n * t / team / 16 * 16;
    const int64_t end = t + 1 == team ? n : n * (t + 1) / team / 16 * 16;
    if (begin < end) f(begin, end);
  }
}

// o[i] = f(x[i]) on one span. `f` arrives by value, so its captured constants (the slope) are
// locals in registers, not loads through a pointer that the stores might alias.
template <typename F>
DIP_VECTOR_CLONES void map1_span(const float* x, float* o, int64_t n, F f) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
}

// o[i] = f(a[i], b[i]) on one span.
template <typename F>
DIP_VECTOR_CLONES void map2_span(const float* a, const float* b, float* o, int64_t n, F f) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
}

template <typename F>
Tensor map1(const Tensor& x, F f) {
  Tensor out = Tensor::empty(x.shape(), Device::CPU);
  const float* px = x.data();
  float* po = out.data();
  for_spans(x.numel(), [&](int64_t b, int64_t e) { map1_span(px + b, po + b, e - b, f); });
  return out;
}

// The backward kernels: a saved tensor (x or y) and the gradient, of the same shape.
template <typename F>
Tensor map2(const char* op, const Tensor& a, const Tensor& b, F f) {
  DIP_CHECK(a.shape() == b.shape(), op, ": saved ", describe(a), " vs gradient ", describe(b));
  Tensor out = Tensor::empty(a.shape(), Device::CPU);
  const float* pa = a.data();
  const float* pb = b.data();
  float* po = out.data();
  for_spans(a.numel(), [&](int64_t s, int64_t e) { map2_span(pa + s, pb + s, po + s, e - s, f); });
  return out;
}

constexpr float kInvSqrt2 = 0.70710678118654752f;    // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;  // 1 / sqrt(2 pi)

}  // namespace

Tensor leaky_relu(const Tensor& x, float slope) {
  return map1(x, [slope](float v) { return lrelu(v, slope); });
}

Tensor leaky_relu_backward(const Tensor& x, const Tensor& grad_y, float slope) {
  // At x == 0 the slope side is taken, as PyTorch does.
  return map2("leaky_relu_backward", x, grad_y, [slope](float v, float g) { return lrelu_grad(v, g, slope); });
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
