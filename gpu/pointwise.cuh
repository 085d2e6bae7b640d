// Pointwise launch helpers: y[i] = f(x[i]) and y[i] = f(a[i], b[i]) over contiguous buffers, with
// float4 loads and stores when every pointer is 16-byte aligned (the caching allocator's blocks are;
// a view at an odd offset falls back to scalar accesses). f is a functor with a __device__
// operator(); everything is queued on stream(). No __restrict__: y may alias an input (add_).
#pragma once
#include <cstdint>

#include "gpu/cuda_context.cuh"

namespace dip::gpu {

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <typename F>
__global__ void map1_kernel(const float* x, float* y, int64_t n, F f) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = f(x[i]);
}

// n4 = n / 4 groups of four, then the n % 4 tail elements.
template <typename F>
__global__ void map1_vec4_kernel(const float* x, float* y, int64_t n, F f) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t n4 = n / 4;
  const float4* x4 = reinterpret_cast<const float4*>(x);
  float4* y4 = reinterpret_cast<float4*>(y);
  for (int64_t i = first; i < n4; i += stride) {
    float4 v = x4[i];
    v.x = f(v.x);
    v.y = f(v.y);
    v.z = f(v.z);
    v.w = f(v.w);
    y4[i] = v;
  }
  for (int64_t i = 4 * n4 + first; i < n; i += stride) y[i] = f(x[i]);
}

template <typename F>
__global__ void map2_kernel(const float* a, const float* b, float* y, int64_t n, F f) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = f(a[i], b[i]);
}

template <typename F>
__global__ void map2_vec4_kernel(const float* a, const float* b, float* y, int64_t n, F f) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t n4 = n / 4;
  const float4* a4 = reinterpret_cast<const float4*>(a);
  const float4* b4 = reinterpret_cast<const float4*>(b);
  float4* y4 = reinterpret_cast<float4*>(y);
  for (int64_t i = first; i < n4; i += stride) {
    const float4 u = a4[i], v = b4[i];
    y4[i] = make_float4(f(u.x, v.x), f(u.y, v.y), f(u.z, v.z), f(u.w, v.w));
  }
  for (int64_t i = 4 * n4 + first; i < n; i += stride) y[i] = f(a[i], b[i]);
}

// y = f(x) elementwise over n floats.
template <typename F>
void launch_map1(const float* x, float* y, int64_t n, F f) {
  if (n <= 0) return;
  if (aligned16(x) && aligned16(y))
    map1_vec4_kernel<<<blocks_for((n + 3) / 4), 256, 0, stream()>>>(x, y, n, f);
  else
    map1_kernel<<<blocks_for(n), 256, 0, stream()>>>(x, y, n, f);
  DIP_CUDA_CHECK_LAUNCH();
}

// y = f(a, b) elementwise over n floats.
template <typename F>
void launch_map2(const float* a, const float* b, float* y, int64_t n, F f) {
  if (n <= 0) return;
  if (aligned16(a) && aligned16(b) && aligned16(y))
    map2_vec4_kernel<<<blocks_for((n + 3) / 4), 256, 0, stream()>>>(a, b, y, n, f);
  else
    map2_kernel<<<blocks_for(n), 256, 0, stream()>>>(a, b, y, n, f);
  DIP_CUDA_CHECK_LAUNCH();
}

}  // namespace dip::gpu
