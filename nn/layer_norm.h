// LayerNorm over the last dimension D: x (..., D) -> y (..., D), gamma = 1 and beta = 0 at start.
#pragma once
#include "nn/module.h"

namespace dip {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int dim, float eps = 1e-5f);

  Variable forward(const Variable& x) override;
  std::string name() const override { return "LayerNorm(" + std::to_string(dim_) + ")"; }

  const Variable& weight() const { return gamma_; }
  const Variable& bias() const { return beta_; }

 private:
  int dim_;
  float eps_;
  Variable gamma_, beta_;  // (D)
};

}  // namespace dip
