// Softmax over the last dimension on Variables; the backward needs only the output.
#include "autograd/functions.h"
#include "tensor/softmax.h"

namespace dip {

Variable softmax(const Variable& x) {
  Tensor y = softmax_lastdim(x.data());
  return make_result("softmax", y, {x}, [y](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
    return {softmax_lastdim_backward(y, g)};
  });
}

}  // namespace dip
