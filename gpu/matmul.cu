// The row-major cuBLAS GEMM of gpu/gemm.cuh, and the CUDA kernel of tensor/matmul.h on top of it.
#include <climits>

#include "gpu/cuda_context.cuh"
#include "gpu/gemm.cuh"
#include "gpu/runtime.h"
#include "tensor/matmul.h"

namespace dip::gpu {

namespace {

cublasOperation_t op(bool transpose) { return transpose ? CUBLAS_OP_T : CUBLAS_OP_N; }

// TF32 rounds the inputs to a 10-bit mantissa and accumulates in float; FP32 keeps full precision.
cublasComputeType_t compute_type() {
  return precision() == Precision::TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

// cuBLAS takes sizes and leading dimensions as int.
int checked_int(int64_t v, const char* what) {
  DIP_CHECK(v >= 0 && v <= INT_MAX, "gpu gemm: ", what, " = ", v,
            " is outside cuBLAS's 32-bit range; split the product");
  return static_cast<int>(v);
}

// A leading dimension of 0 (an empty operand) is rejected by cuBLAS even though nothing is read.
int checked_ld(int64_t ld, const char* what) { return checked_int(ld < 1 ? 1 : ld, what); }

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  // Column-major view: C^T (N x M) = op(B)^T (N x K) * op(A)^T (K x M).
  DIP_CUBLAS_CHECK(cublasGemmEx(cublas(), op(trans_b), op(trans_a), checked_int(N, "N"),
                                checked_int(M, "M"), checked_int(K, "K"), &alpha, B, CUDA_R_32F,
                                checked_ld(ldb, "ldb"), A, CUDA_R_32F, checked_ld(lda, "lda"), &beta, C,
                                CUDA_R_32F, checked_ld(ldc, "ldc"), compute_type(),
                                CUBLAS_GEMM_DEFAULT));
}

void gemm_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                          int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c,
                          int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  if (batch == 1) {
    gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  DIP_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      cublas(), op(trans_b), op(trans_a), checked_int(N, "N"), checked_int(M, "M"), checked_int(K, "K"),
      &alpha, B, CUDA_R_32F, checked_ld(ldb, "ldb"), static_cast<long long>(stride_b), A, CUDA_R_32F,
      checked_ld(lda, "lda"), static_cast<long long>(stride_a), &beta, C, CUDA_R_32F,
      checked_ld(ldc, "ldc"), static_cast<long long>(stride_c), checked_int(batch, "batch"),
      compute_type(), CUBLAS_GEMM_DEFAULT));
}

}  // namespace dip::gpu

namespace dip::gpu {

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  DIP_CHECK(a.is_cuda() && b.is_cuda(), "matmul (cuda): ", describe(a), " and ", describe(b),
            " must both be on cuda");
  DIP_CHECK(a.rank() == 2 || a.rank() == 3, "matmul: a must be (M, K) or (B, M, K), got ", describe(a));
  DIP_CHECK(b.rank() == 2 || b.rank() == 3, "matmul: b must be (K, N) or (B, K, N), got ", describe(b));
  const int64_t M = trans_a ? a.size(-1) : a.size(-2);
  const int64_t K = trans_a ? a.size(-2) : a.size(-1);
  const int64_t Kb = trans_b ? b.size(-1) : b.size(-2);
  const int64_t N = trans_b ? b.size(-2) : b.size(-1);
  DIP_CHECK(K == Kb, "matmul: inner dimensions differ: op(a) is ", M, "x", K, " and op(b) is ", Kb, "x",
            N, " (a ", a.shape().str(), trans_a ? " transposed" : "", ", b ", b.shape().str(),
            trans_b ? " transposed" : "", ")");
  const bool batched = a.rank() == 3 || b.rank() == 3;
  const int64_t batch = a.rank() == 3 ? a.size(0) : b.size(0);
  if (a.rank() == 3 && b.rank() == 3)
    DIP_CHECK(a.size(0) == b.size(0), "matmul: batch sizes differ: ", a.shape().str(), " and ",
              b.shape().str());

  Tensor out = Tensor::empty(batched ? Shape{batch, M, N} : Shape{M, N}, Device::CUDA);  // (B, M, N)
  if (out.numel() == 0) return out;
  if (K == 0) {  // an empty sum
    DIP_CUDA_CHECK(cudaMemsetAsync(out.data(), 0, out.numel() * sizeof(float), gpu::stream()));
    return out;
  }
  // Row strides as stored: a is (M, K) or (K, M) when transposed; b is (K, N) or (N, K).
  const int64_t lda = a.size(-1), ldb = b.size(-1);
  if (!batched) {
    gpu::gemm(trans_a, trans_b, M, N, K, 1.f, a.data(), lda, b.data(), ldb, 0.f, out.data(), N);
  } else if (a.rank() == 3 && !trans_a && b.rank() == 2) {
    // A batch of (M, K) matrices times one shared (K, N) is a single (B*M, K) x (K, N) product.
    gpu::gemm(false, trans_b, batch * M, N, K, 1.f, a.data(), lda, b.data(), ldb, 0.f, out.data(), N);
  } else {
    // A 2-D operand is shared by every batch entry (stride 0).
    const int64_t stride_a = a.rank() == 3 ? M * K : 0, stride_b = b.rank() == 3 ? K * N : 0;
    gpu::gemm_strided_batched(trans_a, trans_b, M, N, K, 1.f, a.data(), lda, stride_a, b.data(), ldb,
                              stride_b, 0.f, out.data(), N, M * N, batch);
  }
  return out;
}

}  // namespace dip::gpu
