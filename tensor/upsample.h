// Upsampling by an integer factor: nearest, or bilinear with align_corners = false (as PyTorch).
//   x: (N, C, H, W) -> (N, C, H*scale, W*scale)
// The backward is a gather over the output (each input pixel sums its footprint): deterministic,
// no atomics.
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

enum class UpsampleMode { Nearest, Bilinear };

#define DIP_UPSAMPLE_KERNELS                                                    \
  Tensor upsample2d(const Tensor& x, int scale, UpsampleMode mode);             \
  /* grad_y: (N, C, H*scale, W*scale) -> (N, C, H, W) */                        \
  Tensor upsample2d_backward(const Tensor& grad_y, int scale, UpsampleMode mode);

namespace cpu { DIP_UPSAMPLE_KERNELS }
namespace cuda { DIP_UPSAMPLE_KERNELS }

inline Tensor upsample2d(const Tensor& x, int scale, UpsampleMode mode) {
  return DIP_DISPATCH(x.device(), upsample2d, x, scale, mode);
}
inline Tensor upsample2d_backward(const Tensor& grad_y, int scale, UpsampleMode mode) {
  return DIP_DISPATCH(grad_y.device(), upsample2d_backward, grad_y, scale, mode);
}

}  // namespace dip
