// Single-precision GEMM on the GPU through cuBLAS, row-major (the GPU twin of tensor/cpu/gemm.h):
//   C = alpha * op(A) * op(B) + beta * C,   op(A): (M, K), op(B): (K, N), C: (M, N)
// lda/ldb/ldc are the row strides of the matrices as stored. cuBLAS is column-major, so these run
// C^T = op(B)^T op(A)^T, which reads the same buffers without any copy.
//
// The arithmetic follows gpu::precision(): TF32 tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32) or
// strict FP32. Everything is queued on gpu::stream().
#pragma once
#include <cstdint>

namespace dip::gpu {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// `batch` independent products; matrix i of A starts at A + i * stride_a (likewise B, C).
// A stride of 0 shares one matrix across the batch (the weight of a convolution, a 2-D matmul operand).
void gemm_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                          int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c,
                          int64_t batch);

}  // namespace dip::gpu
