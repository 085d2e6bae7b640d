// Elementwise ops: binary ops with NumPy broadcasting, unary math, scalar ops, in-place accumulate.
//
// Broadcasting aligns trailing dimensions; a dimension of size 1 (or a missing leading one) is
// repeated. The layers need per-channel (C,1,1) against (N,C,H,W), (D) against (B,T,D), and scalars.
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

enum class BinaryOp { Add, Sub, Mul, Div };
enum class UnaryOp { Neg, Exp, Log, Sqrt, Abs, Pow, AddScalar, MulScalar };

// The shape a and b broadcast to, or an error naming `op`.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// The kernels, the same in each backend: the CPU ones (tensor/cpu/elementwise.cpp) ...
namespace cpu {
// out = a (op) b, broadcast.
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
// out = f(x); `arg` is the exponent of Pow and the scalar of Add/MulScalar.
Tensor unary(UnaryOp op, const Tensor& x, float arg);
// Adjoint of broadcasting: sums x over the dimensions that broadcast `shape` up to x's.
Tensor sum_to(const Tensor& x, const Shape& shape);
// x repeated along broadcast dimensions up to `shape`.
Tensor broadcast_to(const Tensor& x, const Shape& shape);
// dst += alpha * src, same shape (gradient accumulation, optimizers).
void add_(const Tensor& dst, const Tensor& src, float alpha);
}  // namespace cpu
// ... and the CUDA ones (gpu/elementwise.cu, namespace dip::gpu like the folder), with the same contracts.
namespace gpu {
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor unary(UnaryOp op, const Tensor& x, float arg);
Tensor sum_to(const Tensor& x, const Shape& shape);
Tensor broadcast_to(const Tensor& x, const Shape& shape);
void add_(const Tensor& dst, const Tensor& src, float alpha);
}  // namespace gpu

inline Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  check_same_device("binary op", {&a, &b});
  return DIP_DISPATCH(a.device(), binary, op, a, b);
}
inline Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
inline Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }

inline Tensor unary(UnaryOp op, const Tensor& x, float arg = 0.f) {
  return DIP_DISPATCH(x.device(), unary, op, x, arg);
}
inline Tensor neg(const Tensor& x) { return unary(UnaryOp::Neg, x); }
inline Tensor exp(const Tensor& x) { return unary(UnaryOp::Exp, x); }
inline Tensor log(const Tensor& x) { return unary(UnaryOp::Log, x); }
inline Tensor sqrt(const Tensor& x) { return unary(UnaryOp::Sqrt, x); }
inline Tensor abs(const Tensor& x) { return unary(UnaryOp::Abs, x); }
inline Tensor pow_scalar(const Tensor& x, float p) { return unary(UnaryOp::Pow, x, p); }
inline Tensor add_scalar(const Tensor& x, float s) { return unary(UnaryOp::AddScalar, x, s); }
inline Tensor mul_scalar(const Tensor& x, float s) { return unary(UnaryOp::MulScalar, x, s); }

inline Tensor sum_to(const Tensor& x, const Shape& shape) {
  return DIP_DISPATCH(x.device(), sum_to, x, shape);
}
inline Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  return DIP_DISPATCH(x.device(), broadcast_to, x, shape);
}
inline void add_(const Tensor& dst, const Tensor& src, float alpha = 1.f) {
  check_same_device("add_", {&dst, &src});
  DIP_DISPATCH(dst.device(), add_, dst, src, alpha);
}

}  // namespace dip
