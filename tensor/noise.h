// Counter-based Gaussian noise, generated where the tensor lives.
//
// Element i of normal_noise(shape, stddev, seed, counter) depends only on (seed, counter, i): a
// hash of the three gives two uniforms, Box-Muller turns them into the normals of elements 2p and
// 2p+1. No generator state, so every thread (CPU) or CUDA thread draws its own values, the GPU
// needs no host->device copy, and the CPU and CUDA kernels give the same numbers (up to the last
// bits of logf/cosf). DIP draws a fresh reg-noise image each iteration: counter = the iteration.
#pragma once
#include <cstdint>

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

namespace noise_detail {

// SplitMix64's finaliser: a bijective mix of 64 bits.
constexpr uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// The key of the stream (seed, counter), computed once per fill.
constexpr uint64_t stream_key(uint64_t seed, uint64_t counter) {
  return mix64(mix64(seed + 0x9E3779B97F4A7C15ULL) ^ counter);
}

// 64 random bits for the pair p of a stream.
constexpr uint64_t pair_bits(uint64_t key, uint64_t p) { return mix64(key + p * 0x9E3779B97F4A7C15ULL); }

// Two uniforms from 24 bits each: u1 in (0, 1] (log(u1) is finite), u2 in [0, 1).
constexpr float uniform_open(uint64_t bits) { return (float((bits >> 40) & 0xFFFFFF) + 1.f) * (1.f / 16777216.f); }
constexpr float uniform_closed(uint64_t bits) { return float((bits >> 16) & 0xFFFFFF) * (1.f / 16777216.f); }

}  // namespace noise_detail

// (out is any shape; filled in place, element i as described above)

// The kernels, the same in each backend: the CPU ones (tensor/cpu/noise.cpp) ...
namespace cpu {
void normal_noise_(Tensor& out, float stddev, uint64_t seed, uint64_t counter);
}  // namespace cpu
// ... and the CUDA ones (gpu/noise.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
void normal_noise_(Tensor& out, float stddev, uint64_t seed, uint64_t counter);
}  // namespace gpu

inline void normal_noise_(Tensor& out, float stddev, uint64_t seed, uint64_t counter) {
  DIP_DISPATCH(out.device(), normal_noise_, out, stddev, seed, counter);
}

// A new tensor of N(0, stddev^2) noise on `device`.
inline Tensor normal_noise(const Shape& shape, float stddev, uint64_t seed, uint64_t counter,
                           Device device = Device::CPU) {
  Tensor t = Tensor::empty(shape, device);
  normal_noise_(t, stddev, seed, counter);
  return t;
}

}  // namespace dip
