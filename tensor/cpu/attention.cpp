// CPU kernels of tensor/attention.h, FlashAttention-style: the scores live only in small per-thread
// tiles of (up to kQueryBlock queries) x (up to kKeyBlock keys), never as an (L, L) matrix.
//
// q, k and v are read in place from the packed qkv (row stride 3D) and out is written in place
// (row stride D): every matrix product is one single-threaded dip::cpu::gemm_serial on a tile, with the
// leading dimensions doing the head split that reshape/permute copies did before.
//
//   forward:  threads split (b, h, query block) tasks. For each key block the scores S = scale Q K^T
//             update a running row max m and row sum l (online softmax): earlier partial outputs are
//             rescaled by exp(m_old - m_new), then O += exp(S - m_new) V. At the end O /= l and
//             lse = m + log(l).
//   backward: threads split (b, h) pairs, so that one thread owns dK and dV of a head while they
//             accumulate over all query blocks (no atomics, no reduction across threads; the result
//             does not depend on the thread count). P = exp(S - lse) is recomputed per tile.
#include "tensor/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/simd.h"

namespace dip::cpu {

namespace {

constexpr int64_t kQueryBlock = 64;   // query rows per tile
constexpr int64_t kKeyBlock = 128;    // key columns per tile (the row stride of the score tiles)
constexpr int64_t kParallelMin = 1 << 16;  // multiply-adds below which threads cost more than they gain

// Where one (b, h) pair lives in the packed tensors.
struct Head {
  int64_t qkv_offset;  // of q[b, 0, h*d] in qkv (B, L, 3D); k and v follow at +D and +2D
  int64_t out_offset;  // of out[b, 0, h*d] in out (B, L, D)
  int64_t lse_offset;  // of lse[b, h, 0] in lse (B, H, L)
};

Head head_of(int64_t pair, int heads, const AttentionSizes& s) {
  const int64_t b = pair / heads, h = pair % heads;
  return {b * s.tokens * 3 * s.dim + h * s.head_dim, b * s.tokens * s.dim + h * s.head_dim, pair * s.tokens};
}

// exp(x) for x <= 88, vectorisable (std::exp and std::floor are not, without -ffast-math): Cephes'
// expf. x = n ln2 + r with n = round(x / ln2) by the 1.5 * 2^23 trick (the sum's low mantissa bits
// hold n), ln2 split in two constants so that r is exact enough, exp(r) by a degree-6 polynomial,
// 2^n written into the exponent bits. Relative error < 1e-7 (measured 8e-8 on [-100, 0]); x below
// -87 (and -inf) gives exp(-87) ~ 1.6e-38, negligible next to the row maximum's exp(0) = 1.
inline float exp_approx(float x) {
  x = std::max(x, -87.f);
  constexpr float kRound = 12582912.f;  // 1.5 * 2^23, bit pattern 0x4B400000
  const float t = x * 1.44269504088896341f + kRound;
  const float n = t - kRound;  // round(x / ln2)
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.f;
  int32_t t_bits;
  std::memcpy(&t_bits, &t, sizeof t_bits);
  const int32_t bits = (t_bits - 0x4B400000 + 127) << 23;  // 2^n
  float pow2n;
  std::memcpy(&pow2n, &bits, sizeof pow2n);
  return y * pow2n;
}

// x[j] = exp(x[j] - shift) for j < n; returns the sum of the new values.
DIP_VECTOR_CLONES float exp_shifted(float* x, int64_t n, float shift) {
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) {
    x[j] = exp_approx(x[j] - shift);
    sum += x[j];
  }
  return sum;
}

// max(init, x[0], ..., x[n-1]).
DIP_VECTOR_CLONES float row_max(const float* x, int64_t n, float init) {
  float mx = init;
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < n; ++j) mx = std::max(mx, x[j]);
  return mx;
}

// ds[j] = scale * p[j] * (ds[j] - drow): the softmax backward on one row, dP -> scale * dS in place.
DIP_VECTOR_CLONES void softmax_grad_row(const float* p, float* ds, int64_t n, float drow, float scale) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) ds[j] = scale * p[j] * (ds[j] - drow);
}

// Multiplies `rows` rows of `cols` values (row stride ld) by one factor per row.
DIP_VECTOR_CLONES void scale_rows(float* x, int64_t ld, int64_t rows, int64_t cols, const float* factor) {
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * ld;
    const float f = factor[r];
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) xr[c] *= f;
  }
}

}  // namespace

Tensor attention_forward(const Tensor& qkv, const AttentionSpec& spec, Tensor& lse) {
  const AttentionSizes s = check_attention_forward(qkv, spec);
  const int64_t L = s.tokens, D = s.dim, d = s.head_dim, ld_qkv = 3 * D;
  Tensor out = Tensor::empty({s.batch, L, D}, Device::CPU);  // (B, L, D)
  lse = Tensor::empty({s.batch, spec.heads, L}, Device::CPU);  // (B, H, L)
  const int64_t pairs = s.batch * spec.heads;
  const int64_t query_blocks = (L + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = pairs * query_blocks;
  if (tasks == 0) return out;
  const float* pqkv = qkv.data();
  float* pout = out.data();
  float* plse = lse.data();
  const float scale = spec.scale;
  const bool parallel = pairs * L * L * d > kParallelMin && tasks > 1;

#pragma omp parallel if (parallel)
  {
    std::vector<float> scores(kQueryBlock * kKeyBlock);  // (kQueryBlock, kKeyBlock): S, then P
    // Per query row: the running max m, the running sum l, and the factor exp(m_old - m_new).
    std::vector<float> max_buffer(kQueryBlock), sum_buffer(kQueryBlock), rescale(kQueryBlock);
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t pair = task / query_blocks, i0 = (task % query_blocks) * kQueryBlock;
      const int64_t bq = std::min(kQueryBlock, L - i0);
      const Head head = head_of(pair, spec.heads, s);
      const float* q = pqkv + head.qkv_offset + i0 * ld_qkv;  // (bq, d), row stride 3D
      const float* k = pqkv + head.qkv_offset + D;            // (L, d), row stride 3D
      const float* v = pqkv + head.qkv_offset + 2 * D;        // (L, d), row stride 3D
      float* o = pout + head.out_offset + i0 * D;              // (bq, d), row stride D: O, unnormalised
      float* m = max_buffer.data();
      float* l = sum_buffer.data();
      float* alpha = rescale.data();
      std::fill(m, m + bq, -std::numeric_limits<float>::infinity());
      std::fill(l, l + bq, 0.f);

      for (int64_t j0 = 0; j0 < L; j0 += kKeyBlock) {
        const int64_t kn = std::min(kKeyBlock, L - j0);
        float* sc = scores.data();
        // S = scale * Q K_j^T: (bq, kn)
        gemm_serial(false, true, bq, kn, d, scale, q, ld_qkv, k + j0 * ld_qkv, ld_qkv, 0.f, sc, kKeyBlock);
        // Online softmax: the new row max, the factor for what was accumulated under the old one,
        // and P = exp(S - m_new) in place (every value <= 1, the max exactly 1: no overflow).
        for (int64_t r = 0; r < bq; ++r) {
          float* sr = sc + r * kKeyBlock;
          const float mx = row_max(sr, kn, m[r]);
          const float sum = exp_shifted(sr, kn, mx);
          alpha[r] = exp_approx(m[r] - mx);  // ~0 on the first key block (m = -inf), unused there
          l[r] = l[r] * alpha[r] + sum;
          m[r] = mx;
        }
        // O = alpha * O + P V_j: (bq, d); the first key block overwrites (beta = 0).
        if (j0 > 0) scale_rows(o, D, bq, d, alpha);
        gemm_serial(false, false, bq, d, kn, 1.f, sc, kKeyBlock, v + j0 * ld_qkv, ld_qkv, j0 > 0 ? 1.f : 0.f, o,
                    D);
      }
      // O /= l; lse = m + log(l).
      float* lse_rows = plse + head.lse_offset + i0;
      for (int64_t r = 0; r < bq; ++r) {
        alpha[r] = 1.f / l[r];
        lse_rows[r] = m[r] + std::log(l[r]);
      }
      scale_rows(o, D, bq, d, alpha);
    }
  }
  return out;
}

Tensor attention_backward(const Tensor& qkv, const Tensor& out, const Tensor& lse, const Tensor& grad_out,
                          const AttentionSpec& spec) {
  const AttentionSizes s = check_attention_backward(qkv, out, lse, grad_out, spec);
  const int64_t L = s.tokens, D = s.dim, d = s.head_dim, ld_qkv = 3 * D;
  Tensor grad_qkv = Tensor::empty(qkv.shape(), Device::CPU);  // (B, L, 3D)
  const int64_t pairs = s.batch * spec.heads;
  if (pairs == 0 || L == 0) return grad_qkv;
  const float* pqkv = qkv.data();
  const float* pout = out.data();
  const float* plse = lse.data();
  const float* pgo = grad_out.data();
  float* pg = grad_qkv.data();
  const float scale = spec.scale;
  const bool parallel = pairs * L * L * d > kParallelMin && pairs > 1;

#pragma omp parallel if (parallel)
  {
    std::vector<float> probs(kQueryBlock * kKeyBlock);  // (kQueryBlock, kKeyBlock): P
    std::vector<float> dscores(kQueryBlock * kKeyBlock);  // (kQueryBlock, kKeyBlock): dO V^T, then scale * dS
    std::vector<float> drow_block(kQueryBlock);            // Drow of the query block
#pragma omp for schedule(static)
    for (int64_t pair = 0; pair < pairs; ++pair) {
      const Head head = head_of(pair, spec.heads, s);
      const float* q = pqkv + head.qkv_offset;  // (L, d) each, row stride 3D
      const float* k = q + D;
      const float* v = q + 2 * D;
      const float* o = pout + head.out_offset;   // (L, d), row stride D
      const float* go = pgo + head.out_offset;   // (L, d), row stride D: dO
      const float* lse_rows = plse + head.lse_offset;  // (L)
      float* dq = pg + head.qkv_offset;  // (L, d) each, row stride 3D
      float* dk = dq + D;
      float* dv = dq + 2 * D;

      for (int64_t i0 = 0; i0 < L; i0 += kQueryBlock) {
        const int64_t bq = std::min(kQueryBlock, L - i0);
        const float* q_i = q + i0 * ld_qkv;  // (bq, d)
        const float* go_i = go + i0 * D;     // (bq, d)
        float* dq_i = dq + i0 * ld_qkv;      // (bq, d)
        // Drow_i = dot(dO_i, O_i): the softmax backward's row term.
        float* drow = drow_block.data();
        for (int64_t r = 0; r < bq; ++r) {
          const float* a = go_i + r * D;
          const float* b = o + (i0 + r) * D;
          float acc = 0.f;
#pragma omp simd reduction(+ : acc)
          for (int64_t c = 0; c < d; ++c) acc += a[c] * b[c];
          drow[r] = acc;
        }
        // dK_j and dV_j get their first contribution from the first query block (beta = 0).
        const float beta_kv = i0 > 0 ? 1.f : 0.f;

        for (int64_t j0 = 0; j0 < L; j0 += kKeyBlock) {
          const int64_t kn = std::min(kKeyBlock, L - j0);
          const float* k_j = k + j0 * ld_qkv;  // (kn, d)
          const float* v_j = v + j0 * ld_qkv;  // (kn, d)
          float* p = probs.data();
          float* ds = dscores.data();
          // P = exp(scale * Q_i K_j^T - lse_i): (bq, kn)
          gemm_serial(false, true, bq, kn, d, scale, q_i, ld_qkv, k_j, ld_qkv, 0.f, p, kKeyBlock);
          for (int64_t r = 0; r < bq; ++r) exp_shifted(p + r * kKeyBlock, kn, lse_rows[i0 + r]);
          // dV_j += P^T dO_i: (kn, d)
          gemm_serial(true, false, kn, d, bq, 1.f, p, kKeyBlock, go_i, D, beta_kv, dv + j0 * ld_qkv, ld_qkv);
          // dP = dO_i V_j^T: (bq, kn); then ds = scale * dS = scale * P * (dP - Drow_i)
          gemm_serial(false, true, bq, kn, d, 1.f, go_i, D, v_j, ld_qkv, 0.f, ds, kKeyBlock);
          for (int64_t r = 0; r < bq; ++r)
            softmax_grad_row(p + r * kKeyBlock, ds + r * kKeyBlock, kn, drow[r], scale);
          // dQ_i += scale dS K_j: (bq, d); the first key block overwrites.
          gemm_serial(false, false, bq, d, kn, 1.f, ds, kKeyBlock, k_j, ld_qkv, j0 > 0 ? 1.f : 0.f, dq_i, ld_qkv);
          // dK_j += scale dS^T Q_i: (kn, d)
          gemm_serial(true, false, kn, d, bq, 1.f, ds, kKeyBlock, q_i, ld_qkv, beta_kv, dk + j0 * ld_qkv, ld_qkv);
        }
      }
    }
  }
  return grad_qkv;
}

}  // namespace dip::cpu
