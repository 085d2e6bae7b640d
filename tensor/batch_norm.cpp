// Argument checks of tensor/batch_norm.h, shared by the CPU and CUDA kernels.
#include "tensor/batch_norm.h"

namespace dip {

namespace {
BatchNormDims check_nchw(const char* op, const Tensor& x, const Tensor& gamma) {
  DIP_CHECK(x.rank() == 4, op, ": input must be (N, C, H, W), got ", describe(x));
  BatchNormDims d{x.size(0), x.size(1), x.size(2) * x.size(3)};
  DIP_CHECK(gamma.numel() == d.c, op, ": gamma ", describe(gamma), " does not match the ", d.c,
            " channels of ", describe(x));
  return d;
}
}  // namespace

BatchNormDims check_batch_norm2d_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                         float eps) {
  const BatchNormDims d = check_nchw("batch_norm2d", x, gamma);
  DIP_CHECK(beta.numel() == d.c, "batch_norm2d: beta ", describe(beta), " does not match the ", d.c,
            " channels of ", describe(x));
  DIP_CHECK(d.n * d.hw > 1, "batch_norm2d: training mode needs more than one value per channel, got ",
            describe(x), " (use a larger batch or image)");
  DIP_CHECK(eps >= 0.f, "batch_norm2d: eps must be >= 0, got ", eps);
  return d;
}

BatchNormDims check_batch_norm2d_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                          const Tensor& beta, const Tensor& mean, const Tensor& invstd) {
  const BatchNormDims d = check_nchw("batch_norm2d_backward", x, gamma);
  DIP_CHECK(beta.numel() == d.c, "batch_norm2d_backward: beta ", describe(beta), " does not match the ",
            d.c, " channels of ", describe(x));
  DIP_CHECK(grad_y.shape() == x.shape(), "batch_norm2d_backward: gradient ", describe(grad_y),
            " vs input ", describe(x));
  DIP_CHECK(mean.numel() == d.c && invstd.numel() == d.c,
            "batch_norm2d_backward: saved statistics must have one value per channel (", d.c, ")");
  return d;
}

}  // namespace dip
