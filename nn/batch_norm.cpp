#include "nn/batch_norm.h"

#include "autograd/functions.h"
#include "tensor/elementwise.h"

namespace dip {

BatchNorm2d::BatchNorm2d(int channels, float eps, float momentum)
    : channels_(channels), eps_(eps), momentum_(momentum) {
  DIP_CHECK(channels > 0, "BatchNorm2d: channels must be positive, got ", channels);
  gamma_ = register_parameter("weight", Tensor::full({channels}, 1.f));
  beta_ = register_parameter("bias", Tensor::zeros({channels}));
  running_mean_ = register_buffer("running_mean", Tensor::zeros({channels}));
  running_var_ = register_buffer("running_var", Tensor::full({channels}, 1.f));
}

Variable BatchNorm2d::forward(const Variable& x) { return forward(x, BatchNormActivation{}); }

Variable BatchNorm2d::forward(const Variable& x, const BatchNormActivation& act) {
  DIP_CHECK(x.shape().rank() == 4 && x.size(1) == channels_, name(), ": expects (N, ", channels_,
            ", H, W), got ", x.shape().str());
  if (is_training())
    return batch_norm2d(x, gamma_, beta_, eps_, running_mean_, running_var_, momentum_, act);
  Variable y = evaluate(x);
  return act.leaky_relu ? leaky_relu(y, act.slope) : y;
}

Variable BatchNorm2d::evaluate(const Variable& x) {
  // Evaluation: a per-channel affine map, y = x * scale + shift, with
  //   scale = gamma / sqrt(running_var + eps),  shift = beta - running_mean * scale.
  // The running statistics are constants; gamma and beta still get gradients.
  Variable invstd(pow_scalar(add_scalar(*running_var_, eps_), -0.5f));  // (C)
  Variable mean(*running_mean_);                                 // (C)
  Variable scale = mul(gamma_, invstd);                          // (C)
  Variable shift = sub(beta_, mul(mean, scale));                 // (C)
  const Shape per_channel{channels_, 1, 1};                      // broadcasts against (N, C, H, W)
  return add(mul(x, reshape(scale, per_channel)), reshape(shift, per_channel));
}

std::string BatchNorm2d::name() const { return "BatchNorm2d(" + std::to_string(channels_) + ")"; }

}  // namespace dip
