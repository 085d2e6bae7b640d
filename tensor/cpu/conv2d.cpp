// CPU kernels of tensor/conv2d.h: im2col (padding folded into the gather) + GEMM. A stride-1 3x3
// convolution with enough channels and pixels goes to Winograd instead (tensor/cpu/winograd.h,
// winograd_applies: 4x fewer multiplies); everything below is the general path.
//
// Per image and group g (the names of ConvSizes in tensor/conv2d.h: m = c_out_g output channels,
// k = k_g = (C_in / groups) * KH * KW, P = H_out * W_out), over blocks of output rows so the column
// matrix stays cache-sized:
//   forward          out_g (m, P)   = W_g (m, k) * col_g (k, P)
//   backward_input   dcol_g (k, P)  = W_g^T * dY_g (m, P), then col2im scatter-adds dcol into dx
//   backward_weight  dW_g^T (k, m) += col_g * dY_g^T
// A 1x1, stride-1, unpadded convolution needs no im2col: the image itself is the column matrix
// (row stride P instead of the block width).
//
// Threading: each kernel opens one parallel region and gives every thread a share that needs no
// synchronisation, each GEMM then running single-threaded (gemm_serial) on the thread's own column
// buffer. The forward splits the (image, output row block) items; the backward kernels split the
// input channels into units, so a thread owns the rows of dcol and dW^T and the planes of dx of its
// units. This makes im2col / col2im parallel for free.
//
// Determinism: the blocks and the channel units depend only on the sizes, never on the thread
// count, and every GEMM is one single-threaded product of a fixed shape, so each value comes out
// the same on any number of threads. (Eigen's arithmetic for an element depends on where it falls
// in the product, e.g. a row past the last full register block takes another path.)
#include "tensor/conv2d.h"

#include <algorithm>
#include <vector>

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/im2col.h"
#include "tensor/cpu/scratch.h"
#include "tensor/cpu/winograd.h"

namespace dip::cpu {

namespace {

// Floats of column matrix per block of output rows (2 MB), and at most this many output pixels per
// block. GEMMs on such blocks run near peak, while one over a whole 128x128 image runs several times
// slower (likely as Eigen sizes its blocks for the 508 MB L3 this VM reports). Measured: 2 MB / 1024
// pixels beat 1 MB / 512 and 4 MB / 2048 on the DIP skip net.
constexpr int64_t kColumnBudget = int64_t(1) << 19;
constexpr int64_t kMaxBlockPixels = 1024;
// Below this many flops a convolution runs on one thread (a parallel region costs microseconds).
constexpr int64_t kParallelMinFlops = int64_t(1) << 21;
// The forward cuts small images into more row blocks so that threads have work: at least this
// many (image, block) items, but blocks of at least kMinBlockPixels output pixels (a fixed count,
// not the thread count, so the GEMM shapes and hence the results never depend on it).
constexpr int64_t kMinItems = 8;
constexpr int64_t kMinBlockPixels = 64;
// The backward kernels split the input channels into at most kMaxUnits units (a power of two, so
// that 2, 4 or 8 threads share them evenly) of at least kMinUnitRows column rows each. Each unit
// repacks the GEMM's shared operand (grad_out's block): measured on the skip net at 128x128 on one
// thread, 4 / 8 / 16 units cost about 1.5% / 3% / 4% of the iteration over one unit; 8 keeps up to
// 8 threads busy.
constexpr int64_t kMaxUnits = 8;
constexpr int64_t kMinUnitRows = 64;

// The calling thread's column buffer (scratch slot 0). Its size is bounded by kColumnBudget unless a
// single output row needs more.
float* scratch(size_t count) { return thread_scratch(0, count); }

// The shared sizes, plus how this backend cuts the work: blocks of output rows per image.
struct ConvPlan : ConvSizes {
  ConvGeometry geo;
  int64_t rows;    // output rows per block
  int64_t blocks;  // blocks per image
  bool parallel;   // worth a parallel region

  int64_t in_image() const { return c_in * hw; }
  int64_t out_image() const { return c_out * p; }
  // Floats of the column-matrix rows of `channels` input channels for one block.
  size_t col_floats(int64_t channels) const { return static_cast<size_t>(channels * kk * rows * out_w); }
  int64_t block_start(int64_t b) const { return b * rows; }
  int64_t block_end(int64_t b) const { return std::min((b + 1) * rows, out_h); }
};

// The plan for `sizes` (already computed and checked by the kernel). `min_items`: the forward splits
// (image, block) pairs among threads and wants at least that many.
ConvPlan make_plan(const ConvSizes& sizes, const Shape& x, const Conv2dOptions& opt, int64_t min_items) {
  ConvPlan pl;
  static_cast<ConvSizes&>(pl) = sizes;
  pl.geo = make_conv_geometry(x, sizes.kh, sizes.kw, opt);
  const ConvGeometry& g = pl.geo;
  const int64_t out_w = std::max<int64_t>(g.out_w, 1);
  int64_t rows = std::min(kColumnBudget / std::max<int64_t>(g.col_rows() * out_w, 1), kMaxBlockPixels / out_w);
  const int64_t images = std::max<int64_t>(pl.n, 1);
  const int64_t blocks_wanted = (min_items + images - 1) / images;
  if (blocks_wanted > 1)
    rows = std::min(rows, std::max((g.out_h + blocks_wanted - 1) / blocks_wanted,
                                   (kMinBlockPixels + out_w - 1) / out_w));
  pl.rows = std::clamp<int64_t>(rows, 1, std::max<int64_t>(g.out_h, 1));
  pl.blocks = (g.out_h + pl.rows - 1) / pl.rows;
  const int64_t flops = 2 * pl.n * pl.groups * pl.c_out_g * pl.k_g * pl.p;
  pl.parallel = flops >= kParallelMinFlops;
  return pl;
}

// The backward kernels' units of input channels: unit u is channels [begin(u), begin(u + 1)).
struct ChannelUnits {
  int64_t channels, count;
  int64_t begin(int64_t u) const { return channels * u / count; }
};

ChannelUnits channel_units(const ConvPlan& pl) {
  const int64_t channels = pl.geo.channels;
  int64_t count = kMaxUnits;
  while (count > 1 && (channels / count) * pl.kk < kMinUnitRows) count /= 2;
  return {channels, std::max<int64_t>(std::min(count, channels), 1)};
}

// Calls f(g, cs, ce) for every group g that overlaps input channels [c0, c1), with the overlap [cs, ce).
template <typename F>
void for_groups_in(const ConvPlan& pl, int64_t c0, int64_t c1, F f) {
  if (c0 >= c1) return;
  for (int64_t g = c0 / pl.c_in_g; g * pl.c_in_g < c1; ++g)
    f(g, std::max(c0, g * pl.c_in_g), std::min(c1, (g + 1) * pl.c_in_g));
}

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt) {
  const ConvSizes sizes = conv2d_sizes(x.shape(), weight.shape(), opt);
  if (winograd_applies(sizes, opt)) {
    Tensor out = Tensor::empty({sizes.n, sizes.c_out, sizes.out_h, sizes.out_w});
    winograd_forward(x.data(), weight.data(), bias.defined() ? bias.data() : nullptr, sizes, opt, out.data());
    return out;
  }
  const ConvPlan pl = make_plan(sizes, x.shape(), opt, kMinItems);
  const ConvGeometry& geo = pl.geo;
  Tensor out = Tensor::empty({pl.n, pl.c_out, pl.out_h, pl.out_w});  // (N, C_out, H_out, W_out)
  const float* pw = weight.data();
  const float* pb = bias.defined() ? bias.data() : nullptr;
  const int64_t items = pl.n * pl.blocks;

#pragma omp parallel if (pl.parallel && items > 1)
  {
    float* col = pl.pointwise ? nullptr : scratch(pl.col_floats(geo.channels));  // (C_in * KH * KW, pc)
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t n = item / pl.blocks, b = item % pl.blocks;
      const int64_t oh0 = pl.block_start(b), oh1 = pl.block_end(b);
      const int64_t p0 = oh0 * geo.out_w, pc = (oh1 - oh0) * geo.out_w;
      const float* xn = x.data() + n * pl.in_image();  // (C_in, H, W)
      float* ob = out.data() + n * pl.out_image() + p0;  // block columns of (C_out, P)
      // The block's column matrix (groups * k, pc) and its row stride.
      const float* cols = xn + p0;
      int64_t ld = pl.p;
      if (!pl.pointwise) {
        im2col(xn, geo, oh0, oh1, 0, geo.channels, col);
        cols = col;
        ld = pc;
      }
      // With a bias the block starts as the bias and the GEMM accumulates onto it.
      float beta = 0.f;
      if (pb) {
        for (int64_t co = 0; co < pl.c_out; ++co) std::fill_n(ob + co * pl.p, pc, pb[co]);
        beta = 1.f;
      }
      for (int64_t g = 0; g < pl.groups; ++g)
        gemm_serial(false, false, pl.c_out_g, pc, pl.k_g, 1.f, pw + g * pl.c_out_g * pl.k_g, pl.k_g, cols + g * pl.k_g * ld, ld,
                    beta, ob + g * pl.c_out_g * pl.p, pl.p);
    }
  }
  return out;
}

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& x_shape,
                             const Conv2dOptions& opt) {
  const ConvSizes sizes = conv2d_sizes(x_shape, weight.shape(), opt);
  if (winograd_applies(sizes, opt)) {
    Tensor dx = Tensor::empty(x_shape);
    winograd_backward_input(grad_out.data(), weight.data(), sizes, opt, dx.data());
    return dx;
  }
  const ConvPlan pl = make_plan(sizes, x_shape, opt, 1);
  const ConvGeometry& geo = pl.geo;
  Tensor dx = Tensor::empty(x_shape);  // (N, C_in, H, W)
  const float* pw = weight.data();
  const ChannelUnits units = channel_units(pl);

#pragma omp parallel for schedule(static) if (pl.parallel && units.count > 1)
  for (int64_t u = 0; u < units.count; ++u) {
    const int64_t c0 = units.begin(u), c1 = units.begin(u + 1);  // this unit's channels
    const int64_t plane = geo.height * geo.width;
    // The unit's rows of dcol: ((c1 - c0) * KH * KW, pc).
    float* dcol = pl.pointwise ? nullptr : scratch(pl.col_floats(c1 - c0));
    for (int64_t n = 0; n < pl.n; ++n) {
      const float* dyn = grad_out.data() + n * pl.out_image();  // (C_out, P)
      float* dxn = dx.data() + n * pl.in_image();                // (C_in, H, W)
      // The pointwise GEMM writes every element of dx; col2im accumulates into this unit's planes.
      if (!pl.pointwise) std::fill(dxn + c0 * plane, dxn + c1 * plane, 0.f);
      for (int64_t b = 0; b < pl.blocks; ++b) {
        const int64_t oh0 = pl.block_start(b), oh1 = pl.block_end(b);
        const int64_t p0 = oh0 * geo.out_w, pc = (oh1 - oh0) * geo.out_w;
        // dcol, or dx itself when pointwise, from the row of channel c0 on, and its row stride.
        float* target = pl.pointwise ? dxn + c0 * pl.p + p0 : dcol;
        const int64_t ld = pl.pointwise ? pl.p : pc;
        for_groups_in(pl, c0, c1, [&](int64_t g, int64_t cs, int64_t ce) {
          // The rows of channels [cs, ce) of dcol_g = the matching columns of W_g, transposed, times dY_g.
          gemm_serial(true, false, (ce - cs) * pl.kk, pc, pl.c_out_g, 1.f,
                      pw + g * pl.c_out_g * pl.k_g + (cs - g * pl.c_in_g) * pl.kk, pl.k_g, dyn + g * pl.c_out_g * pl.p + p0, pl.p,
                      0.f, target + (cs - c0) * pl.kk * ld, ld);
        });
        if (!pl.pointwise) col2im_add(dcol, geo, oh0, oh1, c0, c1, dxn);
      }
    }
  }
  return dx;
}

Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape,
                              const Conv2dOptions& opt) {
  const ConvSizes sizes = conv2d_sizes(x.shape(), weight_shape, opt);
  if (winograd_applies(sizes, opt)) {
    Tensor dw = Tensor::empty(weight_shape);
    winograd_backward_weight(grad_out.data(), x.data(), sizes, opt, dw.data());
    return dw;
  }
  const ConvPlan pl = make_plan(sizes, x.shape(), opt, 1);
  const ConvGeometry& geo = pl.geo;
  Tensor dw = Tensor::empty(weight_shape);  // (C_out, C_in / groups, KH, KW)
  if (pl.n == 0 || pl.p == 0) {
    dw.fill_(0.f);
    return dw;
  }
  // dW^T, one row per col row: (C_in * KH * KW, m); row c * kk + r belongs to group c / cg.
  std::vector<float> dwt(static_cast<size_t>(geo.col_rows() * pl.c_out_g));
  const ChannelUnits units = channel_units(pl);

  // Each unit sums its rows of dW^T over the images and blocks in order.
#pragma omp parallel for schedule(static) if (pl.parallel && units.count > 1)
  for (int64_t u = 0; u < units.count; ++u) {
    const int64_t c0 = units.begin(u), c1 = units.begin(u + 1);  // this unit's channels
    // The unit's rows of the column matrix: ((c1 - c0) * KH * KW, pc).
    float* col = pl.pointwise ? nullptr : scratch(pl.col_floats(c1 - c0));
    float beta = 0.f;  // the first block overwrites, the rest accumulate
    for (int64_t n = 0; n < pl.n; ++n) {
      const float* xn = x.data() + n * pl.in_image();           // (C_in, H, W)
      const float* dyn = grad_out.data() + n * pl.out_image();  // (C_out, P)
      for (int64_t b = 0; b < pl.blocks; ++b) {
        const int64_t oh0 = pl.block_start(b), oh1 = pl.block_end(b);
        const int64_t p0 = oh0 * geo.out_w, pc = (oh1 - oh0) * geo.out_w;
        // The column rows from channel c0 on (the image itself when pointwise), and their stride.
        const float* cols = xn + c0 * pl.p + p0;
        int64_t ld = pl.p;
        if (!pl.pointwise) {
          im2col(xn, geo, oh0, oh1, c0, c1, col);
          cols = col;
          ld = pc;
        }
        for_groups_in(pl, c0, c1, [&](int64_t g, int64_t cs, int64_t ce) {
          gemm_serial(false, true, (ce - cs) * pl.kk, pl.c_out_g, pc, 1.f, cols + (cs - c0) * pl.kk * ld, ld,
                      dyn + g * pl.c_out_g * pl.p + p0, pl.p, beta, dwt.data() + cs * pl.kk * pl.c_out_g, pl.c_out_g);
        });
        beta = 1.f;
      }
    }
  }
  // dw[g][i][j] = dW_g^T[j][i]
  float* pdw = dw.data();
#pragma omp parallel for schedule(static) if (dw.numel() > 65536)
  for (int64_t row = 0; row < pl.groups * pl.c_out_g; ++row) {
    const int64_t g = row / pl.c_out_g, i = row % pl.c_out_g;
    for (int64_t j = 0; j < pl.k_g; ++j) pdw[row * pl.k_g + j] = dwt[(g * pl.k_g + j) * pl.c_out_g + i];
  }
  return dw;
}

Tensor conv2d_backward_bias(const Tensor& grad_out) {
  const int64_t n_img = grad_out.size(0), c = grad_out.size(1), p = grad_out.size(2) * grad_out.size(3);
  Tensor db = Tensor::empty({c});  // (C)
  const float* g = grad_out.data();
  float* pdb = db.data();
#pragma omp parallel for schedule(static) if (grad_out.numel() > 65536)
  for (int64_t ch = 0; ch < c; ++ch) {
    double total = 0;  // per-plane float sums, added in double across images
    for (int64_t n = 0; n < n_img; ++n) {
      const float* plane = g + (n * c + ch) * p;
      float s = 0.f;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < p; ++i) s += plane[i];
      total += s;
    }
    pdb[ch] = static_cast<float>(total);
  }
  return db;
}

}  // namespace dip::cpu
