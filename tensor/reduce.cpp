// Shape rules of tensor/reduce.h, shared by the CPU and CUDA kernels.
#include "tensor/reduce.h"

namespace dip {

Shape sum_dim_shape(const Tensor& x, int dim, bool keepdim, int& d) {
  const Shape& s = x.shape();
  DIP_CHECK(s.rank() >= 1, "sum_dim: ", describe(x), " has no dimension to sum");
  DIP_CHECK(dim >= -s.rank() && dim < s.rank(), "sum_dim: dimension ", dim, " out of range for ",
            describe(x));
  d = s.normalize(dim);
  Shape out;
  for (int i = 0; i < s.rank(); ++i) {
    if (i != d)
      out.push_back(s[i]);
    else if (keepdim)
      out.push_back(1);
  }
  if (out.rank() == 0) out.push_back(1);
  return out;
}

}  // namespace dip
