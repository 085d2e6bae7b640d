// CUDA kernels of tensor/attention.h: FlashAttention-2 style, FP32 on the CUDA cores (the kernels do
// not use tensor cores, so gpu::Precision does not apply), for head sizes d <= 128.
//
// Tiling. A block of 256 threads works on tiles of kT queries x kT keys (kT = 64 for d <= 64, 32 for
// d = 128, so the shared memory stays under ~100 KB). The threads form a 16 x 16 grid (ty, tx):
//   - in a score tile, thread (ty, tx) owns rows ty + 16a and columns tx + 16b (a, b < kT / 16);
//   - in a (kT, d) output tile, it owns rows ty + 16a and head columns tx + 16c (c < kD / 16).
// So the 16 threads sharing a row are the 16 lanes of one half-warp: row maxima and sums are
// half-warp shuffles. Tiles are copied from the packed tensors into shared memory with the head
// size rounded up to kD in {16, 32, 64, 128} (zeros past d and past L, so they add nothing), rows
// padded to kD + 1 floats so that the 16 rows a half-warp reads in one step fall in 16 banks.
//
//   forward (one block per (b, h, query tile)), as the CPU's attention_forward:
//     Q_i in shared memory; for each key tile j: S = scale Q_i K_j^T; online softmax (row max m,
//     row sum l, earlier output rescaled by exp(m_old - m_new)); O += P V_j. Then O /= l and
//     lse = m + log(l).
//   backward, without atomics (every output element is written by exactly one thread, and every sum
//   runs in a fixed order: bitwise repeatable):
//     attention_drow_kernel:  Drow_i = dot(dO_i, O_i), one warp per row
//     attention_dkdv_kernel:  one block per (b, h, key tile j), looping over all query tiles i:
//                             P = exp(scale Q_i K_j^T - lse_i), dV_j += P^T dO_i,
//                             dS = P * (dO_i V_j^T - Drow_i), dK_j += scale dS^T Q_i
//     attention_dq_kernel:    one block per (b, h, query tile i), looping over all key tiles j:
//                             the same P and dS, dQ_i += scale dS K_j
#include <climits>

#include "gpu/caching_allocator.h"
#include "gpu/cuda_context.cuh"
#include "tensor/attention.h"

namespace dip::gpu {

namespace {

constexpr int kThreads = 256;  // a 16 x 16 grid of threads
constexpr int kSide = 16;

// Tile sizes for head sizes up to kD (a power of two, 16 .. 128).
template <int kD>
struct AttentionTile {
  static constexpr int kT = kD <= 64 ? 64 : 32;  // queries (and keys) per tile
  static constexpr int kM = kT / kSide;          // score rows (and columns) per thread
  static constexpr int kC = kD / kSide;          // head columns per thread
  static constexpr int kStride = kD + 1;         // row stride of a (kT, kD) tile in shared memory
  static constexpr int kScoreStride = kT + 1;    // row stride of a (kT, kT) score tile
  static constexpr int kTileFloats = kT * kStride;
  static constexpr int kScoreFloats = kT * kScoreStride;
  // Q, K, V and P.
  static constexpr size_t kForwardBytes = sizeof(float) * (3 * kTileFloats + kScoreFloats);
  // K, V, Q, dO, P^T, scale dS^T, lse and Drow of the query tile.
  static constexpr size_t kDkDvBytes = sizeof(float) * (4 * kTileFloats + 2 * kScoreFloats + 2 * kT);
  // Q, dO, K, V, scale dS, lse and Drow of the query tile.
  static constexpr size_t kDqBytes = sizeof(float) * (4 * kTileFloats + kScoreFloats + 2 * kT);
};

// Rows [row0, row0 + kT) of one head's (L, d) slice of a packed tensor (row stride ld, first
// element src) into a (kT, kD) shared tile; rows past L and columns past d become zeros.
template <int kD, int kT>
__device__ void load_tile(float* __restrict__ tile, const float* __restrict__ src, int64_t ld, int64_t row0,
                          int64_t rows, int d) {
  constexpr int kStride = kD + 1;
  for (int e = threadIdx.x; e < kT * kD; e += blockDim.x) {
    const int r = e / kD, c = e % kD;
    const int64_t row = row0 + r;
    tile[r * kStride + c] = row < rows && c < d ? src[row * ld + c] : 0.f;
  }
}

// Entries [row0, row0 + kT) of a per-row vector (lse or Drow of one (b, h)) into shared memory.
template <int kT>
__device__ void load_rows(float* __restrict__ dst, const float* __restrict__ src, int64_t row0, int64_t rows) {
  for (int e = threadIdx.x; e < kT; e += blockDim.x) dst[e] = row0 + e < rows ? src[row0 + e] : 0.f;
}

// acc[a][b] = sum_c A[ty + 16a][c] * B[tx + 16b][c]: a (kT, kT) block of A B^T from two (kT, kD)
// shared tiles. The sum runs over c in ascending order, so A B^T and B A^T agree bitwise.
template <int kD, int kM>
__device__ __forceinline__ void tile_dot(const float* __restrict__ A, const float* __restrict__ B, int ty, int tx,
                                         float (&acc)[kM][kM]) {
  constexpr int kStride = kD + 1;
#pragma unroll
  for (int a = 0; a < kM; ++a)
#pragma unroll
    for (int b = 0; b < kM; ++b) acc[a][b] = 0.f;
#pragma unroll 4
  for (int c = 0; c < kD; ++c) {
    float av[kM], bv[kM];
#pragma unroll
    for (int a = 0; a < kM; ++a) av[a] = A[(ty + kSide * a) * kStride + c];
#pragma unroll
    for (int b = 0; b < kM; ++b) bv[b] = B[(tx + kSide * b) * kStride + c];
#pragma unroll
    for (int a = 0; a < kM; ++a)
#pragma unroll
      for (int b = 0; b < kM; ++b) acc[a][b] = fmaf(av[a], bv[b], acc[a][b]);
  }
}

// acc[a][c] += sum_k S[ty + 16a][k] * X[k][tx + 16c]: a (kT, kT) score tile (row stride kT + 1)
// times a (kT, kD) tile, into the thread's part of a (kT, kD) output.
template <int kD, int kT, int kM, int kC>
__device__ __forceinline__ void tile_matmul_acc(const float* __restrict__ S, const float* __restrict__ X, int ty,
                                                int tx, float (&acc)[kM][kC]) {
  constexpr int kStride = kD + 1, kScoreStride = kT + 1;
#pragma unroll 4
  for (int k = 0; k < kT; ++k) {
    float sv[kM], xv[kC];
#pragma unroll
    for (int a = 0; a < kM; ++a) sv[a] = S[(ty + kSide * a) * kScoreStride + k];
#pragma unroll
    for (int c = 0; c < kC; ++c) xv[c] = X[k * kStride + tx + kSide * c];
#pragma unroll
    for (int a = 0; a < kM; ++a)
#pragma unroll
      for (int c = 0; c < kC; ++c) acc[a][c] = fmaf(sv[a], xv[c], acc[a][c]);
  }
}

// Max and sum over the 16 lanes (tx = 0..15) of a half-warp: the threads that share a score row.
// Every thread of the block calls these at the same point (no divergence), so the full mask holds.
__device__ __forceinline__ float row_max16(float v) {
#pragma unroll
  for (int offset = kSide / 2; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}
__device__ __forceinline__ float row_sum16(float v) {
#pragma unroll
  for (int offset = kSide / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Problem sizes every kernel gets.
struct Dims {
  int heads;
  int d;          // head size
  int64_t L, D;   // tokens, width
  int64_t tiles;  // ceil(L / kT): query tiles (forward, dQ) or key tiles (dK, dV) per (b, h)
  float scale;
};

// One block per (b, h, query tile i): out rows i0 .. i0 + kT of head h, and their lse.
template <int kD>
__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(const float* __restrict__ qkv, float* __restrict__ out, float* __restrict__ lse,
                             Dims dims) {
  using Tile = AttentionTile<kD>;
  constexpr int kT = Tile::kT, kM = Tile::kM, kC = Tile::kC, kScoreStride = Tile::kScoreStride;
  extern __shared__ float smem[];
  float* q_tile = smem;                          // (kT, kD) queries i0 ..
  float* k_tile = q_tile + Tile::kTileFloats;    // (kT, kD) keys j0 ..
  float* v_tile = k_tile + Tile::kTileFloats;    // (kT, kD)
  float* p_tile = v_tile + Tile::kTileFloats;    // (kT, kT) P = exp(S - m_new) of this key tile

  const int64_t L = dims.L, D = dims.D, ld_qkv = 3 * D;
  const int64_t pair = blockIdx.x / dims.tiles, i0 = (blockIdx.x % dims.tiles) * kT;
  const int64_t b = pair / dims.heads, h = pair % dims.heads;
  const float* q = qkv + b * L * ld_qkv + h * dims.d;  // (L, d) each, row stride 3D
  const float* k = q + D;
  const float* v = q + 2 * D;
  const int ty = threadIdx.x / kSide, tx = threadIdx.x % kSide;

  load_tile<kD, kT>(q_tile, q, ld_qkv, i0, L, dims.d);
  float o[kM][kC];  // O, unnormalised: rows ty + 16a, head columns tx + 16c
  float m[kM], l[kM];  // running row max and row sum of exp(S - m)
#pragma unroll
  for (int a = 0; a < kM; ++a) {
    m[a] = -INFINITY;
    l[a] = 0.f;
#pragma unroll
    for (int c = 0; c < kC; ++c) o[a][c] = 0.f;
  }

  for (int64_t j0 = 0; j0 < L; j0 += kT) {
    __syncthreads();  // the previous key tile's k/v/p tiles are no longer read
    load_tile<kD, kT>(k_tile, k, ld_qkv, j0, L, dims.d);
    load_tile<kD, kT>(v_tile, v, ld_qkv, j0, L, dims.d);
    __syncthreads();
    float s[kM][kM];  // S = scale Q_i K_j^T: rows ty + 16a, keys tx + 16b
    tile_dot<kD, kM>(q_tile, k_tile, ty, tx, s);
#pragma unroll
    for (int a = 0; a < kM; ++a) {
      // Online softmax. Key j0 is valid, so the new max is finite; keys past L get exp(-inf) = 0.
      float mx = m[a];
#pragma unroll
      for (int bb = 0; bb < kM; ++bb) {
        s[a][bb] = j0 + tx + kSide * bb < L ? s[a][bb] * dims.scale : -INFINITY;
        mx = fmaxf(mx, s[a][bb]);
      }
      mx = row_max16(mx);
      const float alpha = expf(m[a] - mx);  // 0 on the first key tile (m = -inf)
      float sum = 0.f;
#pragma unroll
      for (int bb = 0; bb < kM; ++bb) {
        const float p = expf(s[a][bb] - mx);
        sum += p;
        p_tile[(ty + kSide * a) * kScoreStride + tx + kSide * bb] = p;
      }
      l[a] = l[a] * alpha + row_sum16(sum);
      m[a] = mx;
#pragma unroll
      for (int c = 0; c < kC; ++c) o[a][c] *= alpha;
    }
    __syncthreads();  // p_tile complete
    tile_matmul_acc<kD, kT, kM, kC>(p_tile, v_tile, ty, tx, o);  // O += P V_j
  }

  // O /= l; lse = m + log(l).
#pragma unroll
  for (int a = 0; a < kM; ++a) {
    const int64_t row = i0 + ty + kSide * a;
    if (row >= L) continue;
    const float inv = 1.f / l[a];
    float* o_row = out + (b * L + row) * D + h * dims.d;
#pragma unroll
    for (int c = 0; c < kC; ++c) {
      const int col = tx + kSide * c;
      if (col < dims.d) o_row[col] = o[a][c] * inv;
    }
    if (tx == 0) lse[pair * L + row] = m[a] + logf(l[a]);
  }
}

// Drow[b, h, i] = dot(dO[b, i, h*d ..], O[b, i, h*d ..]): one warp per row of the (B*H*L) rows.
__global__ void attention_drow_kernel(const float* __restrict__ out, const float* __restrict__ grad_out,
                                      float* __restrict__ drow, Dims dims, int64_t rows) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;  // the whole warp leaves together
  const int64_t pair = row / dims.L, i = row % dims.L;
  const int64_t b = pair / dims.heads, h = pair % dims.heads;
  const int64_t base = (b * dims.L + i) * dims.D + h * dims.d;
  float acc = 0.f;
  for (int c = lane; c < dims.d; c += 32) acc = fmaf(grad_out[base + c], out[base + c], acc);
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, offset);
  if (lane == 0) drow[row] = acc;
}

// One block per (b, h, key tile j): dK and dV of keys j0 .. j0 + kT, summed over every query tile
// in order. Score tiles are transposed here (rows = keys, columns = queries), so that the thread
// owning key row ty + 16a of P^T and dS^T also owns that row of dK and dV.
template <int kD>
__global__ void __launch_bounds__(kThreads)
    attention_dkdv_kernel(const float* __restrict__ qkv, const float* __restrict__ grad_out,
                          const float* __restrict__ lse, const float* __restrict__ drow,
                          float* __restrict__ grad_qkv, Dims dims) {
  using Tile = AttentionTile<kD>;
  constexpr int kT = Tile::kT, kM = Tile::kM, kC = Tile::kC, kScoreStride = Tile::kScoreStride;
  extern __shared__ float smem[];
  float* k_tile = smem;                          // (kT, kD) keys j0 ..
  float* v_tile = k_tile + Tile::kTileFloats;    // (kT, kD)
  float* q_tile = v_tile + Tile::kTileFloats;    // (kT, kD) queries i0 ..
  float* do_tile = q_tile + Tile::kTileFloats;   // (kT, kD) dO of the queries
  float* pt_tile = do_tile + Tile::kTileFloats;  // (kT keys, kT queries) P^T
  float* dst_tile = pt_tile + Tile::kScoreFloats;  // (kT keys, kT queries) scale * dS^T
  float* lse_tile = dst_tile + Tile::kScoreFloats;  // (kT) lse of the queries
  float* drow_tile = lse_tile + kT;                 // (kT) Drow of the queries

  const int64_t L = dims.L, D = dims.D, ld_qkv = 3 * D;
  const int64_t pair = blockIdx.x / dims.tiles, j0 = (blockIdx.x % dims.tiles) * kT;
  const int64_t b = pair / dims.heads, h = pair % dims.heads;
  const float* q = qkv + b * L * ld_qkv + h * dims.d;        // (L, d) each, row stride 3D
  const float* k = q + D;
  const float* v = q + 2 * D;
  const float* go = grad_out + b * L * D + h * dims.d;       // (L, d), row stride D: dO
  const float* lse_rows = lse + pair * L;                    // (L)
  const float* drow_rows = drow + pair * L;                  // (L)
  const int ty = threadIdx.x / kSide, tx = threadIdx.x % kSide;

  load_tile<kD, kT>(k_tile, k, ld_qkv, j0, L, dims.d);
  load_tile<kD, kT>(v_tile, v, ld_qkv, j0, L, dims.d);
  float dk[kM][kC], dv[kM][kC];  // keys ty + 16a, head columns tx + 16c
#pragma unroll
  for (int a = 0; a < kM; ++a)
#pragma unroll
    for (int c = 0; c < kC; ++c) dk[a][c] = dv[a][c] = 0.f;

  for (int64_t i0 = 0; i0 < L; i0 += kT) {
    __syncthreads();  // the previous query tile's tiles are no longer read
    load_tile<kD, kT>(q_tile, q, ld_qkv, i0, L, dims.d);
    load_tile<kD, kT>(do_tile, go, D, i0, L, dims.d);
    load_rows<kT>(lse_tile, lse_rows, i0, L);
    load_rows<kT>(drow_tile, drow_rows, i0, L);
    __syncthreads();
    float st[kM][kM], dpt[kM][kM];  // keys ty + 16a, queries tx + 16b
    tile_dot<kD, kM>(k_tile, q_tile, ty, tx, st);   // S^T / scale = K_j Q_i^T
    tile_dot<kD, kM>(v_tile, do_tile, ty, tx, dpt);  // dP^T = V_j dO_i^T
#pragma unroll
    for (int a = 0; a < kM; ++a) {
      const bool key_valid = j0 + ty + kSide * a < L;
#pragma unroll
      for (int bb = 0; bb < kM; ++bb) {
        const int qi = tx + kSide * bb;
        const bool valid = key_valid && i0 + qi < L;
        const float p = valid ? expf(st[a][bb] * dims.scale - lse_tile[qi]) : 0.f;  // P
        pt_tile[(ty + kSide * a) * kScoreStride + qi] = p;
        dst_tile[(ty + kSide * a) * kScoreStride + qi] = dims.scale * p * (dpt[a][bb] - drow_tile[qi]);
      }
    }
    __syncthreads();  // pt_tile and dst_tile complete
    tile_matmul_acc<kD, kT, kM, kC>(pt_tile, do_tile, ty, tx, dv);  // dV_j += P^T dO_i
    tile_matmul_acc<kD, kT, kM, kC>(dst_tile, q_tile, ty, tx, dk);  // dK_j += scale dS^T Q_i
  }

#pragma unroll
  for (int a = 0; a < kM; ++a) {
    const int64_t key = j0 + ty + kSide * a;
    if (key >= L) continue;
    float* dk_row = grad_qkv + (b * L + key) * ld_qkv + D + h * dims.d;
    float* dv_row = dk_row + D;
#pragma unroll
    for (int c = 0; c < kC; ++c) {
      const int col = tx + kSide * c;
      if (col < dims.d) {
        dk_row[col] = dk[a][c];
        dv_row[col] = dv[a][c];
      }
    }
  }
}

// One block per (b, h, query tile i): dQ of queries i0 .. i0 + kT, summed over every key tile in order.
template <int kD>
__global__ void __launch_bounds__(kThreads)
    attention_dq_kernel(const float* __restrict__ qkv, const float* __restrict__ grad_out,
                        const float* __restrict__ lse, const float* __restrict__ drow,
                        float* __restrict__ grad_qkv, Dims dims) {
  using Tile = AttentionTile<kD>;
  constexpr int kT = Tile::kT, kM = Tile::kM, kC = Tile::kC, kScoreStride = Tile::kScoreStride;
  extern __shared__ float smem[];
  float* q_tile = smem;                          // (kT, kD) queries i0 ..
  float* do_tile = q_tile + Tile::kTileFloats;   // (kT, kD) dO of the queries
  float* k_tile = do_tile + Tile::kTileFloats;   // (kT, kD) keys j0 ..
  float* v_tile = k_tile + Tile::kTileFloats;    // (kT, kD)
  float* ds_tile = v_tile + Tile::kTileFloats;   // (kT queries, kT keys) scale * dS
  float* lse_tile = ds_tile + Tile::kScoreFloats;  // (kT) lse of the queries
  float* drow_tile = lse_tile + kT;                // (kT) Drow of the queries

  const int64_t L = dims.L, D = dims.D, ld_qkv = 3 * D;
  const int64_t pair = blockIdx.x / dims.tiles, i0 = (blockIdx.x % dims.tiles) * kT;
  const int64_t b = pair / dims.heads, h = pair % dims.heads;
  const float* q = qkv + b * L * ld_qkv + h * dims.d;        // (L, d) each, row stride 3D
  const float* k = q + D;
  const float* v = q + 2 * D;
  const float* go = grad_out + b * L * D + h * dims.d;       // (L, d), row stride D: dO
  const int ty = threadIdx.x / kSide, tx = threadIdx.x % kSide;

  load_tile<kD, kT>(q_tile, q, ld_qkv, i0, L, dims.d);
  load_tile<kD, kT>(do_tile, go, D, i0, L, dims.d);
  load_rows<kT>(lse_tile, lse + pair * L, i0, L);
  load_rows<kT>(drow_tile, drow + pair * L, i0, L);
  float dq[kM][kC];  // queries ty + 16a, head columns tx + 16c
#pragma unroll
  for (int a = 0; a < kM; ++a)
#pragma unroll
    for (int c = 0; c < kC; ++c) dq[a][c] = 0.f;

  for (int64_t j0 = 0; j0 < L; j0 += kT) {
    __syncthreads();  // the previous key tile's k/v/ds tiles are no longer read
    load_tile<kD, kT>(k_tile, k, ld_qkv, j0, L, dims.d);
    load_tile<kD, kT>(v_tile, v, ld_qkv, j0, L, dims.d);
    __syncthreads();
    float s[kM][kM], dp[kM][kM];  // queries ty + 16a, keys tx + 16b
    tile_dot<kD, kM>(q_tile, k_tile, ty, tx, s);    // S / scale = Q_i K_j^T
    tile_dot<kD, kM>(do_tile, v_tile, ty, tx, dp);  // dP = dO_i V_j^T
#pragma unroll
    for (int a = 0; a < kM; ++a) {
      const int qi = ty + kSide * a;
      const bool query_valid = i0 + qi < L;
#pragma unroll
      for (int bb = 0; bb < kM; ++bb) {
        const bool valid = query_valid && j0 + tx + kSide * bb < L;
        const float p = valid ? expf(s[a][bb] * dims.scale - lse_tile[qi]) : 0.f;  // P
        ds_tile[qi * kScoreStride + tx + kSide * bb] = dims.scale * p * (dp[a][bb] - drow_tile[qi]);
      }
    }
    __syncthreads();  // ds_tile complete
    tile_matmul_acc<kD, kT, kM, kC>(ds_tile, k_tile, ty, tx, dq);  // dQ_i += scale dS K_j
  }

#pragma unroll
  for (int a = 0; a < kM; ++a) {
    const int64_t row = i0 + ty + kSide * a;
    if (row >= L) continue;
    float* dq_row = grad_qkv + (b * L + row) * ld_qkv + h * dims.d;
#pragma unroll
    for (int c = 0; c < kC; ++c) {
      const int col = tx + kSide * c;
      if (col < dims.d) dq_row[col] = dq[a][c];
    }
  }
}

// Lets `kernel` use `bytes` of dynamic shared memory (above the default 48 KB), or says why not.
template <typename Kernel>
void allow_shared_memory(const char* op, Kernel kernel, size_t bytes) {
  int device = 0, optin = 0;
  DIP_CUDA_CHECK(cudaGetDevice(&device));
  DIP_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  DIP_CHECK(bytes <= size_t(optin), op, ": the CUDA kernel needs ", bytes, " bytes of shared memory per block but ",
            "this GPU allows ", optin, "; run attention on the CPU");
  DIP_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

// The head size rounded up to a compiled tile width, after checking it is supported.
int head_bucket(const char* op, const AttentionSizes& s, const AttentionSpec& spec) {
  DIP_CHECK(s.head_dim <= kAttentionCudaMaxHeadDim, op, ": the CUDA kernels support head sizes d = D / heads up to ",
            kAttentionCudaMaxHeadDim,
            ", got d = ", s.head_dim, " (D = ", s.dim, ", heads = ", spec.heads,
            "); use more heads, or run attention on the CPU");
  return s.head_dim <= 16 ? 16 : s.head_dim <= 32 ? 32 : s.head_dim <= 64 ? 64 : 128;
}

// One block per (b, h, tile): the block count must fit the grid.
template <int kD>
Dims dims_for(const char* op, const AttentionSizes& s, const AttentionSpec& spec) {
  constexpr int kT = AttentionTile<kD>::kT;
  Dims dims{spec.heads, static_cast<int>(s.head_dim), s.tokens, s.dim, (s.tokens + kT - 1) / kT, spec.scale};
  DIP_CHECK(s.batch * spec.heads * dims.tiles <= INT_MAX, op, ": ", s.batch * spec.heads * dims.tiles,
            " blocks exceed the CUDA grid; split the batch");
  return dims;
}

template <int kD>
void launch_forward(const AttentionSizes& s, const AttentionSpec& spec, const float* qkv, float* out, float* lse) {
  using Tile = AttentionTile<kD>;
  const Dims dims = dims_for<kD>("attention", s, spec);
  allow_shared_memory("attention", attention_forward_kernel<kD>, Tile::kForwardBytes);
  const unsigned blocks = static_cast<unsigned>(s.batch * spec.heads * dims.tiles);
  attention_forward_kernel<kD><<<blocks, kThreads, Tile::kForwardBytes, stream()>>>(qkv, out, lse, dims);
  DIP_CUDA_CHECK_LAUNCH();
}

template <int kD>
void launch_backward(const AttentionSizes& s, const AttentionSpec& spec, const float* qkv, const float* out,
                     const float* lse, const float* grad_out, float* grad_qkv) {
  using Tile = AttentionTile<kD>;
  const Dims dims = dims_for<kD>("attention_backward", s, spec);
  const int64_t rows = s.batch * spec.heads * s.tokens;
  DeviceBuffer drow(sizeof(float) * rows);  // (B, H, L): Drow, freed after the kernels are queued
  constexpr int kWarps = kThreads / 32;
  const int64_t drow_blocks = (rows + kWarps - 1) / kWarps;
  DIP_CHECK(drow_blocks <= INT_MAX, "attention_backward: ", rows, " rows exceed the CUDA grid; split the batch");
  attention_drow_kernel<<<static_cast<unsigned>(drow_blocks), kThreads, 0, stream()>>>(out, grad_out,
                                                                                       drow.as<float>(), dims, rows);
  DIP_CUDA_CHECK_LAUNCH();

  const unsigned blocks = static_cast<unsigned>(s.batch * spec.heads * dims.tiles);
  allow_shared_memory("attention_backward", attention_dkdv_kernel<kD>, Tile::kDkDvBytes);
  attention_dkdv_kernel<kD><<<blocks, kThreads, Tile::kDkDvBytes, stream()>>>(qkv, grad_out, lse,
                                                                               drow.as<float>(), grad_qkv, dims);
  DIP_CUDA_CHECK_LAUNCH();
  allow_shared_memory("attention_backward", attention_dq_kernel<kD>, Tile::kDqBytes);
  attention_dq_kernel<kD><<<blocks, kThreads, Tile::kDqBytes, stream()>>>(qkv, grad_out, lse, drow.as<float>(),
                                                                          grad_qkv, dims);
  DIP_CUDA_CHECK_LAUNCH();
}

}  // namespace

}  // namespace dip::gpu

namespace dip::gpu {

Tensor attention_forward(const Tensor& qkv, const AttentionSpec& spec, Tensor& lse) {
  const AttentionSizes s = check_attention_forward(qkv, spec);
  const int bucket = gpu::head_bucket("attention", s, spec);
  Tensor out = Tensor::empty({s.batch, s.tokens, s.dim}, Device::CUDA);  // (B, L, D)
  lse = Tensor::empty({s.batch, spec.heads, s.tokens}, Device::CUDA);      // (B, H, L)
  if (s.batch == 0 || s.tokens == 0) return out;
  const float* pqkv = qkv.data();
  switch (bucket) {
    case 16: gpu::launch_forward<16>(s, spec, pqkv, out.data(), lse.data()); break;
    case 32: gpu::launch_forward<32>(s, spec, pqkv, out.data(), lse.data()); break;
    case 64: gpu::launch_forward<64>(s, spec, pqkv, out.data(), lse.data()); break;
    default: gpu::launch_forward<128>(s, spec, pqkv, out.data(), lse.data()); break;
  }
  return out;
}

Tensor attention_backward(const Tensor& qkv, const Tensor& out, const Tensor& lse, const Tensor& grad_out,
                          const AttentionSpec& spec) {
  const AttentionSizes s = check_attention_backward(qkv, out, lse, grad_out, spec);
  const int bucket = gpu::head_bucket("attention_backward", s, spec);
  Tensor grad_qkv = Tensor::empty(qkv.shape(), Device::CUDA);  // (B, L, 3D)
  if (s.batch == 0 || s.tokens == 0) return grad_qkv;
  const float *pqkv = qkv.data(), *pout = out.data(), *plse = lse.data(), *pgo = grad_out.data();
  float* pg = grad_qkv.data();
  switch (bucket) {
    case 16: gpu::launch_backward<16>(s, spec, pqkv, pout, plse, pgo, pg); break;
    case 32: gpu::launch_backward<32>(s, spec, pqkv, pout, plse, pgo, pg); break;
    case 64: gpu::launch_backward<64>(s, spec, pqkv, pout, plse, pgo, pg); break;
    default: gpu::launch_backward<128>(s, spec, pqkv, pout, plse, pgo, pg); break;
  }
  return grad_qkv;
}

}  // namespace dip::gpu
