// Linear: y = x W^T + b over the last dimension.
//   x: (..., in) -> y: (..., out);  weight: (out, in), bias: (out) — PyTorch's layout and init.
#pragma once
#include "nn/module.h"

namespace dip {

class Linear : public Module {
 public:
  Linear(int in_features, int out_features, bool bias, Rng& rng);

  Variable forward(const Variable& x) override;
  std::string name() const override;

  const Variable& weight() const { return weight_; }
  const Variable& bias() const { return bias_; }

 private:
  int in_, out_;
  Variable weight_;  // (out, in)
  Variable bias_;    // (out) or undefined
};

}  // namespace dip
