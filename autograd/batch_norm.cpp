// Training-mode BatchNorm2d on Variables, with PyTorch's running-statistics update, optionally
// fused with the LeakyReLU that follows it (one op, "batch_norm2d_leaky_relu"): its backward
// recomputes the pre-activation from the saved x, so nothing beyond the plain op's x, gamma, beta
// and statistics is kept.
#include "autograd/functions.h"
#include "tensor/batch_norm.h"
#include "tensor/elementwise.h"

namespace dip {

namespace {

// running = (1 - momentum) * running + momentum * batch, in place, on the running tensor's device.
void update_running(Tensor& running, const Tensor& batch, float momentum, const char* what) {
  DIP_CHECK(running.numel() == batch.numel(), "batch_norm2d: ", what, " ", describe(running),
            " does not have one value per channel (", batch.numel(), ")");
  Tensor b = batch.to(running.device()).reshape(running.shape());
  running.copy_(add(mul_scalar(running, 1.f - momentum), mul_scalar(b, momentum)));
}

}  // namespace

Variable batch_norm2d(const Variable& x, const Variable& gamma, const Variable& beta, float eps,
                      Tensor* running_mean, Tensor* running_var, float momentum, BatchNormActivation act) {
  const Tensor& tx = x.data();
  const Tensor& tg = gamma.data();
  const Tensor& tb = beta.data();
  BatchNormForward f = batch_norm2d_forward(tx, tg, tb, eps, act);

  if (running_mean && running_mean->defined()) update_running(*running_mean, f.mean, momentum, "running_mean");
  if (running_var && running_var->defined()) {
    // The batch variance, recovered from invstd = 1 / sqrt(var + eps), made unbiased: * m / (m - 1).
    const float m = static_cast<float>(tx.size(0) * tx.size(2) * tx.size(3));
    Tensor var = add_scalar(pow_scalar(f.invstd, -2.f), -eps);                    // (C)
    update_running(*running_var, mul_scalar(var, m / (m - 1.f)), momentum, "running_var");
  }

  Tensor mean = f.mean, invstd = f.invstd;
  // beta's values are captured too (the fused backward recomputes z = xhat * gamma + beta); the
  // Tensor shares the parameter's storage, as tx and tg do.
  return make_result(act.leaky_relu ? "batch_norm2d_leaky_relu" : "batch_norm2d", f.y, {x, gamma, beta},
                     [tx, tg, tb, mean, invstd, act](const Tensor& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
                       BatchNormBackward b = batch_norm2d_backward(g, tx, tg, tb, mean, invstd, act);
                       // gamma and beta may be stored as (C) or e.g. (1, C, 1, 1): keep their shapes.
                       return {needs[0] ? b.grad_x : Tensor(),
                               needs[1] ? b.grad_gamma.reshape(tg.shape()) : Tensor(),
                               needs[2] ? b.grad_beta.reshape(tb.shape()) : Tensor()};
                     });
}

}  // namespace dip
