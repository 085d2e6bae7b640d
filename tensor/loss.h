// Losses that DIP fits with, as fused kernels (one pass, a (1) result).
//   mse_loss = mean((y - target)^2)
//   tv_loss  = (sum |x[., ., i, j+1] - x[., ., i, j]| + sum |x[., ., i+1, j] - x[., ., i, j]|) / numel(x)
//              anisotropic total variation of an (N, C, H, W) image.
//   isotropic_tv_loss (DIP-TV; Liu, Sun, Xu, Kamilov, ICASSP 2019): with forward differences
//     dx[i, j] = x[., ., i, j+1] - x[., ., i, j]   (0 in the last column)
//     dy[i, j] = x[., ., i+1, j] - x[., ., i, j]   (0 in the last row)
//   isotropic_tv_loss(x, eps) = sum over all elements of sqrt(dx^2 + dy^2 + eps) / numel(x)
//     per channel (every leading dimension is a plane), normalised per pixel like tv_loss so one
//     weight means the same on any image size. eps > 0 makes it differentiable where dx = dy = 0;
//     a constant image scores sqrt(eps).
// Both TVs take any rank >= 2 (the last two dimensions are (H, W)).
// Backward kernels take grad_loss, the (1) gradient of the loss on the input's device, so nothing
// waits for the host on the GPU.
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

// The kernels, the same in each backend: the CPU ones (tensor/cpu/loss.cpp) ...
namespace cpu {
Tensor mse_loss_forward(const Tensor& y, const Tensor& target);
// dL/dy = grad_loss * 2 (y - target) / numel
Tensor mse_loss_backward(const Tensor& y, const Tensor& target, const Tensor& grad_loss);
Tensor tv_loss_forward(const Tensor& x);
Tensor tv_loss_backward(const Tensor& x, const Tensor& grad_loss);
/* eps > 0. With r = sqrt(dx^2 + dy^2 + eps), a gather (no atomics):
   dL/dx[i, j] = grad_loss / numel * (-(dx + dy) / r at [i, j]
                 + dx / r at [i, j-1] (j > 0) + dy / r at [i-1, j] (i > 0)) */
Tensor isotropic_tv_loss_forward(const Tensor& x, float eps);
Tensor isotropic_tv_loss_backward(const Tensor& x, float eps, const Tensor& grad_loss);
}  // namespace cpu
// ... and the CUDA ones (gpu/loss.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
Tensor mse_loss_forward(const Tensor& y, const Tensor& target);
Tensor mse_loss_backward(const Tensor& y, const Tensor& target, const Tensor& grad_loss);
Tensor tv_loss_forward(const Tensor& x);
Tensor tv_loss_backward(const Tensor& x, const Tensor& grad_loss);
/* eps > 0. With r = sqrt(dx^2 + dy^2 + eps), a gather (no atomics):
   dL/dx[i, j] = grad_loss / numel * (-(dx + dy) / r at [i, j]
                 + dx / r at [i, j-1] (j > 0) + dy / r at [i-1, j] (i > 0)) */
Tensor isotropic_tv_loss_forward(const Tensor& x, float eps);
Tensor isotropic_tv_loss_backward(const Tensor& x, float eps, const Tensor& grad_loss);
}  // namespace gpu

// The ops: they check their arguments (tensor/loss.cpp), then call a kernel; the kernels trust them.
Tensor mse_loss_forward(const Tensor& y, const Tensor& target);
Tensor mse_loss_backward(const Tensor& y, const Tensor& target, const Tensor& grad_loss);
Tensor tv_loss_forward(const Tensor& x);
Tensor tv_loss_backward(const Tensor& x, const Tensor& grad_loss);
Tensor isotropic_tv_loss_forward(const Tensor& x, float eps);
Tensor isotropic_tv_loss_backward(const Tensor& x, float eps, const Tensor& grad_loss);

// An image viewed as planes of (H, W): every leading dimension is a plane index.
struct ImagePlanes {
  int64_t planes, h, w;
};
inline ImagePlanes image_planes(const Tensor& x) {
  const int64_t h = x.size(-2), w = x.size(-1);
  return {x.numel() / (h * w), h, w};
}

}  // namespace dip
