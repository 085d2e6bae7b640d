// CUDA kernel of tensor/adam.h: one launch updates every parameter.
//
// The parameter table ({param, grad, m, v, n} per tensor) travels as the kernel's argument, in
// __grid_constant__ parameter memory (CUDA 12.1+ allows up to 32 KiB of arguments): no device table,
// no host-to-device copy per step and no cache to invalidate when a gradient buffer moves (and a
// CUDA graph, if a step is ever captured — nothing captures one yet, see issue 11 — would hold the table with the launch). Each tensor owns ceil(n / 1024) consecutive
// blocks; a block finds its tensor by binary search over the tensors' first blocks. Tables of up
// to 32, 128 or 512 tensors pick the smallest argument size; larger sets take one launch per 512.
// The bias corrections are folded into two scalars on the host, with the CPU kernel's formula.
#include <cmath>
#include <vector>

#include "gpu/cuda_context.cuh"
#include "tensor/adam.h"

namespace dip::gpu {

namespace {

constexpr int kAdamThreads = 256;
constexpr int64_t kAdamBlockElems = 4 * kAdamThreads;  // elements per block, 4 per thread

struct AdamTensor {
  float* param;
  const float* grad;
  float* m;
  float* v;
  int64_t n;
  int64_t first_block;  // blocks [first_block, first_block + ceil(n / kAdamBlockElems)) are this tensor's
};

template <int Capacity>
struct AdamBatch {
  AdamTensor tensors[Capacity];
  int count;
};

struct AdamScalars {
  float beta1, beta2, eps, weight_decay;
  float step_size;     // lr / (1 - beta1^t)
  float inv_sqrt_bc2;  // 1 / sqrt(1 - beta2^t)
};

template <int Capacity>
__global__ void __launch_bounds__(kAdamThreads)
    adam_kernel(const __grid_constant__ AdamBatch<Capacity> batch, const AdamScalars s) {
  // This block's tensor: the last one whose first block is <= blockIdx.x (tensor 0 starts at 0).
  const int64_t block = blockIdx.x;
  int lo = 0, hi = batch.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (batch.tensors[mid].first_block <= block)
      lo = mid;
    else
      hi = mid - 1;
  }
  const AdamTensor& t = batch.tensors[lo];
  const int64_t begin = (block - t.first_block) * kAdamBlockElems;
  for (int k = threadIdx.x; k < kAdamBlockElems; k += kAdamThreads) {
    const int64_t i = begin + k;
    if (i >= t.n) break;
    const float p = t.param[i];
    const float g = t.grad[i] + s.weight_decay * p;  // L2-style weight decay, as torch.optim.Adam
    const float m = s.beta1 * t.m[i] + (1.f - s.beta1) * g;
    const float v = s.beta2 * t.v[i] + (1.f - s.beta2) * g * g;
    t.m[i] = m;
    t.v[i] = v;
    t.param[i] = p - s.step_size * m / (sqrtf(v) * s.inv_sqrt_bc2 + s.eps);
  }
}

template <int Capacity>
void launch_adam(const AdamTensor* tensors, int count, const AdamScalars& s) {
  AdamBatch<Capacity> batch{};
  batch.count = count;
  int64_t blocks = 0;
  for (int k = 0; k < count; ++k) {
    batch.tensors[k] = tensors[k];
    batch.tensors[k].first_block = blocks;
    blocks += (tensors[k].n + kAdamBlockElems - 1) / kAdamBlockElems;
  }
  DIP_CHECK(blocks <= 0x7fffffff, "adam_update_: ", blocks, " blocks exceed the CUDA grid");
  adam_kernel<Capacity><<<static_cast<unsigned>(blocks), kAdamThreads, 0, stream()>>>(batch, s);
  DIP_CUDA_CHECK_LAUNCH();
}

}  // namespace

}  // namespace dip::gpu

namespace dip::gpu {

void adam_update_(const std::vector<AdamSlot>& slots, const AdamStep& s) {
  DIP_CHECK(s.step >= 1, "adam_update_: step counts from 1, got ", s.step);
  std::vector<gpu::AdamTensor> tensors;
  tensors.reserve(slots.size());
  for (const AdamSlot& slot : slots) {
    if (!slot.grad.defined()) continue;
    const int64_t n = slot.param.numel();
    DIP_CHECK(slot.grad.numel() == n && slot.m.numel() == n && slot.v.numel() == n,
              "adam_update_: ", describe(slot.param), " with gradient ", describe(slot.grad), ", moments ",
              describe(slot.m), " and ", describe(slot.v));
    DIP_CHECK(slot.param.is_cuda() && slot.grad.is_cuda() && slot.m.is_cuda() && slot.v.is_cuda(),
              "adam_update_: parameter ", describe(slot.param), ", gradient ", describe(slot.grad),
              " and moments must all be on the GPU");
    if (n == 0) continue;
    tensors.push_back({slot.param.data(), slot.grad.data(), slot.m.data(), slot.v.data(), n, 0});
  }
  if (tensors.empty()) return;

  // As the CPU kernel (torch.optim.Adam): p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
  const float bc1 = 1.f - static_cast<float>(std::pow(double(s.beta1), s.step));
  const float bc2 = 1.f - static_cast<float>(std::pow(double(s.beta2), s.step));
  const gpu::AdamScalars scalars{s.beta1, s.beta2, s.eps, s.weight_decay, s.lr / bc1, 1.f / std::sqrt(bc2)};

  constexpr int kMaxPerLaunch = 512;
  for (size_t begin = 0; begin < tensors.size(); begin += kMaxPerLaunch) {
    const int count = static_cast<int>(std::min<size_t>(kMaxPerLaunch, tensors.size() - begin));
    if (count <= 32)
      gpu::launch_adam<32>(tensors.data() + begin, count, scalars);
    else if (count <= 128)
      gpu::launch_adam<128>(tensors.data() + begin, count, scalars);
    else
      gpu::launch_adam<kMaxPerLaunch>(tensors.data() + begin, count, scalars);
  }
}

}  // namespace dip::gpu
