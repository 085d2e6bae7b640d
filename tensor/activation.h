// Pointwise activations and their backward kernels.
// Backward kernels take what is cheapest to keep: the input x (leaky_relu, gelu) or the output y
// (sigmoid, tanh, whose derivatives are functions of y).
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

// The kernels, the same in each backend: the CPU ones (tensor/cpu/activation.cpp) ...
namespace cpu {
Tensor leaky_relu(const Tensor& x, float negative_slope);
Tensor leaky_relu_backward(const Tensor& x, const Tensor& grad_y, float negative_slope);
Tensor sigmoid(const Tensor& x);
Tensor sigmoid_backward(const Tensor& y, const Tensor& grad_y);
Tensor tanh(const Tensor& x);
Tensor tanh_backward(const Tensor& y, const Tensor& grad_y);
// Exact GELU, x * Phi(x) with the erf form (PyTorch's default).
Tensor gelu(const Tensor& x);
Tensor gelu_backward(const Tensor& x, const Tensor& grad_y);
}  // namespace cpu
// ... and the CUDA ones (gpu/activation.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
Tensor leaky_relu(const Tensor& x, float negative_slope);
Tensor leaky_relu_backward(const Tensor& x, const Tensor& grad_y, float negative_slope);
Tensor sigmoid(const Tensor& x);
Tensor sigmoid_backward(const Tensor& y, const Tensor& grad_y);
Tensor tanh(const Tensor& x);
Tensor tanh_backward(const Tensor& y, const Tensor& grad_y);
Tensor gelu(const Tensor& x);
Tensor gelu_backward(const Tensor& x, const Tensor& grad_y);
}  // namespace gpu

inline Tensor leaky_relu(const Tensor& x, float slope) { return DIP_DISPATCH(x.device(), leaky_relu, x, slope); }
inline Tensor leaky_relu_backward(const Tensor& x, const Tensor& g, float slope) {
  check_same_device("leaky_relu_backward", {&x, &g});
  return DIP_DISPATCH(x.device(), leaky_relu_backward, x, g, slope);
}
inline Tensor relu(const Tensor& x) { return leaky_relu(x, 0.f); }
inline Tensor sigmoid(const Tensor& x) { return DIP_DISPATCH(x.device(), sigmoid, x); }
inline Tensor sigmoid_backward(const Tensor& y, const Tensor& g) {
  check_same_device("sigmoid_backward", {&y, &g});
  return DIP_DISPATCH(y.device(), sigmoid_backward, y, g);
}
inline Tensor tanh(const Tensor& x) { return DIP_DISPATCH(x.device(), tanh, x); }
inline Tensor tanh_backward(const Tensor& y, const Tensor& g) {
  check_same_device("tanh_backward", {&y, &g});
  return DIP_DISPATCH(y.device(), tanh_backward, y, g);
}
inline Tensor gelu(const Tensor& x) { return DIP_DISPATCH(x.device(), gelu, x); }
inline Tensor gelu_backward(const Tensor& x, const Tensor& g) {
  check_same_device("gelu_backward", {&x, &g});
  return DIP_DISPATCH(x.device(), gelu_backward, x, g);
}

}  // namespace dip
