// CPU kernels of tensor/reduce.h. Sums accumulate in double, so a sum over millions of floats
// keeps float precision. Every sum runs in an order fixed by the sizes alone, so the result does not
// depend on the number of threads: sum_all adds fixed chunks (one thread each) in chunk order;
// sum_dim gives each output value to one thread.
#include "tensor/reduce.h"

#include <algorithm>
#include <vector>

#include "tensor/cpu/chunked_sum.h"

namespace dip::cpu {

namespace {
constexpr int64_t kParallelMin = 32768;
// Columns handled together when reducing a non-innermost dimension: a double accumulator row of
// this length stays in L1 while the rows of x stream past.
constexpr int64_t kColumnBlock = 512;
}  // namespace

Tensor sum_all(const Tensor& x) {
  const float* px = x.data();
  const int64_t n = x.numel();
  const double s = chunked_sum(n, n > kParallelMin, [px](int64_t i) { return double(px[i]); });
  return Tensor::full({1}, static_cast<float>(s), Device::CPU);
}

Tensor sum_dim(const Tensor& x, int dim, bool keepdim) {
  const Shape& s = x.shape();
  int d = 0;
  const Shape out_shape = sum_dim_shape(x, dim, keepdim, d);

  // x viewed as (outer, len, inner): dimension d in the middle.
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= s[i];
  for (int i = d + 1; i < s.rank(); ++i) inner *= s[i];
  const int64_t len = s[d];

  Tensor out = Tensor::empty(out_shape, Device::CPU);
  const float* px = x.data();
  float* po = out.data();
  const bool parallel = x.numel() > kParallelMin;

  if (inner == 1) {  // the summed dimension is contiguous: one row sum per output
#pragma omp parallel for if (parallel && outer > 1)
    for (int64_t o = 0; o < outer; ++o) {
      const float* row = px + o * len;
      double acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t k = 0; k < len; ++k) acc += row[k];
      po[o] = static_cast<float>(acc);
    }
    return out;
  }

  // Rows of `inner` contiguous floats, `len` of them per output block: add them column-wise.
  const int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel if (parallel)
  {
    std::vector<double> acc(static_cast<size_t>(std::min(inner, kColumnBlock)));
#pragma omp for collapse(2) schedule(static)
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t c0 = b * kColumnBlock, w = std::min(kColumnBlock, inner - c0);
        double* a = acc.data();
        std::fill(a, a + w, 0.0);
        const float* base = px + o * len * inner + c0;
        for (int64_t k = 0; k < len; ++k) {
          const float* row = base + k * inner;
#pragma omp simd
          for (int64_t j = 0; j < w; ++j) a[j] += row[j];
        }
        float* dst = po + o * inner + c0;
        for (int64_t j = 0; j < w; ++j) dst[j] = static_cast<float>(a[j]);
      }
  }
  return out;
}

}  // namespace dip::cpu
