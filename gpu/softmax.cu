// CUDA kernels of tensor/softmax.h: one block per row of the (rows, D) view; the row max and the
// sums are block reductions (gpu/reduce.cuh). Rows are re-read from L1/L2 between the passes.
#include <climits>

#include "gpu/reduce.cuh"
#include "tensor/softmax.h"

namespace dip::gpu {

namespace {

// Threads per row: a multiple of 32 covering short rows without idle warps, at most 256.
int row_threads(int64_t dim) { return dim >= 256 ? 256 : static_cast<int>((dim + 31) / 32 * 32); }

__global__ void softmax_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t dim) {
  const float* xr = x + int64_t(blockIdx.x) * dim;  // (D)
  float* yr = y + int64_t(blockIdx.x) * dim;
  float mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) mx = fmaxf(mx, xr[i]);
  mx = block_reduce(mx, MaxOp{}, -INFINITY);
  // exp(x - max) <= 1 and the largest term is 1: no overflow, sum >= 1.
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) sum += expf(xr[i] - mx);
  sum = block_reduce(sum, SumOp{}, 0.f);
  const float inv = 1.f / sum;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = expf(xr[i] - mx) * inv;
}

// grad_x = y * (grad_y - sum(grad_y * y))
__global__ void softmax_backward_kernel(const float* __restrict__ y, const float* __restrict__ gy,
                                        float* __restrict__ gx, int64_t dim) {
  const int64_t row = int64_t(blockIdx.x) * dim;
  float dot = 0.f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) dot += gy[row + i] * y[row + i];
  dot = block_reduce(dot, SumOp{}, 0.f);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) gx[row + i] = y[row + i] * (gy[row + i] - dot);
}

}  // namespace

}  // namespace dip::gpu

namespace dip::gpu {

Tensor softmax_lastdim(const Tensor& x) {
  DIP_CHECK(x.rank() >= 1 && x.size(-1) > 0, "softmax: needs a non-empty last dimension, got ", describe(x));
  const int64_t dim = x.size(-1), rows = x.numel() / dim;
  DIP_CHECK(rows <= INT_MAX, "softmax: ", rows, " rows exceed the CUDA grid");
  Tensor y = Tensor::empty(x.shape(), Device::CUDA);
  if (rows == 0) return y;
  gpu::softmax_kernel<<<static_cast<unsigned>(rows), gpu::row_threads(dim), 0, gpu::stream()>>>(
      x.data(), y.data(), dim);
  DIP_CUDA_CHECK_LAUNCH();
  return y;
}

Tensor softmax_lastdim_backward(const Tensor& y, const Tensor& grad_y) {
  DIP_CHECK(y.shape() == grad_y.shape(), "softmax_backward: output ", describe(y), " vs gradient ",
            describe(grad_y));
  DIP_CHECK(y.rank() >= 1 && y.size(-1) > 0, "softmax_backward: needs a non-empty last dimension, got ",
            describe(y));
  const int64_t dim = y.size(-1), rows = y.numel() / dim;
  DIP_CHECK(rows <= INT_MAX, "softmax_backward: ", rows, " rows exceed the CUDA grid");
  Tensor gx = Tensor::empty(y.shape(), Device::CUDA);
  if (rows == 0) return gx;
  gpu::softmax_backward_kernel<<<static_cast<unsigned>(rows), gpu::row_threads(dim), 0, gpu::stream()>>>(
      y.data(), grad_y.data(), gx.data(), dim);
  DIP_CUDA_CHECK_LAUNCH();
  return gx;
}

}  // namespace dip::gpu
