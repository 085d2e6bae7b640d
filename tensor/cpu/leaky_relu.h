// LeakyReLU on one value, branch-free, for the CPU kernels that apply it: the activation kernels
// (tensor/cpu/activation.cpp) and BatchNorm's fused activation (tensor/cpu/batch_norm.cpp). One
// definition, so both take the same side at the kink: at z == 0 the slope side, as PyTorch.
#pragma once
#include <cstdint>
#include <cstring>

namespace dip::cpu {

// c ? a : b with both sides already computed, as a bitwise blend. Written as a ternary, GCC keeps
// the branch (under the default -ftrapping-math it will not hoist a float multiply out of it) and
// the loop does not vectorise; the blend compiles to cmpps + and/andnot/or.
inline float select(bool c, float a, float b) {
  uint32_t ua, ub;
  std::memcpy(&ua, &a, sizeof ua);
  std::memcpy(&ub, &b, sizeof ub);
  const uint32_t mask = 0u - uint32_t(c);
  const uint32_t r = (ua & mask) | (ub & ~mask);
  float out;
  std::memcpy(&out, &r, sizeof out);
  return out;
}

// y = z > 0 ? z : slope * z, and its gradient g -> z > 0 ? g : slope * g.
inline float lrelu(float z, float slope) { return select(z > 0.f, z, z * slope); }
inline float lrelu_grad(float z, float g, float slope) { return select(z > 0.f, g, g * slope); }

}  // namespace dip::cpu
