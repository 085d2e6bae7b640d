// A sum whose order depends only on its length, never on the thread count: the terms are cut into
// fixed chunks of kSumChunk, each chunk is summed (in double) by one thread, then the chunk sums are
// added in chunk order. The same inputs give the same bits on 1 or 64 threads.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace dip::cpu {

constexpr int64_t kSumChunk = 4096;

// sum over i in [0, n) of term(i), in double; the chunks run in parallel when `parallel`.
template <typename Term>
double chunked_sum(int64_t n, bool parallel, Term term) {
  const int64_t chunks = std::max<int64_t>((n + kSumChunk - 1) / kSumChunk, 1);
  std::vector<double> partial(static_cast<size_t>(chunks));  // (chunks)
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t end = std::min(n, (c + 1) * kSumChunk);
    double acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = c * kSumChunk; i < end; ++i) acc += term(i);
    partial[c] = acc;
  }
  double s = 0;
  for (double v : partial) s += v;
  return s;
}

}  // namespace dip::cpu
