// CPU kernels of tensor/elementwise.h.
#include "tensor/elementwise.h"

#include <cmath>

#include "tensor/cpu/strides.h"

namespace dip::cpu {

namespace {

template <typename F>
Tensor binary_broadcast(const Tensor& a, const Tensor& b, F f) {
  Shape shape = broadcast_shapes("binary op", a.shape(), b.shape());
  Tensor out = Tensor::empty(shape, Device::CPU);
  const float* pa = a.data();
  const float* pb = b.data();
  float* po = out.data();
  const int64_t n = out.numel();
  if (a.shape() == shape && b.shape() == shape) {  // the common case: same shapes
#pragma omp parallel for simd if (n > 32768)
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    return out;
  }
  auto d = dims4(shape);
  auto sa = broadcast_strides(a.shape(), shape), sb = broadcast_strides(b.shape(), shape);
#pragma omp parallel for collapse(2) if (n > 32768)
  for (int64_t i0 = 0; i0 < d[0]; ++i0)
    for (int64_t i1 = 0; i1 < d[1]; ++i1)
      for (int64_t i2 = 0; i2 < d[2]; ++i2) {
        const float* ra = pa + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
        const float* rb = pb + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
        float* ro = po + ((i0 * d[1] + i1) * d[2] + i2) * d[3];
        for (int64_t i3 = 0; i3 < d[3]; ++i3) ro[i3] = f(ra[i3 * sa[3]], rb[i3 * sb[3]]);
      }
  return out;
}

template <typename F>
Tensor map(const Tensor& x, F f) {
  Tensor out = Tensor::empty(x.shape(), Device::CPU);
  const float* px = x.data();
  float* po = out.data();
  const int64_t n = x.numel();
#pragma omp parallel for simd if (n > 32768)
  for (int64_t i = 0; i < n; ++i) po[i] = f(px[i]);
  return out;
}

}  // namespace

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  switch (op) {
    case BinaryOp::Add: return binary_broadcast(a, b, [](float u, float v) { return u + v; });
    case BinaryOp::Sub: return binary_broadcast(a, b, [](float u, float v) { return u - v; });
    case BinaryOp::Mul: return binary_broadcast(a, b, [](float u, float v) { return u * v; });
    case BinaryOp::Div: return binary_broadcast(a, b, [](float u, float v) { return u / v; });
  }
  throw Error("binary: unknown op");
}

Tensor unary(UnaryOp op, const Tensor& x, float arg) {
  switch (op) {
    case UnaryOp::Neg: return map(x, [](float v) { return -v; });
    case UnaryOp::Exp: return map(x, [](float v) { return std::exp(v); });
    case UnaryOp::Log: return map(x, [](float v) { return std::log(v); });
    case UnaryOp::Sqrt: return map(x, [](float v) { return std::sqrt(v); });
    case UnaryOp::Abs: return map(x, [](float v) { return std::fabs(v); });
    case UnaryOp::Pow: return map(x, [arg](float v) { return std::pow(v, arg); });
    case UnaryOp::AddScalar: return map(x, [arg](float v) { return v + arg; });
    case UnaryOp::MulScalar: return map(x, [arg](float v) { return v * arg; });
  }
  throw Error("unary: unknown op");
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  DIP_CHECK(broadcast_shapes("sum_to", shape, x.shape()) == x.shape(), "sum_to: ", shape.str(),
            " does not broadcast to ", x.shape().str());
  Tensor out = Tensor::zeros(shape, Device::CPU);
  auto d = dims4(x.shape());
  auto so = broadcast_strides(shape, x.shape());
  const float* px = x.data();
  float* po = out.data();
  // Threads split dimension 1 (the channel of NCHW) only when the output keeps it: then no two
  // threads ever add into the same output element.
#pragma omp parallel for if (x.numel() > 65536 && so[1] != 0)
  for (int64_t i1 = 0; i1 < d[1]; ++i1)
    for (int64_t i0 = 0; i0 < d[0]; ++i0)
      for (int64_t i2 = 0; i2 < d[2]; ++i2) {
        const float* rx = px + ((i0 * d[1] + i1) * d[2] + i2) * d[3];
        float* ro = po + i0 * so[0] + i1 * so[1] + i2 * so[2];
        if (so[3] == 0) {
          double s = 0;
          for (int64_t i3 = 0; i3 < d[3]; ++i3) s += rx[i3];
          ro[0] += static_cast<float>(s);
        } else {
          for (int64_t i3 = 0; i3 < d[3]; ++i3) ro[i3] += rx[i3];
        }
      }
  return out;
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  Tensor zero = Tensor::zeros(shape, Device::CPU);
  return cpu::binary(BinaryOp::Add, zero, x);  // qualified: ADL would also find dip::binary
}

void add_(const Tensor& dst, const Tensor& src, float alpha) {
  DIP_CHECK(dst.numel() == src.numel(), "add_: ", describe(dst), " += ", describe(src));
  float* pd = dst.data();
  const float* ps = src.data();
  const int64_t n = dst.numel();
#pragma omp parallel for simd if (n > 32768)
  for (int64_t i = 0; i < n; ++i) pd[i] += alpha * ps[i];
}

}  // namespace dip::cpu
