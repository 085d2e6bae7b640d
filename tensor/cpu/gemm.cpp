#include "tensor/cpu/gemm.h"

#include <omp.h>


namespace dip::cpu {

#define DIP_GEMM_SIGNATURE                                                                        \
  void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, \
            int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc)
namespace baseline { DIP_GEMM_SIGNATURE; }
namespace avx2 { DIP_GEMM_SIGNATURE; }
namespace avx512 { DIP_GEMM_SIGNATURE; }

namespace {

using GemmFn = decltype(&baseline::gemm);

struct Chosen {
  GemmFn fn;
  const char* name;
};

Chosen choose() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
    return {&avx512::gemm, "avx512"};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {&avx2::gemm, "avx2"};
  return {&baseline::gemm, "baseline"};
}

const Chosen& chosen() {
  static const Chosen c = choose();
  return c;
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  chosen().fn(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char* gemm_variant() { return chosen().name; }

void set_num_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  omp_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace dip::cpu
