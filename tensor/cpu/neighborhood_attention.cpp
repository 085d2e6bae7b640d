// CPU kernels of tensor/neighborhood_attention.h. Each query first tabulates where its kh*kw keys
// lie in qkv (one offset per window entry, shared by all heads and by the k and v blocks); per head
// the scores are then dot products over the d contiguous channels and the output a weighted sum of
// d-long rows, both taken four rows at a time (the four share the loads of the other operand, and
// the output row is read and written once per four).
//
//   forward:  threads split the N*T queries.
//   backward: pass 1 per query (dS and dQ; threads split the N*grid_h grid rows, and each row keeps
//             its own d_rpb partial, added afterwards in row order: deterministic for any thread
//             count); pass 2 per key (dK, dV gathered from the queries whose window holds the key).
#include "tensor/neighborhood_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace dip::cpu {

namespace {

// Below this many multiply-adds (N * T * H * window * d) one thread does the whole op.
constexpr int64_t kParallelMin = 32768;

inline float dot(const float* __restrict__ a, const float* __restrict__ b, int64_t n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t c = 0; c < n; ++c) s += a[c] * b[c];
  return s;
}

// out[u] = a . (base + offset[u]) for u < count.
inline void dot_rows(const float* __restrict__ a, const float* __restrict__ base,
                     const int64_t* __restrict__ offset, int64_t count, int64_t n, float* __restrict__ out) {
  int64_t u = 0;
  for (; u + 4 <= count; u += 4) {
    const float *r0 = base + offset[u], *r1 = base + offset[u + 1];
    const float *r2 = base + offset[u + 2], *r3 = base + offset[u + 3];
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (int64_t c = 0; c < n; ++c) {
      s0 += a[c] * r0[c];
      s1 += a[c] * r1[c];
      s2 += a[c] * r2[c];
      s3 += a[c] * r3[c];
    }
    out[u] = s0;
    out[u + 1] = s1;
    out[u + 2] = s2;
    out[u + 3] = s3;
  }
  for (; u < count; ++u) out[u] = dot(a, base + offset[u], n);
}

// y += alpha * x
inline void axpy(float alpha, const float* __restrict__ x, float* __restrict__ y, int64_t n) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) y[c] += alpha * x[c];
}

// y = (or +=) w[0] r0 + w[1] r1 + w[2] r2 + w[3] r3, with r_u = base + offset[u].
template <bool kAccumulate>
inline void four_rows(const float* __restrict__ w, const float* __restrict__ base,
                      const int64_t* __restrict__ offset, int64_t n, float* __restrict__ y) {
  const float *r0 = base + offset[0], *r1 = base + offset[1], *r2 = base + offset[2], *r3 = base + offset[3];
  const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    const float s = w0 * r0[c] + w1 * r1[c] + w2 * r2[c] + w3 * r3[c];
    y[c] = kAccumulate ? y[c] + s : s;
  }
}

// y = sum_u w[u] * (base + offset[u]) for u < count (y is overwritten: the first four rows set it).
inline void weighted_sum_rows(const float* __restrict__ w, const float* __restrict__ base,
                              const int64_t* __restrict__ offset, int64_t count, int64_t n,
                              float* __restrict__ y) {
  int64_t u = 0;
  if (count >= 4) {
    four_rows<false>(w, base, offset, n, y);
    u = 4;
  } else {
    for (int64_t c = 0; c < n; ++c) y[c] = 0.f;  // windows of 1 to 3 keys only
  }
  for (; u + 4 <= count; u += 4) four_rows<true>(w + u, base, offset + u, n, y);
  for (; u < count; ++u) axpy(w[u], base + offset[u], y, n);
}

// Window starts of every grid row and column (neighborhood_window_start, tabulated once).
std::vector<int> window_starts(int kernel, int size) {
  std::vector<int> s(size);
  for (int i = 0; i < size; ++i) s[i] = neighborhood_window_start(i, kernel, size);
  return s;
}

// The tokens of the window starting at (si, sj) as offsets of (n, token) rows of `stride` floats,
// entry m = a * kw + b for key (si + a, sj + b).
void window_offsets(int64_t n, int64_t T, int gw, int si, int sj, int kh, int kw, int64_t stride,
                    int64_t* offset) {
  for (int a = 0; a < kh; ++a)
    for (int b = 0; b < kw; ++b) offset[a * kw + b] = (n * T + int64_t(si + a) * gw + sj + b) * stride;
}

}  // namespace

Tensor neighborhood_attention_forward(const Tensor& qkv, const Tensor& rpb, const NeighborhoodSpec& spec,
                                      Tensor& probs) {
  const NeighborhoodSizes sz = check_neighborhood_attention_forward(qkv, rpb, spec);
  const int64_t N = sz.batch, T = sz.tokens, D = sz.dim, d = sz.head_dim, K2 = sz.window;
  const int H = spec.heads, k = spec.kernel, R = sz.bias_size, kh = sz.win_h, kw = sz.win_w, gw = spec.grid_w;
  const int64_t C3 = 3 * D;                                    // stride between tokens in qkv
  Tensor out = Tensor::empty({N, T, D}, Device::CPU);          // (N, T, D)
  probs = Tensor::empty({N, int64_t(H), T, K2}, Device::CPU);  // (N, H, T, kh*kw)
  const std::vector<int> row_start = window_starts(k, spec.grid_h), col_start = window_starts(k, gw);
  const float* pqkv = qkv.data();
  const float* prpb = rpb.data();
  float* pout = out.data();
  float* pprobs = probs.data();
  const float scale = spec.scale;

#pragma omp parallel if (N * T * H * K2 * d > kParallelMin)
  {
    std::vector<int64_t> key(K2);  // the window's tokens, as offsets into qkv
#pragma omp for schedule(static)
    for (int64_t nt = 0; nt < N * T; ++nt) {
      const int64_t n = nt / T, t = nt % T;
      const int i = int(t / gw), j = int(t % gw);
      const int si = row_start[i], sj = col_start[j];
      window_offsets(n, T, gw, si, sj, kh, kw, C3, key.data());
      for (int h = 0; h < H; ++h) {
        const float* q = pqkv + nt * C3 + h * d;         // (d)
        float* p = pprobs + ((n * H + h) * T + t) * K2;  // (kh*kw)
        dot_rows(q, pqkv + D + h * d, key.data(), K2, d, p);
        const float* bias =
            prpb + (int64_t(h) * R + (si - i + k - 1)) * R + (sj - j + k - 1);  // rpb[h] at key (si, sj)
        float mx = -std::numeric_limits<float>::infinity();
        for (int a = 0; a < kh; ++a)
          for (int b = 0; b < kw; ++b) {
            float& s = p[a * kw + b];
            s = scale * s + bias[a * R + b];
            mx = std::max(mx, s);
          }
        // exp(s - max) <= 1 with one term exactly 1: no overflow and the sum is >= 1.
        float sum = 0.f;
        for (int64_t m = 0; m < K2; ++m) {
          p[m] = std::exp(p[m] - mx);
          sum += p[m];
        }
        const float inv = 1.f / sum;
        for (int64_t m = 0; m < K2; ++m) p[m] *= inv;
        weighted_sum_rows(p, pqkv + 2 * D + h * d, key.data(), K2, d, pout + nt * D + h * d);
      }
    }
  }
  return out;
}

Tensor neighborhood_attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& grad_out,
                                       const NeighborhoodSpec& spec, Tensor& grad_rpb) {
  const NeighborhoodSizes sz = check_neighborhood_attention_backward(qkv, probs, grad_out, spec);
  const int64_t N = sz.batch, T = sz.tokens, D = sz.dim, d = sz.head_dim, K2 = sz.window;
  const int H = spec.heads, k = spec.kernel, R = sz.bias_size, kh = sz.win_h, kw = sz.win_w;
  const int gh = spec.grid_h, gw = spec.grid_w;
  const int64_t C3 = 3 * D, RR = int64_t(R) * R;
  Tensor grad_qkv = Tensor::empty({N, T, C3}, Device::CPU);                     // (N, T, 3D)
  Tensor grad_scores = Tensor::empty({N, int64_t(H), T, K2}, Device::CPU);      // dS: (N, H, T, kh*kw)
  grad_rpb = Tensor::empty({int64_t(H), int64_t(R), int64_t(R)}, Device::CPU);  // (H, R, R)
  std::vector<double> rpb_partial(size_t(N * gh * H * RR), 0.0);                // (N * grid_h, H, R, R)
  const std::vector<int> row_start = window_starts(k, gh), col_start = window_starts(k, gw);
  const float* pqkv = qkv.data();
  const float* pprobs = probs.data();
  const float* pgo = grad_out.data();
  float* pgrad = grad_qkv.data();
  float* pds = grad_scores.data();
  const float scale = spec.scale;
  const bool parallel = N * T * H * K2 * d > kParallelMin;

  // Pass 1, per query: dP[m] = dO . v_m, dS = P * (dP - sum(P * dP)), dQ = scale * sum_m dS[m] k_m,
  // and d_rpb[h, offset(m)] += dS[m] into the partial of the query's grid row.
#pragma omp parallel if (parallel)
  {
    std::vector<int64_t> key(K2);  // the window's tokens, as offsets into qkv
#pragma omp for schedule(static)
    for (int64_t row = 0; row < N * gh; ++row) {
      const int64_t n = row / gh;
      const int i = int(row % gh);
      const int si = row_start[i];
      double* partial = rpb_partial.data() + row * H * RR;  // (H, R, R)
      for (int j = 0; j < gw; ++j) {
        const int sj = col_start[j];
        const int64_t t = int64_t(i) * gw + j, nt = n * T + t;
        window_offsets(n, T, gw, si, sj, kh, kw, C3, key.data());
        for (int h = 0; h < H; ++h) {
          const float* p = pprobs + ((n * H + h) * T + t) * K2;  // (kh*kw)
          float* ds = pds + ((n * H + h) * T + t) * K2;
          dot_rows(pgo + nt * D + h * d, pqkv + 2 * D + h * d, key.data(), K2, d, ds);  // dP, in ds for now
          float sum = 0.f;
          for (int64_t m = 0; m < K2; ++m) sum += p[m] * ds[m];
          for (int64_t m = 0; m < K2; ++m) ds[m] = p[m] * (ds[m] - sum);

          float* dq = pgrad + nt * C3 + h * d;  // (d), the q block
          weighted_sum_rows(ds, pqkv + D + h * d, key.data(), K2, d, dq);
          for (int64_t c = 0; c < d; ++c) dq[c] *= scale;

          double* bias =
              partial + (int64_t(h) * R + (si - i + k - 1)) * R + (sj - j + k - 1);  // at key (si, sj)
          for (int a = 0; a < kh; ++a)
            for (int b = 0; b < kw; ++b) bias[a * R + b] += ds[a * kw + b];
        }
      }
    }
  }

  // d_rpb: the grid rows' partials, added in row order.
  float* prpb = grad_rpb.data();
  for (int64_t o = 0; o < H * RR; ++o) {
    double s = 0;
    for (int64_t row = 0; row < N * gh; ++row) s += rpb_partial[size_t(row * H * RR + o)];
    prpb[o] = static_cast<float>(s);
  }

  // Pass 2, per key (y, x): dK = scale * sum dS[m] q, dV = sum P[m] dO over the queries whose window
  // holds the key; they lie within k - 1 rows and columns of it (both sit in one window of <= k),
  // and the key's own query is always one of them.
  const int max_queries = (2 * k - 1) * (2 * k - 1);
#pragma omp parallel if (parallel)
  {
    // The key's queries: their offsets in qkv and in grad_out, and where dS and P hold the key.
    std::vector<int64_t> q_offset(max_queries), go_offset(max_queries), entry(max_queries);
    std::vector<float> w_k(max_queries), w_v(max_queries);  // dS and P of those queries, for one head
#pragma omp for schedule(static)
    for (int64_t nt = 0; nt < N * T; ++nt) {
      const int64_t n = nt / T, t = nt % T;
      const int y = int(t / gw), x = int(t % gw);
      int count = 0;
      for (int i = std::max(0, y - k + 1); i <= std::min(gh - 1, y + k - 1); ++i) {
        const int a = y - row_start[i];  // the key's window row for queries of grid row i
        if (a < 0 || a >= kh) continue;
        for (int j = std::max(0, x - k + 1); j <= std::min(gw - 1, x + k - 1); ++j) {
          const int b = x - col_start[j];
          if (b < 0 || b >= kw) continue;
          const int64_t tq = int64_t(i) * gw + j;
          q_offset[count] = (n * T + tq) * C3;
          go_offset[count] = (n * T + tq) * D;
          entry[count] = tq * K2 + int64_t(a) * kw + b;  // within the (T, kh*kw) plane of one (n, h)
          ++count;
        }
      }
      float* dk = pgrad + nt * C3 + D;  // (D), the k block; the v block follows
      float* dv = dk + D;
      for (int h = 0; h < H; ++h) {
        const int64_t plane = (n * H + h) * T * K2;  // (n, h) of (N, H, T, kh*kw)
        for (int u = 0; u < count; ++u) {
          w_k[u] = pds[plane + entry[u]];
          w_v[u] = pprobs[plane + entry[u]];
        }
        weighted_sum_rows(w_k.data(), pqkv + h * d, q_offset.data(), count, d, dk + h * d);
        weighted_sum_rows(w_v.data(), pgo + h * d, go_offset.data(), count, d, dv + h * d);
      }
      for (int64_t c = 0; c < D; ++c) dk[c] *= scale;
    }
  }
  return grad_qkv;
}

}  // namespace dip::cpu
