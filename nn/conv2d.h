// Conv2d: a 2-D convolution layer padded to keep the size (stride 1) or halve it (stride 2).
//
// As DIP's conv() helper: padding = (kernel - 1) / 2 on each side, in the given mode (DIP's
// "reflection" pads with ReflectionPad2d before an unpadded conv; the kernel reads the mirror
// directly, which is the same function).
//   x: (N, in, H, W) -> (N, out, (H + 2p - k) / stride + 1, ...)
//   weight: (out, in / groups, k, k), bias: (out) — PyTorch's default initialisation (nn/init.h).
#pragma once
#include "autograd/functions.h"
#include "nn/module.h"

namespace dip {

class Conv2d : public Module {
 public:
  Conv2d(int in_channels, int out_channels, int kernel_size, int stride, PaddingMode padding_mode,
         bool bias, int groups, Rng& rng);

  Variable forward(const Variable& x) override;
  std::string name() const override;

  const Variable& weight() const { return weight_; }
  const Variable& bias() const { return bias_; }  // undefined when built without bias
  const Conv2dOptions& options() const { return opt_; }

 private:
  int in_channels_, out_channels_, kernel_size_;
  Conv2dOptions opt_;
  Variable weight_;  // (out, in / groups, k, k)
  Variable bias_;    // (out) or undefined
};

}  // namespace dip
