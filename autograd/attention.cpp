// Multi-head self-attention on Variables (tensor/attention.h): the fused op, and the same attention
// composed of matmul/softmax/reshape, which is both the reference the fused kernels are tested
// against and the path for sizes a backend's kernel does not cover (attention_supported).
#include <cmath>

#include "autograd/functions.h"
#include "tensor/attention.h"

namespace dip {

Variable scaled_dot_product_attention(const Variable& q, const Variable& k, const Variable& v, float scale) {
  DIP_CHECK(q.shape().rank() == 3 && q.shape() == k.shape() && q.shape() == v.shape(),
            "attention: q, k, v must be the same (B, L, d), got ", q.shape().str(), ", ", k.shape().str(), ", ",
            v.shape().str());
  // Scaling q (L*d values) is cheaper than scaling the scores (L*L values).
  Variable scores = matmul(mul_scalar(q, scale), k, false, true);  // (B, L, L)
  return matmul(softmax(scores), v);                               // (B, L, d)
}

Variable attention_composed(const Variable& qkv, int heads, float scale) {
  const int64_t b = qkv.size(0), l = qkv.size(1), h = heads, d = qkv.size(2) / 3 / heads;
  Variable t = permute(reshape(qkv, {b, l, 3 * h, d}), {0, 2, 1, 3});                        // (B, 3H, L, d)
  auto head_group = [&](int i) { return reshape(narrow(t, 1, i * h, h), {b * h, l, d}); };  // (B*H, L, d)
  Variable o = scaled_dot_product_attention(head_group(0), head_group(1), head_group(2), scale);
  o = permute(reshape(o, {b, h, l, d}), {0, 2, 1, 3});  // (B, L, H, d)
  return reshape(o, {b, l, h * d});
}

Variable attention(const Variable& qkv, int heads, float scale) {
  const AttentionSpec spec{heads, scale};
  // The backend decides whether its fused kernel covers this head size.
  if (qkv.defined() && qkv.shape().rank() == 3 && heads > 0 &&
      !attention_supported(qkv.device(), qkv.size(2) / 3 / heads))
    return attention_composed(qkv, heads, scale);
  const Tensor& tqkv = qkv.data();
  Tensor lse;                                          // (B, H, L)
  Tensor out = attention_forward(tqkv, spec, lse);     // (B, L, D)
  return make_result("attention", out, {qkv},
                     [tqkv, out, lse, spec](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {attention_backward(tqkv, out, lse, g, spec)};
                     });
}

}  // namespace dip
