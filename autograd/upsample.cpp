// Upsampling on Variables: the backward is the kernel's gather adjoint (tensor/upsample.h).
#include "autograd/functions.h"
#include "tensor/upsample.h"

namespace dip {

Variable upsample2d(const Variable& x, int scale, UpsampleMode mode) {
  return make_result("upsample2d", upsample2d(x.data(), scale, mode), {x},
                     [scale, mode](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {upsample2d_backward(g, scale, mode)};  // (N, C, H, W)
                     });
}

}  // namespace dip
