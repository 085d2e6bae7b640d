// DIP's super-resolution degradation: a Lanczos-2 antialiasing filter applied per channel with
// stride `factor`, written as one depthwise conv2d so autograd gives its adjoint for free.
//
// Kernel (as DIP's models/downsampler.py with kernel_type 'lanczos2', phase 0.5): a separable
// 4*factor x 4*factor window, k(i, j) = L(di) L(dj), L(d) = 2 sin(pi d) sin(pi d / 2) / (pi d)^2,
// di = |i + 1.5 - (4*factor + 2) / 2| / factor (i from 0), normalised to sum 1. Replicate padding
// of 3*factor/2 keeps the output at exactly (H / factor, W / factor).
#pragma once
#include "autograd/variable.h"
#include "tensor/conv2d.h"

namespace dip::apps {

// The (K, K) kernel, K = 4 * factor, row-major.
std::vector<float> lanczos2_kernel(int factor);

class Downsampler {
 public:
  Downsampler(int channels, int factor, Device device);
  // x: (N, C, H, W) with H, W multiples of factor -> (N, C, H / factor, W / factor).
  Variable operator()(const Variable& x) const;
  int factor() const { return factor_; }

 private:
  int factor_;
  Variable weight_;  // (C, 1, K, K), no gradient
  Conv2dOptions options_;
};

}  // namespace dip::apps
