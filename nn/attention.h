// Multi-head self-attention over tokens, globally or within local windows of the token grid.
//
//   x: (N, T, D) -> (N, T, D);  heads H, head size d = D / H.
//   qkv = x Wqkv^T + b          one fused Linear(D, 3D): a single GEMM instead of three
//   out = softmax(q k^T / sqrt(d)) v per head, computed by the fused attention op on the packed
//         qkv (autograd attention(), tensor/attention.h: no (T, T) score matrix, no head copies),
//         then Linear(D, D).
//
// Windowed attention (window w > 0) treats the T tokens as a row-major (grid_h, grid_w) grid and
// lets each token attend only inside its non-overlapping w x w window: the windows become extra
// batch entries, (N, T, D) -> (N * windows, w*w, D), so the cost is T * w^2 instead of T^2.
// With `shift` the windows are displaced by w/2 (cyclically, as Swin without its mask), so that
// alternating blocks let information cross window borders.
#pragma once
#include <memory>

#include "nn/linear.h"
#include "nn/module.h"

namespace dip {

// Local attention windows over a token grid; size 0 means global attention.
struct AttentionWindow {
  int size = 0;             // w: the window is w x w tokens
  int grid_h = 0, grid_w = 0;  // the token grid (T = grid_h * grid_w), needed when size > 0
  bool shift = false;       // displace the windows by size/2 (cyclic roll of the grid)
};

class MultiHeadSelfAttention : public Module {
 public:
  MultiHeadSelfAttention(int dim, int heads, Rng& rng, AttentionWindow window = {});

  Variable forward(const Variable& x) override;  // (N, T, D) -> (N, T, D)
  std::string name() const override;

  int heads() const { return heads_; }
  const AttentionWindow& window() const { return window_; }

 private:
  int dim_, heads_;
  AttentionWindow window_;
  std::shared_ptr<Linear> qkv_;   // D -> 3D, the columns ordered [q | k | v], each head-major
  std::shared_ptr<Linear> proj_;  // D -> D
};

// (scaled_dot_product_attention and attention_composed, the plain compositions: autograd/functions.h.)

// Tokens of a (grid_h, grid_w) grid into non-overlapping w x w windows, and back:
//   window_partition: (N, grid_h*grid_w, D) -> (N * (grid_h/w) * (grid_w/w), w*w, D)
//   window_merge:     the exact inverse.
// Windows are ordered row-major over the grid, tokens row-major inside each window.
Variable window_partition(const Variable& x, int grid_h, int grid_w, int w);
Variable window_merge(const Variable& windows, int grid_h, int grid_w, int w);

// Cyclic roll of a token grid: token (i, j) moves to ((i + dy) mod grid_h, (j + dx) mod grid_w).
//   (N, grid_h*grid_w, D) -> same shape.
Variable roll_grid(const Variable& x, int grid_h, int grid_w, int dy, int dx);

}  // namespace dip
