#include "tensor/cpu/gemm.h"

#include <omp.h>

#include <algorithm>

namespace dip::cpu {

#define DIP_GEMM_SIGNATURE                                                                        \
  void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, \
            int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc)
namespace baseline { DIP_GEMM_SIGNATURE; double fma_flops(int64_t, float); }
namespace avx2 { DIP_GEMM_SIGNATURE; double fma_flops(int64_t, float); }
namespace avx512 { DIP_GEMM_SIGNATURE; double fma_flops(int64_t, float); }

namespace {

using GemmFn = decltype(&baseline::gemm);

struct Chosen {
  GemmFn fn;
  const char* name;
  double (*fma)(int64_t, float);
};

Chosen choose() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
    return {&avx512::gemm, "avx512", &avx512::fma_flops};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {&avx2::gemm, "avx2", &avx2::fma_flops};
  return {&baseline::gemm, "baseline", &baseline::fma_flops};
}

const Chosen& chosen() {
  static const Chosen c = choose();
  return c;
}

// The tile grid of gemm(): a function of (M, N, K) alone, never of the thread count.
constexpr int64_t kTileMinWork = int64_t(1) << 20;  // multiply-adds per tile, at least (~0.1 ms)
constexpr int64_t kMaxTiles = 16;  // a power of two, so that 2, 4, 8 or 16 threads share evenly
// Piece sizes. Eigen computes the row-major C as C^T = op(B)^T op(A)^T column-major, so N is its
// register-blocked row side (3 packets of 8 or 16 floats: multiples of 48 keep every piece on the
// fast path) and M its column side (blocks of 4).
constexpr int64_t kColumnPiece = 48;
constexpr int64_t kRowPiece = 32;

struct Tiles {
  bool split_columns;  // cut N (else M)
  int64_t piece;       // columns or rows per tile (the last may be shorter)
  int64_t count;
};

Tiles tile_grid(int64_t M, int64_t N, int64_t K) {
  const int64_t work = M * N * std::max<int64_t>(K, 1);
  int64_t wanted = 1;
  while (wanted < kMaxTiles && work / (2 * wanted) >= kTileMinWork) wanted *= 2;
  const bool columns = N >= M;
  const int64_t extent = columns ? N : M, unit = columns ? kColumnPiece : kRowPiece;
  const int64_t per = (extent + wanted - 1) / wanted;
  const int64_t piece = std::max(unit, (per + unit - 1) / unit * unit);
  return {columns, piece, (extent + piece - 1) / piece};
}

}  // namespace

void gemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  chosen().fn(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  const Tiles t = tile_grid(M, N, K);
  if (t.count == 1) {
    chosen().fn(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Tile i: columns (or rows) [i * piece, ...) of C, from the matching columns of op(B) (rows of op(A)).
  auto tile = [&](int64_t i) {
    const int64_t start = i * t.piece;
    if (t.split_columns) {
      const int64_t n = std::min(t.piece, N - start);
      chosen().fn(trans_a, trans_b, M, n, K, alpha, A, lda, B + (trans_b ? start * ldb : start), ldb, beta,
                  C + start, ldc);
    } else {
      const int64_t m = std::min(t.piece, M - start);
      chosen().fn(trans_a, trans_b, m, N, K, alpha, A + (trans_a ? start : start * lda), lda, B, ldb, beta,
                  C + start * ldc, ldc);
    }
  };
  // Inside a parallel region the caller's threads are busy: the tiles run in turn, with the same bits.
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
  for (int64_t i = 0; i < t.count; ++i) tile(i);
}

const char* gemm_variant() { return chosen().name; }

double fma_flops(int64_t iterations, float seed) { return chosen().fma(iterations, seed); }

void set_num_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  omp_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace dip::cpu
