// Argument checks of tensor/neighborhood_attention.h, shared by the CPU and CUDA kernels.
#include "tensor/neighborhood_attention.h"

#include <algorithm>
#include <cmath>

namespace dip {

namespace {

// The spec and the packed qkv (N, T, 3D); fills everything but nothing that needs rpb or probs.
NeighborhoodSizes check_spec_and_qkv(const char* op, const Tensor& qkv, const NeighborhoodSpec& spec) {
  DIP_CHECK(spec.grid_h > 0 && spec.grid_w > 0, op, ": the token grid must be non-empty, got ", spec.grid_h,
            "x", spec.grid_w);
  DIP_CHECK(spec.kernel >= 1 && spec.kernel % 2 == 1, op,
            ": kernel size must be odd and >= 1 (the window is ", "centred on its query), got ", spec.kernel);
  DIP_CHECK(spec.heads >= 1, op, ": needs at least one head, got ", spec.heads);
  DIP_CHECK(std::isfinite(spec.scale), op, ": scale must be finite, got ", spec.scale);
  DIP_CHECK(qkv.rank() == 3, op, ": qkv must be the packed (N, T, 3D) output of a Linear(D, 3D), got ",
            describe(qkv));
  const int64_t tokens = int64_t(spec.grid_h) * spec.grid_w;
  DIP_CHECK(qkv.size(1) == tokens, op, ": qkv ", describe(qkv), " has ", qkv.size(1), " tokens but the ",
            spec.grid_h, "x", spec.grid_w, " grid has ", tokens, "; pass the grid the tokens came from");
  DIP_CHECK(qkv.size(2) > 0 && qkv.size(2) % (3 * int64_t(spec.heads)) == 0, op,
            ": the last dimension of qkv ", describe(qkv),
            " must be 3 * D with D a positive multiple of the ", spec.heads, " heads");
  NeighborhoodSizes s;
  s.batch = qkv.size(0);
  s.tokens = tokens;
  s.dim = qkv.size(2) / 3;
  s.head_dim = s.dim / spec.heads;
  s.win_h = std::min(spec.kernel, spec.grid_h);
  s.win_w = std::min(spec.kernel, spec.grid_w);
  s.window = int64_t(s.win_h) * s.win_w;
  s.bias_size = 2 * spec.kernel - 1;
  return s;
}

}  // namespace

NeighborhoodSizes check_neighborhood_attention_forward(const Tensor& qkv, const Tensor& rpb,
                                                       const NeighborhoodSpec& spec) {
  const NeighborhoodSizes s = check_spec_and_qkv("neighborhood_attention", qkv, spec);
  const Shape want{spec.heads, s.bias_size, s.bias_size};
  DIP_CHECK(rpb.shape() == want,
            "neighborhood_attention: the relative position bias must be (heads, 2k-1, 2k-1) = ", want.str(),
            ", got ", describe(rpb));
  return s;
}

NeighborhoodSizes check_neighborhood_attention_backward(const Tensor& qkv, const Tensor& probs,
                                                        const Tensor& grad_out,
                                                        const NeighborhoodSpec& spec) {
  const NeighborhoodSizes s = check_spec_and_qkv("neighborhood_attention_backward", qkv, spec);
  const Shape want_probs{s.batch, spec.heads, s.tokens, s.window};
  DIP_CHECK(probs.shape() == want_probs,
            "neighborhood_attention_backward: probs must be (N, H, T, kh*kw) = ", want_probs.str(), ", got ",
            describe(probs), "; pass the probs of the forward with the same spec");
  const Shape want_grad{s.batch, s.tokens, s.dim};
  DIP_CHECK(grad_out.shape() == want_grad,
            "neighborhood_attention_backward: the output gradient must be (N, T, D) = ", want_grad.str(),
            ", got ", describe(grad_out));
  return s;
}

}  // namespace dip
