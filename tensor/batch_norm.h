// BatchNorm2d in training mode: normalise each channel by its batch statistics, then scale and shift.
//   x: (N, C, H, W); gamma, beta: (C); mean, invstd: (C) saved for the backward pass.
//   y = (x - mean) * invstd * gamma + beta,  invstd = 1 / sqrt(var + eps), var biased (over N*H*W).
// With a BatchNormActivation the kernels also apply a LeakyReLU to that affine output, z:
//   y = z > 0 ? z : slope * z, and the backward recomputes z from x to mask the gradient (at z == 0
//   the slope side, as leaky_relu_backward), so no pre-activation tensor is kept.
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

// An optional LeakyReLU applied after the affine map inside the kernels (slope 0: ReLU).
struct BatchNormActivation {
  bool leaky_relu = false;
  float slope = 0.f;
};

struct BatchNormForward {
  Tensor y;       // (N, C, H, W)
  Tensor mean;    // (C)
  Tensor invstd;  // (C)
};
struct BatchNormBackward {
  Tensor grad_x;      // (N, C, H, W)
  Tensor grad_gamma;  // (C)
  Tensor grad_beta;   // (C)
};

// The argument checks both backends share (tensor/batch_norm.cpp); they return the input's
// (N, C, H*W) — the kernels view x as N*C planes of H*W values.
struct BatchNormDims {
  int64_t n, c, hw;
};
BatchNormDims check_batch_norm2d_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                         float eps);
BatchNormDims check_batch_norm2d_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                          const Tensor& beta, const Tensor& mean, const Tensor& invstd);

// The kernels, the same in each backend: the CPU ones (tensor/cpu/batch_norm.cpp) ...
namespace cpu {
BatchNormForward batch_norm2d_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      float eps, const BatchNormActivation& act);
BatchNormBackward batch_norm2d_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                        const Tensor& beta, const Tensor& mean, const Tensor& invstd,
                                        const BatchNormActivation& act);
}  // namespace cpu
// ... and the CUDA ones (gpu/batch_norm.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
BatchNormForward batch_norm2d_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      float eps, const BatchNormActivation& act);
BatchNormBackward batch_norm2d_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                        const Tensor& beta, const Tensor& mean, const Tensor& invstd,
                                        const BatchNormActivation& act);
}  // namespace gpu

// grad_y is the gradient of the (activated, when act says so) output y; beta is needed to recompute z.
inline BatchNormForward batch_norm2d_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                             float eps, const BatchNormActivation& act = {}) {
  check_same_device("batch_norm2d", {&x, &gamma, &beta});
  return DIP_DISPATCH(x.device(), batch_norm2d_forward, x, gamma, beta, eps, act);
}
inline BatchNormBackward batch_norm2d_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                               const Tensor& beta, const Tensor& mean, const Tensor& invstd,
                                               const BatchNormActivation& act = {}) {
  check_same_device("batch_norm2d_backward", {&grad_y, &x, &gamma, &beta, &mean, &invstd});
  return DIP_DISPATCH(x.device(), batch_norm2d_backward, grad_y, x, gamma, beta, mean, invstd, act);
}

}  // namespace dip
