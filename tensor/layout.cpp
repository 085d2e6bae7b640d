// Layout helpers built on the kernels of tensor/layout.h.
#include "tensor/layout.h"

#include <utility>

namespace dip {

Tensor transpose(const Tensor& x, int dim0, int dim1) {
  const int r = x.rank();
  DIP_CHECK(dim0 >= -r && dim0 < r && dim1 >= -r && dim1 < r, "transpose: dimensions ", dim0, " and ",
            dim1, " are not both in range for ", x.shape().str());
  std::array<int, 4> perm{0, 1, 2, 3};
  std::swap(perm[dim0 < 0 ? dim0 + r : dim0], perm[dim1 < 0 ? dim1 + r : dim1]);
  return permute(x, perm);
}

}  // namespace dip
