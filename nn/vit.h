// Transformer generators for Deep Image Prior: a fixed noise image in, an image in [0, 1] out.
//
//   z (N, in_channels, H, W) -> generator -> (N, out_channels, H, W), sigmoid at the end.
//
// Variants (VitConfig::variant):
//   "vit"     the naive ViT: patches of `patch` -> Linear to `width` -> + positions -> `depth`
//             pre-norm Transformer blocks -> LayerNorm -> Linear to out_channels*patch^2 ->
//             unpatchify -> sigmoid.
//   "vit-ms"  multi-scale: `stages` token grids, each twice as fine as the one before, the last
//             one with patch size `patch` (1: a token per pixel). Stage 0 starts from the noise
//             subsampled to its grid, plus positions; between stages the tokens are viewed as a
//             (width, gh, gw) image and enlarged with fixed bilinear upsampling (x2) (optionally
//             with noise and positions added again). Stage k runs stage_depths[k] blocks at width stage_widths[k] (default: `depth`
//             and `width` everywhere; a Linear maps the tokens when the width changes), with heads
//             of the same size width/heads throughout. Mixing is attention only (no 3x3
//             convolutions); the smoothness comes from the upsampling, as in DIP's decoder and
//             the Deep Decoder (whose 1x1 convolutions are per-token Linears).
//   "vit-na"  the multi-scale generator with neighbourhood attention (nn/neighborhood_attention.h):
//             every token attends to the k x k tokens around it, with a learned relative position
//             bias. Sliding (not tiled) windows leave no block seams, and at initialisation the
//             attention is a k x k average: a smooth prior, as a ConvNet's is.
// With window > 0 attention is local to window x window tokens on every grid larger than the
// window (coarser grids keep global attention; a grid the window does not divide gets the largest
// smaller side that divides it); with shift_windows every second block shifts its windows by half
// a window so neighbouring windows exchange information.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"

namespace dip {

enum class PositionalKind { Learned, Sinusoidal };

// Field defaults are the naive "vit" of the issue (patch 8, width 256, depth 6, 8 heads); start from
// vit_defaults(variant) to get each variant's own.
struct VitConfig {
  std::string variant = "vit";          // "vit", "vit-ms" or "vit-na"
  int in_channels = 32, out_channels = 3;
  int image_height = 64, image_width = 64;  // the output size; fixes the token grids
  int patch = 8;         // vit: the patch size; vit-ms: the finest stage's patch size
  int width = 256;       // token width D
  int depth = 6;         // Transformer blocks (vit: in all; vit-ms: per stage)
  int heads = 8;
  int mlp_ratio = 4;
  PositionalKind positional = PositionalKind::Learned;
  int window = 0;               // local attention windows (0: global attention)
  int neighborhood = 0;         // k > 0 (odd): neighbourhood attention over k x k tokens instead
  bool shift_windows = true;    // every second block (counted over all stages) shifts its windows
  int stages = 4;               // vit-ms: number of resolutions (each x2 finer)
  std::vector<int> stage_widths;  // vit-ms: width per stage, coarse to fine (empty: `width`)
  std::vector<int> stage_depths;  // vit-ms: blocks per stage (empty: `depth` each)
  bool noise_every_stage = false;  // vit-ms: add the (subsampled) noise at every stage, not only the first
  // vit-ms: positions at every stage, not only the first. Learned positions on a fine grid are a
  // free parameter per token (nearly per pixel), through which the network can fit noise directly.
  bool pos_every_stage = false;
  // Standardise each noise channel (zero mean, unit variance over the pixels the generator reads)
  // before the embedding. DIP's noise U(0, 0.1) otherwise gives tokens that differ by ~1% of their
  // size after the embedding's bias: a LayerNorm (per token) does not remove that common part, and
  // training first sits on a plateau at the mean image.
  bool normalize_noise = false;
};

// The defaults of each variant (an error lists the variants when the name is unknown):
//   vit     the fields' defaults above;
//   vit-ms  patch 1 (a token per pixel at the last stage), 5 stages (grids H/16 .. H), widths
//           128,128,64,32,32 (head size 32), one block per stage, 8x8 windows, learned positions at
//           the first stage, normalised noise: the best of the few configurations tried on a CPU
//           proxy (F16 128x128 crop, sigma 25); train it with Adam lr 2e-3.
//   vit-na  vit-ms with 7x7 neighbourhood attention in place of the windows, widths
//           128,128,128,64,64, the noise added at every stage; Adam lr 3e-3. Each of these
//           choices was better on the CPU proxy (README: "Does an untrained Transformer carry an
//           image prior?").
VitConfig vit_defaults(const std::string& variant);
// The Adam learning rate each variant was tuned with.
float vit_learning_rate(const std::string& variant);
// The side multiple an image must have for cfg's token grids: patch (vit), patch * 2^(stages-1)
// (vit-ms, vit-na).
int vit_multiple(const VitConfig& cfg);

// The variant names make_vit accepts.
std::vector<std::string> vit_variants();
// "learned" or "sinusoidal".
PositionalKind parse_positional(const std::string& name);
const char* positional_name(PositionalKind kind);

// What training cfg's generator costs, estimated from the configuration alone (before anything is
// allocated, so a configuration too large for the machine can be refused with a message instead of
// failing inside an allocation). Per block of width D with mlp ratio r on T tokens with h heads:
// parameters (4 + 2r) D^2; activations kept for the backward pass about (10 + 2r) T D floats, plus
// the attention weights h T A (A = T for global attention, w^2 in windows, k^2 for neighbourhoods)
// twice (scores and softmax).
struct VitFootprint {
  double parameters = 0;        // approximate count
  double activation_floats = 0;  // kept by one forward pass for its backward
  // Parameters with their gradients and Adam's two moments plus a backtracking copy (5 floats
  // each), and the activations twice (the backward pass's gradients of them are as large).
  double training_bytes() const { return 4.0 * (5.0 * parameters + 2.0 * activation_floats); }
};
VitFootprint vit_footprint(const VitConfig& cfg);

// Builds the generator of cfg.variant; an error lists the variants when the name is unknown.
std::shared_ptr<Module> make_vit(const VitConfig& cfg, Rng& rng);

}  // namespace dip
