// Argument checks of tensor/attention.h, shared by the CPU and CUDA kernels.
#include "tensor/attention.h"

#include <cmath>

namespace dip {

namespace {

// The spec and the packed qkv (B, L, 3D).
AttentionSizes check_spec_and_qkv(const char* op, const Tensor& qkv, const AttentionSpec& spec) {
  DIP_CHECK(spec.heads >= 1, op, ": needs at least one head, got ", spec.heads);
  DIP_CHECK(std::isfinite(spec.scale), op, ": scale must be finite, got ", spec.scale);
  DIP_CHECK(qkv.defined(), op, ": qkv is undefined; pass the (B, L, 3D) output of a Linear(D, 3D)");
  DIP_CHECK(qkv.rank() == 3, op, ": qkv must be the packed (B, L, 3D) output of a Linear(D, 3D), got ",
            describe(qkv), "; reshape to (batch, tokens, 3D) first");
  DIP_CHECK(qkv.size(2) > 0 && qkv.size(2) % (3 * int64_t(spec.heads)) == 0, op, ": the last dimension of qkv ",
            describe(qkv), " must be 3 * D with D a positive multiple of the ", spec.heads,
            " heads (columns [q | k | v], each head-major)");
  AttentionSizes s;
  s.batch = qkv.size(0);
  s.tokens = qkv.size(1);
  s.dim = qkv.size(2) / 3;
  s.head_dim = s.dim / spec.heads;
  return s;
}

}  // namespace

AttentionSizes check_attention_forward(const Tensor& qkv, const AttentionSpec& spec) {
  return check_spec_and_qkv("attention", qkv, spec);
}

AttentionSizes check_attention_backward(const Tensor& qkv, const Tensor& out, const Tensor& lse,
                                        const Tensor& grad_out, const AttentionSpec& spec) {
  const AttentionSizes s = check_spec_and_qkv("attention_backward", qkv, spec);
  const Shape want_out{s.batch, s.tokens, s.dim};
  DIP_CHECK(out.defined() && out.shape() == want_out, "attention_backward: the forward's output must be (B, L, D) = ",
            want_out.str(), ", got ", describe(out),
            "; pass the out of attention_forward on the same qkv");
  const Shape want_lse{s.batch, spec.heads, s.tokens};
  DIP_CHECK(lse.defined() && lse.shape() == want_lse, "attention_backward: lse must be (B, H, L) = ",
            want_lse.str(), ", got ", describe(lse),
            "; pass the lse that attention_forward filled with the same spec");
  DIP_CHECK(grad_out.defined() && grad_out.shape() == want_out,
            "attention_backward: the output gradient must be (B, L, D) = ", want_out.str(), ", got ",
            describe(grad_out));
  return s;
}

}  // namespace dip
