// CPU primitives of tensor/layout.h: strided run copies and fills, and the permute gather.
//
// permute copies whole runs when the last dimension stays last, and otherwise transposes 32 x 32
// tiles so that both the reads and the writes stay within a few cache lines.
#include "tensor/layout.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

namespace dip::cpu {

namespace {

// Below this many floats a copy runs on one thread.
constexpr int64_t kParallelMin = 1 << 15;

// Calls f(r, begin, n) for pieces [begin, begin + n) of every run r < rows, in parallel when there is
// enough work. When there are too few rows to keep every thread busy (concat along the channels of
// one image: a single run of megabytes), the runs are cut into pieces.
template <class F>
void for_each_piece(int64_t rows, int64_t len, F f) {
  if (rows == 0 || len == 0) return;
  if (rows * len <= kParallelMin) {
    for (int64_t r = 0; r < rows; ++r) f(r, int64_t(0), len);
    return;
  }
  const int64_t want = 4 * static_cast<int64_t>(omp_get_max_threads());
  const int64_t pieces = rows >= want ? 1 : std::min(len, (want + rows - 1) / rows);
  const int64_t piece = (len + pieces - 1) / pieces;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < rows * pieces; ++t) {
    const int64_t r = t / pieces, begin = (t % pieces) * piece;
    const int64_t n = std::min(len, begin + piece) - begin;
    if (n > 0) f(r, begin, n);
  }
}

}  // namespace

void copy_runs(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
               int64_t len) {
  for_each_piece(rows, len, [&](int64_t r, int64_t begin, int64_t n) {
    std::memcpy(dst + r * dst_stride + begin, src + r * src_stride + begin, n * sizeof(float));
  });
}

void zero_runs(float* dst, int64_t stride, int64_t rows, int64_t len) {
  for_each_piece(rows, len, [&](int64_t r, int64_t begin, int64_t n) {
    std::fill_n(dst + r * stride + begin, n, 0.f);
  });
}

void permute_gather(const float* px, float* py, const PermutePlan& plan) {
  const int64_t* od = plan.od;
  const int64_t* sx = plan.sx;
  int64_t so[4];  // output strides (contiguous)
  so[3] = 1;
  for (int k = 2; k >= 0; --k) so[k] = so[k + 1] * od[k + 1];
  const bool parallel = so[0] * od[0] > kParallelMin;

  if (sx[3] == 1) {  // the last dimension stays last: copy runs of od[3] floats
#pragma omp parallel for collapse(3) schedule(static) if (parallel)
    for (int64_t i0 = 0; i0 < od[0]; ++i0)
      for (int64_t i1 = 0; i1 < od[1]; ++i1)
        for (int64_t i2 = 0; i2 < od[2]; ++i2)
          std::memcpy(py + i0 * so[0] + i1 * so[1] + i2 * so[2], px + i0 * sx[0] + i1 * sx[1] + i2 * sx[2],
                      od[3] * sizeof(float));
    return;
  }

  // Output dim q reads x with the smallest stride (x's last dimension, stride 1); output dim 3 is
  // written contiguously. Tile the (q, 3) plane; the two remaining output dims a, b index the planes.
  int q = 0;
  for (int k = 1; k < 3; ++k)  // dimensions of size 1 are no use to tile
    if (od[k] > 1 && (od[q] == 1 || sx[k] < sx[q])) q = k;
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
      for (int64_t i3 = j3; i3 < e3; ++i3) dst[iq * so[q] + i3] = src[iq * sx[q] + i3 * sx[3]];
  }
}

}  // namespace dip::cpu
