// Rng: a small seeded generator (PCG32) so every run and test is reproducible.
#pragma once
#include <cstdint>

namespace dip {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  void reseed(uint64_t seed);
  uint32_t next_u32();
  // Uniform in [0, 1).
  float uniform() { return (next_u32() >> 8) * (1.0f / 16777216.0f); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal (Box-Muller; the spare value is kept for the next call).
  float normal();

 private:
  uint64_t state_ = 0, inc_ = 1;
  bool has_spare_ = false;
  float spare_ = 0.f;
};

}  // namespace dip
