// Data movement: concatenation, narrowing (slices and crops) and permutation of dimensions.
// (reshape is a view: Tensor::reshape, no kernel.)
//
// concat, narrow and narrow_backward are all "copy `rows` runs of `len` floats between two strided
// layouts": a tensor viewed as (outer, size(dim) * inner) has one run per outer index. So the ops,
// their checks and their run arithmetic live once, in tensor/layout.cpp, and a backend supplies
// three primitives: copy_runs, zero_runs and a 4-D gather for permute.
#pragma once
#include <array>
#include <vector>

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

// Joins tensors along `dim`; all other dimensions must match.
Tensor concat(const std::vector<Tensor>& xs, int dim);
// x[..., start:start+length, ...] along `dim` (a copy).
Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length);
// Adjoint of narrow: g placed at `start` along `dim` in zeros of `full_shape`.
Tensor narrow_backward(const Tensor& grad, const Shape& full_shape, int dim, int64_t start);
// out.shape[i] = x.shape[perm[i]]; perm lists the first x.rank() entries.
Tensor permute(const Tensor& x, const std::array<int, 4>& perm);
// Swaps two dimensions.
Tensor transpose(const Tensor& x, int dim0, int dim1);

// A permute seen as 4-D (leading dimensions of size 1): output dimension k has size od[k] and walks
// x with stride sx[k]; the output is contiguous.
// (Plain arrays: the plan is passed by value to a CUDA kernel.)
struct PermutePlan {
  int64_t od[4];
  int64_t sx[4];
};

// The primitives, the same in each backend: the CPU ones (tensor/cpu/layout.cpp) ...
namespace cpu {
// dst[r * dst_stride + i] = src[r * src_stride + i] for r < rows, i < len (strides in floats).
void copy_runs(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
               int64_t len);
// dst[r * stride + i] = 0 for r < rows, i < len.
void zero_runs(float* dst, int64_t stride, int64_t rows, int64_t len);
// y[i0, i1, i2, i3] = x[i0 * sx[0] + i1 * sx[1] + i2 * sx[2] + i3 * sx[3]] over the dims plan.od.
void permute_gather(const float* x, float* y, const PermutePlan& plan);
}  // namespace cpu
// ... and the CUDA ones (gpu/layout.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
void copy_runs(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
               int64_t len);
void zero_runs(float* dst, int64_t stride, int64_t rows, int64_t len);
void permute_gather(const float* x, float* y, const PermutePlan& plan);
}  // namespace gpu

}  // namespace dip
