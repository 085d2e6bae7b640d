// LayerNorm over the last dimension D: each row is normalised by its own mean and variance.
//   x: (..., D); gamma, beta: (D); mean, rstd: one per row, shape (rows) = numel / D.
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

struct LayerNormForward {
  Tensor y, mean, rstd;
};
struct LayerNormBackward {
  Tensor grad_x, grad_gamma, grad_beta;
};

// The argument checks both backends share (tensor/layer_norm.cpp); they return D, the last dimension.
int64_t check_layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
int64_t check_layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                  const Tensor& mean, const Tensor& rstd);

// The kernels, the same in each backend: the CPU ones (tensor/cpu/layer_norm.cpp) ...
namespace cpu {
LayerNormForward layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    float eps);
LayerNormBackward layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                      const Tensor& mean, const Tensor& rstd);
}  // namespace cpu
// ... and the CUDA ones (gpu/layer_norm.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
LayerNormForward layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    float eps);
LayerNormBackward layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                      const Tensor& mean, const Tensor& rstd);
}  // namespace gpu

inline LayerNormForward layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                           float eps) {
  check_same_device("layer_norm", {&x, &gamma, &beta});
  return DIP_DISPATCH(x.device(), layer_norm_forward, x, gamma, beta, eps);
}
inline LayerNormBackward layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                             const Tensor& mean, const Tensor& rstd) {
  check_same_device("layer_norm_backward", {&grad_y, &x, &gamma, &mean, &rstd});
  return DIP_DISPATCH(x.device(), layer_norm_backward, grad_y, x, gamma, mean, rstd);
}

}  // namespace dip
