// Deterministic per-channel sums over an (N, C, H*W) tensor, for batch norm's statistics and the
// convolution's bias gradient. Two passes over a fixed partition, no atomics, so every run gives
// bitwise the same result:
//   1. grid (N * chunks, C): each block sums one chunk of one (n, c) plane      -> partial (C, N * chunks)
//   2. grid (C): each block adds its channel's partials in double and hands the sums to `finish`.
// Both passes carry two sums at once (batch norm needs a sum and a sum of squares).
#pragma once
#include <climits>

#include "gpu/cuda_context.cuh"
#include "gpu/reduce.cuh"
#include "tensor/tensor.h"

namespace dip::gpu {

template <class T>
struct SumPair {
  T a, b;
};

constexpr int kChannelSumThreads = 256;
// Values one block of pass 1 sums (16 per thread): enough blocks to fill the GPU for one large
// image, few enough partials that pass 2 is short.
constexpr int64_t kChannelSumChunk = 16 * kChannelSumThreads;

// Sum of a pair over the block (gpu/reduce.cuh's block_reduce, once per member); every thread gets it.
template <class T>
__device__ SumPair<T> block_sum(SumPair<T> v) {
  v.a = block_reduce(v.a, SumOp{}, T(0));
  v.b = block_reduce(v.b, SumOp{}, T(0));
  return v;
}

// Pass 1. value(i, c) gives the pair for flat NCHW element i of channel c.
template <class Value>
__global__ void channel_partial_sums_kernel(Value value, int64_t C, int64_t HW, int chunks,
                                            SumPair<float>* partial /* (C, gridDim.x) */) {
  const int c = blockIdx.y;
  const int n = blockIdx.x / chunks, k = blockIdx.x % chunks;
  const int64_t plane = (int64_t(n) * C + c) * HW;
  const int64_t begin = int64_t(k) * kChannelSumChunk;
  const int64_t end = begin + kChannelSumChunk < HW ? begin + kChannelSumChunk : HW;
  SumPair<float> acc{0.f, 0.f};
  for (int64_t p = begin + threadIdx.x; p < end; p += kChannelSumThreads) {
    const SumPair<float> v = value(plane + p, c);
    acc.a += v.a;
    acc.b += v.b;
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[int64_t(c) * gridDim.x + blockIdx.x] = acc;
}

// Pass 2: one block per channel.
template <class Finish>
__global__ void channel_finish_kernel(const SumPair<float>* partial /* (C, parts) */, int parts,
                                      Finish finish) {
  const int c = blockIdx.x;
  const SumPair<float>* row = partial + int64_t(c) * parts;
  SumPair<double> acc{0.0, 0.0};
  for (int i = threadIdx.x; i < parts; i += kChannelSumThreads) {
    acc.a += row[i].a;
    acc.b += row[i].b;
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) finish(c, acc);
}

// Sums value(i, c) over the N * HW elements of each channel c of an (N, C, HW) tensor, then calls
// finish(c, SumPair<double>) once per channel on the device. Queued on stream().
template <class Value, class Finish>
void channel_sums(int64_t N, int64_t C, int64_t HW, Value value, Finish finish) {
  if (C == 0) return;
  DIP_CHECK(C <= 65535, "channel sums: ", C, " channels exceed the CUDA grid limit of 65535");
  const int64_t chunks = HW > 0 ? (HW + kChannelSumChunk - 1) / kChannelSumChunk : 0;
  const int64_t parts = N * chunks;  // partial sums per channel
  DIP_CHECK(parts <= INT_MAX, "channel sums: ", N, " x ", HW, " values per channel are too many");
  Tensor partial = Tensor::empty({C * parts * 2 /* floats per pair */}, Device::CUDA);  // (C, parts)
  auto* p = reinterpret_cast<SumPair<float>*>(partial.data());
  if (parts > 0) {
    channel_partial_sums_kernel<<<dim3(static_cast<unsigned>(parts), static_cast<unsigned>(C)),
                                  kChannelSumThreads, 0, stream()>>>(value, C, HW,
                                                                     static_cast<int>(chunks), p);
    DIP_CUDA_CHECK_LAUNCH();
  }
  channel_finish_kernel<<<static_cast<unsigned>(C), kChannelSumThreads, 0, stream()>>>(
      p, static_cast<int>(parts), finish);
  DIP_CUDA_CHECK_LAUNCH();
}

}  // namespace dip::gpu
