// Reductions on Variables. A sum's backward repeats the gradient over the summed elements
// (broadcast_to); a mean is a sum scaled by 1/n, on both passes.
#include "autograd/functions.h"
#include "tensor/elementwise.h"
#include "tensor/reduce.h"

namespace dip {

namespace {

// sum over everything, times `scale` (1 for sum, 1/n for mean).
Variable sum_all_scaled(const char* name, const Variable& x, float scale) {
  Tensor s = sum_all(x.data());  // (1)
  if (scale != 1.f) s = mul_scalar(s, scale);
  Shape shape = x.shape();
  return make_result(name, s, {x}, [shape, scale](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
    Tensor gs = scale != 1.f ? mul_scalar(g, scale) : g;  // (1)
    return {broadcast_to(gs, shape)};
  });
}

// sum over `dim`, times `scale` (1 for sum_dim, 1/size for mean_dim).
Variable sum_dim_scaled(const char* name, const Variable& x, int dim, bool keepdim, float scale) {
  Tensor s = sum_dim(x.data(), dim, keepdim);
  if (scale != 1.f) s = mul_scalar(s, scale);
  Shape shape = x.shape();
  // The gradient has the output's shape; with the summed dimension put back as 1 it broadcasts.
  Shape kept = shape;
  kept[dim] = 1;
  return make_result(name, s, {x},
                     [shape, kept, scale](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       Tensor gs = scale != 1.f ? mul_scalar(g, scale) : g;
                       return {broadcast_to(gs.reshape(kept), shape)};
                     });
}

}  // namespace

Variable sum(const Variable& x) { return sum_all_scaled("sum", x, 1.f); }

Variable mean(const Variable& x) {
  DIP_CHECK(x.data().numel() > 0, "mean: empty input ", describe(x.data()));
  return sum_all_scaled("mean", x, 1.f / static_cast<float>(x.data().numel()));
}

Variable sum_dim(const Variable& x, int dim, bool keepdim) {
  return sum_dim_scaled("sum_dim", x, dim, keepdim, 1.f);
}

Variable mean_dim(const Variable& x, int dim, bool keepdim) {
  DIP_CHECK(dim >= -x.data().rank() && dim < x.data().rank(), "mean_dim: dimension ", dim,
            " out of range for ", describe(x.data()));
  const int64_t n = x.size(dim);
  DIP_CHECK(n > 0, "mean_dim: empty dimension ", dim, " in ", describe(x.data()));
  return sum_dim_scaled("mean_dim", x, dim, keepdim, 1.f / static_cast<float>(n));
}

}  // namespace dip
