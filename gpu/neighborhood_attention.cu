// CUDA kernels of tensor/neighborhood_attention.h: the algorithms of tensor/cpu/neighborhood_attention.cpp
// with one thread per (n, head, token) where the CPU has one loop iteration per (n, token) and an
// inner loop over heads. The CPU tabulates each window's key offsets and takes rows four at a time;
// here the same window is walked by its rows a and columns b, one key at a time. Threads are numbered
// ((n * H + h) * T + t), so a warp holds neighbouring tokens of one head, whose windows overlap
// (the keys come from L1/L2).
//
//   forward:  scores, softmax and the weighted sum of values per query (the softmax is computed in
//             place in its probs row).
//   backward: pass 1 per query: dS (a scratch (N, H, T, kh*kw) tensor) and dQ;
//             d_rpb: one block per (head, offset), summing dS over every query in a fixed order
//             (block_reduce of per-thread double sums);
//             pass 2 per key: dK, dV gathered from the queries whose window holds the key.
// No atomics: every output element is written by one thread, so results are bitwise repeatable.
#include <climits>

#include "gpu/reduce.cuh"
#include "tensor/neighborhood_attention.h"

namespace dip::gpu {

namespace {

constexpr int kThreads = 256;

// What every kernel needs to know about the problem (passed by value).
struct NaGeometry {
  int64_t T, D, d, K2;  // tokens, width, head size, keys per query (kh * kw)
  int N, H, k, R;       // batch, heads, kernel, rpb side (2k - 1)
  int gh, gw, kh, kw;   // grid and window sides
  float scale;
};

NaGeometry make_geometry(const NeighborhoodSizes& s, const NeighborhoodSpec& spec) {
  NaGeometry g;
  g.T = s.tokens;
  g.D = s.dim;
  g.d = s.head_dim;
  g.K2 = s.window;
  g.N = int(s.batch);
  g.H = spec.heads;
  g.k = spec.kernel;
  g.R = s.bias_size;
  g.gh = spec.grid_h;
  g.gw = spec.grid_w;
  g.kh = s.win_h;
  g.kw = s.win_w;
  g.scale = spec.scale;
  return g;
}

__device__ __forceinline__ float dot(const float* __restrict__ a, const float* __restrict__ b, int64_t n) {
  float s = 0.f;
  for (int64_t c = 0; c < n; ++c) s += a[c] * b[c];
  return s;
}

// y += alpha * x
__device__ __forceinline__ void axpy(float alpha, const float* __restrict__ x, float* __restrict__ y,
                                     int64_t n) {
  for (int64_t c = 0; c < n; ++c) y[c] += alpha * x[c];
}

// qkv (N, T, 3D), rpb (H, R, R) -> out (N, T, D), probs (N, H, T, K2)
__global__ void na_forward_kernel(const float* __restrict__ qkv, const float* __restrict__ rpb, NaGeometry g,
                                  float* __restrict__ out, float* __restrict__ probs) {
  const int64_t id = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // (n * H + h) * T + t
  if (id >= int64_t(g.N) * g.H * g.T) return;
  const int64_t t = id % g.T;
  const int h = int((id / g.T) % g.H);
  const int64_t n = id / (g.T * g.H);
  const int64_t C3 = 3 * g.D, nt = n * g.T + t;
  const int i = int(t / g.gw), j = int(t % g.gw);
  const int si = neighborhood_window_start(i, g.k, g.gh), sj = neighborhood_window_start(j, g.k, g.gw);
  const float* first_key = qkv + (n * g.T + int64_t(si) * g.gw + sj) * C3;  // token (si, sj)
  const float* q = qkv + nt * C3 + h * g.d;                                 // (d)
  float* p = probs + id * g.K2;                                             // (kh*kw)
  const float* bias = rpb + (int64_t(h) * g.R + (si - i + g.k - 1)) * g.R + (sj - j + g.k - 1);
  float mx = -INFINITY;
  for (int a = 0; a < g.kh; ++a) {
    const float* key = first_key + int64_t(a) * g.gw * C3 + g.D + h * g.d;  // token (si + a, sj), k block
    for (int b = 0; b < g.kw; ++b) {
      const float s = g.scale * dot(q, key + b * C3, g.d) + bias[a * g.R + b];
      p[a * g.kw + b] = s;
      mx = fmaxf(mx, s);
    }
  }
  // exp(s - max) <= 1 with one term exactly 1: no overflow and the sum is >= 1.
  float sum = 0.f;
  for (int64_t m = 0; m < g.K2; ++m) {
    const float e = expf(p[m] - mx);
    p[m] = e;
    sum += e;
  }
  const float inv = 1.f / sum;
  for (int64_t m = 0; m < g.K2; ++m) p[m] *= inv;

  float* o = out + nt * g.D + h * g.d;  // (d)
  for (int64_t c = 0; c < g.d; ++c) o[c] = 0.f;
  for (int a = 0; a < g.kh; ++a) {
    const float* value =
        first_key + int64_t(a) * g.gw * C3 + 2 * g.D + h * g.d;  // token (si + a, sj), v block
    for (int b = 0; b < g.kw; ++b) axpy(p[a * g.kw + b], value + b * C3, o, g.d);
  }
}

// Pass 1, per query: dS = P * (dP - sum(P * dP)) with dP[m] = dO . v_m, and the q block of
// grad_qkv: dQ = scale * sum_m dS[m] k_m.
__global__ void na_backward_query_kernel(const float* __restrict__ qkv, const float* __restrict__ probs,
                                         const float* __restrict__ grad_out, NaGeometry g,
                                         float* __restrict__ grad_scores, float* __restrict__ grad_qkv) {
  const int64_t id = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // (n * H + h) * T + t
  if (id >= int64_t(g.N) * g.H * g.T) return;
  const int64_t t = id % g.T;
  const int h = int((id / g.T) % g.H);
  const int64_t n = id / (g.T * g.H);
  const int64_t C3 = 3 * g.D, nt = n * g.T + t;
  const int i = int(t / g.gw), j = int(t % g.gw);
  const int si = neighborhood_window_start(i, g.k, g.gh), sj = neighborhood_window_start(j, g.k, g.gw);
  const float* first_key = qkv + (n * g.T + int64_t(si) * g.gw + sj) * C3;  // token (si, sj)
  const float* go = grad_out + nt * g.D + h * g.d;                          // (d)
  const float* p = probs + id * g.K2;                                       // (kh*kw)
  float* ds = grad_scores + id * g.K2;
  float sum = 0.f;
  for (int a = 0; a < g.kh; ++a) {
    const float* value = first_key + int64_t(a) * g.gw * C3 + 2 * g.D + h * g.d;
    for (int b = 0; b < g.kw; ++b) {
      const float dp = dot(go, value + b * C3, g.d);
      ds[a * g.kw + b] = dp;
      sum += p[a * g.kw + b] * dp;
    }
  }
  for (int64_t m = 0; m < g.K2; ++m) ds[m] = p[m] * (ds[m] - sum);

  float* dq = grad_qkv + nt * C3 + h * g.d;  // (d), the q block
  for (int64_t c = 0; c < g.d; ++c) dq[c] = 0.f;
  for (int a = 0; a < g.kh; ++a) {
    const float* key = first_key + int64_t(a) * g.gw * C3 + g.D + h * g.d;
    for (int b = 0; b < g.kw; ++b) axpy(ds[a * g.kw + b], key + b * C3, dq, g.d);
  }
  for (int64_t c = 0; c < g.d; ++c) dq[c] *= g.scale;
}

// d_rpb: block (h * R + oy) * R + ox sums dS over the queries (n, i, j) whose window holds the key
// (i + oy - k + 1, j + ox - k + 1). Every thread of the block reaches block_reduce.
__global__ void na_backward_bias_kernel(const float* __restrict__ grad_scores, NaGeometry g,
                                        float* __restrict__ grad_rpb) {
  const int o = blockIdx.x;  // (h, oy, ox) of (H, R, R)
  const int h = o / (g.R * g.R), oy = (o / g.R) % g.R, ox = o % g.R;
  double acc = 0;
  for (int64_t nt = threadIdx.x; nt < int64_t(g.N) * g.T; nt += blockDim.x) {
    const int64_t n = nt / g.T, t = nt % g.T;
    const int i = int(t / g.gw), j = int(t % g.gw);
    const int a = i + oy - (g.k - 1) - neighborhood_window_start(i, g.k, g.gh);  // the key's window row
    const int b = j + ox - (g.k - 1) - neighborhood_window_start(j, g.k, g.gw);
    if (a < 0 || a >= g.kh || b < 0 || b >= g.kw) continue;
    acc += grad_scores[((n * g.H + h) * g.T + t) * g.K2 + int64_t(a) * g.kw + b];
  }
  acc = block_reduce(acc, SumOp{}, 0.0);
  if (threadIdx.x == 0) grad_rpb[o] = static_cast<float>(acc);
}

// Pass 2, per key (y, x) and head: the k and v blocks of grad_qkv, dK = scale * sum dS[m] q and
// dV = sum P[m] dO over the queries within k - 1 rows and columns whose window holds the key.
__global__ void na_backward_key_kernel(const float* __restrict__ qkv, const float* __restrict__ probs,
                                       const float* __restrict__ grad_out,
                                       const float* __restrict__ grad_scores, NaGeometry g,
                                       float* __restrict__ grad_qkv) {
  const int64_t id = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // (n * H + h) * T + t
  if (id >= int64_t(g.N) * g.H * g.T) return;
  const int64_t t = id % g.T;
  const int h = int((id / g.T) % g.H);
  const int64_t n = id / (g.T * g.H);
  const int64_t C3 = 3 * g.D, nt = n * g.T + t;
  const int y = int(t / g.gw), x = int(t % g.gw);
  float* dk = grad_qkv + nt * C3 + g.D + h * g.d;  // (d), the k block
  float* dv = dk + g.D;                            // (d), the v block
  for (int64_t c = 0; c < g.d; ++c) {
    dk[c] = 0.f;
    dv[c] = 0.f;
  }
  for (int i = max(0, y - g.k + 1); i <= min(g.gh - 1, y + g.k - 1); ++i) {
    const int a = y - neighborhood_window_start(i, g.k, g.gh);  // the key's window row for grid row i
    if (a < 0 || a >= g.kh) continue;
    for (int j = max(0, x - g.k + 1); j <= min(g.gw - 1, x + g.k - 1); ++j) {
      const int b = x - neighborhood_window_start(j, g.k, g.gw);
      if (b < 0 || b >= g.kw) continue;
      const int64_t m = int64_t(a) * g.kw + b, tq = int64_t(i) * g.gw + j;
      const int64_t at = ((n * g.H + h) * g.T + tq) * g.K2 + m;
      axpy(grad_scores[at], qkv + (n * g.T + tq) * C3 + h * g.d, dk, g.d);
      axpy(probs[at], grad_out + (n * g.T + tq) * g.D + h * g.d, dv, g.d);
    }
  }
  for (int64_t c = 0; c < g.d; ++c) dk[c] *= g.scale;
}

// Blocks of kThreads covering one thread per (n, head, token).
unsigned thread_blocks(const char* op, const NaGeometry& g) {
  const int64_t threads = int64_t(g.N) * g.H * g.T;
  const int64_t blocks = (threads + kThreads - 1) / kThreads;
  DIP_CHECK(blocks <= INT_MAX, op, ": ", threads, " (batch, head, token) threads exceed the CUDA grid");
  return static_cast<unsigned>(blocks);
}

}  // namespace

}  // namespace dip::gpu

namespace dip::gpu {

Tensor neighborhood_attention_forward(const Tensor& qkv, const Tensor& rpb, const NeighborhoodSpec& spec,
                                      Tensor& probs) {
  const NeighborhoodSizes s = check_neighborhood_attention_forward(qkv, rpb, spec);
  DIP_CHECK(s.batch <= INT_MAX, "neighborhood_attention: batch ", s.batch, " too large");
  const gpu::NaGeometry g = gpu::make_geometry(s, spec);
  Tensor out = Tensor::empty({s.batch, s.tokens, s.dim}, Device::CUDA);  // (N, T, D)
  probs =
      Tensor::empty({s.batch, int64_t(spec.heads), s.tokens, s.window}, Device::CUDA);  // (N, H, T, kh*kw)
  if (s.batch == 0) return out;
  gpu::
      na_forward_kernel<<<gpu::thread_blocks("neighborhood_attention", g), gpu::kThreads, 0, gpu::stream()>>>(
          qkv.data(), rpb.data(), g, out.data(), probs.data());
  DIP_CUDA_CHECK_LAUNCH();
  return out;
}

Tensor neighborhood_attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& grad_out,
                                       const NeighborhoodSpec& spec, Tensor& grad_rpb) {
  const NeighborhoodSizes s = check_neighborhood_attention_backward(qkv, probs, grad_out, spec);
  DIP_CHECK(s.batch <= INT_MAX, "neighborhood_attention_backward: batch ", s.batch, " too large");
  const gpu::NaGeometry g = gpu::make_geometry(s, spec);
  Tensor grad_qkv = Tensor::empty(qkv.shape(), Device::CUDA);                                 // (N, T, 3D)
  grad_rpb = Tensor::empty({int64_t(spec.heads), int64_t(g.R), int64_t(g.R)}, Device::CUDA);  // (H, R, R)
  if (s.batch == 0) {
    grad_rpb.fill_(0.f);
    return grad_qkv;
  }
  Tensor grad_scores = Tensor::empty(probs.shape(), Device::CUDA);  // dS: (N, H, T, kh*kw)
  const unsigned blocks = gpu::thread_blocks("neighborhood_attention_backward", g);
  gpu::na_backward_query_kernel<<<blocks, gpu::kThreads, 0, gpu::stream()>>>(
      qkv.data(), probs.data(), grad_out.data(), g, grad_scores.data(), grad_qkv.data());
  DIP_CUDA_CHECK_LAUNCH();
  gpu::na_backward_bias_kernel<<<static_cast<unsigned>(spec.heads * g.R * g.R), gpu::kReduceThreads, 0,
                                 gpu::stream()>>>(grad_scores.data(), g, grad_rpb.data());
  DIP_CUDA_CHECK_LAUNCH();
  gpu::na_backward_key_kernel<<<blocks, gpu::kThreads, 0, gpu::stream()>>>(
      qkv.data(), probs.data(), grad_out.data(), grad_scores.data(), g, grad_qkv.data());
  DIP_CUDA_CHECK_LAUNCH();
  return grad_qkv;
}

}  // namespace dip::gpu
