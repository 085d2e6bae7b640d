// Winograd F(2x2, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", CVPR 2016) for the CPU kernels of tensor/conv2d.h.
//
// A 2x2 block of outputs Y from a 4x4 tile d of the padded input and a 3x3 kernel g:
//   Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A              16 multiplies instead of 36
//   B^T = [1  0 -1  0]    G = [1    0    0  ]    A^T = [1  1  1  0]
//         [0  1  1  0]        [1/2  1/2  1/2]          [0  1 -1 -1]
//         [0 -1  1  0]        [1/2 -1/2  1/2]
//         [0  1  0 -1]        [0    0    1  ]
// Tiles step by 2, so neighbouring tiles overlap by two rows or columns. Summed over the input
// channels, each of the 16 positions of a transformed tile is one matrix product:
//   M[pos] (C_out, tiles) = U[pos] (C_out, C_in) * V[pos] (C_in, tiles),   U = G g G^T, V = B^T d B
// so a convolution is 16 GEMMs of 2.25x fewer multiplies than im2col's, plus the transforms (adds).
//
// All three kernels work on a "valid" convolution of a padded input P (the padding, any mode, is
// written into P):
//   forward          P = x padded;  Y = A^T (U V) A + bias
//   backward_input   dP = the forward of dy padded by 2 zeros with each kernel rotated by 180 degrees
//                    and C_in, C_out swapped (a "full" convolution); then dP is folded into dx: a
//                    padded position adds to the pixel it was read from (reflect, replicate) or is
//                    dropped (zeros), as col2im does
//   backward_weight  dU[pos] (C_out, C_in) = sum over images and tiles of dYt[pos] * V[pos]^T with
//                    dYt = A dY A^T (the adjoint of the output transform), then dW = G^T dU G
//
// Layout: P holds each padded row deinterleaved, its even columns then its odd ones, so the four
// columns 2j .. 2j+3 of tile j are even[j], odd[j], even[j+1], odd[j+1]: every transform loop runs
// over tiles with unit-stride loads and stores, and vectorises (DIP_VECTOR_CLONES).
//
// Threading and determinism: tiles are cut into blocks whose size depends only on the image size.
// forward and the valid convolution of backward_input give each thread whole blocks (each output
// written by one thread, each GEMM a fixed-shape gemm_serial); backward_weight runs the blocks in
// order and gives each thread whole positions, so each dU[pos] is summed in one fixed order. The
// results are the same on any number of threads.
#include "tensor/cpu/winograd.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/im2col.h"
#include "tensor/cpu/scratch.h"
#include "tensor/cpu/simd.h"

namespace dip::cpu {

namespace {

std::atomic<bool> g_enabled{true};

constexpr int kPositions = 16;  // 4 x 4 transformed tile
// Tiles per block: a block's V and M for 128 channels are about 2 MB each, and one position's
// GEMM operands (U, V, M at 128 channels and 256 tiles) fit a 512 KiB L2. Small images get smaller
// blocks (at least kMinBlockTiles) so that about kBlocksWanted of them keep the threads busy.
constexpr int64_t kMaxBlockTiles = 256;
constexpr int64_t kMinBlockTiles = 64;
constexpr int64_t kBlocksWanted = 8;
// Smallest convolution worth the transforms. Measured (2 threads, AVX2, 128 channels, forward +
// both backward kernels): 128x128 98.8 -> 61.1 ms, 64x64 24.7 -> 16.4 ms, but 32x32 6.32 -> 6.24 ms
// (a wash) and 16x16 1.90 -> 2.83 ms (slower: the tiles are few and the transforms do not amortise).
constexpr int64_t kMinChannels = 16;
constexpr int64_t kMinOutputPixels = 2048;

// The 2x2 output tiles of a valid 3x3 convolution with an (out_h, out_w) output, in row-major
// order, cut into blocks of consecutive tiles.
struct TileGrid {
  int64_t out_h, out_w;
  int64_t th, tw;  // tiles per column and per row
  int64_t count;   // th * tw
  int64_t block;   // tiles per block (the last block may have fewer)
  int64_t blocks;

  int64_t block_begin(int64_t b) const { return b * block; }
  int64_t block_size(int64_t b) const { return std::min(block, count - b * block); }
  int64_t padded_rows() const { return 2 * th + 2; }  // rows of P (the valid extent is out_h + 2)
  int64_t half() const { return tw + 1; }             // even (and odd) columns of a row of P
  int64_t plane() const { return padded_rows() * 2 * half(); }
};

TileGrid make_grid(int64_t out_h, int64_t out_w) {
  TileGrid g;
  g.out_h = out_h, g.out_w = out_w;
  g.th = (out_h + 1) / 2, g.tw = (out_w + 1) / 2;
  g.count = g.th * g.tw;
  g.block = std::clamp((g.count + kBlocksWanted - 1) / kBlocksWanted, kMinBlockTiles, kMaxBlockTiles);
  g.blocks = (g.count + g.block - 1) / g.block;
  return g;
}

// Calls f(i, ja, jb, offset) for each tile row i that block [t0, t0 + n) covers: tiles j in
// [ja, jb) of row i, the first at `offset` within the block.
template <class F>
void for_tile_rows(const TileGrid& g, int64_t t0, int64_t n, F f) {
  for (int64_t t = t0; t < t0 + n;) {
    const int64_t i = t / g.tw, ja = t - i * g.tw;
    const int64_t jb = std::min(g.tw, ja + (t0 + n - t));
    f(i, ja, jb, t - t0);
    t += jb - ja;
  }
}

// Where each row and column of P reads from an (h, w) plane: the source index, or -1 for a zero
// (padding in zeros mode, or past the valid extent out + 2 where the grid rounds up to whole tiles).
struct PadMap {
  std::vector<int32_t> row, col;  // (padded_rows), (2 * half)
};

PadMap make_pad_map(const TileGrid& g, int64_t h, int64_t w, int64_t pad, PaddingMode mode) {
  PadMap m;
  m.row.resize(static_cast<size_t>(g.padded_rows()));
  m.col.resize(static_cast<size_t>(2 * g.half()));
  for (int64_t a = 0; a < g.padded_rows(); ++a)
    m.row[a] = a < g.out_h + 2 ? padded_source(a - pad, h, mode) : -1;
  for (int64_t b = 0; b < 2 * g.half(); ++b)
    m.col[b] = b < g.out_w + 2 ? padded_source(b - pad, w, mode) : -1;
  return m;
}

// One plane of P from an (h, w) plane x: rows deinterleaved (even columns, then odd ones).
void pad_plane(const float* x, int64_t w, const PadMap& map, int64_t half, float* p) {
  const int64_t cols = 2 * half;
  for (size_t a = 0; a < map.row.size(); ++a) {
    float* even = p + a * cols;
    float* odd = even + half;
    const int32_t sr = map.row[a];
    if (sr < 0) {
      std::fill_n(even, cols, 0.f);
      continue;
    }
    const float* xr = x + sr * w;
    for (int64_t k = 0; k < half; ++k) {
      const int32_t se = map.col[2 * k], so = map.col[2 * k + 1];
      even[k] = se >= 0 ? xr[se] : 0.f;
      odd[k] = so >= 0 ? xr[so] : 0.f;
    }
  }
}

// V = B^T d B for tiles j in [ja, jb) of one tile row: r0..r3 are the four rows of P (deinterleaved,
// `half` floats apart); position pos of tile j goes to v[pos * pos_stride + j - ja]. (omp simd: the
// 16 output streams never overlap the rows, which the compiler cannot prove by itself.)
DIP_VECTOR_CLONES
void input_transform_row(const float* r0, const float* r1, const float* r2, const float* r3, int64_t half,
                         int64_t ja, int64_t jb, float* v, int64_t pos_stride) {
  const int64_t n = jb - ja;
  const float *e0 = r0 + ja, *o0 = r0 + half + ja, *e1 = r1 + ja, *o1 = r1 + half + ja;
  const float *e2 = r2 + ja, *o2 = r2 + half + ja, *e3 = r3 + ja, *o3 = r3 + half + ja;
  const int64_t s = pos_stride;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    // Column c of B^T d for the tile's columns c = 0..3 (even[j], odd[j], even[j+1], odd[j+1]).
    const float t00 = e0[j] - e2[j], t01 = o0[j] - o2[j], t02 = e0[j + 1] - e2[j + 1], t03 = o0[j + 1] - o2[j + 1];
    const float t10 = e1[j] + e2[j], t11 = o1[j] + o2[j], t12 = e1[j + 1] + e2[j + 1], t13 = o1[j + 1] + o2[j + 1];
    const float t20 = e2[j] - e1[j], t21 = o2[j] - o1[j], t22 = e2[j + 1] - e1[j + 1], t23 = o2[j + 1] - o1[j + 1];
    const float t30 = e1[j] - e3[j], t31 = o1[j] - o3[j], t32 = e1[j + 1] - e3[j + 1], t33 = o1[j + 1] - o3[j + 1];
    // (B^T d) B, row by row.
    v[0 * s + j] = t00 - t02, v[1 * s + j] = t01 + t02, v[2 * s + j] = t02 - t01, v[3 * s + j] = t01 - t03;
    v[4 * s + j] = t10 - t12, v[5 * s + j] = t11 + t12, v[6 * s + j] = t12 - t11, v[7 * s + j] = t11 - t13;
    v[8 * s + j] = t20 - t22, v[9 * s + j] = t21 + t22, v[10 * s + j] = t22 - t21, v[11 * s + j] = t21 - t23;
    v[12 * s + j] = t30 - t32, v[13 * s + j] = t31 + t32, v[14 * s + j] = t32 - t31, v[15 * s + j] = t31 - t33;
  }
}

// Y = A^T M A (+ bias) for n tiles of one tile row: position pos of tile t is m[pos * pos_stride + t];
// the 2x2 outputs go to y0[2t], y0[2t + 1] (top row) and y1[2t], y1[2t + 1] (bottom row).
DIP_VECTOR_CLONES
void output_transform_row(const float* __restrict m, int64_t pos_stride, int64_t n, float bias,
                          float* __restrict y0, float* __restrict y1) {
#pragma omp simd
  for (int64_t t = 0; t < n; ++t) {
    float s[4][4];
    for (int pos = 0; pos < kPositions; ++pos) s[pos / 4][pos % 4] = m[pos * pos_stride + t];
    float u0[4], u1[4];  // A^T M
    for (int c = 0; c < 4; ++c) {
      u0[c] = s[0][c] + s[1][c] + s[2][c];
      u1[c] = s[1][c] - s[2][c] - s[3][c];
    }
    y0[2 * t] = u0[0] + u0[1] + u0[2] + bias;
    y0[2 * t + 1] = u0[1] - u0[2] - u0[3] + bias;
    y1[2 * t] = u1[0] + u1[1] + u1[2] + bias;
    y1[2 * t + 1] = u1[1] - u1[2] - u1[3] + bias;
  }
}

// dYt = A dY A^T for tiles j in [ja, jb) of one tile row: e0/o0 are the even and odd columns of
// output row 2i, e1/o1 of row 2i + 1 (zeros past the output); position pos of tile j goes to
// v[pos * pos_stride + j - ja].
DIP_VECTOR_CLONES
void grad_transform_row(const float* __restrict e0, const float* __restrict o0, const float* __restrict e1,
                        const float* __restrict o1, int64_t ja, int64_t jb, float* __restrict v,
                        int64_t pos_stride) {
#pragma omp simd
  for (int64_t j = ja; j < jb; ++j) {
    const float a = e0[j], b = o0[j], c = e1[j], d = o1[j];
    const float rows[4][2] = {{a, b}, {a + c, b + d}, {a - c, b - d}, {-c, -d}};  // A dY
    float* out = v + (j - ja);
    for (int r = 0; r < 4; ++r) {  // (A dY) A^T
      const float p = rows[r][0], q = rows[r][1];
      out[(4 * r + 0) * pos_stride] = p;
      out[(4 * r + 1) * pos_stride] = p + q;
      out[(4 * r + 2) * pos_stride] = p - q;
      out[(4 * r + 3) * pos_stride] = -q;
    }
  }
}

// U = G g G^T of one 3x3 kernel g (row-major), position pos to u[pos * pos_stride].
void weight_transform(const float* g, float* u, int64_t pos_stride) {
  float t[4][3];  // G g
  for (int c = 0; c < 3; ++c) {
    t[0][c] = g[c];
    t[1][c] = 0.5f * (g[c] + g[3 + c] + g[6 + c]);
    t[2][c] = 0.5f * (g[c] - g[3 + c] + g[6 + c]);
    t[3][c] = g[6 + c];
  }
  for (int r = 0; r < 4; ++r) {  // (G g) G^T
    u[(4 * r + 0) * pos_stride] = t[r][0];
    u[(4 * r + 1) * pos_stride] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
    u[(4 * r + 2) * pos_stride] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
    u[(4 * r + 3) * pos_stride] = t[r][2];
  }
}

// dW = G^T dU G of one kernel: dU's position pos at du[pos * pos_stride]; dw 3x3 row-major.
void weight_grad_transform(const float* du, int64_t pos_stride, float* dw) {
  float s[4][4];
  for (int pos = 0; pos < kPositions; ++pos) s[pos / 4][pos % 4] = du[pos * pos_stride];
  float t[3][4];  // G^T dU
  for (int c = 0; c < 4; ++c) {
    t[0][c] = s[0][c] + 0.5f * (s[1][c] + s[2][c]);
    t[1][c] = 0.5f * (s[1][c] - s[2][c]);
    t[2][c] = 0.5f * (s[1][c] + s[2][c]) + s[3][c];
  }
  for (int r = 0; r < 3; ++r) {  // (G^T dU) G
    dw[3 * r + 0] = t[r][0] + 0.5f * (t[r][1] + t[r][2]);
    dw[3 * r + 1] = 0.5f * (t[r][1] - t[r][2]);
    dw[3 * r + 2] = 0.5f * (t[r][1] + t[r][2]) + t[r][3];
  }
}

// V of block [t0, t0 + n) for channels [c0, c1) of P (channels, padded_rows, 2 * half): channel c's
// row of position pos at v[pos * channels * n + c * n].
void input_transform_block(const float* p, int64_t channels, int64_t c0, int64_t c1, const TileGrid& g,
                           int64_t t0, int64_t n, float* v) {
  const int64_t row = 2 * g.half(), pos_stride = channels * n;
  for (int64_t c = c0; c < c1; ++c) {
    const float* plane = p + c * g.plane();
    for_tile_rows(g, t0, n, [&](int64_t i, int64_t ja, int64_t jb, int64_t offset) {
      const float* r0 = plane + 2 * i * row;
      input_transform_row(r0, r0 + row, r0 + 2 * row, r0 + 3 * row, g.half(), ja, jb, v + c * n + offset,
                          pos_stride);
    });
  }
}

// The valid convolution, inside a parallel region: out (c_out, out_h, out_w) from P (c_in planes)
// and U (16, c_out, c_in), plus bias (or none). Each thread takes whole blocks.
void valid_conv_blocks(const float* p, int64_t c_in, const float* u, int64_t c_out, const TileGrid& g,
                       const float* bias, float* out) {
  float* v = thread_scratch(0, static_cast<size_t>(kPositions * c_in * g.block));
  float* m = thread_scratch(3, static_cast<size_t>(kPositions * c_out * g.block + 4 * g.tw));
  float* y0 = m + kPositions * c_out * g.block;  // (2 tw) top output row of a tile row
  float* y1 = y0 + 2 * g.tw;                     // (2 tw) bottom one
#pragma omp for schedule(static)
  for (int64_t b = 0; b < g.blocks; ++b) {
    const int64_t t0 = g.block_begin(b), n = g.block_size(b);
    input_transform_block(p, c_in, 0, c_in, g, t0, n, v);
    for (int pos = 0; pos < kPositions; ++pos)
      gemm_serial(false, false, c_out, n, c_in, 1.f, u + pos * c_out * c_in, c_in, v + pos * c_in * n, n, 0.f,
                  m + pos * c_out * n, n);
    for (int64_t co = 0; co < c_out; ++co) {
      float* plane = out + co * g.out_h * g.out_w;
      for_tile_rows(g, t0, n, [&](int64_t i, int64_t ja, int64_t jb, int64_t offset) {
        output_transform_row(m + co * n + offset, c_out * n, jb - ja, bias ? bias[co] : 0.f, y0, y1);
        const int64_t x0 = 2 * ja, x1 = std::min(2 * jb, g.out_w);
        std::memcpy(plane + 2 * i * g.out_w + x0, y0, (x1 - x0) * sizeof(float));
        if (2 * i + 1 < g.out_h) std::memcpy(plane + (2 * i + 1) * g.out_w + x0, y1, (x1 - x0) * sizeof(float));
      });
    }
  }
}

}  // namespace

void set_winograd_enabled(bool on) { g_enabled = on; }
bool winograd_enabled() { return g_enabled; }

bool winograd_applies(const ConvSizes& s, const Conv2dOptions& opt) {
  return g_enabled && s.kh == 3 && s.kw == 3 && opt.stride == 1 && s.groups == 1 && s.c_in >= kMinChannels &&
         s.c_out >= kMinChannels && s.p >= kMinOutputPixels;
}

void winograd_forward(const float* x, const float* weight, const float* bias, const ConvSizes& s,
                      const Conv2dOptions& opt, float* out) {
  const TileGrid g = make_grid(s.out_h, s.out_w);
  const PadMap map = make_pad_map(g, s.h, s.w, opt.padding, opt.padding_mode);
  float* u = thread_scratch(1, static_cast<size_t>(kPositions * s.c_out * s.c_in));  // (16, C_out, C_in)
  float* p = thread_scratch(2, static_cast<size_t>(s.c_in * g.plane()));             // (C_in, rows, cols)
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t co = 0; co < s.c_out; ++co)
      for (int64_t ci = 0; ci < s.c_in; ++ci)
        weight_transform(weight + (co * s.c_in + ci) * 9, u + co * s.c_in + ci, s.c_out * s.c_in);
    for (int64_t n = 0; n < s.n; ++n) {
#pragma omp for schedule(static)
      for (int64_t c = 0; c < s.c_in; ++c)
        pad_plane(x + (n * s.c_in + c) * s.hw, s.w, map, g.half(), p + c * g.plane());
      valid_conv_blocks(p, s.c_in, u, s.c_out, g, bias, out + n * s.c_out * s.p);
    }
  }
}

void winograd_backward_input(const float* grad_out, const float* weight, const ConvSizes& s,
                             const Conv2dOptions& opt, float* grad_x) {
  // The full convolution: dP (C_in, H + 2 pad, W + 2 pad) from dy padded by 2 zeros.
  const int64_t hp = s.h + 2 * opt.padding, wp = s.w + 2 * opt.padding;
  const TileGrid g = make_grid(hp, wp);
  const PadMap map = make_pad_map(g, s.out_h, s.out_w, 2, PaddingMode::Zeros);
  float* u = thread_scratch(1, static_cast<size_t>(kPositions * s.c_in * s.c_out));  // (16, C_in, C_out)
  float* p = thread_scratch(2, static_cast<size_t>(s.c_out * g.plane()));            // (C_out, rows, cols)
  float* dp = thread_scratch(4, static_cast<size_t>(s.c_in * hp * wp));              // (C_in, Hp, Wp)
  const bool fold = opt.padding > 0 && opt.padding_mode != PaddingMode::Zeros;
#pragma omp parallel
  {
    // U of the kernels rotated by 180 degrees, as a (C_in, C_out) convolution.
#pragma omp for schedule(static)
    for (int64_t ci = 0; ci < s.c_in; ++ci)
      for (int64_t co = 0; co < s.c_out; ++co) {
        const float* k = weight + (co * s.c_in + ci) * 9;
        float rotated[9];
        for (int e = 0; e < 9; ++e) rotated[e] = k[8 - e];
        weight_transform(rotated, u + ci * s.c_out + co, s.c_in * s.c_out);
      }
    for (int64_t n = 0; n < s.n; ++n) {
#pragma omp for schedule(static)
      for (int64_t c = 0; c < s.c_out; ++c)
        pad_plane(grad_out + (n * s.c_out + c) * s.p, s.out_w, map, g.half(), p + c * g.plane());
      valid_conv_blocks(p, s.c_out, u, s.c_in, g, nullptr, dp);
      // Fold dP into dx: the interior, then each padded position onto its source pixel.
#pragma omp for schedule(static)
      for (int64_t c = 0; c < s.c_in; ++c) {
        const float* src = dp + c * hp * wp;
        float* dx = grad_x + (n * s.c_in + c) * s.hw;
        for (int64_t r = 0; r < s.h; ++r)
          std::memcpy(dx + r * s.w, src + (r + opt.padding) * wp + opt.padding, s.w * sizeof(float));
        if (!fold) continue;
        for (int64_t a = 0; a < hp; ++a) {
          const bool edge_row = a < opt.padding || a >= opt.padding + s.h;
          const int32_t sr = padded_source(a - opt.padding, s.h, opt.padding_mode);
          for (int64_t b = 0; b < wp; ++b) {
            if (!edge_row && b == opt.padding) b += s.w;  // skip the interior
            if (b >= wp) break;
            const int32_t sc = padded_source(b - opt.padding, s.w, opt.padding_mode);
            dx[sr * s.w + sc] += src[a * wp + b];
          }
        }
      }
    }
  }
}

void winograd_backward_weight(const float* grad_out, const float* x, const ConvSizes& s,
                              const Conv2dOptions& opt, float* grad_w) {
  const TileGrid g = make_grid(s.out_h, s.out_w);
  const PadMap map = make_pad_map(g, s.h, s.w, opt.padding, opt.padding_mode);
  float* du = thread_scratch(1, static_cast<size_t>(kPositions * s.c_out * s.c_in));  // (16, C_out, C_in)
  float* p = thread_scratch(2, static_cast<size_t>(s.c_in * g.plane()));              // (C_in, rows, cols)
  // One block's V (16, C_in, n) and dYt (16, C_out, n), shared by the threads.
  float* v = thread_scratch(4, static_cast<size_t>(kPositions * s.c_in * g.block));
  float* dyt = thread_scratch(5, static_cast<size_t>(kPositions * s.c_out * g.block + 4 * g.tw));
#pragma omp parallel
  {
    std::vector<float> rows(static_cast<size_t>(4 * g.tw));  // one tile row of dY, deinterleaved
    float *e0 = rows.data(), *o0 = e0 + g.tw, *e1 = o0 + g.tw, *o1 = e1 + g.tw;
    for (int64_t n = 0; n < s.n; ++n) {
#pragma omp for schedule(static)
      for (int64_t c = 0; c < s.c_in; ++c)
        pad_plane(x + (n * s.c_in + c) * s.hw, s.w, map, g.half(), p + c * g.plane());
      const float* dy = grad_out + n * s.c_out * s.p;
      for (int64_t b = 0; b < g.blocks; ++b) {
        const int64_t t0 = g.block_begin(b), nb = g.block_size(b);
#pragma omp for schedule(static) nowait
        for (int64_t c = 0; c < s.c_in; ++c) input_transform_block(p, s.c_in, c, c + 1, g, t0, nb, v);
#pragma omp for schedule(static)
        for (int64_t co = 0; co < s.c_out; ++co) {
          const float* plane = dy + co * s.p;
          for_tile_rows(g, t0, nb, [&](int64_t i, int64_t ja, int64_t jb, int64_t offset) {
            // Rows 2i and 2i + 1 of dY, split into even and odd columns, zero past the output.
            for (int r = 0; r < 2; ++r) {
              float* e = r == 0 ? e0 : e1;
              float* o = r == 0 ? o0 : o1;
              const int64_t y = 2 * i + r;
              for (int64_t j = ja; j < jb; ++j) {
                e[j] = y < s.out_h ? plane[y * s.out_w + 2 * j] : 0.f;
                o[j] = y < s.out_h && 2 * j + 1 < s.out_w ? plane[y * s.out_w + 2 * j + 1] : 0.f;
              }
            }
            grad_transform_row(e0, o0, e1, o1, ja, jb, dyt + co * nb + offset, s.c_out * nb);
          });
        }
        // dU[pos] += dYt[pos] V[pos]^T: each position summed by one thread, blocks in order.
        const float beta = n == 0 && b == 0 ? 0.f : 1.f;
#pragma omp for schedule(static)
        for (int pos = 0; pos < kPositions; ++pos)
          gemm_serial(false, true, s.c_out, s.c_in, nb, 1.f, dyt + pos * s.c_out * nb, nb, v + pos * s.c_in * nb,
                      nb, beta, du + pos * s.c_out * s.c_in, s.c_in);
      }
    }
#pragma omp for schedule(static)
    for (int64_t k = 0; k < s.c_out * s.c_in; ++k)
      weight_grad_transform(du + k, s.c_out * s.c_in, grad_w + k * 9);
  }
}

}  // namespace dip::cpu
