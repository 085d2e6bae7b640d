// Softmax over the last dimension (numerically stable: the row max is subtracted first).
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

// The kernels, the same in each backend: the CPU ones (tensor/cpu/softmax.cpp) ...
namespace cpu {
Tensor softmax_lastdim(const Tensor& x);
// grad_x = y * (grad_y - sum(grad_y * y, last dim))
Tensor softmax_lastdim_backward(const Tensor& y, const Tensor& grad_y);
}  // namespace cpu
// ... and the CUDA ones (gpu/softmax.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
Tensor softmax_lastdim(const Tensor& x);
Tensor softmax_lastdim_backward(const Tensor& y, const Tensor& grad_y);
}  // namespace gpu

inline Tensor softmax_lastdim(const Tensor& x) { return DIP_DISPATCH(x.device(), softmax_lastdim, x); }
inline Tensor softmax_lastdim_backward(const Tensor& y, const Tensor& g) {
  check_same_device("softmax_backward", {&y, &g});
  return DIP_DISPATCH(y.device(), softmax_lastdim_backward, y, g);
}

}  // namespace dip
