// The micro-kernel of tensor/cpu/panel_product.h: kPanelRows rows x kColumnVectors vectors of
// columns per register block (4 x 24 floats: 12 accumulators, 3 loads of v and 4 broadcasts of u
// per step, all 16 AVX2 registers), the same shape a GEMM kernel for AVX2 uses.
// (An 8 x 16 block for AVX-512's 32 registers measured 98% of a Zen 4's peak here against this
// one's 80%, but the Winograd convolution ran no faster with it, likely as there the product waits
// on V coming from L3; README "Results".)
#include "tensor/cpu/panel_product.h"

#include <algorithm>

#include "tensor/cpu/simd.h"

#pragma GCC diagnostic ignored "-Wpsabi"  // see tensor/cpu/simd.h

namespace dip::cpu {

namespace {

using simd::kLanes;
using simd::load;
using simd::static_for;
using simd::store;
using simd::Vec;

constexpr int kColumnVectors = 3;

// One register block: rows [0, rows) of m (a kPanelRows x NV * kLanes block),
//   m[r * ldm + t] = sum over k < depth of up[k * kPanelRows + r] * v[k * ldv + t],
// up one panel of the packed u, v the block's first column. The accumulators stay in registers
// for the whole sum: per step NV vector loads and kPanelRows broadcasts feed kPanelRows * NV
// multiply-adds.
template <int NV>
DIP_INLINE void micro_kernel(const float* up, const float* v, int64_t ldv, int64_t depth, float* m, int64_t ldm,
                             int rows) {
  // Every index into acc is a compile-time constant, so the compiler keeps it in registers.
  Vec acc[kPanelRows][NV];
  static_for<kPanelRows>([&](auto r) DIP_INLINE_LAMBDA {
    static_for<NV>([&](auto j) DIP_INLINE_LAMBDA { acc[r][j] = Vec{}; });
  });
  for (int64_t k = 0; k < depth; ++k) {
    Vec b[NV];
    static_for<NV>([&](auto j) DIP_INLINE_LAMBDA { b[j] = load(v + k * ldv + j * kLanes); });
    static_for<kPanelRows>([&](auto r) DIP_INLINE_LAMBDA {
      const float a = up[k * kPanelRows + r];
      static_for<NV>([&](auto j) DIP_INLINE_LAMBDA { acc[r][j] += a * b[j]; });
    });
  }
  static_for<kPanelRows>([&](auto r) DIP_INLINE_LAMBDA {
    if (r < rows) static_for<NV>([&](auto j) DIP_INLINE_LAMBDA { store(m + r * ldm + j * kLanes, acc[r][j]); });
  });
}

}  // namespace

// Each column panel of v is read from memory once and then from L1 for every row panel of u.
DIP_VECTOR_CLONES
void panel_product(const float* u_packed, int64_t outs, int64_t depth, const float* v, int64_t ldv,
                   int64_t cols, float* m, int64_t ldm) {
  const int64_t panels = (outs + kPanelRows - 1) / kPanelRows;
  for (int64_t t = 0; t < cols;) {
    // Panels of kColumnVectors vectors; a last single vector would leave too few independent sums
    // to hide the multiply-add latency, so 3 + 1 vectors go as 2 + 2.
    const int64_t left = (cols - t) / kLanes;
    const int64_t nv = left == 4 ? 2 : std::min<int64_t>(kColumnVectors, left);
    for (int64_t p = 0; p < panels; ++p) {
      const int rows = static_cast<int>(std::min<int64_t>(kPanelRows, outs - p * kPanelRows));
      const float* a = u_packed + p * depth * kPanelRows;
      float* c = m + p * kPanelRows * ldm + t;
      if (nv == 3)
        micro_kernel<3>(a, v + t, ldv, depth, c, ldm, rows);
      else if (nv == 2)
        micro_kernel<2>(a, v + t, ldv, depth, c, ldm, rows);
      else
        micro_kernel<1>(a, v + t, ldv, depth, c, ldm, rows);
    }
    t += nv * kLanes;
  }
}

}  // namespace dip::cpu
