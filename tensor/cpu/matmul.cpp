// CPU kernel of tensor/matmul.h: one GEMM per batch entry (or one tall GEMM when a batched `a`
// meets a shared `b`).
#include "tensor/matmul.h"

#include "tensor/cpu/gemm.h"

namespace dip::cpu {

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  DIP_CHECK(a.rank() == 2 || a.rank() == 3, "matmul: a must be (M, K) or (B, M, K), got ", describe(a));
  DIP_CHECK(b.rank() == 2 || b.rank() == 3, "matmul: b must be (K, N) or (B, K, N), got ", describe(b));
  const bool batched_a = a.rank() == 3, batched_b = b.rank() == 3;
  if (batched_a && batched_b)
    DIP_CHECK(a.size(0) == b.size(0), "matmul: batch sizes differ: ", describe(a), " and ", describe(b));
  const int64_t batch = batched_a ? a.size(0) : batched_b ? b.size(0) : 1;
  const int64_t m = trans_a ? a.size(-1) : a.size(-2), k = trans_a ? a.size(-2) : a.size(-1);
  const int64_t kb = trans_b ? b.size(-1) : b.size(-2), n = trans_b ? b.size(-2) : b.size(-1);
  DIP_CHECK(k == kb, "matmul: inner dimensions differ: op(a) is (", m, ", ", k, ") and op(b) is (", kb,
            ", ", n, ") for a ", describe(a), (trans_a ? " transposed" : ""), ", b ", describe(b),
            (trans_b ? " transposed" : ""));
  Tensor out = Tensor::empty(batched_a || batched_b ? Shape{batch, m, n} : Shape{m, n});
  if (out.numel() == 0) return out;
  const float* pa = a.data();
  const float* pb = b.data();
  float* po = out.data();
  const int64_t lda = a.size(-1), ldb = b.size(-1);

  // Batched a (not transposed) with a shared b: the batch stacks into one tall (B * M, K) matrix.
  if (batched_a && !batched_b && !trans_a) {
    gemm(false, trans_b, batch * m, n, k, 1.f, pa, lda, pb, ldb, 0.f, po, n);
    return out;
  }
  const int64_t stride_a = batched_a ? m * k : 0, stride_b = batched_b ? k * n : 0;
  auto one = [&](int64_t i) {
    gemm(trans_a, trans_b, m, n, k, 1.f, pa + i * stride_a, lda, pb + i * stride_b, ldb, 0.f,
         po + i * m * n, n);
  };
  // Many small products: one thread per product (a GEMM inside a parallel region stays serial).
  // Few or large ones: one after another, each GEMM using all threads.
  const int threads = num_threads();
  const int64_t flops = 2 * m * n * k;
  const bool parallel_batch = batch * flops >= (int64_t(1) << 18) &&
                              (batch >= 2 * threads || (batch >= threads && flops <= (int64_t(1) << 21)));
  if (parallel_batch) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < batch; ++i) one(i);
  } else {
    for (int64_t i = 0; i < batch; ++i) one(i);
  }
  return out;
}

}  // namespace dip::cpu
