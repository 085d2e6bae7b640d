// Neighbourhood attention (NAT, Hassani et al. 2023): multi-head self-attention in which each token
// of a 2-D token grid attends only to the k x k tokens around it.
//
//   qkv:   (N, T, 3D)          the packed output of a fused Linear(D, 3D): columns [q | k | v], each
//                              head-major (head h owns columns h*d .. h*d+d-1 of its block), d = D / H
//   rpb:   (H, 2k-1, 2k-1)     relative position bias, indexed by (key - query) + k - 1 per axis
//   out:   (N, T, D)           head-major columns, as the input of the output projection expects
//   probs: (N, H, T, kh*kw)    the softmax of every query over its window, kept for the backward
//
// T = grid_h * grid_w tokens in row-major grid order. The window of query (i, j) is NAT's clamped
// one: rows [si, si + kh) with kh = min(k, grid_h) and si = clamp(i - k/2, 0, grid_h - kh), columns
// likewise, so every query sees the same kh * kw keys (the window slides inward at the borders
// instead of shrinking). Key (y, x) is window entry m = (y - si) * kw + (x - sj), and
//   s[m] = scale * q_ij . k_yx + rpb[h, y - i + k - 1, x - j + k - 1],   p = softmax(s),
//   out_ij = sum_m p[m] v_yx.
// The backward gathers dK and dV per key (no atomics) and reduces d_rpb in a fixed order, so both
// backends are deterministic. Tensors are always contiguous (tensor/tensor.h), so no layout checks.
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

struct NeighborhoodSpec {
  int grid_h = 0, grid_w = 0;  // the token grid, T = grid_h * grid_w
  int heads = 1;               // H; the head size is d = D / H
  int kernel = 1;              // k, odd: the window is k x k (fewer where the grid is smaller)
  float scale = 1.f;           // multiplies q . k; 1/sqrt(d) in the autograd op
};

// Sizes derived from the arguments by the checks both backends share.
struct NeighborhoodSizes {
  int64_t batch = 0, tokens = 0, dim = 0, head_dim = 0;  // N, T, D, d
  int win_h = 0, win_w = 0;                              // kh = min(k, grid_h), kw = min(k, grid_w)
  int64_t window = 0;                                    // kh * kw keys per query
  int bias_size = 0;                                     // R = 2k - 1, the side of rpb
};

// The argument checks of both backends (tensor/neighborhood_attention.cpp).
NeighborhoodSizes check_neighborhood_attention_forward(const Tensor& qkv, const Tensor& rpb,
                                                       const NeighborhoodSpec& spec);
NeighborhoodSizes check_neighborhood_attention_backward(const Tensor& qkv, const Tensor& probs,
                                                        const Tensor& grad_out, const NeighborhoodSpec& spec);

// First row (or column) of the clamped window of query row (or column) i on an axis of `size`
// tokens. constexpr so that the CUDA kernels (built with --expt-relaxed-constexpr) call this very
// definition: both backends agree on the windows by construction.
constexpr int neighborhood_window_start(int i, int kernel, int size) {
  const int span = kernel < size ? kernel : size;
  const int start = i - kernel / 2;
  return start < 0 ? 0 : (start > size - span ? size - span : start);
}

// The kernels, the same in each backend: the CPU ones (tensor/cpu/neighborhood_attention.cpp) ...
namespace cpu {
// qkv (N, T, 3D), rpb (H, 2k-1, 2k-1) -> out (N, T, D); probs is set to (N, H, T, kh*kw)
Tensor neighborhood_attention_forward(const Tensor& qkv, const Tensor& rpb, const NeighborhoodSpec& spec,
                                      Tensor& probs);
// qkv (N, T, 3D), probs (N, H, T, kh*kw), grad_out (N, T, D) -> grad_qkv (N, T, 3D);
// grad_rpb is set to (H, 2k-1, 2k-1)
Tensor neighborhood_attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& grad_out,
                                       const NeighborhoodSpec& spec, Tensor& grad_rpb);
}  // namespace cpu
// ... and the CUDA ones (gpu/neighborhood_attention.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
Tensor neighborhood_attention_forward(const Tensor& qkv, const Tensor& rpb, const NeighborhoodSpec& spec,
                                      Tensor& probs);
Tensor neighborhood_attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& grad_out,
                                       const NeighborhoodSpec& spec, Tensor& grad_rpb);
}  // namespace gpu

inline Tensor neighborhood_attention_forward(const Tensor& qkv, const Tensor& rpb,
                                             const NeighborhoodSpec& spec, Tensor& probs) {
  check_same_device("neighborhood_attention", {&qkv, &rpb});
  return DIP_DISPATCH(qkv.device(), neighborhood_attention_forward, qkv, rpb, spec, probs);
}
inline Tensor neighborhood_attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& grad_out,
                                              const NeighborhoodSpec& spec, Tensor& grad_rpb) {
  check_same_device("neighborhood_attention_backward", {&qkv, &probs, &grad_out});
  return DIP_DISPATCH(qkv.device(), neighborhood_attention_backward, qkv, probs, grad_out, spec, grad_rpb);
}

}  // namespace dip
