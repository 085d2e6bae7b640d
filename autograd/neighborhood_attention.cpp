// Neighbourhood attention on Variables (tensor/neighborhood_attention.h). The backward needs qkv and
// the softmax probabilities only; rpb enters the scores additively, so its gradient is a sum of dS.
#include "tensor/neighborhood_attention.h"

#include <cmath>

#include "autograd/functions.h"

namespace dip {

Variable neighborhood_attention(const Variable& qkv, const Variable& rpb, int grid_h, int grid_w, int heads,
                                int kernel) {
  NeighborhoodSpec spec{grid_h, grid_w, heads, kernel, 1.f};
  const Tensor& tqkv = qkv.data();
  // The checks first: they report a bad shape before the head size is used for the scale.
  const NeighborhoodSizes sizes = check_neighborhood_attention_forward(tqkv, rpb.data(), spec);
  spec.scale = 1.f / std::sqrt(static_cast<float>(sizes.head_dim));
  Tensor probs;                                                                // (N, H, T, kh*kw)
  Tensor out = neighborhood_attention_forward(tqkv, rpb.data(), spec, probs);  // (N, T, D)
  return make_result(
      "neighborhood_attention", out, {qkv, rpb},
      [tqkv, probs, spec](const Tensor& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
        Tensor grad_rpb;
        Tensor grad_qkv = neighborhood_attention_backward(tqkv, probs, g, spec, grad_rpb);
        return {needs[0] ? grad_qkv : Tensor(), needs[1] ? grad_rpb : Tensor()};
      });
}

}  // namespace dip
