// Winograd convolution F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", CVPR 2016) for the CPU kernels of tensor/conv2d.h.
//
// An m x m block of outputs Y from an a x a tile d of the padded input (a = m + 2) and a 3x3 kernel g:
//   Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A          a^2 multiplies instead of 9 m^2
// (the matrices are in struct F4x4 below). Tiles step by m, so
// neighbouring tiles share two rows or columns. Summed over the input channels, each of the a^2
// positions of a transformed tile is one matrix product:
//   M[pos] (C_out, tiles) = U[pos] (C_out, C_in) * V[pos] (C_in, tiles),   U = G g G^T, V = B^T d B
// F(4x4, 3x3) does 36 multiplies per 16 outputs where im2col + GEMM does 144: 4x fewer.
//
// All three kernels are a "valid" convolution of a padded input; the padding (any mode) is applied
// while each tile row's input rows are gathered, so no padded copy of the image is made:
//   forward          Y = A^T (U V) A + bias, V from x padded
//   backward_input   the forward of dy padded by 2 zeros with each kernel rotated by 180 degrees and
//                    C_in, C_out swapped (a "full" convolution) gives dP, the gradient of the padded
//                    input; its interior is dx, and each padded position adds to the pixel it was read
//                    from (reflect, replicate) or is dropped (zeros), as col2im does
//   backward_weight  dU[pos] (C_out, C_in) = sum over images and tiles of dYt[pos] * V[pos]^T, with
//                    dYt = A dY A^T (the adjoint of the output transform); then dW = G^T dU G
//
// The products: M[pos] = U[pos] V[pos] (forward, backward_input) run on a register-blocked
// micro-kernel (tensor/cpu/panel_product.h) that reads V where the input transform wrote it and U
// packed once per call, where a general GEMM would copy both operands into its own layout for every
// block and position. backward_weight's dYt V^T, a sum over tiles, stays on gemm_serial.
//
// Vectorisation: the transforms work on 8 tiles at once (GCC vector extensions; AVX2/AVX-512 clones
// by DIP_VECTOR_CLONES). A tile row's input rows are gathered "in phases": phase q holds columns
// m k + q at [q * stride + k], so column m j + c of tile j is a unit-stride load across tiles j.
// The constant matrices are expanded at compile time: zero coefficients vanish, +-1 multiply nothing.
//
// Accuracy: the transforms scale by up to 8 (A) and 1/24 (G) around the channel sum, so float32
// results differ from the direct sum by more than a few ulps: measured normalised error up to 2.1e-6
// against im2col (tests/test_winograd.cpp; F(2x2, 3x3): 4.3e-7), far below what training notices.
//
// Threading and determinism: tiles are cut into blocks whose size depends only on the image size.
// forward and the valid convolution of backward_input give each thread whole blocks (each output
// written by one thread, each product of a fixed shape); backward_weight runs the blocks in
// order and gives each thread whole positions, so each dU[pos] is summed in one fixed order. The
// results are the same on any number of threads.
#include "tensor/cpu/winograd.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/im2col.h"
#include "tensor/cpu/panel_product.h"
#include "tensor/cpu/scratch.h"
#include "tensor/cpu/simd.h"

// The vector helpers (tensor/cpu/simd.h) are inlined into the DIP_VECTOR_CLONES functions; GCC's
// note that passing a 32-byte vector by value changes the ABI without AVX concerns no call made.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace dip::cpu {

namespace {

std::atomic<bool> g_enabled{true};

// F(4x4, 3x3) at the points 0, +-1, +-2: 36 multiplies per 16 outputs (4x fewer).
struct F4x4 {
  static constexpr int m = 4, a = 6;
  static constexpr float BT[a][a] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                     {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr float G[a][3] = {{1.f / 4, 0, 0},
                                    {-1.f / 6, -1.f / 6, -1.f / 6},
                                    {-1.f / 6, 1.f / 6, -1.f / 6},
                                    {1.f / 24, 1.f / 12, 1.f / 6},
                                    {1.f / 24, -1.f / 12, 1.f / 6},
                                    {0, 0, 1}};
  static constexpr float AT[m][a] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
  static constexpr float A[a][m] = {{1, 0, 0, 0}, {1, 1, 1, 1}, {1, -1, 1, -1},  // AT transposed
                                    {1, 2, 4, 8}, {1, -2, 4, -8}, {0, 0, 0, 1}};
};
// The code is written for any F(m x m, 3 x 3) given as such a struct. F(2x2, 3x3) (exact transforms,
// 2.25x fewer multiplies) was measured first: 146 ms per skip-net iteration at 128x128 (2 threads,
// AVX2, dip-bench) against 137 ms for F(4x4) at the time (the README's CPU table has current figures).
using F = F4x4;
constexpr int kM = F::m;             // outputs per tile side
constexpr int kA = F::a;             // input tile side
constexpr int kPositions = kA * kA;  // positions of a transformed tile
constexpr int kLanes = simd::kLanes;  // tiles per vector
constexpr int kMR = kPanelRows;      // U's panels (tensor/cpu/panel_product.h)

// Tiles per block: a block's V and M at 128 channels are about 2.4 MB each, and one position's GEMM
// operands (U, V, M) fit a 512 KiB L2. A multiple of kBlocksWanted blocks shares evenly among 2, 4
// or 8 threads; small images get blocks of at least kMinBlockTiles. Measured at 128x128 and 64x64
// (2 threads): 128 beat 48, 64, 96, 192 and 256, and rounding blocks to whole register panels
// (multiples of 24 or 48 tiles) only unbalanced the threads; a multiple of 2 blocks instead of 8
// measured the same on the skip net (4 alternated rounds).
constexpr int64_t kMaxBlockTiles = 128;
constexpr int64_t kMinBlockTiles = 32;
constexpr int64_t kBlocksWanted = 8;
// Smallest convolution worth the transforms. Measured (2 threads, AVX2, 128 -> 128 channels, forward
// + both backward kernels, im2col -> Winograd): 64x64 23.9 -> 11.7 ms, 32x32 6.63 -> 5.11 ms, but
// 16x16 1.75 -> 2.84 ms (too few tiles to amortise the transforms).
constexpr int64_t kMinChannels = 16;
constexpr int64_t kMinOutputPixels = 1024;

using simd::load;
using simd::static_for;
using simd::store;
using simd::Vec;

// sum over k of Mat[Row][k] * x(k), for a row of a constant matrix, expanded at compile time: zero
// coefficients vanish and +-1 cost no multiply.
template <const auto& Mat, int Row, class X>
DIP_INLINE Vec combine(X x) {
  constexpr int n = sizeof(Mat[Row]) / sizeof(Mat[Row][0]);
  Vec acc{};
  bool first = true;
  static_for<n>([&](auto k) __attribute__((always_inline)) {
    constexpr float c = Mat[Row][decltype(k)::value];
    if constexpr (c != 0.f) {
      Vec term;
      if constexpr (c == 1.f)
        term = x(decltype(k)::value);
      else if constexpr (c == -1.f)
        term = -x(decltype(k)::value);
      else
        term = c * x(decltype(k)::value);
      acc = first ? term : acc + term;
      first = false;
    }
  });
  return acc;
}

// The transforms' common shape: (L X L^T)[p][q] for a constant P x Q matrix L and a Q x Q tile X
// of vectors, computed as T = L X, then T L^T; emit(p, q, value) receives each entry.
template <const auto& L, int P, int Q, class Emit>
DIP_INLINE void sandwich(const Vec (&x)[Q][Q], Emit emit) {
  Vec t[P][Q];  // L X
  static_for<P>([&](auto p) __attribute__((always_inline)) {
    for (int c = 0; c < Q; ++c) t[p][c] = combine<L, p>([&](int k) __attribute__((always_inline)) { return x[k][c]; });
  });
  for (int p = 0; p < P; ++p)  // (L X) L^T
    static_for<P>([&](auto q) __attribute__((always_inline)) {
      emit(p, q, combine<L, q>([&](int k) __attribute__((always_inline)) { return t[p][k]; }));
    });
}

// The m x m output tiles of a valid 3x3 convolution with an (out_h, out_w) output, in row-major
// order, cut into blocks of consecutive tiles.
struct TileGrid {
  int64_t out_h, out_w;
  int64_t th, tw;  // tiles per column and per row
  int64_t count;   // th * tw
  int64_t block;   // tiles per block (the last block may have fewer)
  int64_t blocks;
  int64_t stride;  // floats per phase of a gathered row: tw + 1, plus a vector of slack

  int64_t block_begin(int64_t b) const { return b * block; }
  int64_t block_size(int64_t b) const { return std::min(block, count - b * block); }
};

TileGrid make_grid(int64_t out_h, int64_t out_w) {
  TileGrid g;
  g.out_h = out_h, g.out_w = out_w;
  g.th = (out_h + kM - 1) / kM, g.tw = (out_w + kM - 1) / kM;
  g.count = g.th * g.tw;
  int64_t blocks = (g.count + kMaxBlockTiles - 1) / kMaxBlockTiles;
  blocks = (blocks + kBlocksWanted - 1) / kBlocksWanted * kBlocksWanted;
  blocks = std::max<int64_t>(1, std::min(blocks, g.count / kMinBlockTiles));
  g.block = (g.count + blocks - 1) / blocks;
  g.blocks = (g.count + g.block - 1) / g.block;
  g.stride = g.tw + 1 + kLanes;
  return g;
}

// Calls f(i, ja, jb, offset) for each tile row i that block [t0, t0 + n) covers: tiles j in
// [ja, jb) of row i, the first at `offset` within the block.
template <class Fn>
void for_tile_rows(const TileGrid& g, int64_t t0, int64_t n, Fn f) {
  for (int64_t t = t0; t < t0 + n;) {
    const int64_t i = t / g.tw, ja = t - i * g.tw;
    const int64_t jb = std::min(g.tw, ja + (t0 + n - t));
    f(i, ja, jb, t - t0);
    t += jb - ja;
  }
}

// How a padded (h + 2 pad, w + 2 pad) view reads an (h, w) plane: row a and column b of the view
// read row[a] and col[b] of the plane, or a zero where that is -1 (zero padding, or past the view,
// where the grid rounds up to whole tiles).
struct PadMap {
  std::vector<int32_t> row, col;
  int64_t pad, w;
};

PadMap make_pad_map(const TileGrid& g, int64_t h, int64_t w, int64_t pad, PaddingMode mode) {
  PadMap m;
  m.pad = pad, m.w = w;
  m.row.resize(static_cast<size_t>(kM * g.th + kA));
  m.col.resize(static_cast<size_t>(kM * g.stride));
  for (size_t a = 0; a < m.row.size(); ++a)
    m.row[a] = int64_t(a) < h + 2 * pad ? padded_source(int64_t(a) - pad, h, mode) : -1;
  for (size_t b = 0; b < m.col.size(); ++b)
    m.col[b] = int64_t(b) < w + 2 * pad ? padded_source(int64_t(b) - pad, w, mode) : -1;
  return m;
}

// Splits 32 consecutive floats p[0 .. 32) into their four phases: out[q * stride + l] = p[4 l + q].
DIP_INLINE void deinterleave4(const float* p, float* out, int64_t stride) {
  using Mask = int __attribute__((vector_size(4 * kLanes)));
  const Vec v0 = load(p), v1 = load(p + 8), v2 = load(p + 16), v3 = load(p + 24);
  const Mask even{0, 2, 4, 6, 8, 10, 12, 14}, odd{1, 3, 5, 7, 9, 11, 13, 15};
  const Vec e01 = __builtin_shuffle(v0, v1, even), o01 = __builtin_shuffle(v0, v1, odd);
  const Vec e23 = __builtin_shuffle(v2, v3, even), o23 = __builtin_shuffle(v2, v3, odd);
  store(out, __builtin_shuffle(e01, e23, even), kLanes);               // phase 0: p[4 l]
  store(out + stride, __builtin_shuffle(o01, o23, even), kLanes);      // phase 1
  store(out + 2 * stride, __builtin_shuffle(e01, e23, odd), kLanes);   // phase 2
  store(out + 3 * stride, __builtin_shuffle(o01, o23, odd), kLanes);   // phase 3
}

// The inverse: out[4 l + q] = x[q][l] for the 32 floats of 8 tiles' 4 columns.
DIP_INLINE void interleave4(const Vec* x, float* out) {
  using Mask = int __attribute__((vector_size(4 * kLanes)));
  const Mask lo{0, 8, 1, 9, 2, 10, 3, 11}, hi{4, 12, 5, 13, 6, 14, 7, 15};
  const Vec a = __builtin_shuffle(x[0], x[2], lo), b = __builtin_shuffle(x[0], x[2], hi);
  const Vec c = __builtin_shuffle(x[1], x[3], lo), d = __builtin_shuffle(x[1], x[3], hi);
  store(out, __builtin_shuffle(a, c, lo), kLanes);        // tiles 0, 1
  store(out + 8, __builtin_shuffle(a, c, hi), kLanes);    // tiles 2, 3
  store(out + 16, __builtin_shuffle(b, d, lo), kLanes);   // tiles 4, 5
  store(out + 24, __builtin_shuffle(b, d, hi), kLanes);   // tiles 6, 7
}

// Gathers `rows` rows of the padded view of `plane` from row a0 on, for tiles j in [ja, jb) (and the
// slack of the last vector), in phases: row r, phase q, entry k is column m k + q, at
// out[(r * kM + q) * stride + k].
DIP_VECTOR_CLONES
void gather_rows(const float* plane, const PadMap& map, int64_t a0, int rows, int64_t ja, int64_t jb,
                 int64_t stride, float* out) {
  const int64_t k0 = ja, k1 = ja + (jb - ja + kLanes - 1) / kLanes * kLanes + 1;
  // Columns m k + q (all q) inside the plane without padding: k in [lo, hi).
  const int64_t lo = std::clamp<int64_t>((map.pad + kM - 1) / kM, k0, k1);
  const int64_t hi = std::clamp<int64_t>((map.w + map.pad) / kM, lo, k1);  // m k + m - 1 - pad < w
  for (int r = 0; r < rows; ++r) {
    const int32_t sr = map.row[a0 + r];
    for (int q = 0; q < kM; ++q) {
      float* dst = out + (r * kM + q) * stride;
      if (sr < 0) {
        std::fill(dst + k0, dst + k1, 0.f);
        continue;
      }
      const float* src = plane + sr * map.w + q - map.pad;  // column m k + q of the view is src[m k]
      for (int64_t k = k0; k < lo; ++k) {
        const int32_t sc = map.col[kM * k + q];
        dst[k] = sc >= 0 ? plane[sr * map.w + sc] : 0.f;
      }
      int64_t k = lo;
      if constexpr (kM == 4) {
        if (hi - lo >= kLanes) {  // all four phases of 8 k's at once (deinterleave 32 columns)
          if (q == 0) {            // ... written for every q; the last 8 overlap the previous ones
            for (; k + kLanes <= hi; k += kLanes) deinterleave4(src + kM * k, out + r * kM * stride + k, stride);
            if (k < hi) deinterleave4(src + kM * (hi - kLanes), out + r * kM * stride + hi - kLanes, stride);
          }
          k = hi;
        }
      }
      for (; k < hi; ++k) dst[k] = src[kM * k];
      for (int64_t k = hi; k < k1; ++k) {
        const int32_t sc = map.col[kM * k + q];
        dst[k] = sc >= 0 ? plane[sr * map.w + sc] : 0.f;
      }
    }
  }
}

// L X L^T for tiles j in [ja, jb) of one tile row, X the Q x Q tile gathered in phases (row r,
// column c of tile j at rows[(r * kM + c % kM) * stride + j + c / kM]); position (p, q) of tile j
// goes to v[(p * kA + q) * pos_stride + j - ja].
template <const auto& L, int P, int Q>
DIP_INLINE void transform_tiles(const float* rows, int64_t stride, int64_t ja, int64_t jb, float* v,
                                int64_t pos_stride) {
  for (int64_t j = ja; j < jb; j += kLanes) {
    const int count = static_cast<int>(std::min<int64_t>(kLanes, jb - j));
    Vec x[Q][Q];
    for (int r = 0; r < Q; ++r)
      for (int c = 0; c < Q; ++c) x[r][c] = load(rows + (r * kM + c % kM) * stride + j + c / kM);
    sandwich<L, P, Q>(x, [&](int p, int q, Vec value) __attribute__((always_inline)) {
      store(v + (p * kA + q) * pos_stride + (j - ja), value, count);
    });
  }
}

// V = B^T d B, from the kA gathered input rows of a tile row (a tile is kA x kA).
DIP_VECTOR_CLONES
void input_transform(const float* rows, int64_t stride, int64_t ja, int64_t jb, float* v, int64_t pos_stride) {
  transform_tiles<F::BT, kA, kA>(rows, stride, ja, jb, v, pos_stride);
}

// Y = A^T M A + bias for n tiles of one tile row: position pos of tile t is m[pos * pos_stride + t]
// (readable up to a vector past n); output row r of tile t goes to out[r * row + kM t .. + kM).
DIP_VECTOR_CLONES
void output_transform(const float* m, int64_t pos_stride, int64_t n, float bias, float* out, int64_t row) {
  for (int64_t t = 0; t < n; t += kLanes) {
    const int count = static_cast<int>(std::min<int64_t>(kLanes, n - t));
    Vec s[kA][kA];
    for (int pos = 0; pos < kPositions; ++pos) s[pos / kA][pos % kA] = load(m + pos * pos_stride + t);
    Vec y[kM][kM];
    sandwich<F::AT, kM, kA>(s, [&](int p, int q, Vec value) __attribute__((always_inline)) { y[p][q] = value + bias; });
    for (int r = 0; r < kM; ++r) {
      float* dst = out + r * row + kM * t;
      if constexpr (kM == 4) {
        if (count == kLanes) {
          interleave4(y[r], dst);
          continue;
        }
      }
      for (int c = 0; c < kM; ++c) {
        float lanes[kLanes];
        std::memcpy(lanes, &y[r][c], sizeof lanes);
        for (int l = 0; l < count; ++l) dst[kM * l + c] = lanes[l];
      }
    }
  }
}

// dYt = A dY A^T, from the kM gathered rows of dY of a tile row (a tile is kM x kM).
DIP_VECTOR_CLONES
void grad_transform(const float* rows, int64_t stride, int64_t ja, int64_t jb, float* v, int64_t pos_stride) {
  transform_tiles<F::A, kA, kM>(rows, stride, ja, jb, v, pos_stride);
}

// The weight transforms as one matrix: U = G g G^T, entry (r, c), is sum over (i, j) of
// G[r][i] G[c][j] g[i][j], so for all kernels at once U (positions, kernels) = K (positions, 9) *
// g^T (9, kernels), and dW = G^T dU G is dW (kernels, 9) = dU^T (kernels, positions) * K — two GEMMs.
struct KernelTransform {
  float k[kPositions][9];
};
const KernelTransform& kernel_transform() {
  static const KernelTransform t = [] {
    KernelTransform m{};
    for (int r = 0; r < kA; ++r)
      for (int c = 0; c < kA; ++c)
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 3; ++j) m.k[r * kA + c][3 * i + j] = float(double(F::G[r][i]) * double(F::G[c][j]));
    return m;
  }();
  return t;
}

// u (positions, kernels) = the transforms of `kernels` 3x3 kernels g (kernels, 9). Call outside a
// parallel region (gemm threads itself, in tiles fixed by the sizes).
void weight_transform(const float* g, int64_t kernels, float* u) {
  gemm(false, true, kPositions, kernels, 9, 1.f, &kernel_transform().k[0][0], 9, g, 9, 0.f, u, kernels);
}

// The 3x3 kernels of a valid convolution with `outs` output and `ins` input channels, in the order
// panel_product reads U: out-channel panels of kMR, then input channel, then the
// kMR out-channels of the panel; the rows past `outs` in the last panel are zero kernels.
// kernel(o, i) points at the 9 taps of out-channel o, in-channel i; with `rotate` they are read
// backwards (the 180-degree rotation of backward_input).
template <class Kernel>
void pack_kernels(int64_t outs, int64_t ins, bool rotate, Kernel kernel, float* packed) {
  const int64_t panels = (outs + kMR - 1) / kMR;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t i = 0; i < ins; ++i)
      for (int r = 0; r < kMR; ++r) {
        float* dst = packed + ((p * ins + i) * kMR + r) * 9;
        const int64_t o = p * kMR + r;
        if (o >= outs) {
          std::fill(dst, dst + 9, 0.f);
          continue;
        }
        const float* taps = kernel(o, i);
        for (int e = 0; e < 9; ++e) dst[e] = taps[rotate ? 8 - e : e];
      }
}

// dw (kernels, 9) = the kernel gradients from du (positions, kernels).
void weight_grad_transform(const float* du, int64_t kernels, float* dw) {
  gemm(true, false, kernels, 9, kPositions, 1.f, du, kernels, &kernel_transform().k[0][0], 9, 0.f, dw, 9);
}

// Floats of one thread's gathered rows: kA rows of kM phases.
size_t rows_floats(const TileGrid& g) { return static_cast<size_t>(kA * kM * g.stride); }

// V of block [t0, t0 + n) for channels [c0, c1) of an image (channels, h, w) read through `map`:
// channel c's row of position pos at v[(pos * channels + c) * ld], ld >= n.
void input_transform_block(const float* image, int64_t channels, int64_t h, int64_t c0, int64_t c1,
                           const PadMap& map, const TileGrid& g, int64_t t0, int64_t n, int64_t ld, float* rows,
                           float* v) {
  for (int64_t c = c0; c < c1; ++c) {
    const float* plane = image + c * h * map.w;
    for_tile_rows(g, t0, n, [&](int64_t i, int64_t ja, int64_t jb, int64_t offset) {
      gather_rows(plane, map, kM * i, kA, ja, jb, g.stride, rows);
      input_transform(rows, g.stride, ja, jb, v + c * ld + offset, channels * ld);
    });
  }
}

// A block's tiles rounded up to whole vectors.
int64_t whole_vectors(int64_t tiles) { return (tiles + kLanes - 1) / kLanes * kLanes; }

// The row stride of V and M in valid_conv_blocks: whole vectors, and never a multiple of 128
// bytes, so the rows of a V panel that panel_product reads (one per input channel) spread over the
// L1 cache's sets instead of evicting each other (a 512-byte stride used only an eighth of them).
int64_t row_stride(int64_t tiles) {
  const int64_t ld = whole_vectors(tiles);
  return ld % 32 == 0 ? ld + kLanes : ld;
}

// Floats of U for a valid convolution with `outs` output and `ins` input channels, packed.
size_t packed_u_floats(int64_t outs, int64_t ins) {
  return static_cast<size_t>(kPositions * ((outs + kMR - 1) / kMR * kMR) * ins);
}

// U for the valid convolution whose 3x3 kernels pack_kernels has ordered (`packed`, for `outs`
// output and `ins` input channels): position pos's panel p at u + (pos * panels + p) * ins * kMR.
void packed_weight_transform(const float* packed, int64_t outs, int64_t ins, float* u) {
  weight_transform(packed, (outs + kMR - 1) / kMR * kMR * ins, u);
}

// The valid convolution, inside a parallel region: for an image (c_in, h, w) read through `map`
// and U as packed_weight_transform makes it, calls sink(co, a, x0, x1, y) with output row a of
// channel co, columns [x0, x1) at y[0 .. x1 - x0) (bias added). Each thread takes whole blocks, and
// each output element is passed to the sink exactly once.
template <class Sink>
void valid_conv_blocks(const float* image, int64_t c_in, int64_t h, const PadMap& map, const float* u,
                       int64_t c_out, const TileGrid& g, const float* bias, Sink sink) {
  const int64_t ld = row_stride(g.block);  // V (positions, c_in, ld), M (positions, c_out, ld)
  const int64_t u_pos = (c_out + kMR - 1) / kMR * kMR * c_in;
  const size_t v_floats = static_cast<size_t>(kPositions * c_in * ld);
  const size_t m_floats = static_cast<size_t>(kPositions * c_out * ld);
  const int64_t row = kM * g.tw;
  float* v = thread_scratch(0, v_floats + rows_floats(g));
  float* rows = v + v_floats;
  float* m = thread_scratch(3, m_floats + static_cast<size_t>(kM * row));
  float* y = m + m_floats;  // (kM, kM tw): one tile row of outputs
#pragma omp for schedule(static)
  for (int64_t b = 0; b < g.blocks; ++b) {
    const int64_t t0 = g.block_begin(b), n = g.block_size(b), cols = whole_vectors(n);
    input_transform_block(image, c_in, h, 0, c_in, map, g, t0, n, ld, rows, v);
    if (cols != n)  // the products read whole vectors: zeros past the block's last tile
      for (int64_t r = 0; r < kPositions * c_in; ++r) std::fill(v + r * ld + n, v + r * ld + cols, 0.f);
    for (int pos = 0; pos < kPositions; ++pos)
      panel_product(u + pos * u_pos, c_out, c_in, v + pos * c_in * ld, ld, cols, m + pos * c_out * ld, ld);
    for (int64_t co = 0; co < c_out; ++co)
      for_tile_rows(g, t0, n, [&](int64_t i, int64_t ja, int64_t jb, int64_t offset) {
        output_transform(m + co * ld + offset, c_out * ld, jb - ja, bias ? bias[co] : 0.f, y, row);
        const int64_t x0 = kM * ja, x1 = std::min(kM * jb, g.out_w);
        for (int r = 0; r < kM && kM * i + r < g.out_h; ++r) sink(co, kM * i + r, x0, x1, y + r * row);
      });
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
  float* packed = thread_scratch(2, packed_u_floats(s.c_out, s.c_in) / kPositions * 9);
  pack_kernels(s.c_out, s.c_in, false, [&](int64_t o, int64_t i) { return weight + (o * s.c_in + i) * 9; }, packed);
  float* u = thread_scratch(1, packed_u_floats(s.c_out, s.c_in));
  packed_weight_transform(packed, s.c_out, s.c_in, u);
#pragma omp parallel
  {
    for (int64_t n = 0; n < s.n; ++n) {
      float* y = out + n * s.c_out * s.p;
      valid_conv_blocks(x + n * s.c_in * s.hw, s.c_in, s.h, map, u, s.c_out, g, bias,
                        [&](int64_t co, int64_t a, int64_t x0, int64_t x1, const float* values) {
                          std::memcpy(y + (co * s.out_h + a) * s.out_w + x0, values, (x1 - x0) * sizeof(float));
                        });
    }
  }
}

void winograd_backward_input(const float* grad_out, const float* weight, const ConvSizes& s,
                             const Conv2dOptions& opt, float* grad_x) {
  // The full convolution's output dP (C_in, H + 2 pad, W + 2 pad) from dy padded by 2 zeros.
  const int64_t pad = opt.padding, hp = s.h + 2 * pad, wp = s.w + 2 * pad;
  const TileGrid g = make_grid(hp, wp);
  const PadMap map = make_pad_map(g, s.out_h, s.out_w, 2, PaddingMode::Zeros);
  // dP's border (the padded positions), kept to fold into dx when the padding reads pixels:
  // edge rows (C_in, 2 pad, Wp) and the edge columns of the other rows (C_in, H, 2 pad).
  const bool fold = pad > 0 && opt.padding_mode != PaddingMode::Zeros;
  // (Scratch, not vectors: a fresh allocation this size is fresh pages, faulted in on every call.)
  const size_t edge_row_floats = fold ? static_cast<size_t>(s.c_in * 2 * pad * wp) : 0;
  float* edge_rows = thread_scratch(4, edge_row_floats + (fold ? static_cast<size_t>(s.c_in * s.h * 2 * pad) : 0));
  float* edge_cols = edge_rows + edge_row_floats;
  // U of the kernels rotated by 180 degrees, as a (C_in, C_out) convolution.
  float* packed = thread_scratch(2, packed_u_floats(s.c_in, s.c_out) / kPositions * 9);
  pack_kernels(s.c_in, s.c_out, true, [&](int64_t o, int64_t i) { return weight + (i * s.c_in + o) * 9; }, packed);
  float* u = thread_scratch(1, packed_u_floats(s.c_in, s.c_out));
  packed_weight_transform(packed, s.c_in, s.c_out, u);
#pragma omp parallel
  {
    for (int64_t n = 0; n < s.n; ++n) {
      float* dx = grad_x + n * s.c_in * s.hw;
      // Row a, columns [x0, x1) of dP for channel c: the interior into dx, the border aside.
      auto sink = [&](int64_t c, int64_t a, int64_t x0, int64_t x1, const float* values) {
        const bool edge_row = a < pad || a >= pad + s.h;
        if (edge_row) {
          if (fold) {
            const int64_t e = a < pad ? a : a - s.h;  // 0 .. 2 pad - 1
            std::memcpy(&edge_rows[(c * 2 * pad + e) * wp + x0], values, (x1 - x0) * sizeof(float));
          }
          return;
        }
        const int64_t i0 = std::max(x0, pad), i1 = std::min(x1, pad + s.w);
        if (i1 > i0) std::memcpy(dx + (c * s.h + a - pad) * s.w + i0 - pad, values + i0 - x0, (i1 - i0) * sizeof(float));
        if (!fold) return;
        float* cols = &edge_cols[(c * s.h + a - pad) * 2 * pad];
        for (int64_t b = x0; b < std::min(x1, pad); ++b) cols[b] = values[b - x0];
        for (int64_t b = std::max(x0, pad + s.w); b < x1; ++b) cols[b - s.w] = values[b - x0];
      };
      valid_conv_blocks(grad_out + n * s.c_out * s.p, s.c_out, s.out_h, map, u, s.c_in, g, nullptr, sink);
      if (!fold) continue;
      // Each padded position adds to the pixel it was read from, row by row (a fixed order).
#pragma omp for schedule(static)
      for (int64_t c = 0; c < s.c_in; ++c) {
        float* plane = dx + c * s.hw;
        for (int64_t a = 0; a < hp; ++a) {
          const int32_t sr = padded_source(a - pad, s.h, opt.padding_mode);
          if (a < pad || a >= pad + s.h) {  // a whole edge row
            const float* values = &edge_rows[(c * 2 * pad + (a < pad ? a : a - s.h)) * wp];
            for (int64_t b = 0; b < wp; ++b) plane[sr * s.w + padded_source(b - pad, s.w, opt.padding_mode)] += values[b];
            continue;
          }
          const float* values = &edge_cols[(c * s.h + a - pad) * 2 * pad];  // the left, then the right edge
          for (int64_t e = 0; e < 2 * pad; ++e) {
            const int64_t b = e < pad ? e : e + s.w;
            plane[sr * s.w + padded_source(b - pad, s.w, opt.padding_mode)] += values[e];
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
  const PadMap dy_map = make_pad_map(g, s.out_h, s.out_w, 0, PaddingMode::Zeros);  // dY, zeros past it
  float* du = thread_scratch(1, static_cast<size_t>(kPositions * s.c_out * s.c_in));  // (positions, C_out, C_in)
  // One block's V (positions, C_in, n) and dYt (positions, C_out, n), shared by the threads.
  float* v = thread_scratch(0, static_cast<size_t>(kPositions * s.c_in * g.block));
  float* dyt = thread_scratch(3, static_cast<size_t>(kPositions * s.c_out * g.block));
#pragma omp parallel
  {
    float* rows = thread_scratch(2, rows_floats(g));
    for (int64_t n = 0; n < s.n; ++n) {
      const float* image = x + n * s.c_in * s.hw;
      const float* dy = grad_out + n * s.c_out * s.p;
      for (int64_t b = 0; b < g.blocks; ++b) {
        const int64_t t0 = g.block_begin(b), nb = g.block_size(b);
#pragma omp for schedule(static) nowait
        for (int64_t c = 0; c < s.c_in; ++c) input_transform_block(image, s.c_in, s.h, c, c + 1, map, g, t0, nb, nb, rows, v);
#pragma omp for schedule(static)
        for (int64_t co = 0; co < s.c_out; ++co)
          for_tile_rows(g, t0, nb, [&](int64_t i, int64_t ja, int64_t jb, int64_t offset) {
            gather_rows(dy + co * s.p, dy_map, kM * i, kM, ja, jb, g.stride, rows);
            grad_transform(rows, g.stride, ja, jb, dyt + co * nb + offset, s.c_out * nb);
          });
        // dU[pos] += dYt[pos] V[pos]^T: each position summed by one thread, blocks in order.
        const float beta = n == 0 && b == 0 ? 0.f : 1.f;
#pragma omp for schedule(static)
        for (int pos = 0; pos < kPositions; ++pos)
          gemm_serial(false, true, s.c_out, s.c_in, nb, 1.f, dyt + pos * s.c_out * nb, nb, v + pos * s.c_in * nb,
                      nb, beta, du + pos * s.c_out * s.c_in, s.c_in);
      }
    }
  }
  weight_grad_transform(du, s.c_out * s.c_in, grad_w);
}

}  // namespace dip::cpu
