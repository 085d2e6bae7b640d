// im2col and its adjoint on the GPU, with the padding folded into the index maps (the padded input
// is never built). Used by gpu/conv2d.cu.
//
// For `images` images x (images, C, H, W) the column matrices are
//   col: (images, C * KH * KW, H_out * W_out),   row r = (c * KH + kh) * KW + kw,
//   col[n][r][oh * W_out + ow] = x[n][c][src(oh * stride - pad + kh)][src(ow * stride - pad + kw)]
// where src maps a padded coordinate to the input (zero for Zeros outside, a mirror for Reflect,
// the nearest edge for Replicate), exactly as tensor/cpu/im2col.cpp.
//
// col2im is a gather, not a scatter: one thread per input pixel sums every column entry that read
// it, including through the mirrored or replicated border. No atomics, so it is deterministic.
#pragma once
#include "gpu/cuda_context.cuh"
#include "tensor/conv2d.h"

namespace dip::gpu {

// One image's convolution geometry, passed to the kernels by value (all sizes fit in int: checked
// by the caller).
struct ConvGeometry {
  int channels, height, width;  // input (C, H, W), all groups
  int kernel_h, kernel_w, stride, padding;
  int out_h, out_w;
  PaddingMode mode;
};

// The input coordinate that padded coordinate i reads, or -1 for a zero. padding < n (checked for
// Reflect) keeps one reflection enough.
__device__ __forceinline__ int pad_source(int i, int n, PaddingMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case PaddingMode::Zeros: return -1;
    case PaddingMode::Reflect: return i < 0 ? -i : 2 * (n - 1) - i;  // -1 -> 1, n -> n - 2
    case PaddingMode::Replicate: return i < 0 ? 0 : n - 1;
  }
  return -1;
}

// The inverse of pad_source: the padded coordinates in [-padding, n - 1 + padding] that read input
// coordinate i, as at most three closed ranges [lo, hi].
struct PadPreimage {
  int lo[3], hi[3];
  int count;
};

__device__ __forceinline__ PadPreimage pad_preimage(int i, int n, int padding, PaddingMode mode) {
  PadPreimage r;
  r.count = 1;
  r.lo[0] = r.hi[0] = i;
  r.lo[1] = r.hi[1] = r.lo[2] = r.hi[2] = 0;
  if (mode == PaddingMode::Replicate) {
    // The edge pixel is also read by the whole border beyond it.
    if (i == 0) r.lo[0] = -padding;
    if (i == n - 1) r.hi[0] = n - 1 + padding;
  } else if (mode == PaddingMode::Reflect) {
    if (i >= 1 && i <= padding) {  // mirrored before the start: -i reads i
      r.lo[r.count] = r.hi[r.count] = -i;
      ++r.count;
    }
    const int m = 2 * (n - 1) - i;  // mirrored past the end: m reads i
    if (i <= n - 2 && m <= n - 1 + padding) {
      r.lo[r.count] = r.hi[r.count] = m;
      ++r.count;
    }
  }
  return r;
}

// Grid: x over blocks of output pixels, y over the (image, channel) planes (looping past 65535).
// Each thread owns one output pixel of one plane and writes its KH * KW column entries; neighbouring
// threads write neighbouring addresses of each column row.
static __global__ void im2col_kernel(const float* __restrict__ x /* (planes, H, W) */,
                                     float* __restrict__ col /* (planes, KH * KW, P) */,
                                     ConvGeometry g, int64_t planes) {
  const int P = g.out_h * g.out_w;
  const int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= P) return;
  const int oh = p / g.out_w, ow = p - oh * g.out_w;
  const int h0 = oh * g.stride - g.padding, w0 = ow * g.stride - g.padding;
  const int64_t plane_in = int64_t(g.height) * g.width;
  const int64_t plane_col = int64_t(g.kernel_h) * g.kernel_w * P;
  for (int64_t plane = blockIdx.y; plane < planes; plane += gridDim.y) {
    const float* xp = x + plane * plane_in;
    float* cp = col + plane * plane_col + p;
    for (int kh = 0; kh < g.kernel_h; ++kh) {
      const int ih = pad_source(h0 + kh, g.height, g.mode);
      for (int kw = 0; kw < g.kernel_w; ++kw) {
        const int iw = pad_source(w0 + kw, g.width, g.mode);
        cp[int64_t(kh * g.kernel_w + kw) * P] = (ih < 0 || iw < 0) ? 0.f : xp[ih * g.width + iw];
      }
    }
  }
}

// Grid: x over blocks of input pixels, y over the planes. dx = im2col^T(col), written (not added).
static __global__ void col2im_kernel(const float* __restrict__ col /* (planes, KH * KW, P) */,
                                     float* __restrict__ dx /* (planes, H, W) */, ConvGeometry g,
                                     int64_t planes) {
  const int HW = g.height * g.width;
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= HW) return;
  const int ih = q / g.width, iw = q - ih * g.width;
  const PadPreimage rows = pad_preimage(ih, g.height, g.padding, g.mode);
  const PadPreimage cols = pad_preimage(iw, g.width, g.padding, g.mode);
  const int P = g.out_h * g.out_w;
  const int64_t plane_col = int64_t(g.kernel_h) * g.kernel_w * P;
  for (int64_t plane = blockIdx.y; plane < planes; plane += gridDim.y) {
    const float* cp = col + plane * plane_col;
    float acc = 0.f;
#pragma unroll
    for (int r = 0; r < 3; ++r) {
      if (r >= rows.count) break;
      for (int ph = rows.lo[r]; ph <= rows.hi[r]; ++ph) {
        for (int kh = 0; kh < g.kernel_h; ++kh) {
          // Output row oh reads padded row ph through kernel row kh when oh * stride = ph + pad - kh.
          const int th = ph + g.padding - kh;
          if (th < 0 || th % g.stride != 0) continue;
          const int oh = th / g.stride;
          if (oh >= g.out_h) continue;
#pragma unroll
          for (int s = 0; s < 3; ++s) {
            if (s >= cols.count) break;
            for (int pw = cols.lo[s]; pw <= cols.hi[s]; ++pw) {
              for (int kw = 0; kw < g.kernel_w; ++kw) {
                const int tw = pw + g.padding - kw;
                if (tw < 0 || tw % g.stride != 0) continue;
                const int ow = tw / g.stride;
                if (ow >= g.out_w) continue;
                acc += cp[int64_t(kh * g.kernel_w + kw) * P + oh * g.out_w + ow];
              }
            }
          }
        }
      }
    }
    dx[plane * HW + q] = acc;
  }
}

inline dim3 plane_launch_grid(int64_t pixels, int64_t planes, int threads) {
  const int64_t blocks = (pixels + threads - 1) / threads;
  return dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(planes < 65535 ? planes : 65535));
}

// col (images, C * KH * KW, P) from x (images, C, H, W). images >= 1.
inline void im2col(const float* x, float* col, const ConvGeometry& g, int64_t images) {
  constexpr int kThreads = 256;
  const int64_t planes = images * g.channels;
  im2col_kernel<<<plane_launch_grid(int64_t(g.out_h) * g.out_w, planes, kThreads), kThreads, 0,
                  stream()>>>(x, col, g, planes);
  DIP_CUDA_CHECK_LAUNCH();
}

// dx (images, C, H, W) = the adjoint of im2col applied to col (images, C * KH * KW, P). images >= 1.
inline void col2im(const float* col, float* dx, const ConvGeometry& g, int64_t images) {
  constexpr int kThreads = 256;
  const int64_t planes = images * g.channels;
  col2im_kernel<<<plane_launch_grid(int64_t(g.height) * g.width, planes, kThreads), kThreads, 0,
                  stream()>>>(col, dx, g, planes);
  DIP_CUDA_CHECK_LAUNCH();
}

}  // namespace dip::gpu
