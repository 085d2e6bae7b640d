// Argument checks of tensor/layer_norm.h, shared by the CPU and CUDA kernels.
#include "tensor/layer_norm.h"

namespace dip {

namespace {
int64_t check_last_dim(const char* op, const Tensor& x, const Tensor& gamma) {
  DIP_CHECK(x.rank() >= 1, op, ": input ", describe(x), " has no last dimension");
  const int64_t d = x.size(-1);
  DIP_CHECK(d > 0, op, ": empty last dimension in ", describe(x));
  DIP_CHECK(gamma.numel() == d, op, ": gamma ", describe(gamma), " does not match the last dimension ",
            d, " of ", describe(x));
  return d;
}
}  // namespace

int64_t check_layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  const int64_t dim = check_last_dim("layer_norm", x, gamma);
  DIP_CHECK(beta.numel() == dim, "layer_norm: beta ", describe(beta), " does not match the last dimension ",
            dim, " of ", describe(x));
  DIP_CHECK(eps >= 0.f, "layer_norm: eps must be >= 0, got ", eps);
  return dim;
}

int64_t check_layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                  const Tensor& mean, const Tensor& rstd) {
  const int64_t dim = check_last_dim("layer_norm_backward", x, gamma);
  DIP_CHECK(grad_y.shape() == x.shape(), "layer_norm_backward: gradient ", describe(grad_y), " vs input ",
            describe(x));
  const int64_t rows = x.numel() / dim;
  DIP_CHECK(mean.numel() == rows && rstd.numel() == rows,
            "layer_norm_backward: saved statistics must have one value per row (", rows, ")");
  return dim;
}

}  // namespace dip
