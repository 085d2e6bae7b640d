// Reductions: the sum of all elements, and the sum along one dimension.
// (Means are sums scaled by 1/n in the autograd layer; sum_to in elementwise.h is the broadcast adjoint.)
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

// The output shape of sum_dim (a 1-D input sums to (1), as sum_all), with the argument checks both
// backends share (tensor/reduce.cpp). `d` receives the normalised dimension.
Shape sum_dim_shape(const Tensor& x, int dim, bool keepdim, int& d);

// The kernels, the same in each backend: the CPU ones (tensor/cpu/reduce.cpp) ...
namespace cpu {
// (any) -> (1)
Tensor sum_all(const Tensor& x);
// Sums dimension `dim` (negative counts from the end); keepdim leaves a 1 there.
Tensor sum_dim(const Tensor& x, int dim, bool keepdim);
}  // namespace cpu
// ... and the CUDA ones (gpu/reduce.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
Tensor sum_all(const Tensor& x);
Tensor sum_dim(const Tensor& x, int dim, bool keepdim);
}  // namespace gpu

inline Tensor sum_all(const Tensor& x) { return DIP_DISPATCH(x.device(), sum_all, x); }
inline Tensor sum_dim(const Tensor& x, int dim, bool keepdim = false) {
  return DIP_DISPATCH(x.device(), sum_dim, x, dim, keepdim);
}

}  // namespace dip
