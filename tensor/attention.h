// Fused multi-head self-attention (FlashAttention-style): softmax(scale * q k^T) v for every head,
// straight from the packed output of a fused Linear(D, 3D), without materialising the (L, L) scores.
//
//   qkv:  (B, L, 3D)   columns [q | k | v], each head-major: head h owns columns h*d .. h*d+d-1 of
//                      its block, d = D / H
//   out:  (B, L, D)    head-major columns, as the input of the output projection expects
//   lse:  (B, H, L)    log-sum-exp of each row of the scaled scores, kept for the backward
//
//   out[b, i, h*d + c] = sum_j P[i, j] v_j[c],   P[i, j] = exp(scale * q_i . k_j - lse[b, h, i])
//
// Backward, with P recomputed from q, k and lse (nothing of size L x L is stored):
//   Drow_i = dot(dO_i, O_i);  dS = P * (dO V^T - Drow);  dQ = scale * dS K;  dK = scale * dS^T Q;
//   dV = P^T dO.
// Both backends are deterministic (no atomics; fixed summation orders). Tensors are always
// contiguous (tensor/tensor.h), so there are no layout checks beyond the shapes.
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

struct AttentionSpec {
  int heads = 1;      // H; the head size is d = D / H
  float scale = 1.f;  // multiplies q . k; 1/sqrt(d) in MultiHeadSelfAttention
};

// The CUDA kernels handle head sizes d <= 128 (their tiles live in shared memory); the CPU any d.
constexpr int64_t kAttentionCudaMaxHeadDim = 128;
// Whether `device`'s fused kernels take head size `head_dim` (the op falls back to a composition
// of plain ops when not: autograd attention()).
inline bool attention_supported(Device device, int64_t head_dim) {
  return device != Device::CUDA || head_dim <= kAttentionCudaMaxHeadDim;
}

// Sizes derived from the arguments by the checks both backends share.
struct AttentionSizes {
  int64_t batch = 0, tokens = 0, dim = 0, head_dim = 0;  // B, L, D, d
};

// The argument checks of both backends (tensor/attention.cpp).
AttentionSizes check_attention_forward(const Tensor& qkv, const AttentionSpec& spec);
AttentionSizes check_attention_backward(const Tensor& qkv, const Tensor& out, const Tensor& lse,
                                        const Tensor& grad_out, const AttentionSpec& spec);

// The kernels, the same in each backend: the CPU ones (tensor/cpu/attention.cpp) ...
namespace cpu {
// qkv (B, L, 3D) -> out (B, L, D); lse is set to (B, H, L)
Tensor attention_forward(const Tensor& qkv, const AttentionSpec& spec, Tensor& lse);
// qkv (B, L, 3D), out (B, L, D), lse (B, H, L), grad_out (B, L, D) -> grad_qkv (B, L, 3D)
Tensor attention_backward(const Tensor& qkv, const Tensor& out, const Tensor& lse, const Tensor& grad_out,
                          const AttentionSpec& spec);
}  // namespace cpu
// ... and the CUDA ones (gpu/attention.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
Tensor attention_forward(const Tensor& qkv, const AttentionSpec& spec, Tensor& lse);
Tensor attention_backward(const Tensor& qkv, const Tensor& out, const Tensor& lse, const Tensor& grad_out,
                          const AttentionSpec& spec);
}  // namespace gpu

inline Tensor attention_forward(const Tensor& qkv, const AttentionSpec& spec, Tensor& lse) {
  return DIP_DISPATCH(qkv.device(), attention_forward, qkv, spec, lse);
}
inline Tensor attention_backward(const Tensor& qkv, const Tensor& out, const Tensor& lse, const Tensor& grad_out,
                                 const AttentionSpec& spec) {
  check_same_device("attention_backward", {&qkv, &out, &lse, &grad_out});
  return DIP_DISPATCH(qkv.device(), attention_backward, qkv, out, lse, grad_out, spec);
}

}  // namespace dip
