// Neighbourhood attention layer (NAT, Hassani et al. 2023): multi-head self-attention in which each
// token of a (grid_h, grid_w) token grid attends to the kernel x kernel tokens around it (the window
// slides inward at the borders), with a learned relative position bias per head.
//
//   x: (N, T, D) -> (N, T, D);  T = grid_h * grid_w, heads H, head size d = D / H.
//   qkv = Linear(D, 3D)(x)                  (N, T, 3D), columns [q | k | v], each head-major
//   o = neighborhood_attention(qkv, rpb)    (N, T, D), rpb (H, 2k-1, 2k-1)
//   out = Linear(D, D)(o)
// The cost is T * k^2 per head instead of T^2 for global attention, and unlike non-overlapping
// windows (nn/attention.h) every token sees its own neighbourhood, so no shifted windows are needed.
#pragma once
#include <memory>

#include "nn/linear.h"
#include "nn/module.h"

namespace dip {

class NeighborhoodAttention : public Module {
 public:
  NeighborhoodAttention(int dim, int heads, int kernel, int grid_h, int grid_w, Rng& rng);

  Variable forward(const Variable& x) override;  // (N, T, D) -> (N, T, D)
  std::string name() const override;

  int heads() const { return heads_; }
  int kernel() const { return kernel_; }
  const Variable& relative_position_bias() const { return rpb_; }

 private:
  int dim_, heads_, kernel_, grid_h_, grid_w_;
  Variable rpb_;                  // (H, 2k-1, 2k-1)
  std::shared_ptr<Linear> qkv_;   // D -> 3D, the columns ordered [q | k | v], each head-major
  std::shared_ptr<Linear> proj_;  // D -> D
};

}  // namespace dip
