// Upsampling by an integer factor: nearest, or bilinear with align_corners = false (as PyTorch).
//   x: (N, C, H, W) -> (N, C, H*scale, W*scale)
// The backward is a gather over the output (each input pixel sums its footprint): deterministic,
// no atomics.
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

enum class UpsampleMode { Nearest, Bilinear };

// The kernels, the same in each backend: the CPU ones (tensor/cpu/upsample.cpp) ...
namespace cpu {
Tensor upsample2d(const Tensor& x, int scale, UpsampleMode mode);
// grad_y: (N, C, H*scale, W*scale) -> (N, C, H, W)
Tensor upsample2d_backward(const Tensor& grad_y, int scale, UpsampleMode mode);
}  // namespace cpu
// ... and the CUDA ones (gpu/upsample.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
Tensor upsample2d(const Tensor& x, int scale, UpsampleMode mode);
Tensor upsample2d_backward(const Tensor& grad_y, int scale, UpsampleMode mode);
}  // namespace gpu

inline Tensor upsample2d(const Tensor& x, int scale, UpsampleMode mode) {
  return DIP_DISPATCH(x.device(), upsample2d, x, scale, mode);
}
inline Tensor upsample2d_backward(const Tensor& grad_y, int scale, UpsampleMode mode) {
  return DIP_DISPATCH(grad_y.device(), upsample2d_backward, grad_y, scale, mode);
}

}  // namespace dip
