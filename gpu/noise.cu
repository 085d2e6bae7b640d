// CUDA kernel of tensor/noise.h: one thread per Box-Muller pair, the same hash as the CPU kernel.
#include <climits>

#include "gpu/cuda_context.cuh"
#include "tensor/noise.h"

namespace dip::gpu {

namespace {

__global__ void normal_noise_kernel(float* __restrict__ v, int64_t n, float stddev, uint64_t key) {
  using namespace noise_detail;
  const int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (2 * p >= n) return;
  const uint64_t bits = pair_bits(key, static_cast<uint64_t>(p));
  // Accurate (not __logf/__cosf) so the values match the CPU's to a few ulp.
  const float r = stddev * sqrtf(-2.f * logf(uniform_open(bits)));
  float s, c;
  sincospif(2.f * uniform_closed(bits), &s, &c);
  v[2 * p] = r * c;
  if (2 * p + 1 < n) v[2 * p + 1] = r * s;
}

}  // namespace

}  // namespace dip::gpu

namespace dip::gpu {

void normal_noise_(Tensor& out, float stddev, uint64_t seed, uint64_t counter) {
  const int64_t n = out.numel(), pairs = (n + 1) / 2;
  if (n == 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = (pairs + kThreads - 1) / kThreads;
  DIP_CHECK(blocks <= INT_MAX, "normal_noise_: ", n, " values exceed the CUDA grid");
  gpu::normal_noise_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, gpu::stream()>>>(
      out.data(), n, stddev, noise_detail::stream_key(seed, counter));
  DIP_CUDA_CHECK_LAUNCH();
}

}  // namespace dip::gpu
