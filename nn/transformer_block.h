// Pre-norm Transformer block (ViT):
//   x = x + attn(LN(x))
//   x = x + fc2(GELU(fc1(LN(x))))       fc1: D -> mlp_ratio*D, fc2: back to D
// x: (N, T, D) -> (N, T, D). The attention may be windowed (see nn/attention.h).
#pragma once
#include <memory>

#include "nn/attention.h"
#include "nn/layer_norm.h"
#include "nn/sequential.h"

namespace dip {

class TransformerBlock : public Module {
 public:
  TransformerBlock(int dim, int heads, int mlp_ratio, Rng& rng, AttentionWindow window = {});

  Variable forward(const Variable& x) override;
  std::string name() const override;

 private:
  int dim_, heads_, mlp_ratio_;
  std::shared_ptr<LayerNorm> norm1_, norm2_;
  std::shared_ptr<MultiHeadSelfAttention> attn_;
  std::shared_ptr<Sequential> mlp_;  // Linear, GELU, Linear
};

}  // namespace dip
