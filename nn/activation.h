// Activation layers: thin modules over the pointwise ops of autograd/functions.h.
#pragma once
#include "nn/module.h"

namespace dip {

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(float negative_slope = 0.01f) : slope_(negative_slope) {}
  Variable forward(const Variable& x) override;
  std::string name() const override;
  float slope() const { return slope_; }

 private:
  float slope_;
};

class ReLU : public Module {
 public:
  Variable forward(const Variable& x) override;
  std::string name() const override { return "ReLU"; }
};

class Sigmoid : public Module {
 public:
  Variable forward(const Variable& x) override;
  std::string name() const override { return "Sigmoid"; }
};

// Exact (erf) GELU, PyTorch's default.
class GELU : public Module {
 public:
  Variable forward(const Variable& x) override;
  std::string name() const override { return "GELU"; }
};

}  // namespace dip
