// conv2d on Variables. The backward keeps x only for dL/dweight and the weight only for dL/dx.
#include "autograd/functions.h"
#include "tensor/conv2d.h"

namespace dip {

Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, const Conv2dOptions& opt) {
  const Tensor& tx = x.data();
  const Tensor& tw = weight.data();
  Tensor out = conv2d_forward(tx, tw, bias.defined() ? bias.data() : Tensor(), opt);
  Tensor saved_x = weight.requires_grad() ? tx : Tensor();  // (N, C_in, H, W)
  Tensor saved_w = x.requires_grad() ? tw : Tensor();       // (C_out, C_in / groups, KH, KW)
  Shape x_shape = tx.shape(), w_shape = tw.shape();
  return make_result(
      "conv2d", std::move(out), {x, weight, bias},
      [saved_x, saved_w, x_shape, w_shape, opt](const Tensor& g,
                                                const std::vector<bool>& needs) -> std::vector<Tensor> {
        return {needs[0] ? conv2d_backward_input(g, saved_w, x_shape, opt) : Tensor(),
                needs[1] ? conv2d_backward_weight(g, saved_x, w_shape, opt) : Tensor(),
                needs[2] ? conv2d_backward_bias(g) : Tensor()};
      });
}

}  // namespace dip
