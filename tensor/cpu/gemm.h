// Single-precision GEMM on the CPU, row-major:  C = alpha * op(A) * op(B) + beta * C
//   op(A): (M, K), op(B): (K, N), C: (M, N); lda/ldb/ldc are row strides of the stored matrices.
//
// Eigen does the work, always single-threaded (EIGEN_DONT_PARALLELIZE): Eigen's own threading picks
// its blocking and its split of C from the thread count, so its results depended on it. The same
// code is compiled three times (baseline x86-64, AVX2+FMA, AVX-512) and the widest variant the CPU
// supports is chosen once at start-up, so binaries stay portable.
//
// Determinism: every element of C comes out the same for any thread count. gemm() cuts C into a
// grid of tiles that depends only on (M, N, K), each tile one single-threaded Eigen product; outside
// a parallel region the tiles run on the OpenMP threads, inside one they run in turn. gemm_serial()
// is one Eigen product, for callers that already share their work among threads (conv2d,
// attention). Across machines the bits can still differ: Eigen's register blocking follows the
// SIMD width (AVX2 vs AVX-512 variant) and its depth blocking the L1 cache size.
#pragma once
#include <cstdint>

namespace dip::cpu {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The same product on the calling thread only.
void gemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// "avx512", "avx2" or "baseline": the variant gemm() uses on this CPU.
const char* gemm_variant();

// For measuring the machine's arithmetic peak (dip-bench --peak): runs `iterations` rounds of
// independent vector multiply-adds in gemm_variant()'s width on the calling thread and returns the
// floating-point operations done; flops / seconds is one core's FP32 FMA peak.
double fma_flops(int64_t iterations, float seed);

// Threads used by the CPU kernels (OpenMP); 0 means all cores. No CPU kernel's result depends on it.
void set_num_threads(int n);
int num_threads();

}  // namespace dip::cpu
