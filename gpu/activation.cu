// CUDA kernels of tensor/activation.h: one pointwise launch each (gpu/pointwise.cuh), the same
// formulas as tensor/cpu/activation.cpp.
#include "gpu/pointwise.cuh"
#include "tensor/activation.h"

namespace dip::gpu {

namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;    // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;  // 1 / sqrt(2 pi)

struct LeakyReluF {
  float slope;
  __device__ __forceinline__ float operator()(float v) const { return v > 0.f ? v : v * slope; }
};
struct LeakyReluBackwardF {  // at x == 0 the slope side, as PyTorch and the CPU kernel
  float slope;
  __device__ __forceinline__ float operator()(float v, float g) const { return v > 0.f ? g : g * slope; }
};
struct SigmoidF {
  __device__ __forceinline__ float operator()(float v) const { return 1.f / (1.f + expf(-v)); }
};
struct SigmoidBackwardF {
  __device__ __forceinline__ float operator()(float s, float g) const { return g * s * (1.f - s); }
};
struct TanhF {
  __device__ __forceinline__ float operator()(float v) const { return tanhf(v); }
};
struct TanhBackwardF {
  __device__ __forceinline__ float operator()(float t, float g) const { return g * (1.f - t * t); }
};
struct GeluF {  // x Phi(x)
  __device__ __forceinline__ float operator()(float v) const { return 0.5f * v * (1.f + erff(v * kInvSqrt2)); }
};
struct GeluBackwardF {  // Phi(x) + x phi(x)
  __device__ __forceinline__ float operator()(float v, float g) const {
    const float cdf = 0.5f * (1.f + erff(v * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * expf(-0.5f * v * v);
    return g * (cdf + v * pdf);
  }
};

template <typename F>
Tensor forward(const Tensor& x, F f) {
  Tensor y = Tensor::empty(x.shape(), Device::CUDA);
  launch_map1(x.data(), y.data(), x.numel(), f);
  return y;
}

// grad_x from a saved tensor (x or y) and grad_y of the same shape.
template <typename F>
Tensor backward(const char* op, const Tensor& saved, const Tensor& grad_y, F f) {
  DIP_CHECK(saved.shape() == grad_y.shape(), op, ": saved ", describe(saved), " vs gradient ", describe(grad_y));
  Tensor gx = Tensor::empty(saved.shape(), Device::CUDA);
  launch_map2(saved.data(), grad_y.data(), gx.data(), saved.numel(), f);
  return gx;
}

}  // namespace

}  // namespace dip::gpu

namespace dip::gpu {

Tensor leaky_relu(const Tensor& x, float negative_slope) {
  return gpu::forward(x, gpu::LeakyReluF{negative_slope});
}
Tensor leaky_relu_backward(const Tensor& x, const Tensor& grad_y, float negative_slope) {
  return gpu::backward("leaky_relu_backward", x, grad_y, gpu::LeakyReluBackwardF{negative_slope});
}
Tensor sigmoid(const Tensor& x) { return gpu::forward(x, gpu::SigmoidF{}); }
Tensor sigmoid_backward(const Tensor& y, const Tensor& grad_y) {
  return gpu::backward("sigmoid_backward", y, grad_y, gpu::SigmoidBackwardF{});
}
Tensor tanh(const Tensor& x) { return gpu::forward(x, gpu::TanhF{}); }
Tensor tanh_backward(const Tensor& y, const Tensor& grad_y) {
  return gpu::backward("tanh_backward", y, grad_y, gpu::TanhBackwardF{});
}
Tensor gelu(const Tensor& x) { return gpu::forward(x, gpu::GeluF{}); }
Tensor gelu_backward(const Tensor& x, const Tensor& grad_y) {
  return gpu::backward("gelu_backward", x, grad_y, gpu::GeluBackwardF{});
}

}  // namespace dip::gpu
