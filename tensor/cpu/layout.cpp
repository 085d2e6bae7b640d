// CPU kernels of tensor/layout.h.
//
// concat, narrow and narrow_backward are all "copy `rows` runs of `len` floats between two strided
// layouts": a tensor viewed as (outer, size(dim) * inner) has one run per outer index. permute copies
// whole runs when the last dimension stays last, and otherwise transposes 32 x 32 tiles so that both
// the reads and the writes stay within a few cache lines.
#include "tensor/layout.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "tensor/cpu/strides.h"

namespace dip::cpu {

namespace {

// Below this many floats a copy runs on one thread.
constexpr int64_t kParallelMin = 1 << 15;

void check_cpu(const char* op, const Tensor& t) {
  DIP_CHECK(t.defined(), op, ": undefined tensor");
  DIP_CHECK(t.device() == Device::CPU, op, ": ", describe(t), " is not on the CPU");
}



// dst[r * dst_stride + i] = src[r * src_stride + i] for r < rows, i < len. When there are too few
// rows to keep every thread busy (concat along channels of one image: a single run of megabytes),
// the runs are cut into pieces.
void copy_runs(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
               int64_t len) {
  if (rows == 0 || len == 0) return;
  const int64_t total = rows * len;
  if (total <= kParallelMin) {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * dst_stride, src + r * src_stride, len * sizeof(float));
    return;
  }
  const int64_t want = 4 * static_cast<int64_t>(omp_get_max_threads());
  const int64_t pieces = rows >= want ? 1 : std::min(len, (want + rows - 1) / rows);
  const int64_t piece = (len + pieces - 1) / pieces;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < rows * pieces; ++t) {
    const int64_t r = t / pieces, begin = (t % pieces) * piece;
    const int64_t n = std::min(len, begin + piece) - begin;
    if (n > 0) std::memcpy(dst + r * dst_stride + begin, src + r * src_stride + begin, n * sizeof(float));
  }
}

}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  DIP_CHECK(!xs.empty(), "concat: no tensors");
  const Shape& first = xs[0].shape();
  const int d = layout_dim("concat", dim, first.rank());
  for (const Tensor& x : xs) check_cpu("concat", x);
  const Shape out = concat_shape(xs, d);
  Tensor y = Tensor::empty(out, Device::CPU);
  const int64_t outer = outer_size(out, d), inner = inner_size(out, d);
  int64_t offset = 0;  // along dim d
  for (const Tensor& x : xs) {
    const int64_t run = x.size(d) * inner;
    copy_runs(x.data(), run, y.data() + offset * inner, out[d] * inner, outer, run);
    offset += x.size(d);
  }
  return y;
}

Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length) {
  check_cpu("narrow", x);
  const int d = layout_dim("narrow", dim, x.rank());
  const Shape out = narrow_shape(x.shape(), d, start, length);
  Tensor y = Tensor::empty(out, Device::CPU);
  const int64_t outer = outer_size(out, d), inner = inner_size(out, d);
  copy_runs(x.data() + start * inner, x.size(d) * inner, y.data(), length * inner, outer, length * inner);
  return y;
}

Tensor narrow_backward(const Tensor& grad, const Shape& full_shape, int dim, int64_t start) {
  check_cpu("narrow_backward", grad);
  const int d = layout_dim("narrow_backward", dim, full_shape.rank());
  const Shape& g = grad.shape();
  check_narrow_backward(g, full_shape, d, start);
  Tensor x = Tensor::empty(full_shape, Device::CPU);
  const int64_t outer = outer_size(g, d), inner = inner_size(g, d);
  const int64_t run = full_shape[d] * inner;       // one row of x
  const int64_t before = start * inner;            // zeros, then the gradient, then zeros
  const int64_t len = g[d] * inner;
  const float* pg = grad.data();
  float* px = x.data();
#pragma omp parallel for schedule(static) if (outer * run > kParallelMin && outer > 1)
  for (int64_t r = 0; r < outer; ++r) {
    float* row = px + r * run;
    std::fill(row, row + before, 0.f);
    std::memcpy(row + before, pg + r * len, len * sizeof(float));
    std::fill(row + before + len, row + run, 0.f);
  }
  return x;
}

Tensor permute(const Tensor& x, const std::array<int, 4>& perm) {
  check_cpu("permute", x);
  const int r = x.rank();
  bool seen[4] = {false, false, false, false};
  Shape out;
  for (int i = 0; i < r; ++i) {
    DIP_CHECK(perm[i] >= 0 && perm[i] < r && !seen[perm[i]], "permute: the first ", r,
              " entries of perm must be a permutation of 0..", r - 1, " for ", x.shape().str());
    seen[perm[i]] = true;
    out.push_back(x.size(perm[i]));
  }
  Tensor y = Tensor::empty(out, Device::CPU);
  bool identity = true;
  for (int i = 0; i < r; ++i) identity = identity && perm[i] == i;
  if (identity || x.numel() <= 1) {
    if (x.numel() > 0) std::memcpy(y.data(), x.data(), x.numel() * sizeof(float));
    return y;
  }

  // As 4-D: leading dimensions of size 1 keep their place. Output dim k walks x with stride sx[k].
  const int pad = 4 - r;
  std::array<int, 4> p4;
  for (int k = 0; k < 4; ++k) p4[k] = k < pad ? k : perm[k - pad] + pad;
  const std::array<int64_t, 4> xd = dims4(x.shape());
  std::array<int64_t, 4> xstride, od, sx, so;
  xstride[3] = 1;
  for (int k = 2; k >= 0; --k) xstride[k] = xstride[k + 1] * xd[k + 1];
  for (int k = 0; k < 4; ++k) od[k] = xd[p4[k]], sx[k] = xstride[p4[k]];
  so[3] = 1;
  for (int k = 2; k >= 0; --k) so[k] = so[k + 1] * od[k + 1];
  const float* px = x.data();
  float* py = y.data();
  const bool parallel = y.numel() > kParallelMin;

  if (p4[3] == 3) {  // the last dimension stays last: copy runs of od[3] floats
#pragma omp parallel for collapse(3) schedule(static) if (parallel)
    for (int64_t i0 = 0; i0 < od[0]; ++i0)
      for (int64_t i1 = 0; i1 < od[1]; ++i1)
        for (int64_t i2 = 0; i2 < od[2]; ++i2)
          std::memcpy(py + i0 * so[0] + i1 * so[1] + i2 * so[2], px + i0 * sx[0] + i1 * sx[1] + i2 * sx[2],
                      od[3] * sizeof(float));
    return y;
  }

  // Output dim q reads x's last dimension (stride 1); output dim 3 is written contiguously. Tile the
  // (q, 3) plane; the two remaining output dims a, b index the planes.
  int q = 0;
  while (p4[q] != 3) ++q;
  int a = -1, b = -1;
  for (int k = 0; k < 3; ++k)
    if (k != q) (a < 0 ? a : b) = k;
  constexpr int64_t kTile = 32;
  const int64_t tq = (od[q] + kTile - 1) / kTile, t3 = (od[3] + kTile - 1) / kTile;
  const int64_t tasks = od[a] * od[b] * tq * t3;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    int64_t rest = t;
    const int64_t j3 = (rest % t3) * kTile;
    rest /= t3;
    const int64_t jq = (rest % tq) * kTile;
    rest /= tq;
    const int64_t ib = rest % od[b], ia = rest / od[b];
    const float* src = px + ia * sx[a] + ib * sx[b];
    float* dst = py + ia * so[a] + ib * so[b];
    const int64_t eq = std::min(od[q], jq + kTile), e3 = std::min(od[3], j3 + kTile);
    for (int64_t iq = jq; iq < eq; ++iq)
      for (int64_t i3 = j3; i3 < e3; ++i3) dst[iq * so[q] + i3] = src[iq + i3 * sx[3]];
  }
  return y;
}

}  // namespace dip::cpu
