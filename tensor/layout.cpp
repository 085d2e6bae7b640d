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

int layout_dim(const char* op, int dim, int rank) {
  DIP_CHECK(dim >= -rank && dim < rank, op, ": dimension ", dim, " out of range for rank ", rank);
  return dim < 0 ? dim + rank : dim;
}

int64_t outer_size(const Shape& s, int dim) {
  int64_t n = 1;
  for (int i = 0; i < dim; ++i) n *= s[i];
  return n;
}

int64_t inner_size(const Shape& s, int dim) {
  int64_t n = 1;
  for (int i = dim + 1; i < s.rank(); ++i) n *= s[i];
  return n;
}

Shape concat_shape(const std::vector<Tensor>& xs, int d) {
  const Shape& first = xs[0].shape();
  Shape out = first;
  out[d] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Shape& s = xs[i].shape();
    DIP_CHECK(s.rank() == first.rank(), "concat: tensor ", i, " has shape ", s.str(),
              " but tensor 0 has ", first.str(), "; all need the same rank");
    for (int k = 0; k < s.rank(); ++k)
      DIP_CHECK(k == d || s[k] == first[k], "concat along dim ", d, ": tensor ", i, " has shape ",
                s.str(), " but tensor 0 has ", first.str(), "; only dim ", d, " may differ");
    out[d] += s[d];
  }
  return out;
}

Shape narrow_shape(const Shape& x, int d, int64_t start, int64_t length) {
  DIP_CHECK(start >= 0 && length >= 0 && start + length <= x[d], "narrow: [", start, ", ",
            start + length, ") is not inside dimension ", d, " of ", x.str());
  Shape out = x;
  out[d] = length;
  return out;
}

void check_narrow_backward(const Shape& g, const Shape& full, int d, int64_t start) {
  bool fits = g.rank() == full.rank() && start >= 0 && start + g[d] <= full[d];
  for (int k = 0; fits && k < g.rank(); ++k) fits = k == d || g[k] == full[k];
  DIP_CHECK(fits, "narrow_backward: gradient ", g.str(), " does not fit in ", full.str(),
            " at offset ", start, " along dim ", d);
}

}  // namespace dip
