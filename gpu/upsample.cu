// CUDA kernels of tensor/upsample.h.
//
// Bilinear is PyTorch's align_corners = false, computed exactly as tensor/cpu/upsample.cpp: output
// index o reads src = max((o + 0.5) * inv - 0.5, 0) with the float inv = 1/s,
// i0 = min(floor(src), n - 1), i1 = min(i0 + 1, n - 1), weights (1 - f, f) with f = src - i0.
//
// Backward kernels are gathers: one thread per input pixel sums the output pixels that read it.
// For bilinear these lie in the window [s*i - s, s*i + 2s) of each axis (where i0 is i - 1 or i);
// the thread recomputes the forward's taps there and keeps the ones that name its pixel. No atomics,
// so the result is deterministic.
#include <algorithm>
#include <climits>

#include "gpu/cuda_context.cuh"
#include "tensor/upsample.h"

namespace dip::gpu {

namespace {

constexpr int kThreads = 256;

struct Tap {
  int i0, i1;
  float w0, w1;
};

// The two source indices along an axis of `in` values for output index o, and their weights.
__device__ __forceinline__ Tap bilinear_tap(int o, int in, float inv_scale) {
  // __fmul_rn keeps the product unfused, so the result matches the CPU's bit for bit.
  const float src = fmaxf(__fmul_rn(inv_scale, float(o) + 0.5f) - 0.5f, 0.f);
  const int i0 = min(static_cast<int>(src), in - 1);
  const float f = src - float(i0);
  return {i0, min(i0 + 1, in - 1), 1.f - f, f};
}

// The weight with which output index o reads input index i along one axis (0 when it does not).
__device__ __forceinline__ float tap_weight(const Tap& t, int i) {
  return (t.i0 == i ? t.w0 : 0.f) + (t.i1 == i ? t.w1 : 0.f);
}

// Grids: x over blocks of the pixels a thread owns (output pixels forward, input pixels backward),
// y over the N * C planes (looping past 65535).
dim3 plane_grid(int64_t pixels, int64_t planes) {
  const int64_t blocks = (pixels + kThreads - 1) / kThreads;
  return dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(std::min<int64_t>(planes, 65535)));
}

// x: (planes, H, W) -> y: (planes, H*s, W*s)
__global__ void nearest_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int H, int W,
                                       int s, int64_t planes) {
  const int Wo = W * s, HWo = H * s * Wo;
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= HWo) return;
  const int oh = q / Wo, ow = q - oh * Wo;
  const int src = (oh / s) * W + ow / s;
  for (int64_t plane = blockIdx.y; plane < planes; plane += gridDim.y)
    y[plane * HWo + q] = x[plane * H * W + src];
}

// gy: (planes, H*s, W*s) -> gx: (planes, H, W); each input pixel sums its s x s block.
__global__ void nearest_backward_kernel(const float* __restrict__ gy, float* __restrict__ gx, int H, int W,
                                        int s, int64_t planes) {
  const int HW = H * W, Wo = W * s;
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= HW) return;
  const int ih = q / W, iw = q - ih * W;
  const int first = (ih * s) * Wo + iw * s;
  for (int64_t plane = blockIdx.y; plane < planes; plane += gridDim.y) {
    const float* g = gy + plane * HW * s * s + first;
    float acc = 0.f;
    for (int dy = 0; dy < s; ++dy)
      for (int dx = 0; dx < s; ++dx) acc += g[dy * Wo + dx];
    gx[plane * HW + q] = acc;
  }
}

// x: (planes, H, W) -> y: (planes, H*s, W*s)
__global__ void bilinear_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int H, int W,
                                        int s, float inv_scale, int64_t planes) {
  const int Wo = W * s, HWo = H * s * Wo;
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= HWo) return;
  const int oh = q / Wo, ow = q - oh * Wo;
  const Tap ty = bilinear_tap(oh, H, inv_scale), tx = bilinear_tap(ow, W, inv_scale);
  for (int64_t plane = blockIdx.y; plane < planes; plane += gridDim.y) {
    const float* r0 = x + plane * H * W + ty.i0 * W;
    const float* r1 = x + plane * H * W + ty.i1 * W;
    y[plane * HWo + q] = ty.w0 * (tx.w0 * r0[tx.i0] + tx.w1 * r0[tx.i1]) +
                         ty.w1 * (tx.w0 * r1[tx.i0] + tx.w1 * r1[tx.i1]);
  }
}

// gy: (planes, H*s, W*s) -> gx: (planes, H, W)
__global__ void bilinear_backward_kernel(const float* __restrict__ gy, float* __restrict__ gx, int H, int W,
                                         int s, float inv_scale, int64_t planes) {
  const int HW = H * W, Ho = H * s, Wo = W * s;
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= HW) return;
  const int ih = q / W, iw = q - ih * W;
  // Output rows / columns that can read this pixel: i0 in {i - 1, i}.
  const int oh_lo = max(ih * s - s, 0), oh_hi = min(ih * s + 2 * s, Ho);
  const int ow_lo = max(iw * s - s, 0), ow_hi = min(iw * s + 2 * s, Wo);
  for (int64_t plane = blockIdx.y; plane < planes; plane += gridDim.y) {
    const float* g = gy + plane * Ho * Wo;
    float acc = 0.f;
    for (int oh = oh_lo; oh < oh_hi; ++oh) {
      const float wy = tap_weight(bilinear_tap(oh, H, inv_scale), ih);
      if (wy == 0.f) continue;
      float row = 0.f;
      for (int ow = ow_lo; ow < ow_hi; ++ow) {
        const float wx = tap_weight(bilinear_tap(ow, W, inv_scale), iw);
        row += wx * g[oh * Wo + ow];
      }
      acc += wy * row;
    }
    gx[plane * HW + q] = acc;
  }
}

void check_input(const char* op, const Tensor& t, int scale) {
  DIP_CHECK(t.rank() == 4, op, ": expects an (N, C, H, W) tensor, got ", t.shape().str());
  DIP_CHECK(scale >= 1, op, ": scale must be >= 1, got ", scale);
  DIP_CHECK(t.size(2) * t.size(3) <= INT_MAX / 2, op, ": planes of ", t.shape().str(),
            " are too large for 32-bit indexing");
}

}  // namespace

Tensor upsample2d(const Tensor& x, int scale, UpsampleMode mode) {
  check_input("upsample2d", x, scale);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  DIP_CHECK(H * W * scale * scale <= INT_MAX, "upsample2d: output planes of ", x.shape().str(), " x",
            scale, " are too large for 32-bit indexing");
  Tensor y = Tensor::empty({N, C, H * scale, W * scale}, Device::CUDA);  // (N, C, H*s, W*s)
  if (y.numel() == 0) return y;
  const dim3 grid = plane_grid(H * W * scale * scale, N * C);
  if (mode == UpsampleMode::Nearest)
    nearest_forward_kernel<<<grid, kThreads, 0, gpu::stream()>>>(x.data(), y.data(), int(H), int(W), scale,
                                                                 N * C);
  else
    bilinear_forward_kernel<<<grid, kThreads, 0, gpu::stream()>>>(
        x.data(), y.data(), int(H), int(W), scale, 1.f / static_cast<float>(scale), N * C);
  DIP_CUDA_CHECK_LAUNCH();
  return y;
}

Tensor upsample2d_backward(const Tensor& grad_y, int scale, UpsampleMode mode) {
  check_input("upsample2d_backward", grad_y, scale);
  const int64_t N = grad_y.size(0), C = grad_y.size(1), Ho = grad_y.size(2), Wo = grad_y.size(3);
  DIP_CHECK(Ho % scale == 0 && Wo % scale == 0, "upsample2d_backward: gradient ", grad_y.shape().str(),
            " is not a multiple of the scale ", scale, "; pass the gradient of upsample2d's output");
  const int64_t H = Ho / scale, W = Wo / scale;
  Tensor gx = Tensor::empty({N, C, H, W}, Device::CUDA);  // (N, C, H, W)
  if (gx.numel() == 0) return gx;
  const dim3 grid = plane_grid(H * W, N * C);
  if (mode == UpsampleMode::Nearest)
    nearest_backward_kernel<<<grid, kThreads, 0, gpu::stream()>>>(grad_y.data(), gx.data(), int(H), int(W),
                                                                  scale, N * C);
  else
    bilinear_backward_kernel<<<grid, kThreads, 0, gpu::stream()>>>(
        grad_y.data(), gx.data(), int(H), int(W), scale, 1.f / static_cast<float>(scale), N * C);
  DIP_CUDA_CHECK_LAUNCH();
  return gx;
}

}  // namespace dip::gpu
