// Parameter initialisation, matching PyTorch's defaults so networks start from the same distribution.
//
// Conv2d and Linear use kaiming_uniform_(w, a = sqrt(5)): gain = sqrt(2 / (1 + a^2)) = sqrt(1/3), so
// the bound gain * sqrt(3 / fan_in) is exactly 1 / sqrt(fan_in); biases are U(-1/sqrt(fan_in), same).
// BatchNorm and LayerNorm start at gamma = 1, beta = 0.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace dip::init {

// Inputs feeding one output of a weight (C_out, C_in / groups, KH, KW) or (out, in): all but dim 0.
int64_t fan_in(const Shape& weight_shape);

// U(-bound, bound).
Tensor uniform(const Shape& shape, float bound, Rng& rng);

// kaiming_uniform_ with negative slope `a`: bound = sqrt(2 / (1 + a^2)) * sqrt(3 / fan_in).
Tensor kaiming_uniform(const Shape& shape, int64_t fan_in, float a, Rng& rng);

// PyTorch's default Conv2d / Linear weight: kaiming_uniform with a = sqrt(5), i.e. U(+-1/sqrt(fan_in)).
Tensor default_weight(const Shape& shape, Rng& rng);

// PyTorch's default Conv2d / Linear bias: U(+-1/sqrt(fan_in)) with the weight's fan_in.
Tensor default_bias(int64_t out_features, int64_t fan_in, Rng& rng);

}  // namespace dip::init
