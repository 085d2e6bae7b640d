#include "nn/init.h"

#include <cmath>

namespace dip::init {

int64_t fan_in(const Shape& weight_shape) {
  DIP_CHECK(weight_shape.rank() >= 2, "fan_in: a weight has at least 2 dimensions, got ",
            weight_shape.str());
  return weight_shape.numel() / weight_shape[0];
}

Tensor uniform(const Shape& shape, float bound, Rng& rng) {
  return Tensor::uniform(shape, -bound, bound, rng);
}

Tensor kaiming_uniform(const Shape& shape, int64_t fan_in, float a, Rng& rng) {
  DIP_CHECK(fan_in > 0, "kaiming_uniform: fan_in must be positive, got ", fan_in);
  const double gain = std::sqrt(2.0 / (1.0 + double(a) * a));
  const double bound = gain * std::sqrt(3.0 / double(fan_in));
  return uniform(shape, static_cast<float>(bound), rng);
}

Tensor default_weight(const Shape& shape, Rng& rng) {
  return kaiming_uniform(shape, fan_in(shape), std::sqrt(5.f), rng);
}

Tensor default_bias(int64_t out_features, int64_t fan_in, Rng& rng) {
  DIP_CHECK(fan_in > 0, "default_bias: fan_in must be positive, got ", fan_in);
  return uniform({out_features}, static_cast<float>(1.0 / std::sqrt(double(fan_in))), rng);
}

}  // namespace dip::init
