// Patches: an image cut into p x p tiles, each tile one token, and the exact way back.
//
//   patchify:   (N, C, H, W) -> (N, T, C*p*p), T = (H/p) * (W/p) tokens in row-major tile order,
//               each token's features ordered (c, i, j) as PyTorch's unfold / einops
//               "n c (h p1) (w p2) -> n (h w) (c p1 p2)".
//   unpatchify: the exact inverse (values are only moved, so the round trip is bit-exact).
//
// PatchEmbed = patchify + Linear(C*p*p, D); Unpatchify turns per-token pixel values back into the
// image (the ViT's output head predicts C*p*p values per token).
#pragma once
#include <memory>

#include "nn/linear.h"
#include "nn/module.h"

namespace dip {

Variable patchify(const Variable& x, int patch);
// tokens (N, grid_h*grid_w, C*p*p) -> image (N, C, grid_h*p, grid_w*p)
Variable unpatchify(const Variable& tokens, int patch, int grid_h, int grid_w);

class PatchEmbed : public Module {
 public:
  PatchEmbed(int in_channels, int dim, int patch, Rng& rng);

  Variable forward(const Variable& x) override;  // (N, C, H, W) -> (N, T, D)
  std::string name() const override;

 private:
  int in_channels_, dim_, patch_;
  std::shared_ptr<Linear> proj_;  // C*p*p -> D
};

class Unpatchify : public Module {
 public:
  Unpatchify(int channels, int patch, int grid_h, int grid_w);

  Variable forward(const Variable& tokens) override;  // (N, T, C*p*p) -> (N, C, H, W)
  std::string name() const override;

 private:
  int channels_, patch_, grid_h_, grid_w_;
};

}  // namespace dip
