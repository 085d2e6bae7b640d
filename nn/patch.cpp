#include "nn/patch.h"

#include "autograd/functions.h"

namespace dip {

// Shapes are kept within 4 dimensions by merging neighbours that stay together: the tile rows
// (hi) and tile columns (wi) are separated by one swap each, in two permutes.
Variable patchify(const Variable& x, int patch) {
  const Shape& s = x.shape();
  DIP_CHECK(s.rank() == 4, "patchify: expects an image (N, C, H, W), got ", s.str());
  DIP_CHECK(patch > 0 && s[2] % patch == 0 && s[3] % patch == 0, "patchify: image ", s[2], "x", s[3],
            " is not a multiple of the patch size ", patch, "; crop or resize the image");
  const int64_t n = s[0], c = s[1], p = patch, gh = s[2] / p, gw = s[3] / p;
  Variable t = x;
  if (p > 1) {
    t = reshape(t, {n * c * gh, p, gw, p});  // [(n, c, gh), hi, gw, wi]
    t = permute(t, {0, 2, 1, 3});            // [(n, c, gh), gw, hi, wi]
  }
  t = reshape(t, {n, c, gh * gw, p * p});  // (N, C, T, p*p)
  t = permute(t, {0, 2, 1, 3});            // (N, T, C, p*p)
  return reshape(t, {n, gh * gw, c * p * p});
}

Variable unpatchify(const Variable& tokens, int patch, int grid_h, int grid_w) {
  const Shape& s = tokens.shape();
  const int64_t p = patch, gh = grid_h, gw = grid_w;
  DIP_CHECK(patch > 0 && s.rank() == 3 && s[1] == gh * gw && s[2] % (p * p) == 0,
            "unpatchify: expects (N, ", gh, "*", gw, ", C*", p, "*", p, "), got ", s.str());
  const int64_t n = s[0], c = s[2] / (p * p);
  Variable t = reshape(tokens, {n, gh * gw, c, p * p});  // (N, T, C, p*p)
  t = permute(t, {0, 2, 1, 3});                          // (N, C, T, p*p)
  if (p > 1) {
    t = reshape(t, {n * c * gh, gw, p, p});  // [(n, c, gh), gw, hi, wi]
    t = permute(t, {0, 2, 1, 3});            // [(n, c, gh), hi, gw, wi]
  }
  return reshape(t, {n, c, gh * p, gw * p});
}

PatchEmbed::PatchEmbed(int in_channels, int dim, int patch, Rng& rng)
    : in_channels_(in_channels), dim_(dim), patch_(patch) {
  DIP_CHECK(in_channels > 0 && dim > 0 && patch > 0, "PatchEmbed: channels, width and patch must be "
            "positive (got ", in_channels, ", ", dim, ", ", patch, ")");
  proj_ = register_module("proj", std::make_shared<Linear>(in_channels * patch * patch, dim, true, rng));
}

Variable PatchEmbed::forward(const Variable& x) {
  DIP_CHECK(x.shape().rank() == 4 && x.size(1) == in_channels_, name(), ": expects (N, ", in_channels_,
            ", H, W), got ", x.shape().str());
  return proj_->forward(patchify(x, patch_));
}

std::string PatchEmbed::name() const {
  return "PatchEmbed(" + std::to_string(in_channels_) + ", " + std::to_string(dim_) +
         ", p=" + std::to_string(patch_) + ")";
}

Unpatchify::Unpatchify(int channels, int patch, int grid_h, int grid_w)
    : channels_(channels), patch_(patch), grid_h_(grid_h), grid_w_(grid_w) {
  DIP_CHECK(channels > 0 && patch > 0 && grid_h > 0 && grid_w > 0,
            "Unpatchify: channels, patch and grid must be positive");
}

Variable Unpatchify::forward(const Variable& tokens) {
  DIP_CHECK(tokens.shape().rank() == 3 && tokens.size(2) == int64_t(channels_) * patch_ * patch_,
            name(), ": expects (N, T, ", channels_ * patch_ * patch_, "), got ", tokens.shape().str());
  return unpatchify(tokens, patch_, grid_h_, grid_w_);
}

std::string Unpatchify::name() const {
  return "Unpatchify(" + std::to_string(channels_) + ", p=" + std::to_string(patch_) + ", grid " +
         std::to_string(grid_h_) + "x" + std::to_string(grid_w_) + ")";
}

}  // namespace dip
