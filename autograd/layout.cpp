// Layout ops on Variables. Each backward is the adjoint data movement: concat's is narrow, narrow's
// is narrow_backward (zeros around the slice), a permutation's is the inverse permutation, and a
// reshape's is the reshape back. None captures a tensor, only shapes and indices.
#include "autograd/functions.h"
#include "tensor/layout.h"

namespace dip {

Variable concat(const std::vector<Variable>& xs, int dim) {
  DIP_CHECK(!xs.empty(), "concat: no variables");
  std::vector<Tensor> data;
  std::vector<int64_t> sizes;  // each input's extent along dim
  data.reserve(xs.size());
  for (const Variable& x : xs) data.push_back(x.data());
  Tensor y = concat(data, dim);  // checks shapes and devices
  const int d = dim < 0 ? dim + y.rank() : dim;
  for (const Variable& x : xs) sizes.push_back(x.size(d));
  return make_result("concat", y, xs,
                     [d, sizes](const Tensor& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
                       std::vector<Tensor> grads(sizes.size());
                       int64_t start = 0;
                       for (size_t i = 0; i < sizes.size(); ++i) {
                         if (needs[i]) grads[i] = narrow(g, d, start, sizes[i]);
                         start += sizes[i];
                       }
                       return grads;
                     });
}

Variable narrow(const Variable& x, int dim, int64_t start, int64_t length) {
  Tensor y = narrow(x.data(), dim, start, length);  // checks the range
  Shape full = x.shape();
  const int d = dim < 0 ? dim + y.rank() : dim;
  return make_result("narrow", y, {x},
                     [full, d, start](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {narrow_backward(g, full, d, start)};
                     });
}

Variable crop_center(const Variable& x, int64_t h, int64_t w) {
  DIP_CHECK(x.shape().rank() == 4, "crop_center: expects (N, C, H, W), got ", x.shape().str());
  const int64_t H = x.size(2), W = x.size(3);
  DIP_CHECK(h >= 0 && w >= 0 && h <= H && w <= W, "crop_center: window ", h, " x ", w,
            " does not fit in ", x.shape().str());
  Variable y = x;
  if (h != H) y = narrow(y, 2, (H - h) / 2, h);
  if (w != W) y = narrow(y, 3, (W - w) / 2, w);
  return y;
}

Variable reshape(const Variable& x, const Shape& shape) {
  Shape original = x.shape();
  return make_result("reshape", x.data().reshape(shape), {x},
                     [original](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {g.reshape(original)};
                     });
}

Variable permute(const Variable& x, const std::array<int, 4>& perm) {
  Tensor y = permute(x.data(), perm);  // checks perm
  std::array<int, 4> inverse{0, 1, 2, 3};
  for (int i = 0; i < y.rank(); ++i) inverse[perm[i]] = i;
  return make_result("permute", y, {x},
                     [inverse](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {permute(g, inverse)};
                     });
}

Variable transpose(const Variable& x, int dim0, int dim1) {
  return make_result("transpose", transpose(x.data(), dim0, dim1), {x},
                     [dim0, dim1](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {transpose(g, dim0, dim1)};
                     });
}

}  // namespace dip
