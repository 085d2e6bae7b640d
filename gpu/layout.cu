// CUDA primitives of tensor/layout.h.
//
// copy_runs and zero_runs are 2-D memcpy/memset: the copy-engine path of cudaMemcpy2DAsync and
// cudaMemset2DAsync handles them, on the framework's stream. permute_gather is one kernel: each
// thread writes one output element (coalesced) and reads x through the plan's strides.
#include <climits>

#include "gpu/cuda_context.cuh"
#include "tensor/layout.h"

namespace dip::gpu {

namespace {

constexpr int kThreads = 256;

// Output element i: its coordinates in the output dims `od` select x's element at
// sum(coordinate[k] * sx[k]). Index is int when the tensor is small enough (cheaper division).
template <class Index>
__global__ void permute_kernel(const float* __restrict__ x, float* __restrict__ y, PermutePlan a,
                               Index total) {
  const Index d1 = static_cast<Index>(a.od[1]), d2 = static_cast<Index>(a.od[2]),
              d3 = static_cast<Index>(a.od[3]);
  // The loop counter is 64-bit so that the last stride cannot overflow an int Index.
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    Index rest = static_cast<Index>(i);
    const Index i3 = rest % d3;
    rest /= d3;
    const Index i2 = rest % d2;
    rest /= d2;
    const Index i1 = rest % d1;
    const Index i0 = rest / d1;
    y[i] = x[i0 * a.sx[0] + i1 * a.sx[1] + i2 * a.sx[2] + i3 * a.sx[3]];
  }
}

}  // namespace

void copy_runs(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
               int64_t len) {
  if (rows == 0 || len == 0) return;
  const size_t bytes = static_cast<size_t>(len) * sizeof(float);
  if (rows == 1 || (src_stride == len && dst_stride == len)) {  // one contiguous block
    DIP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes * rows, cudaMemcpyDeviceToDevice, gpu::stream()));
    return;
  }
  DIP_CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_stride * sizeof(float), src, src_stride * sizeof(float), bytes,
                                   rows, cudaMemcpyDeviceToDevice, gpu::stream()));
}

void zero_runs(float* dst, int64_t stride, int64_t rows, int64_t len) {
  if (rows == 0 || len == 0) return;
  const size_t bytes = static_cast<size_t>(len) * sizeof(float);
  if (rows == 1 || stride == len) {
    DIP_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes * rows, gpu::stream()));
    return;
  }
  DIP_CUDA_CHECK(cudaMemset2DAsync(dst, stride * sizeof(float), 0, bytes, rows, gpu::stream()));
}

void permute_gather(const float* x, float* y, const PermutePlan& plan) {
  const int64_t total = plan.od[0] * plan.od[1] * plan.od[2] * plan.od[3];
  if (total == 0) return;
  const int blocks = gpu::blocks_for(total, kThreads);
  if (total <= INT_MAX)
    permute_kernel<int><<<blocks, kThreads, 0, gpu::stream()>>>(x, y, plan, static_cast<int>(total));
  else
    permute_kernel<int64_t><<<blocks, kThreads, 0, gpu::stream()>>>(x, y, plan, total);
  DIP_CUDA_CHECK_LAUNCH();
}

}  // namespace dip::gpu
