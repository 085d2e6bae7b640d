// Fused multi-head self-attention on Variables (tensor/attention.h). The backward needs qkv, the
// output and the per-row log-sum-exp only: the probabilities are recomputed, never stored.
#include "autograd/functions.h"
#include "tensor/attention.h"

namespace dip {

Variable attention(const Variable& qkv, int heads, float scale) {
  const AttentionSpec spec{heads, scale};
  const Tensor& tqkv = qkv.data();
  Tensor lse;                                          // (B, H, L)
  Tensor out = attention_forward(tqkv, spec, lse);     // (B, L, D)
  return make_result("attention", out, {qkv},
                     [tqkv, out, lse, spec](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {attention_backward(tqkv, out, lse, g, spec)};
                     });
}

}  // namespace dip
