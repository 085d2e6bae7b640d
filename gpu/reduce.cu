// CUDA kernels of tensor/reduce.h, and the deterministic reductions of gpu/reduce.cuh.
//
// reduce_sum views x as 4-D, drops its size-1 dimensions and merges neighbours of the same kind,
// leaving at most two kept and two reduced segments (they alternate). Output element o and
// reduction index j then map to an offset with one division each (Decode2). Two strategies:
//   rows    (the innermost segment is reduced, e.g. sum over W, or (C,1,1) from (N,C,H,W)):
//           a block per output (and per chunk of it), threads stride through contiguous memory;
//   columns (the innermost segment is kept, e.g. (D) from (B,T,D)): a thread per output (and per
//           chunk), neighbouring threads read neighbouring columns, each walks its chunk in order.
// When there are too few outputs to fill the GPU, each output is split into `parts` chunks whose
// double partial sums (parts, m) are added in order by a second kernel.
#include "tensor/reduce.h"

#include <climits>
#include <optional>
#include <vector>

#include "gpu/reduce.cuh"
#include "tensor/cpu/strides.h"

namespace dip::gpu {

namespace {

constexpr int kPartialSumsMaxBlocks = 1024;
constexpr int64_t kRowsTargetBlocks = 1024;     // rows: blocks wanted in flight
constexpr int64_t kColumnsTargetThreads = 65536;  // columns: threads wanted in flight

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

__global__ void finish_partial_sums_kernel(const double* __restrict__ partial, int count, double scale,
                                           float* __restrict__ out) {
  double acc = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  acc = block_reduce(acc, SumOp{}, 0.0);
  if (threadIdx.x == 0) out[0] = static_cast<float>(acc * scale);
}

// A run of merged dimensions of x: `size` indices, `stride` elements apart.
struct Segment {
  int64_t size, stride;
  bool reduced;
};

// Index -> element offset over up to two segments (outer, inner), row-major.
template <typename I>
struct Decode2 {
  I inner_size, inner_stride, outer_stride;
  __device__ __forceinline__ I operator()(I idx) const {
    const I q = idx / inner_size;
    return q * outer_stride + (idx - q * inner_size) * inner_stride;
  }
};

template <typename I>
Decode2<I> make_decode(const std::vector<Segment>& segs) {
  if (segs.empty()) return {I(1), I(0), I(0)};
  if (segs.size() == 1) return {I(segs[0].size), I(segs[0].stride), I(0)};
  return {I(segs[1].size), I(segs[1].stride), I(segs[0].stride)};
}

// Rows: grid (m, parts); block (o, s) sums reduction indices [s * chunk, (s + 1) * chunk) of output o.
template <typename I>
__global__ void reduce_rows_kernel(const float* __restrict__ x, Decode2<I> keep, Decode2<I> red, I m,
                                   I r, I chunk, float* __restrict__ out, double* __restrict__ partial) {
  const I o = I(blockIdx.x), s = I(blockIdx.y);
  const float* base = x + keep(o);
  const I begin = s * chunk;
  const I end = begin + chunk < r ? begin + chunk : r;
  double acc = 0;
  for (I j = begin + I(threadIdx.x); j < end; j += I(blockDim.x)) acc += base[red(j)];
  acc = block_reduce(acc, SumOp{}, 0.0);
  if (threadIdx.x == 0) {
    if (partial)
      partial[s * m + o] = acc;  // (parts, m)
    else
      out[o] = static_cast<float>(acc);
  }
}

// Columns: thread t = s * m + o sums reduction indices [s * chunk, (s + 1) * chunk) of output o,
// stepping through them with an odometer instead of a division per element.
template <typename I>
__global__ void reduce_columns_kernel(const float* __restrict__ x, Decode2<I> keep, Decode2<I> red,
                                      I m, I r, I chunk, I parts, float* __restrict__ out,
                                      double* __restrict__ partial) {
  const I t = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x);
  if (t >= m * parts) return;
  const I o = t % m, s = t / m;
  const I begin = s * chunk;
  const I end = begin + chunk < r ? begin + chunk : r;
  I q = begin / red.inner_size, l = begin - q * red.inner_size;
  I off = keep(o) + q * red.outer_stride + l * red.inner_stride;
  const I wrap = red.outer_stride - red.inner_size * red.inner_stride;  // inner row done: next outer
  double acc = 0;
  for (I j = begin; j < end; ++j) {
    acc += x[off];
    off += red.inner_stride;
    if (++l == red.inner_size) {
      l = 0;
      off += wrap;
    }
  }
  if (partial)
    partial[s * m + o] = acc;  // (parts, m)
  else
    out[o] = static_cast<float>(acc);
}

// out[o] = sum over s of partial[s * m + o], in order of s.
__global__ void finish_columns_kernel(const double* __restrict__ partial, int64_t m, int64_t parts,
                                      float* __restrict__ out) {
  const int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= m) return;
  double acc = 0;
  for (int64_t s = 0; s < parts; ++s) acc += partial[s * m + o];
  out[o] = static_cast<float>(acc);
}

template <typename I>
void launch_reduce_sum(const float* x, const std::vector<Segment>& keep, const std::vector<Segment>& red,
                       bool inner_reduced, int64_t m, int64_t r, float* out) {
  const Decode2<I> kd = make_decode<I>(keep), rd = make_decode<I>(red);
  std::optional<DeviceBuffer> partial;
  int64_t parts = 1;
  if (inner_reduced) {
    const int threads = r >= kReduceThreads ? kReduceThreads : static_cast<int>(ceil_div(r, 32) * 32);
    if (m < kRowsTargetBlocks) parts = std::min(ceil_div(kRowsTargetBlocks, m), ceil_div(r, threads * 8));
    const int64_t chunk = ceil_div(r, std::max<int64_t>(parts, 1));
    parts = ceil_div(r, chunk);
    DIP_CHECK(m <= INT_MAX && parts <= 65535, "reduce_sum: ", m, " outputs x ", parts, " parts exceed the grid");
    if (parts > 1) partial.emplace(sizeof(double) * m * parts);
    const dim3 grid(static_cast<unsigned>(m), static_cast<unsigned>(parts));
    reduce_rows_kernel<I><<<grid, threads, 0, stream()>>>(x, kd, rd, I(m), I(r), I(chunk), out,
                                                          parts > 1 ? partial->as<double>() : nullptr);
    DIP_CUDA_CHECK_LAUNCH();
  } else {
    if (m < kColumnsTargetThreads) parts = std::min(ceil_div(kColumnsTargetThreads, m), ceil_div(r, 32));
    const int64_t chunk = ceil_div(r, std::max<int64_t>(parts, 1));
    parts = ceil_div(r, chunk);
    const int64_t blocks = ceil_div(m * parts, kReduceThreads);
    DIP_CHECK(blocks <= INT_MAX, "reduce_sum: ", m, " outputs exceed the grid");
    if (parts > 1) partial.emplace(sizeof(double) * m * parts);
    reduce_columns_kernel<I><<<static_cast<unsigned>(blocks), kReduceThreads, 0, stream()>>>(
        x, kd, rd, I(m), I(r), I(chunk), I(parts), out, parts > 1 ? partial->as<double>() : nullptr);
    DIP_CUDA_CHECK_LAUNCH();
  }
  if (parts > 1) finish_column_sums(partial->as<double>(), m, parts, out);
}

struct LoadFloat {
  const float* x;
  __device__ __forceinline__ float operator()(int64_t i) const { return x[i]; }
};

}  // namespace

int partial_sum_blocks(int64_t n) {
  const int64_t per_block = int64_t(kReduceThreads) * 8;  // at least 8 values per thread
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(kPartialSumsMaxBlocks, ceil_div(n, per_block))));
}

void finish_partial_sums(const double* partial, int count, double scale, float* out) {
  finish_partial_sums_kernel<<<1, kReduceThreads, 0, stream()>>>(partial, count, scale, out);
  DIP_CUDA_CHECK_LAUNCH();
}

void finish_column_sums(const double* partial, int64_t m, int64_t parts, float* out) {
  if (m == 0) return;
  finish_columns_kernel<<<static_cast<unsigned>(ceil_div(m, kReduceThreads)), kReduceThreads, 0, stream()>>>(
      partial, m, parts, out);
  DIP_CUDA_CHECK_LAUNCH();
}

Tensor reduce_sum(const Tensor& x, const std::array<bool, 4>& reduced, const Shape& out_shape) {
  DIP_CHECK(x.is_cuda(), "reduce_sum: ", describe(x), " is not on the GPU");
  const std::array<int64_t, 4> d = cpu::dims4(x.shape());
  std::vector<Segment> segs;  // outer to inner, size-1 dimensions dropped, neighbours merged
  int64_t stride = x.numel();
  for (int k = 0; k < 4; ++k) {
    stride = d[k] ? stride / d[k] : 0;  // contiguous stride of dimension k
    if (d[k] == 1) continue;
    if (!segs.empty() && segs.back().reduced == reduced[k]) {
      segs.back().size *= d[k];
      segs.back().stride = stride;
    } else {
      segs.push_back({d[k], stride, reduced[k]});
    }
  }
  std::vector<Segment> keep, red;
  int64_t m = 1, r = 1;
  for (const Segment& s : segs) {
    (s.reduced ? red : keep).push_back(s);
    (s.reduced ? r : m) *= s.size;
  }
  DIP_CHECK(m == out_shape.numel(), "reduce_sum: ", describe(x), " keeps ", m, " elements, not ",
            out_shape.str());
  Tensor out = Tensor::empty(out_shape, Device::CUDA);
  if (m == 0) return out;
  if (r == 0) {  // an empty dimension sums to zeros
    out.fill_(0.f);
    return out;
  }
  if (red.empty()) {  // nothing to sum (only size-1 dimensions were flagged)
    out.copy_(x);
    return out;
  }
  const bool inner_reduced = segs.back().reduced;
  // 32-bit index arithmetic whenever offsets (plus one stride of overshoot) fit.
  if (x.numel() < (int64_t(1) << 30))
    launch_reduce_sum<int>(x.data(), keep, red, inner_reduced, m, r, out.data());
  else
    launch_reduce_sum<int64_t>(x.data(), keep, red, inner_reduced, m, r, out.data());
  return out;
}

}  // namespace dip::gpu

namespace dip::gpu {

Tensor sum_all(const Tensor& x) {
  Tensor out = Tensor::empty({1}, Device::CUDA);
  gpu::sum_all_into(gpu::LoadFloat{x.data()}, x.numel(), 1.0, out.data());
  return out;
}

Tensor sum_dim(const Tensor& x, int dim, bool keepdim) {
  const Shape& s = x.shape();
  int d = 0;
  const Shape out_shape = sum_dim_shape(x, dim, keepdim, d);
  std::array<bool, 4> reduced{false, false, false, false};
  reduced[4 - s.rank() + d] = true;
  return gpu::reduce_sum(x, reduced, out_shape);
}

}  // namespace dip::gpu
