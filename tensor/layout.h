// Data movement: concatenation, narrowing (slices and crops) and permutation of dimensions.
// (reshape is a view: Tensor::reshape, no kernel.)
#pragma once
#include <array>
#include <vector>

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

// The kernels, the same in each backend: the CPU ones (tensor/cpu/layout.cpp) ...
namespace cpu {
// Joins tensors along `dim`; all other dimensions must match.
Tensor concat(const std::vector<Tensor>& xs, int dim);
// x[..., start:start+length, ...] along `dim` (a copy).
Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length);
// Adjoint of narrow: g placed at `start` along `dim` in zeros of `full_shape`.
Tensor narrow_backward(const Tensor& grad, const Shape& full_shape, int dim, int64_t start);
// out.shape[i] = x.shape[perm[i]]; perm lists the first x.rank() entries.
Tensor permute(const Tensor& x, const std::array<int, 4>& perm);
}  // namespace cpu
// ... and the CUDA ones (gpu/layout.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
Tensor concat(const std::vector<Tensor>& xs, int dim);
Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length);
Tensor narrow_backward(const Tensor& grad, const Shape& full_shape, int dim, int64_t start);
Tensor permute(const Tensor& x, const std::array<int, 4>& perm);
}  // namespace gpu

inline Tensor concat(const std::vector<Tensor>& xs, int dim) {
  DIP_CHECK(!xs.empty(), "concat: no tensors");
  for (const Tensor& x : xs) check_same_device("concat", {&xs[0], &x});
  return DIP_DISPATCH(xs[0].device(), concat, xs, dim);
}
inline Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length) {
  return DIP_DISPATCH(x.device(), narrow, x, dim, start, length);
}
inline Tensor narrow_backward(const Tensor& grad, const Shape& full_shape, int dim, int64_t start) {
  return DIP_DISPATCH(grad.device(), narrow_backward, grad, full_shape, dim, start);
}
inline Tensor permute(const Tensor& x, const std::array<int, 4>& perm) {
  return DIP_DISPATCH(x.device(), permute, x, perm);
}
// Swaps two dimensions.
Tensor transpose(const Tensor& x, int dim0, int dim1);

// ---- shape rules shared by the CPU and CUDA kernels (tensor/layout.cpp) ----
// A tensor viewed as (outer, size(dim) * inner) makes concat and narrow strided copies of runs.
int layout_dim(const char* op, int dim, int rank);  // checked, negative counts from the end
int64_t outer_size(const Shape& s, int dim);        // product of the dimensions before dim
int64_t inner_size(const Shape& s, int dim);        // product of the dimensions after dim
// The output shape of concat along (normalised) dim d; checks that only dim d differs.
Shape concat_shape(const std::vector<Tensor>& xs, int d);
// The output shape of narrow along (normalised) dim d; checks the range.
Shape narrow_shape(const Shape& x, int d, int64_t start, int64_t length);
// Checks that a gradient of shape `grad` fits in `full` at `start` along (normalised) dim d.
void check_narrow_backward(const Shape& grad, const Shape& full, int d, int64_t start);

}  // namespace dip
