// LayerNorm over the last dimension on Variables.
#include "autograd/functions.h"
#include "tensor/layer_norm.h"

namespace dip {

Variable layer_norm(const Variable& x, const Variable& gamma, const Variable& beta, float eps) {
  const Tensor& tx = x.data();
  const Tensor& tg = gamma.data();
  LayerNormForward f = layer_norm_forward(tx, tg, beta.data(), eps);
  Tensor mean = f.mean, rstd = f.rstd;
  Shape sb = beta.shape();
  return make_result("layer_norm", f.y, {x, gamma, beta},
                     [tx, tg, sb, mean, rstd](const Tensor& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
                       LayerNormBackward b = layer_norm_backward(g, tx, tg, mean, rstd);
                       return {needs[0] ? b.grad_x : Tensor(),
                               needs[1] ? b.grad_gamma.reshape(tg.shape()) : Tensor(),
                               needs[2] ? b.grad_beta.reshape(sb) : Tensor()};
                     });
}

}  // namespace dip
