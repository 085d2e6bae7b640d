// The Adam update as a kernel over many parameters at once (one CUDA launch for all of them).
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)     (+ weight decay, L2 style, if set)
#pragma once
#include <vector>

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

struct AdamSlot {
  Tensor param, grad, m, v;  // all the same shape; grad may be undefined (skipped)
};
struct AdamStep {
  float lr, beta1, beta2, eps, weight_decay;
  int step;  // 1 for the first update (bias correction)
};

// The kernels, the same in each backend: the CPU ones (tensor/cpu/adam.cpp) ...
namespace cpu {
void adam_update_(const std::vector<AdamSlot>& slots, const AdamStep& s);
}  // namespace cpu
// ... and the CUDA ones (gpu/adam.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
void adam_update_(const std::vector<AdamSlot>& slots, const AdamStep& s);
}  // namespace gpu

inline void adam_update_(const std::vector<AdamSlot>& slots, const AdamStep& s) {
  if (slots.empty()) return;
  DIP_DISPATCH(slots[0].param.device(), adam_update_, slots, s);
}

}  // namespace dip
