// Batched matrix multiply: out[b] = op(a[b]) * op(b[b]), op = optional transpose.
//   a: (M, K) or (B, M, K)      — (K, M) / (B, K, M) when trans_a
//   b: (K, N) or (B, K, N)      — (N, K) / (B, N, K) when trans_b; a 2-D b is shared by every batch
//   out: (M, N) when both are 2-D, else (B, M, N)
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

// The kernels, the same in each backend: the CPU ones (tensor/cpu/matmul.cpp) ...
namespace cpu {
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);
}  // namespace cpu
// ... and the CUDA ones (gpu/matmul.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);
}  // namespace gpu

inline Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false) {
  check_same_device("matmul", {&a, &b});
  return DIP_DISPATCH(a.device(), matmul, a, b, trans_a, trans_b);
}

}  // namespace dip
