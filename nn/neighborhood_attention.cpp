#include "nn/neighborhood_attention.h"

#include "autograd/functions.h"

namespace dip {

NeighborhoodAttention::NeighborhoodAttention(int dim, int heads, int kernel, int grid_h, int grid_w, Rng& rng)
    : dim_(dim), heads_(heads), kernel_(kernel), grid_h_(grid_h), grid_w_(grid_w) {
  DIP_CHECK(heads > 0 && dim > 0 && dim % heads == 0, "NeighborhoodAttention: width ", dim,
            " must be a positive multiple of the head count ", heads);
  DIP_CHECK(kernel >= 1 && kernel % 2 == 1, "NeighborhoodAttention: kernel size must be odd and >= 1, got ",
            kernel);
  DIP_CHECK(grid_h > 0 && grid_w > 0, "NeighborhoodAttention: empty token grid ", grid_h, "x", grid_w);
  // Zero bias: no positional preference to start with. Where the scores q . k are flat (q = k = 0
  // in the limit) the attention is then a plain average over each window, i.e. a box blur: a smooth
  // prior, which suits DIP's preference for natural images. Training learns the offsets from there.
  const int side = 2 * kernel - 1;
  rpb_ = register_parameter("rpb", Tensor::zeros({heads, side, side}));
  qkv_ = register_module("qkv", std::make_shared<Linear>(dim, 3 * dim, true, rng));
  proj_ = register_module("proj", std::make_shared<Linear>(dim, dim, true, rng));
}

Variable NeighborhoodAttention::forward(const Variable& x) {
  const Shape& s = x.shape();
  DIP_CHECK(s.rank() == 3 && s[1] == int64_t(grid_h_) * grid_w_ && s[2] == dim_, name(), ": expects (N, ",
            int64_t(grid_h_) * grid_w_, ", ", dim_, ") for its ", grid_h_, "x", grid_w_, " token grid, got ",
            s.str());
  Variable qkv = qkv_->forward(x);                                                    // (N, T, 3D)
  Variable o = neighborhood_attention(qkv, rpb_, grid_h_, grid_w_, heads_, kernel_);  // (N, T, D)
  return proj_->forward(o);
}

std::string NeighborhoodAttention::name() const {
  return "NeighborhoodAttention(" + std::to_string(dim_) + ", heads=" + std::to_string(heads_) +
         ", kernel=" + std::to_string(kernel_) + ", grid=" + std::to_string(grid_h_) + "x" +
         std::to_string(grid_w_) + ")";
}

}  // namespace dip
