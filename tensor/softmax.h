// Softmax over the last dimension (numerically stable: the row max is subtracted first).
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

#define DIP_SOFTMAX_KERNELS                                \
  Tensor softmax_lastdim(const Tensor& x);                 \
  /* grad_x = y * (grad_y - sum(grad_y * y, last dim)) */  \
  Tensor softmax_lastdim_backward(const Tensor& y, const Tensor& grad_y);

namespace cpu { DIP_SOFTMAX_KERNELS }
namespace cuda { DIP_SOFTMAX_KERNELS }

inline Tensor softmax_lastdim(const Tensor& x) { return DIP_DISPATCH(x.device(), softmax_lastdim, x); }
inline Tensor softmax_lastdim_backward(const Tensor& y, const Tensor& g) {
  check_same_device("softmax_backward", {&y, &g});
  return DIP_DISPATCH(y.device(), softmax_lastdim_backward, y, g);
}

}  // namespace dip
