// CUDA kernels of tensor/layout.h.
//
// concat, narrow and narrow_backward copy `outer` runs of contiguous floats between two row strides
// (a tensor viewed as (outer, size(dim) * inner)), which is exactly a 2-D memcpy; the copy engine
// path of cudaMemcpy2DAsync handles it, on the framework's stream. permute is one gather kernel:
// each thread writes one output element (coalesced) and reads x through permuted strides.
#include <algorithm>
#include <climits>

#include "gpu/cuda_context.cuh"
#include "tensor/layout.h"

namespace dip::gpu {

namespace {

constexpr int kThreads = 256;

void check_cuda(const char* op, const Tensor& t) {
  DIP_CHECK(t.defined(), op, ": undefined tensor");
  DIP_CHECK(t.is_cuda(), op, " (cuda): ", describe(t), " is not on cuda");
}



// dst[r * dst_stride + i] = src[r * src_stride + i] for r < rows, i < len (strides in floats).
void copy_runs(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
               int64_t len) {
  if (rows == 0 || len == 0) return;
  const size_t bytes = static_cast<size_t>(len) * sizeof(float);
  if (rows == 1 || (src_stride == len && dst_stride == len)) {  // one contiguous block
    DIP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes * rows, cudaMemcpyDeviceToDevice, gpu::stream()));
    return;
  }
  DIP_CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_stride * sizeof(float), src, src_stride * sizeof(float), bytes,
                                   rows, cudaMemcpyDeviceToDevice, gpu::stream()));
}

// dst[r * stride + i] = 0 for r < rows, i < len.
void zero_runs(float* dst, int64_t stride, int64_t rows, int64_t len) {
  if (rows == 0 || len == 0) return;
  const size_t bytes = static_cast<size_t>(len) * sizeof(float);
  if (rows == 1 || stride == len) {
    DIP_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes * rows, gpu::stream()));
    return;
  }
  DIP_CUDA_CHECK(cudaMemset2DAsync(dst, stride * sizeof(float), 0, bytes, rows, gpu::stream()));
}

// Output element i of a 4-D permute: its coordinates in the output dims `od` select x's element at
// sum(coordinate[k] * sx[k]). Index is int when the tensor is small enough (cheaper division).
struct PermuteArgs {
  int64_t od[4];  // output dimensions (leading 1s for rank < 4)
  int64_t sx[4];  // stride of x along output dimension k
};

template <class Index>
__global__ void permute_kernel(const float* __restrict__ x, float* __restrict__ y, PermuteArgs a,
                               Index total) {
  const Index d1 = static_cast<Index>(a.od[1]), d2 = static_cast<Index>(a.od[2]),
              d3 = static_cast<Index>(a.od[3]);
  // The loop counter is 64-bit so that the last stride cannot overflow an int Index.
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    Index rest = static_cast<Index>(i);
    const Index i3 = rest % d3;
    rest /= d3;
    const Index i2 = rest % d2;
    rest /= d2;
    const Index i1 = rest % d1;
    const Index i0 = rest / d1;
    y[i] = x[i0 * a.sx[0] + i1 * a.sx[1] + i2 * a.sx[2] + i3 * a.sx[3]];
  }
}

}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  DIP_CHECK(!xs.empty(), "concat: no tensors");
  const Shape& first = xs[0].shape();
  const int d = layout_dim("concat", dim, first.rank());
  for (const Tensor& x : xs) check_cuda("concat", x);
  const Shape out = concat_shape(xs, d);
  Tensor y = Tensor::empty(out, Device::CUDA);
  const int64_t outer = outer_size(out, d), inner = inner_size(out, d);
  int64_t offset = 0;  // along dim d
  for (const Tensor& x : xs) {
    const int64_t run = x.size(d) * inner;
    copy_runs(x.data(), run, y.data() + offset * inner, out[d] * inner, outer, run);
    offset += x.size(d);
  }
  return y;
}

Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length) {
  check_cuda("narrow", x);
  const int d = layout_dim("narrow", dim, x.rank());
  const Shape out = narrow_shape(x.shape(), d, start, length);
  Tensor y = Tensor::empty(out, Device::CUDA);
  const int64_t outer = outer_size(out, d), inner = inner_size(out, d);
  copy_runs(x.data() + start * inner, x.size(d) * inner, y.data(), length * inner, outer, length * inner);
  return y;
}

Tensor narrow_backward(const Tensor& grad, const Shape& full_shape, int dim, int64_t start) {
  check_cuda("narrow_backward", grad);
  const int d = layout_dim("narrow_backward", dim, full_shape.rank());
  const Shape& g = grad.shape();
  check_narrow_backward(g, full_shape, d, start);
  Tensor x = Tensor::empty(full_shape, Device::CUDA);
  const int64_t outer = outer_size(g, d), inner = inner_size(g, d);
  const int64_t run = full_shape[d] * inner;  // one row of x: zeros, the gradient, zeros
  const int64_t before = start * inner, len = g[d] * inner, after = run - before - len;
  zero_runs(x.data(), run, outer, before);
  copy_runs(grad.data(), len, x.data() + before, run, outer, len);
  zero_runs(x.data() + before + len, run, outer, after);
  return x;
}

Tensor permute(const Tensor& x, const std::array<int, 4>& perm) {
  check_cuda("permute", x);
  const int r = x.rank();
  bool seen[4] = {false, false, false, false};
  Shape out;
  for (int i = 0; i < r; ++i) {
    DIP_CHECK(perm[i] >= 0 && perm[i] < r && !seen[perm[i]], "permute: the first ", r,
              " entries of perm must be a permutation of 0..", r - 1, " for ", x.shape().str());
    seen[perm[i]] = true;
    out.push_back(x.size(perm[i]));
  }
  Tensor y = Tensor::empty(out, Device::CUDA);
  const int64_t total = x.numel();
  if (total == 0) return y;
  bool identity = true;
  for (int i = 0; i < r; ++i) identity = identity && perm[i] == i;
  if (identity) {
    copy_runs(x.data(), total, y.data(), total, 1, total);
    return y;
  }

  // As 4-D: leading dimensions of size 1 keep their place. Output dim k walks x with stride sx[k].
  const int pad = 4 - r;
  int64_t xd[4] = {1, 1, 1, 1}, xstride[4];
  for (int k = 0; k < r; ++k) xd[pad + k] = x.size(k);
  xstride[3] = 1;
  for (int k = 2; k >= 0; --k) xstride[k] = xstride[k + 1] * xd[k + 1];
  PermuteArgs a;
  for (int k = 0; k < 4; ++k) {
    const int src = k < pad ? k : perm[k - pad] + pad;
    a.od[k] = xd[src];
    a.sx[k] = xstride[src];
  }
  const int blocks = gpu::blocks_for(total, kThreads);
  if (total <= INT_MAX)
    permute_kernel<int><<<blocks, kThreads, 0, gpu::stream()>>>(x.data(), y.data(), a, static_cast<int>(total));
  else
    permute_kernel<int64_t><<<blocks, kThreads, 0, gpu::stream()>>>(x.data(), y.data(), a, total);
  DIP_CUDA_CHECK_LAUNCH();
  return y;
}

}  // namespace dip::gpu
