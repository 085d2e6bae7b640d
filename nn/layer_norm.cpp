#include "nn/layer_norm.h"

#include "autograd/functions.h"

namespace dip {

LayerNorm::LayerNorm(int dim, float eps) : dim_(dim), eps_(eps) {
  DIP_CHECK(dim > 0, "LayerNorm: dimension must be positive, got ", dim);
  gamma_ = register_parameter("weight", Tensor::full({dim}, 1.f));
  beta_ = register_parameter("bias", Tensor::zeros({dim}));
}

Variable LayerNorm::forward(const Variable& x) {
  DIP_CHECK(x.shape().rank() >= 1 && x.shape()[-1] == dim_, name(), ": expects (..., ", dim_,
            "), got ", x.shape().str());
  return layer_norm(x, gamma_, beta_, eps_);
}

}  // namespace dip
