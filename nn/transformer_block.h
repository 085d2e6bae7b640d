// Pre-norm Transformer block (ViT):
//   x = x + attn(LN(x))
//   x = x + fc2(GELU(fc1(LN(x))))       fc1: D -> mlp_ratio*D, fc2: back to D
// x: (N, T, D) -> (N, T, D). The attention is any (N, T, D) -> (N, T, D) token mixer: global or
// windowed (nn/attention.h) or neighbourhood attention (nn/neighborhood_attention.h).
#pragma once
#include <memory>

#include "nn/attention.h"
#include "nn/layer_norm.h"
#include "nn/sequential.h"

namespace dip {

class TransformerBlock : public Module {
 public:
  // With multi-head self-attention (global, or windowed).
  TransformerBlock(int dim, int heads, int mlp_ratio, Rng& rng, AttentionWindow window = {});
  // With the given attention module of width dim.
  TransformerBlock(int dim, int mlp_ratio, ModulePtr attention, Rng& rng);

  Variable forward(const Variable& x) override;
  std::string name() const override;

 private:
  int dim_, mlp_ratio_;
  std::shared_ptr<LayerNorm> norm1_, norm2_;
  ModulePtr attn_;
  std::shared_ptr<Sequential> mlp_;  // Linear, GELU, Linear
};

}  // namespace dip
