// Losses on Variables: each result is a (1) tensor whose gradient feeds the fused backward kernel.
#include "autograd/functions.h"
#include "tensor/loss.h"

namespace dip {

Variable mse_loss(const Variable& y, const Variable& target) {
  Tensor ty = y.data(), tt = target.data();
  // Only y is an input of the node: the target is data, never differentiated.
  return make_result("mse_loss", mse_loss_forward(ty, tt), {y},
                     [ty, tt](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {mse_loss_backward(ty, tt, g)};
                     });
}

Variable tv_loss(const Variable& x) {
  Tensor tx = x.data();
  return make_result("tv_loss", tv_loss_forward(tx), {x},
                     [tx](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {tv_loss_backward(tx, g)};
                     });
}

Variable isotropic_tv_loss(const Variable& x, float eps) {
  Tensor tx = x.data();
  return make_result("isotropic_tv_loss", isotropic_tv_loss_forward(tx, eps), {x},
                     [tx, eps](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {isotropic_tv_loss_backward(tx, eps, g)};
                     });
}

}  // namespace dip
