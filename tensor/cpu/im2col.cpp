// im2col / col2im with padding folded into per-row and per-column index maps (see im2col.h).
#include "tensor/cpu/im2col.h"

#include <algorithm>
#include <cstring>

namespace dip::cpu {

int32_t padded_source(int64_t i, int64_t n, PaddingMode mode) {
  if (i >= 0 && i < n) return static_cast<int32_t>(i);
  switch (mode) {
    case PaddingMode::Zeros: return -1;
    // Mirror about the edge without repeating it (torch.nn.ReflectionPad2d): -1 -> 1, n -> n - 2.
    // padding < n (checked) keeps one reflection enough.
    case PaddingMode::Reflect: return static_cast<int32_t>(i < 0 ? -i : 2 * (n - 1) - i);
    case PaddingMode::Replicate: return static_cast<int32_t>(i < 0 ? 0 : n - 1);
  }
  return -1;
}

namespace {

// Index map (K, out): entry [k][o] = padded_source(o * stride + k - padding).
std::vector<int32_t> index_map(int64_t kernel, int64_t out, int64_t n, int64_t stride, int64_t padding,
                               PaddingMode mode) {
  std::vector<int32_t> map(static_cast<size_t>(kernel * out));
  for (int64_t k = 0; k < kernel; ++k)
    for (int64_t o = 0; o < out; ++o) map[k * out + o] = padded_source(o * stride + k - padding, n, mode);
  return map;
}

}  // namespace

ConvGeometry make_conv_geometry(const Shape& x, int64_t kernel_h, int64_t kernel_w,
                                const Conv2dOptions& opt) {
  ConvGeometry g;
  g.channels = x[1];
  g.height = x[2];
  g.width = x[3];
  g.kernel_h = kernel_h;
  g.kernel_w = kernel_w;
  g.stride = opt.stride;
  g.padding = opt.padding;
  g.out_h = (g.height + 2 * g.padding - kernel_h) / g.stride + 1;
  g.out_w = (g.width + 2 * g.padding - kernel_w) / g.stride + 1;
  g.src_row = index_map(kernel_h, g.out_h, g.height, g.stride, g.padding, opt.padding_mode);
  g.src_col = index_map(kernel_w, g.out_w, g.width, g.stride, g.padding, opt.padding_mode);
  g.col_lo.resize(kernel_w);
  g.col_hi.resize(kernel_w);
  for (int64_t kw = 0; kw < kernel_w; ++kw) {
    // ow * stride + kw - padding in [0, width)  <=>  ow in [lo, hi)
    int64_t first = g.padding - kw;  // smallest in-range ow * stride
    int64_t lo = first <= 0 ? 0 : (first + g.stride - 1) / g.stride;
    int64_t last = g.width - 1 + g.padding - kw;  // largest in-range ow * stride
    int64_t hi = last < 0 ? 0 : last / g.stride + 1;
    lo = std::min(lo, g.out_w);
    hi = std::clamp(hi, lo, g.out_w);
    g.col_lo[kw] = lo;
    g.col_hi[kw] = hi;
  }
  return g;
}

void im2col(const float* x, const ConvGeometry& g, int64_t oh0, int64_t oh1, int64_t c0, int64_t c1,
            float* col) {
  const int64_t kk = g.kernel_h * g.kernel_w;
  const int64_t out_w = g.out_w, cols = (oh1 - oh0) * out_w, stride = g.stride;
  for (int64_t r = c0 * kk; r < c1 * kk; ++r) {
    const int64_t c = r / kk, kh = (r % kk) / g.kernel_w, kw = r % g.kernel_w;
    const float* xc = x + c * g.height * g.width;
    const int32_t* map_w = g.src_col.data() + kw * out_w;
    const int32_t* map_h = g.src_row.data() + kh * g.out_h;
    const int64_t lo = g.col_lo[kw], hi = g.col_hi[kw], shift = kw - g.padding;
    float* dst = col + (r - c0 * kk) * cols;
    for (int64_t oh = oh0; oh < oh1; ++oh, dst += out_w) {
      const int32_t ih = map_h[oh];
      if (ih < 0) {
        std::memset(dst, 0, static_cast<size_t>(out_w) * sizeof(float));
        continue;
      }
      const float* xr = xc + ih * g.width;
      for (int64_t ow = 0; ow < lo; ++ow) dst[ow] = map_w[ow] < 0 ? 0.f : xr[map_w[ow]];
      if (stride == 1) {
        std::memcpy(dst + lo, xr + lo + shift, static_cast<size_t>(hi - lo) * sizeof(float));
      } else {
        for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = xr[ow * stride + shift];
      }
      for (int64_t ow = hi; ow < out_w; ++ow) dst[ow] = map_w[ow] < 0 ? 0.f : xr[map_w[ow]];
    }
  }
}

void col2im_add(const float* col, const ConvGeometry& g, int64_t oh0, int64_t oh1, int64_t c0,
                int64_t c1, float* dx) {
  const int64_t out_w = g.out_w, cols = (oh1 - oh0) * out_w;
  const int64_t stride = g.stride;
  for (int64_t c = c0; c < c1; ++c) {
    float* dxc = dx + c * g.height * g.width;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      const int32_t* map_h = g.src_row.data() + kh * g.out_h;
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const int32_t* map_w = g.src_col.data() + kw * out_w;
        const int64_t lo = g.col_lo[kw], hi = g.col_hi[kw], shift = kw - g.padding;
        const float* src = col + (((c - c0) * g.kernel_h + kh) * g.kernel_w + kw) * cols;
        for (int64_t oh = oh0; oh < oh1; ++oh, src += out_w) {
          const int32_t ih = map_h[oh];
          if (ih < 0) continue;
          float* xr = dxc + ih * g.width;
          // Edge columns may fold onto the same pixel as an interior one (reflect): scalar adds.
          for (int64_t ow = 0; ow < lo; ++ow)
            if (map_w[ow] >= 0) xr[map_w[ow]] += src[ow];
          if (stride == 1) {
            float* __restrict d = xr + lo + shift;
            const float* __restrict s = src + lo;
#pragma omp simd
            for (int64_t i = 0; i < hi - lo; ++i) d[i] += s[i];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) xr[ow * stride + shift] += src[ow];
          }
          for (int64_t ow = hi; ow < out_w; ++ow)
            if (map_w[ow] >= 0) xr[map_w[ow]] += src[ow];
        }
      }
    }
  }
}

}  // namespace dip::cpu
