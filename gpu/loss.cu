// CUDA kernels of tensor/loss.h. The forward losses are deterministic whole-tensor sums
// (gpu/reduce.cuh) written to a (1) device tensor; the backward kernels read grad_loss from device
// memory, so nothing here waits for the host.
#include <cmath>

#include "gpu/reduce.cuh"
#include "tensor/loss.h"

namespace dip::gpu {

namespace {

__device__ __forceinline__ float sign(float v) { return float(v > 0.f) - float(v < 0.f); }  // sign(0) = 0

struct SquaredDiff {
  const float* y;
  const float* t;
  __device__ __forceinline__ double operator()(int64_t i) const {
    const float d = y[i] - t[i];
    return double(d) * d;
  }
};

// Element i adds |right - x| and |below - x| where those neighbours exist.
struct TvTerm {
  const float* x;
  int64_t h, w;
  __device__ __forceinline__ double operator()(int64_t i) const {
    const int64_t col = i % w, row = (i / w) % h;
    const float v = x[i];
    double acc = 0;
    if (col + 1 < w) acc += fabsf(x[i + 1] - v);
    if (row + 1 < h) acc += fabsf(x[i + w] - v);
    return acc;
  }
};

// r = sqrt(dx^2 + dy^2 + eps) at element i (row `row`, column `col` of its plane), with the forward
// differences dx (0 in the last column) and dy (0 in the last row); the same float arithmetic as the
// CPU's isotropic_tv_row_terms.
struct IsoTvDiffs {
  float dx, dy, r;
};
__device__ __forceinline__ IsoTvDiffs iso_tv_diffs(const float* __restrict__ x, int64_t i, int64_t row, int64_t col,
                                                   int64_t h, int64_t w, float eps) {
  const float v = x[i];
  const float dx = col + 1 < w ? x[i + 1] - v : 0.f;
  const float dy = row + 1 < h ? x[i + w] - v : 0.f;
  return {dx, dy, sqrtf(dx * dx + dy * dy + eps)};
}

// Element i adds sqrt(dx^2 + dy^2 + eps).
struct IsoTvTerm {
  const float* x;
  int64_t h, w;
  float eps;
  __device__ __forceinline__ double operator()(int64_t i) const {
    return iso_tv_diffs(x, i, (i / w) % h, i % w, h, w, eps).r;
  }
};

// grad_y = grad_loss * 2 (y - target) / n
__global__ void mse_backward_kernel(const float* __restrict__ y, const float* __restrict__ t,
                                    const float* __restrict__ grad_loss, float inv_n, int64_t n,
                                    float* __restrict__ gy) {
  const float scale = 2.f * grad_loss[0] * inv_n;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    gy[i] = scale * (y[i] - t[i]);
}

// x[i, j] appears in |x[i, j+1] - x[i, j]| (weight -sign), |x[i, j] - x[i, j-1]| (+sign), and
// likewise with the rows above and below.
__global__ void tv_backward_kernel(const float* __restrict__ x, const float* __restrict__ grad_loss,
                                   float inv_n, int64_t h, int64_t w, int64_t n, float* __restrict__ gx) {
  const float scale = grad_loss[0] * inv_n;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t col = i % w, row = (i / w) % h;
    const float v = x[i];
    float g = 0.f;
    if (col > 0) g += sign(v - x[i - 1]);
    if (col + 1 < w) g -= sign(x[i + 1] - v);
    if (row > 0) g += sign(v - x[i - w]);
    if (row + 1 < h) g -= sign(x[i + w] - v);
    gx[i] = scale * g;
  }
}

// A gather: x[i, j] enters r[i, j] (through dx and dy, weight -1 each), r[i, j-1] (through
// dx[i, j-1], +1) and r[i-1, j] (through dy[i-1, j], +1); each thread recomputes the three r it needs.
__global__ void isotropic_tv_backward_kernel(const float* __restrict__ x, const float* __restrict__ grad_loss,
                                             float inv_n, float eps, int64_t h, int64_t w, int64_t n,
                                             float* __restrict__ gx) {
  const float scale = grad_loss[0] * inv_n;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t col = i % w, row = (i / w) % h;
    const IsoTvDiffs c = iso_tv_diffs(x, i, row, col, h, w, eps);
    float left = 0.f, above = 0.f;
    if (col > 0) {
      const IsoTvDiffs l = iso_tv_diffs(x, i - 1, row, col - 1, h, w, eps);
      left = l.dx / l.r;
    }
    if (row > 0) {
      const IsoTvDiffs a = iso_tv_diffs(x, i - w, row - 1, col, h, w, eps);
      above = a.dy / a.r;
    }
    gx[i] = scale * (left + above - (c.dx / c.r + c.dy / c.r));
  }
}

}  // namespace

}  // namespace dip::gpu

namespace dip::gpu {

Tensor mse_loss_forward(const Tensor& y, const Tensor& target) {
  Tensor loss = Tensor::empty({1}, Device::CUDA);
  const int64_t n = y.numel();
  gpu::sum_all_into(gpu::SquaredDiff{y.data(), target.data()}, n, 1.0 / double(n), loss.data());
  return loss;
}

Tensor mse_loss_backward(const Tensor& y, const Tensor& target, const Tensor& grad_loss) {
  Tensor gy = Tensor::empty(y.shape(), Device::CUDA);
  const int64_t n = y.numel();
  if (n == 0) return gy;
  gpu::mse_backward_kernel<<<gpu::blocks_for(n), 256, 0, gpu::stream()>>>(
      y.data(), target.data(), grad_loss.data(), 1.f / static_cast<float>(n), n, gy.data());
  DIP_CUDA_CHECK_LAUNCH();
  return gy;
}

Tensor tv_loss_forward(const Tensor& x) {
  const ImagePlanes d = image_planes(x);
  Tensor loss = Tensor::empty({1}, Device::CUDA);
  const int64_t n = x.numel();
  gpu::sum_all_into(gpu::TvTerm{x.data(), d.h, d.w}, n, 1.0 / double(n), loss.data());
  return loss;
}

Tensor tv_loss_backward(const Tensor& x, const Tensor& grad_loss) {
  const ImagePlanes d = image_planes(x);
  Tensor gx = Tensor::empty(x.shape(), Device::CUDA);
  const int64_t n = x.numel();
  gpu::tv_backward_kernel<<<gpu::blocks_for(n), 256, 0, gpu::stream()>>>(
      x.data(), grad_loss.data(), 1.f / static_cast<float>(n), d.h, d.w, n, gx.data());
  DIP_CUDA_CHECK_LAUNCH();
  return gx;
}

Tensor isotropic_tv_loss_forward(const Tensor& x, float eps) {
  const ImagePlanes d = image_planes(x);
  Tensor loss = Tensor::empty({1}, Device::CUDA);
  const int64_t n = x.numel();
  gpu::sum_all_into(gpu::IsoTvTerm{x.data(), d.h, d.w, eps}, n, 1.0 / double(n), loss.data());
  return loss;
}

Tensor isotropic_tv_loss_backward(const Tensor& x, float eps, const Tensor& grad_loss) {
  const ImagePlanes d = image_planes(x);
  Tensor gx = Tensor::empty(x.shape(), Device::CUDA);
  const int64_t n = x.numel();
  gpu::isotropic_tv_backward_kernel<<<gpu::blocks_for(n), 256, 0, gpu::stream()>>>(
      x.data(), grad_loss.data(), 1.f / static_cast<float>(n), eps, d.h, d.w, n, gx.data());
  DIP_CUDA_CHECK_LAUNCH();
  return gx;
}

}  // namespace dip::gpu
