#include "nn/positional.h"

#include <cmath>
#include <vector>

#include "autograd/functions.h"

namespace dip {

Tensor sincos_2d_embedding(int grid_h, int grid_w, int dim) {
  DIP_CHECK(grid_h > 0 && grid_w > 0, "sincos_2d_embedding: empty grid ", grid_h, "x", grid_w);
  DIP_CHECK(dim > 0 && dim % 4 == 0, "sincos_2d_embedding: width ", dim,
            " must be a multiple of 4 (sin and cos for rows and columns)");
  const int q = dim / 4;  // frequencies per axis
  std::vector<double> omega(q);
  for (int k = 0; k < q; ++k) omega[k] = 1.0 / std::pow(10000.0, double(k) / q);
  std::vector<float> table(size_t(grid_h) * grid_w * dim);
  for (int i = 0; i < grid_h; ++i) {
    for (int j = 0; j < grid_w; ++j) {
      float* row = &table[(size_t(i) * grid_w + j) * dim];
      for (int k = 0; k < q; ++k) {
        row[k] = float(std::sin(i * omega[k]));
        row[q + k] = float(std::cos(i * omega[k]));
        row[2 * q + k] = float(std::sin(j * omega[k]));
        row[3 * q + k] = float(std::cos(j * omega[k]));
      }
    }
  }
  return Tensor::from_vector({1, int64_t(grid_h) * grid_w, dim}, table);
}

LearnedPositionalEmbedding::LearnedPositionalEmbedding(int tokens, int dim, Rng& rng)
    : tokens_(tokens), dim_(dim) {
  DIP_CHECK(tokens > 0 && dim > 0, "LearnedPositionalEmbedding: tokens and width must be positive");
  pos_ = register_parameter("pos", Tensor::normal({1, tokens, dim}, 0.f, 0.02f, rng));
}

Variable LearnedPositionalEmbedding::forward(const Variable& x) {
  DIP_CHECK(x.shape().rank() == 3 && x.size(1) == tokens_ && x.size(2) == dim_, name(),
            ": expects (N, ", tokens_, ", ", dim_, "), got ", x.shape().str());
  return add(x, pos_);
}

std::string LearnedPositionalEmbedding::name() const {
  return "LearnedPositionalEmbedding(" + std::to_string(tokens_) + ", " + std::to_string(dim_) + ")";
}

SinusoidalPositionalEmbedding::SinusoidalPositionalEmbedding(int grid_h, int grid_w, int dim)
    : grid_h_(grid_h), grid_w_(grid_w), dim_(dim) {
  pos_ = register_buffer("pos", sincos_2d_embedding(grid_h, grid_w, dim));
}

Variable SinusoidalPositionalEmbedding::forward(const Variable& x) {
  DIP_CHECK(x.shape().rank() == 3 && x.size(1) == int64_t(grid_h_) * grid_w_ && x.size(2) == dim_,
            name(), ": expects (N, ", grid_h_ * grid_w_, ", ", dim_, "), got ", x.shape().str());
  return add(x, Variable(*pos_));  // a constant: no gradient flows to the table
}

std::string SinusoidalPositionalEmbedding::name() const {
  return "SinusoidalPositionalEmbedding(" + std::to_string(grid_h_) + "x" + std::to_string(grid_w_) +
         ", " + std::to_string(dim_) + ")";
}

}  // namespace dip
