// matmul on Variables. With out = op(a) op(b):
//   dL/d op(a) = G op(b)^T,   dL/d op(b) = op(a)^T G
// and transposing back where a or b was stored transposed. An input that was 2-D while the product
// was batched was shared by every batch entry, so its gradient is the sum over the batch.
#include "autograd/functions.h"
#include "tensor/elementwise.h"
#include "tensor/matmul.h"

namespace dip {

namespace {

Tensor matmul_grad_a(const Tensor& g, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  // (B,) (M, K) = G op(b)^T, or its transpose (K, M) = op(b) G^T when a is stored transposed.
  Tensor ga = trans_a ? matmul(b, g, trans_b, true) : matmul(g, b, false, !trans_b);
  return ga.shape() == a.shape() ? ga : sum_to(ga, a.shape());
}

Tensor matmul_grad_b(const Tensor& g, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  if (b.rank() == 2 && a.rank() == 3 && !trans_a) {
    // Shared b: stacking the batch, (B * M, K) and (B * M, N), turns the batch sum into one GEMM.
    const int64_t rows = a.size(0) * a.size(1);
    Tensor a_flat = a.reshape({rows, a.size(2)}), g_flat = g.reshape({rows, g.size(2)});
    return trans_b ? matmul(g_flat, a_flat, true, false) : matmul(a_flat, g_flat, true, false);
  }
  // (B,) (K, N) = op(a)^T G, or its transpose (N, K) = G^T op(a) when b is stored transposed.
  Tensor gb = trans_b ? matmul(g, a, true, trans_a) : matmul(a, g, !trans_a, false);
  return gb.shape() == b.shape() ? gb : sum_to(gb, b.shape());
}

}  // namespace

Variable matmul(const Variable& a, const Variable& b, bool trans_a, bool trans_b) {
  Tensor ta = a.data(), tb = b.data();
  return make_result(
      "matmul", matmul(ta, tb, trans_a, trans_b), {a, b},
      [ta, tb, trans_a, trans_b](const Tensor& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
        return {needs[0] ? matmul_grad_a(g, ta, tb, trans_a, trans_b) : Tensor(),
                needs[1] ? matmul_grad_b(g, ta, tb, trans_a, trans_b) : Tensor()};
      });
}

}  // namespace dip
