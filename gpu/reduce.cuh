// Deterministic reductions shared by the CUDA kernels: warp and block reductions, a whole-tensor
// sum of any per-element expression, and the sum over a set of dimensions (sum_to, sum_dim).
//
// No float atomics anywhere: every sum is split over a partition that depends only on the shapes,
// and the pieces are added in a fixed order, so a run is bitwise reproducible.
#pragma once
#include <array>
#include <cstdint>

#include "gpu/caching_allocator.h"
#include "gpu/cuda_context.cuh"
#include "tensor/tensor.h"

namespace dip::gpu {

struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Reduction over the 32 lanes of a warp; every lane gets the result. All lanes must take part.
template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Reduction over a 1-D block (blockDim.x a multiple of 32, at most 1024); every thread gets the
// result. Every thread of the block must call it (it synchronises); it may be called repeatedly.
template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T identity) {
  __shared__ T warp_results[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_reduce(v, op);
  __syncthreads();  // a previous call may still be reading warp_results
  if (lane == 0) warp_results[warp] = v;
  __syncthreads();
  // Every warp reduces the per-warp results itself, so no second broadcast is needed.
  v = lane < int(blockDim.x >> 5) ? warp_results[lane] : identity;
  return warp_reduce(v, op);
}

constexpr int kReduceThreads = 256;

// Pass 1 of sum_all_into: block b sums load(i) over a grid-stride slice into partial[b] (double).
template <typename Load>
__global__ void partial_sums_kernel(Load load, int64_t n, double* __restrict__ partial) {
  double acc = 0;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) acc += load(i);
  acc = block_reduce(acc, SumOp{}, 0.0);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// Blocks of pass 1 for n elements: a function of n only (so the result is reproducible).
int partial_sum_blocks(int64_t n);

// Pass 2: out[0] = float(scale * sum of partial[0..count)), one block, fixed order.
void finish_partial_sums(const double* partial, int count, double scale, float* out);

// Deterministically sums load(i) (a __device__ functor returning float or double) for i in [0, n)
// and writes scale * sum to out[0], a device float. Queued on stream(); no host synchronisation.
template <typename Load>
void sum_all_into(Load load, int64_t n, double scale, float* out) {
  const int blocks = partial_sum_blocks(n);
  DeviceBuffer partial(sizeof(double) * blocks);
  partial_sums_kernel<<<blocks, kReduceThreads, 0, stream()>>>(load, n, partial.as<double>());
  DIP_CUDA_CHECK_LAUNCH();
  finish_partial_sums(partial.as<double>(), blocks, scale, out);
}

// out[o] = float(sum over s in order of partial[s * m + o]) for o in [0, m): adds the (parts, m)
// partial sums of a column reduction.
void finish_column_sums(const double* partial, int64_t m, int64_t parts, float* out);

// Sums x over the dimensions flagged in `reduced` (x viewed as 4-D with leading 1s, as
// tensor/cpu/strides.h) into a new tensor of `out_shape`, whose elements are the kept dimensions in
// row-major order. Deterministic.
Tensor reduce_sum(const Tensor& x, const std::array<bool, 4>& reduced, const Shape& out_shape);

}  // namespace dip::gpu
