// concat, narrow, narrow_backward, permute and transpose: the checks, the output shapes and the run
// arithmetic, once for both backends; the copies are the backend primitives of tensor/layout.h.
#include "tensor/layout.h"

#include <utility>

namespace dip {

namespace {

void check_defined(const char* op, const Tensor& t) { DIP_CHECK(t.defined(), op, ": undefined tensor"); }

// `dim` checked against the rank; a negative one counts from the end.
int layout_dim(const char* op, int dim, int rank) {
  DIP_CHECK(dim >= -rank && dim < rank, op, ": dimension ", dim, " out of range for rank ", rank);
  return dim < 0 ? dim + rank : dim;
}

int64_t outer_size(const Shape& s, int dim) {  // product of the dimensions before dim
  int64_t n = 1;
  for (int i = 0; i < dim; ++i) n *= s[i];
  return n;
}

int64_t inner_size(const Shape& s, int dim) {  // product of the dimensions after dim
  int64_t n = 1;
  for (int i = dim + 1; i < s.rank(); ++i) n *= s[i];
  return n;
}

// The output shape of concat along (normalised) dim d; checks that only dim d differs.
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

}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  DIP_CHECK(!xs.empty(), "concat: no tensors");
  for (const Tensor& x : xs) check_defined("concat", x);
  for (const Tensor& x : xs) check_same_device("concat", {&xs[0], &x});
  const int d = layout_dim("concat", dim, xs[0].rank());
  const Shape out = concat_shape(xs, d);
  const Device device = xs[0].device();
  Tensor y = Tensor::empty(out, device);
  const int64_t outer = outer_size(out, d), inner = inner_size(out, d);
  int64_t offset = 0;  // along dim d
  for (const Tensor& x : xs) {
    const int64_t run = x.size(d) * inner;
    DIP_DISPATCH(device, copy_runs, x.data(), run, y.data() + offset * inner, out[d] * inner, outer, run);
    offset += x.size(d);
  }
  return y;
}

Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length) {
  check_defined("narrow", x);
  const int d = layout_dim("narrow", dim, x.rank());
  DIP_CHECK(start >= 0 && length >= 0 && start + length <= x.size(d), "narrow: [", start, ", ",
            start + length, ") is not inside dimension ", d, " of ", x.shape().str());
  Shape out = x.shape();
  out[d] = length;
  Tensor y = Tensor::empty(out, x.device());
  const int64_t outer = outer_size(out, d), inner = inner_size(out, d);
  DIP_DISPATCH(x.device(), copy_runs, x.data() + start * inner, x.size(d) * inner, y.data(), length * inner,
               outer, length * inner);
  return y;
}

Tensor narrow_backward(const Tensor& grad, const Shape& full_shape, int dim, int64_t start) {
  check_defined("narrow_backward", grad);
  const int d = layout_dim("narrow_backward", dim, full_shape.rank());
  const Shape& g = grad.shape();
  bool fits = g.rank() == full_shape.rank() && start >= 0 && start + g[d] <= full_shape[d];
  for (int k = 0; fits && k < g.rank(); ++k) fits = k == d || g[k] == full_shape[k];
  DIP_CHECK(fits, "narrow_backward: gradient ", g.str(), " does not fit in ", full_shape.str(),
            " at offset ", start, " along dim ", d);
  Tensor x = Tensor::empty(full_shape, grad.device());
  const int64_t outer = outer_size(g, d), inner = inner_size(g, d);
  const int64_t run = full_shape[d] * inner;  // one row of x: zeros, the gradient, zeros
  const int64_t before = start * inner, len = g[d] * inner, after = run - before - len;
  DIP_DISPATCH(grad.device(), zero_runs, x.data(), run, outer, before);
  DIP_DISPATCH(grad.device(), copy_runs, grad.data(), len, x.data() + before, run, outer, len);
  DIP_DISPATCH(grad.device(), zero_runs, x.data() + before + len, run, outer, after);
  return x;
}

Tensor permute(const Tensor& x, const std::array<int, 4>& perm) {
  check_defined("permute", x);
  const int r = x.rank();
  bool seen[4] = {false, false, false, false};
  Shape out;
  for (int i = 0; i < r; ++i) {
    DIP_CHECK(perm[i] >= 0 && perm[i] < r && !seen[perm[i]], "permute: the first ", r,
              " entries of perm must be a permutation of 0..", r - 1, " for ", x.shape().str());
    seen[perm[i]] = true;
    out.push_back(x.size(perm[i]));
  }
  Tensor y = Tensor::empty(out, x.device());
  const int64_t total = x.numel();
  bool identity = true;
  for (int i = 0; i < r; ++i) identity = identity && perm[i] == i;
  if (identity || total <= 1) {  // a plain copy
    DIP_DISPATCH(x.device(), copy_runs, x.data(), total, y.data(), total, 1, total);
    return y;
  }
  // As 4-D: leading dimensions of size 1 keep their place.
  const int pad = 4 - r;
  std::array<int64_t, 4> xd{1, 1, 1, 1}, xstride;
  for (int k = 0; k < r; ++k) xd[pad + k] = x.size(k);
  xstride[3] = 1;
  for (int k = 2; k >= 0; --k) xstride[k] = xstride[k + 1] * xd[k + 1];
  PermutePlan plan;
  for (int k = 0; k < 4; ++k) {
    const int src = k < pad ? k : perm[k - pad] + pad;
    plan.od[k] = xd[src];
    plan.sx[k] = xstride[src];
  }
  DIP_DISPATCH(x.device(), permute_gather, x.data(), y.data(), plan);
  return y;
}

Tensor transpose(const Tensor& x, int dim0, int dim1) {
  const int r = x.rank();
  DIP_CHECK(dim0 >= -r && dim0 < r && dim1 >= -r && dim1 < r, "transpose: dimensions ", dim0, " and ",
            dim1, " are not both in range for ", x.shape().str());
  std::array<int, 4> perm{0, 1, 2, 3};
  std::swap(perm[dim0 < 0 ? dim0 + r : dim0], perm[dim1 < 0 ? dim1 + r : dim1]);
  return permute(x, perm);
}

}  // namespace dip
