// Single-precision GEMM on the CPU, row-major:  C = alpha * op(A) * op(B) + beta * C
//   op(A): (M, K), op(B): (K, N), C: (M, N); lda/ldb/ldc are row strides of the stored matrices.
//
// Eigen does the work. The same code is compiled three times (baseline x86-64, AVX2+FMA, AVX-512)
// and the widest variant the CPU supports is chosen once at start-up, so binaries stay portable.
#pragma once
#include <cstdint>

namespace dip::cpu {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// "avx512", "avx2" or "baseline": the variant gemm() uses on this CPU.
const char* gemm_variant();

// Threads used by the CPU kernels (OpenMP and Eigen); 0 means all cores.
void set_num_threads(int n);
int num_threads();

}  // namespace dip::cpu
