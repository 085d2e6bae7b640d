// CPU kernel of tensor/noise.h: one Box-Muller pair per loop step, pairs split over threads.
#include "tensor/noise.h"

#include <cmath>

namespace dip::cpu {

void normal_noise_(Tensor& out, float stddev, uint64_t seed, uint64_t counter) {
  using namespace noise_detail;
  float* v = out.data();
  const int64_t n = out.numel(), pairs = (n + 1) / 2;
  constexpr float kTwoPi = 6.28318530717958647692f;
  const uint64_t key = stream_key(seed, counter);
#pragma omp parallel for schedule(static) if (pairs > 16384)
  for (int64_t p = 0; p < pairs; ++p) {
    const uint64_t bits = pair_bits(key, static_cast<uint64_t>(p));
    const float r = stddev * std::sqrt(-2.f * std::log(uniform_open(bits)));
    const float angle = kTwoPi * uniform_closed(bits);
    v[2 * p] = r * std::cos(angle);
    if (2 * p + 1 < n) v[2 * p + 1] = r * std::sin(angle);
  }
}

}  // namespace dip::cpu
