// CPU kernels of tensor/upsample.h.
//
// Bilinear is PyTorch's align_corners = false: output index o reads the source position
//   src = (o + 0.5) / s - 0.5, clamped at 0;  i0 = floor(src), i1 = min(i0 + 1, n - 1),
// with weights (1 - f, f), f = src - i0. The 2-D interpolation is separable (rows of the output are
// blends of horizontally interpolated input rows), and so is its adjoint.
//
// Every backward is a gather: each input element sums, with their weights, the output elements that
// read it. One thread owns each input row it writes, so there are no atomics and the result does not
// depend on the number of threads.
//
// Scale 2 bilinear (DIP's decoder) has its own path: the weights are the constants 1/4 and 3/4, so the
// loops are fixed-stencil and vectorise; the general path reads index/weight tables.
#include "tensor/upsample.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace dip::cpu {

namespace {

// Below this many output elements the kernels run on one thread (fork/join costs more).
constexpr int64_t kParallelMin = 1 << 15;

void check_input(const char* op, const Tensor& t, int scale) {
  DIP_CHECK(t.device() == Device::CPU, op, ": ", describe(t), " is not on the CPU");
  DIP_CHECK(t.rank() == 4, op, ": expects an (N, C, H, W) tensor, got ", t.shape().str());
  DIP_CHECK(scale >= 1, op, ": scale must be >= 1, got ", scale);
}

// ---- 1-D bilinear tables (general scale) ----------------------------------------

// For each output index along one axis: the two source indices and their weights.
struct Taps {
  std::vector<int64_t> i0, i1;
  std::vector<float> w0, w1;
};

Taps bilinear_taps(int64_t in, int scale) {
  const int64_t out = in * scale;
  Taps t;
  t.i0.resize(out), t.i1.resize(out), t.w0.resize(out), t.w1.resize(out);
  const float inv = 1.f / static_cast<float>(scale);  // as PyTorch: a float scale 1/s
  for (int64_t o = 0; o < out; ++o) {
    float src = std::max(inv * (static_cast<float>(o) + 0.5f) - 0.5f, 0.f);
    int64_t i0 = std::min(static_cast<int64_t>(src), in - 1);
    float f = src - static_cast<float>(i0);
    t.i0[o] = i0;
    t.i1[o] = std::min(i0 + 1, in - 1);
    t.w0[o] = 1.f - f;
    t.w1[o] = f;
  }
  return t;
}

// The transpose of Taps: for each input index, the (output index, weight) pairs that read it, in
// compressed rows (pairs of input i are [first[i], first[i+1])). Ascending output order, so sums
// are formed in a fixed order.
struct AdjointTaps {
  std::vector<int64_t> first, out;
  std::vector<float> w;
};

AdjointTaps adjoint_taps(const Taps& t, int64_t in) {
  const int64_t out = static_cast<int64_t>(t.i0.size());
  AdjointTaps a;
  a.first.assign(in + 1, 0);
  for (int64_t o = 0; o < out; ++o) {
    ++a.first[t.i0[o] + 1];
    ++a.first[t.i1[o] + 1];
  }
  for (int64_t i = 0; i < in; ++i) a.first[i + 1] += a.first[i];
  a.out.resize(a.first[in]);
  a.w.resize(a.first[in]);
  std::vector<int64_t> fill(a.first.begin(), a.first.end() - 1);
  for (int64_t o = 0; o < out; ++o) {
    a.out[fill[t.i0[o]]] = o, a.w[fill[t.i0[o]]++] = t.w0[o];
    a.out[fill[t.i1[o]]] = o, a.w[fill[t.i1[o]]++] = t.w1[o];
  }
  return a;
}

// ---- scale 2 bilinear: 1-D stencils ------------------------------------------------

// y (2n) = bilinear x2 of x (n): y[0] = x[0], y[2n-1] = x[n-1], and between each pair of inputs
// y[2j+1] = 3/4 x[j] + 1/4 x[j+1], y[2j+2] = 1/4 x[j] + 3/4 x[j+1].
inline void up2_row(const float* __restrict x, int64_t n, float* __restrict y) {
  y[0] = x[0];
  for (int64_t j = 0; j + 1 < n; ++j) {
    y[2 * j + 1] = 0.75f * x[j] + 0.25f * x[j + 1];
    y[2 * j + 2] = 0.25f * x[j] + 0.75f * x[j + 1];
  }
  y[2 * n - 1] = x[n - 1];
}

// The adjoint of up2_row: gx (n) from gy (2n). Interior j: 1/4 gy[2j-1] + 3/4 gy[2j] + 3/4 gy[2j+1]
// + 1/4 gy[2j+2]; at the ends the clamped output (weight 1) replaces the missing neighbour.
inline void up2_row_adjoint(const float* __restrict gy, int64_t n, float* __restrict gx) {
  auto edge = [&](int64_t j) {
    float s = (j == 0 ? 1.f : 0.75f) * gy[2 * j] + (j == n - 1 ? 1.f : 0.75f) * gy[2 * j + 1];
    if (j >= 1) s += 0.25f * gy[2 * j - 1];
    if (j + 1 < n) s += 0.25f * gy[2 * j + 2];
    return s;
  };
  gx[0] = edge(0);
  for (int64_t j = 1; j + 1 < n; ++j)
    gx[j] = 0.25f * (gy[2 * j - 1] + gy[2 * j + 2]) + 0.75f * (gy[2 * j] + gy[2 * j + 1]);
  if (n > 1) gx[n - 1] = edge(n - 1);
}

// out = a * p + b * q over n floats.
inline void blend(const float* __restrict p, float a, const float* __restrict q, float b, int64_t n,
                  float* __restrict out) {
  for (int64_t i = 0; i < n; ++i) out[i] = a * p[i] + b * q[i];
}

// x: (P, H, W) planes -> y: (P, 2H, 2W).
void bilinear2_forward(const float* x, int64_t P, int64_t H, int64_t W, float* y) {
  const int64_t W2 = 2 * W;
  // Work is split into (plane, block of input rows) tasks. A block keeps its horizontally upsampled
  // rows (plus one halo row each side) in a small per-thread buffer, so each is computed once.
  const int threads = omp_get_max_threads();
  const int64_t blocks_per_plane = std::min<int64_t>(H, (4 * threads + P - 1) / P);
  const int64_t rows_per_block = (H + blocks_per_plane - 1) / blocks_per_plane;
  const int64_t tasks = P * blocks_per_plane;
#pragma omp parallel if (P * H * W * 4 > kParallelMin)
  {
    std::vector<float> rows((rows_per_block + 2) * W2);  // (rows_per_block + 2, 2W)
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t p = t / blocks_per_plane;
      const int64_t k0 = (t % blocks_per_plane) * rows_per_block;
      const int64_t k1 = std::min(H, k0 + rows_per_block);
      if (k0 >= k1) continue;
      const float* xp = x + p * H * W;
      float* yp = y + p * 4 * H * W;
      // rows[r] holds input row k0 - 1 + r upsampled, for rows k0-1 .. k1 clamped to [0, H).
      const int64_t lo = std::max<int64_t>(k0 - 1, 0), hi = std::min(k1 + 1, H);
      for (int64_t k = lo; k < hi; ++k) up2_row(xp + k * W, W, rows.data() + (k - k0 + 1) * W2);
      auto row = [&](int64_t k) { return rows.data() + (k - k0 + 1) * W2; };
      for (int64_t k = k0; k < k1; ++k) {
        float* even = yp + (2 * k) * W2;  // output row 2k
        float* odd = even + W2;           // output row 2k + 1
        if (k == 0)
          std::memcpy(even, row(0), W2 * sizeof(float));
        else
          blend(row(k - 1), 0.25f, row(k), 0.75f, W2, even);
        if (k == H - 1)
          std::memcpy(odd, row(k), W2 * sizeof(float));
        else
          blend(row(k), 0.75f, row(k + 1), 0.25f, W2, odd);
      }
    }
  }
}

// gy: (P, 2H, 2W) -> gx: (P, H, W). For each input row k, the vertical adjoint first sums the
// (up to four) output rows that read it into a 2W buffer, then up2_row_adjoint reduces that.
void bilinear2_backward(const float* gy, int64_t P, int64_t H, int64_t W, float* gx) {
  const int64_t W2 = 2 * W;
#pragma omp parallel if (P * H * W * 4 > kParallelMin)
  {
    std::vector<float> col(W2);  // (2W)
#pragma omp for collapse(2) schedule(static)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t k = 0; k < H; ++k) {
        const float* g = gy + p * 4 * H * W;
        // Output rows 2k-1 and 2k+2 read row k with weight 1/4; rows 2k and 2k+1 with 3/4. At the
        // top and bottom the missing neighbour's 1/4 goes to the clamped row (3/4 + 1/4 = 1).
        const float* up = g + (k > 0 ? 2 * k - 1 : 0) * W2;
        const float* mid0 = g + (2 * k) * W2;
        const float* mid1 = mid0 + W2;
        const float* down = g + (k + 1 < H ? 2 * k + 2 : 2 * k + 1) * W2;
        float* c = col.data();
        for (int64_t i = 0; i < W2; ++i) c[i] = 0.25f * (up[i] + down[i]) + 0.75f * (mid0[i] + mid1[i]);
        up2_row_adjoint(c, W, gx + (p * H + k) * W);
      }
  }
}

// ---- general scale ----------------------------------------------------------------

void bilinear_forward(const float* x, int64_t P, int64_t H, int64_t W, int s, float* y) {
  const Taps ty = bilinear_taps(H, s), tx = bilinear_taps(W, s);
  const int64_t Ho = H * s, Wo = W * s;
#pragma omp parallel for collapse(2) schedule(static) if (P * Ho * Wo > kParallelMin)
  for (int64_t p = 0; p < P; ++p)
    for (int64_t oy = 0; oy < Ho; ++oy) {
      const float* r0 = x + (p * H + ty.i0[oy]) * W;
      const float* r1 = x + (p * H + ty.i1[oy]) * W;
      const float a = ty.w0[oy], b = ty.w1[oy];
      float* out = y + (p * Ho + oy) * Wo;
      for (int64_t ox = 0; ox < Wo; ++ox) {
        const int64_t c0 = tx.i0[ox], c1 = tx.i1[ox];
        const float u = tx.w0[ox], v = tx.w1[ox];
        out[ox] = a * (u * r0[c0] + v * r0[c1]) + b * (u * r1[c0] + v * r1[c1]);
      }
    }
}

void bilinear_backward(const float* gy, int64_t P, int64_t H, int64_t W, int s, float* gx) {
  const AdjointTaps ay = adjoint_taps(bilinear_taps(H, s), H);
  const AdjointTaps ax = adjoint_taps(bilinear_taps(W, s), W);
  const int64_t Ho = H * s, Wo = W * s;
#pragma omp parallel if (P * Ho * Wo > kParallelMin)
  {
    std::vector<float> col(Wo);  // (Wo): the output rows reading input row k, summed with weights
#pragma omp for collapse(2) schedule(static)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t k = 0; k < H; ++k) {
        float* c = col.data();
        std::fill(c, c + Wo, 0.f);
        for (int64_t e = ay.first[k]; e < ay.first[k + 1]; ++e) {
          const float* g = gy + (p * Ho + ay.out[e]) * Wo;
          const float w = ay.w[e];
          for (int64_t i = 0; i < Wo; ++i) c[i] += w * g[i];
        }
        float* out = gx + (p * H + k) * W;
        for (int64_t j = 0; j < W; ++j) {
          float acc = 0.f;
          for (int64_t e = ax.first[j]; e < ax.first[j + 1]; ++e) acc += ax.w[e] * c[ax.out[e]];
          out[j] = acc;
        }
      }
  }
}

void nearest_forward(const float* x, int64_t P, int64_t H, int64_t W, int s, float* y) {
  const int64_t Ho = H * s, Wo = W * s;
#pragma omp parallel for collapse(2) schedule(static) if (P * Ho * Wo > kParallelMin)
  for (int64_t p = 0; p < P; ++p)
    for (int64_t k = 0; k < H; ++k) {
      const float* in = x + (p * H + k) * W;
      float* out = y + (p * Ho + k * s) * Wo;
      for (int64_t j = 0; j < W; ++j)
        for (int d = 0; d < s; ++d) out[j * s + d] = in[j];
      for (int r = 1; r < s; ++r) std::memcpy(out + r * Wo, out, Wo * sizeof(float));
    }
}

void nearest_backward(const float* gy, int64_t P, int64_t H, int64_t W, int s, float* gx) {
  const int64_t Ho = H * s, Wo = W * s;
#pragma omp parallel if (P * Ho * Wo > kParallelMin)
  {
    std::vector<float> col(Wo);  // (Wo): the s output rows of input row k, summed
#pragma omp for collapse(2) schedule(static)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t k = 0; k < H; ++k) {
        const float* g = gy + (p * Ho + k * s) * Wo;
        float* c = col.data();
        std::memcpy(c, g, Wo * sizeof(float));
        for (int r = 1; r < s; ++r)
          for (int64_t i = 0; i < Wo; ++i) c[i] += g[r * Wo + i];
        float* out = gx + (p * H + k) * W;
        for (int64_t j = 0; j < W; ++j) {
          float acc = 0.f;
          for (int d = 0; d < s; ++d) acc += c[j * s + d];
          out[j] = acc;
        }
      }
  }
}

}  // namespace

Tensor upsample2d(const Tensor& x, int scale, UpsampleMode mode) {
  check_input("upsample2d", x, scale);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor y = Tensor::empty({N, C, H * scale, W * scale}, Device::CPU);  // (N, C, H*s, W*s)
  if (y.numel() == 0) return y;
  if (mode == UpsampleMode::Nearest)
    nearest_forward(x.data(), N * C, H, W, scale, y.data());
  else if (scale == 2)
    bilinear2_forward(x.data(), N * C, H, W, y.data());
  else
    bilinear_forward(x.data(), N * C, H, W, scale, y.data());
  return y;
}

Tensor upsample2d_backward(const Tensor& grad_y, int scale, UpsampleMode mode) {
  check_input("upsample2d_backward", grad_y, scale);
  const int64_t N = grad_y.size(0), C = grad_y.size(1), Ho = grad_y.size(2), Wo = grad_y.size(3);
  DIP_CHECK(Ho % scale == 0 && Wo % scale == 0, "upsample2d_backward: gradient ",
            grad_y.shape().str(), " is not a multiple of the scale ", scale,
            "; pass the gradient of upsample2d's output");
  const int64_t H = Ho / scale, W = Wo / scale;
  Tensor gx = Tensor::empty({N, C, H, W}, Device::CPU);  // (N, C, H, W)
  if (gx.numel() == 0) return gx;
  if (mode == UpsampleMode::Nearest)
    nearest_backward(grad_y.data(), N * C, H, W, scale, gx.data());
  else if (scale == 2)
    bilinear2_backward(grad_y.data(), N * C, H, W, gx.data());
  else
    bilinear_backward(grad_y.data(), N * C, H, W, scale, gx.data());
  return gx;
}

}  // namespace dip::cpu
