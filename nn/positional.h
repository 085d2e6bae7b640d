// Positional embeddings added to tokens, x (N, T, D) + pos (1, T, D):
//   learned:    a parameter, initialised N(0, 0.02) as in ViT/timm;
//   sinusoidal: fixed 2-D sin/cos features of the token's (row, column) in its grid (as MAE):
//               the first D/2 channels encode the row, the last D/2 the column, each half as
//               [sin(pos * w_k) | cos(pos * w_k)], w_k = 1 / 10000^(k / (D/4)), k = 0 .. D/4-1.
#pragma once
#include "nn/module.h"

namespace dip {

// The fixed table (1, grid_h*grid_w, D); D must be a multiple of 4.
Tensor sincos_2d_embedding(int grid_h, int grid_w, int dim);

class LearnedPositionalEmbedding : public Module {
 public:
  LearnedPositionalEmbedding(int tokens, int dim, Rng& rng);

  Variable forward(const Variable& x) override;  // (N, T, D) -> (N, T, D)
  std::string name() const override;

  const Variable& table() const { return pos_; }

 private:
  int tokens_, dim_;
  Variable pos_;  // (1, T, D)
};

class SinusoidalPositionalEmbedding : public Module {
 public:
  SinusoidalPositionalEmbedding(int grid_h, int grid_w, int dim);

  Variable forward(const Variable& x) override;  // (N, T, D) -> (N, T, D)
  std::string name() const override;

 private:
  int grid_h_, grid_w_, dim_;
  Tensor* pos_;  // (1, T, D), a buffer: moves with to() but is not trained
};

}  // namespace dip
