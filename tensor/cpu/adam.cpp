// CPU kernel of tensor/adam.h: one fused pass per parameter (read g, p, m, v once; write p, m, v).
#include "tensor/adam.h"

#include <cmath>

namespace dip::cpu {

void adam_update_(const std::vector<AdamSlot>& slots, const AdamStep& s) {
  DIP_CHECK(s.step >= 1, "adam_update_: step counts from 1, got ", s.step);
  // As torch.optim.Adam: p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
  const float bc1 = 1.f - static_cast<float>(std::pow(double(s.beta1), s.step));
  const float bc2 = 1.f - static_cast<float>(std::pow(double(s.beta2), s.step));
  const float step_size = s.lr / bc1;
  const float inv_sqrt_bc2 = 1.f / std::sqrt(bc2);
  const float b1 = s.beta1, b2 = s.beta2, eps = s.eps, wd = s.weight_decay;
  for (const AdamSlot& slot : slots) {
    if (!slot.grad.defined()) continue;
    const int64_t n = slot.param.numel();
    DIP_CHECK(slot.grad.numel() == n && slot.m.numel() == n && slot.v.numel() == n,
              "adam_update_: ", describe(slot.param), " with gradient ", describe(slot.grad),
              ", moments ", describe(slot.m), " and ", describe(slot.v));
    float* p = slot.param.data();
    const float* g = slot.grad.data();
    float* m = slot.m.data();
    float* v = slot.v.data();
    // Small parameters (biases, BatchNorm) stay on one thread: a parallel region costs more.
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      const float gi = g[i] + wd * p[i];
      const float mi = b1 * m[i] + (1.f - b1) * gi;
      const float vi = b2 * v[i] + (1.f - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] -= step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
    }
  }
}

}  // namespace dip::cpu
