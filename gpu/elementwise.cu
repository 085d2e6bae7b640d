// CUDA kernels of tensor/elementwise.h.
//
// Same-shape binary ops and unary ops are flat pointwise launches (gpu/pointwise.cuh). Broadcast
// binary ops index both inputs through 4-D strides that are 0 on broadcast dimensions, exactly as
// tensor/cpu/strides.h does for the CPU. sum_to is the deterministic reduction of gpu/reduce.cuh.
#include <array>

#include "gpu/pointwise.cuh"
#include "gpu/reduce.cuh"
#include "tensor/cpu/strides.h"
#include "tensor/elementwise.h"

namespace dip::gpu {

namespace {

struct AddF {
  __device__ __forceinline__ float operator()(float u, float v) const { return u + v; }
};
struct SubF {
  __device__ __forceinline__ float operator()(float u, float v) const { return u - v; }
};
struct MulF {
  __device__ __forceinline__ float operator()(float u, float v) const { return u * v; }
};
struct DivF {
  __device__ __forceinline__ float operator()(float u, float v) const { return u / v; }
};
struct FirstF {  // broadcast_to: the broadcast input itself
  __device__ __forceinline__ float operator()(float u, float) const { return u; }
};
struct AxpyF {  // add_: dst + alpha * src
  float alpha;
  __device__ __forceinline__ float operator()(float d, float s) const { return d + alpha * s; }
};

struct NegF {
  __device__ __forceinline__ float operator()(float v) const { return -v; }
};
struct ExpF {
  __device__ __forceinline__ float operator()(float v) const { return expf(v); }
};
struct LogF {
  __device__ __forceinline__ float operator()(float v) const { return logf(v); }
};
struct SqrtF {
  __device__ __forceinline__ float operator()(float v) const { return sqrtf(v); }
};
struct AbsF {
  __device__ __forceinline__ float operator()(float v) const { return fabsf(v); }
};
struct PowF {
  float p;
  __device__ __forceinline__ float operator()(float v) const { return powf(v, p); }
};
struct AddScalarF {
  float s;
  __device__ __forceinline__ float operator()(float v) const { return v + s; }
};
struct MulScalarF {
  float s;
  __device__ __forceinline__ float operator()(float v) const { return v * s; }
};

// Output dimensions 1..3 (dimension 0 needs no modulus) and the element strides of a and b.
template <typename I>
struct Broadcast4 {
  I d1, d2, d3;
  I sa[4], sb[4];
};

template <typename I, typename F>
__global__ void binary_broadcast_kernel(const float* __restrict__ a, const float* __restrict__ b,
                                        float* __restrict__ y, I n, Broadcast4<I> p, F f) {
  const I stride = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n; i += stride) {
    I t = i;
    const I i3 = t % p.d3;
    t /= p.d3;
    const I i2 = t % p.d2;
    t /= p.d2;
    const I i1 = t % p.d1;
    const I i0 = t / p.d1;
    y[i] = f(a[i0 * p.sa[0] + i1 * p.sa[1] + i2 * p.sa[2] + i3 * p.sa[3]],
             b[i0 * p.sb[0] + i1 * p.sb[1] + i2 * p.sb[2] + i3 * p.sb[3]]);
  }
}

template <typename I, typename F>
void launch_broadcast(const Tensor& a, const Tensor& b, Tensor& out, F f) {
  const auto d = cpu::dims4(out.shape());
  const auto sa = cpu::broadcast_strides(a.shape(), out.shape());
  const auto sb = cpu::broadcast_strides(b.shape(), out.shape());
  Broadcast4<I> p;
  p.d1 = I(d[1]);
  p.d2 = I(d[2]);
  p.d3 = I(d[3]);
  for (int k = 0; k < 4; ++k) {
    p.sa[k] = I(sa[k]);
    p.sb[k] = I(sb[k]);
  }
  const int64_t n = out.numel();
  binary_broadcast_kernel<I><<<blocks_for(n), 256, 0, stream()>>>(a.data(), b.data(), out.data(), I(n), p, f);
  DIP_CUDA_CHECK_LAUNCH();
}

// out = f(a, b) broadcast to `shape`.
template <typename F>
Tensor broadcast_apply(const Tensor& a, const Tensor& b, const Shape& shape, F f) {
  Tensor out = Tensor::empty(shape, Device::CUDA);
  const int64_t n = out.numel();
  if (n == 0) return out;
  if (a.shape() == shape && b.shape() == shape) {
    launch_map2(a.data(), b.data(), out.data(), n, f);
  } else if (n < (int64_t(1) << 30)) {
    launch_broadcast<int>(a, b, out, f);  // 32-bit divisions are several times cheaper
  } else {
    launch_broadcast<int64_t>(a, b, out, f);
  }
  return out;
}

template <typename F>
Tensor map(const Tensor& x, F f) {
  Tensor out = Tensor::empty(x.shape(), Device::CUDA);
  launch_map1(x.data(), out.data(), x.numel(), f);
  return out;
}

}  // namespace

}  // namespace dip::gpu

namespace dip::gpu {

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const Shape shape = broadcast_shapes("binary op", a.shape(), b.shape());
  switch (op) {
    case BinaryOp::Add: return gpu::broadcast_apply(a, b, shape, gpu::AddF{});
    case BinaryOp::Sub: return gpu::broadcast_apply(a, b, shape, gpu::SubF{});
    case BinaryOp::Mul: return gpu::broadcast_apply(a, b, shape, gpu::MulF{});
    case BinaryOp::Div: return gpu::broadcast_apply(a, b, shape, gpu::DivF{});
  }
  throw Error("binary: unknown op");
}

Tensor unary(UnaryOp op, const Tensor& x, float arg) {
  switch (op) {
    case UnaryOp::Neg: return gpu::map(x, gpu::NegF{});
    case UnaryOp::Exp: return gpu::map(x, gpu::ExpF{});
    case UnaryOp::Log: return gpu::map(x, gpu::LogF{});
    case UnaryOp::Sqrt: return gpu::map(x, gpu::SqrtF{});
    case UnaryOp::Abs: return gpu::map(x, gpu::AbsF{});
    case UnaryOp::Pow: return gpu::map(x, gpu::PowF{arg});
    case UnaryOp::AddScalar: return gpu::map(x, gpu::AddScalarF{arg});
    case UnaryOp::MulScalar: return gpu::map(x, gpu::MulScalarF{arg});
  }
  throw Error("unary: unknown op");
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  DIP_CHECK(broadcast_shapes("sum_to", shape, x.shape()) == x.shape(), "sum_to: ", shape.str(),
            " does not broadcast to ", x.shape().str());
  const auto dx = cpu::dims4(x.shape()), ds = cpu::dims4(shape);
  std::array<bool, 4> reduced;
  for (int k = 0; k < 4; ++k) reduced[k] = ds[k] == 1 && dx[k] != 1;
  return gpu::reduce_sum(x, reduced, shape);
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  DIP_CHECK(broadcast_shapes("broadcast_to", x.shape(), shape) == shape, "broadcast_to: ",
            x.shape().str(), " does not broadcast to ", shape.str());
  return gpu::broadcast_apply(x, x, shape, gpu::FirstF{});
}

void add_(const Tensor& dst, const Tensor& src, float alpha) {
  DIP_CHECK(dst.numel() == src.numel(), "add_: ", describe(dst), " += ", describe(src));
  gpu::launch_map2(dst.data(), src.data(), dst.data(), dst.numel(), gpu::AxpyF{alpha});
}

}  // namespace dip::gpu
