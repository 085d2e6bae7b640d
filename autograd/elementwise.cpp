// Elementwise ops on Variables. A broadcast input's gradient is summed back to its own shape.
#include "autograd/functions.h"
#include "tensor/elementwise.h"

namespace dip {

Variable add(const Variable& a, const Variable& b) {
  Shape sa = a.shape(), sb = b.shape();
  return make_result("add", add(a.data(), b.data()), {a, b},
                     [sa, sb](const Tensor& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
                       return {needs[0] ? sum_to(g, sa) : Tensor(), needs[1] ? sum_to(g, sb) : Tensor()};
                     });
}

Variable sub(const Variable& a, const Variable& b) {
  Shape sa = a.shape(), sb = b.shape();
  return make_result("sub", sub(a.data(), b.data()), {a, b},
                     [sa, sb](const Tensor& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
                       return {needs[0] ? sum_to(g, sa) : Tensor(),
                               needs[1] ? sum_to(neg(g), sb) : Tensor()};
                     });
}

Variable mul(const Variable& a, const Variable& b) {
  Tensor ta = a.data(), tb = b.data();
  return make_result("mul", mul(ta, tb), {a, b},
                     [ta, tb](const Tensor& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
                       return {needs[0] ? sum_to(mul(g, tb), ta.shape()) : Tensor(),
                               needs[1] ? sum_to(mul(g, ta), tb.shape()) : Tensor()};
                     });
}

Variable div(const Variable& a, const Variable& b) {
  Tensor ta = a.data(), tb = b.data();
  return make_result("div", div(ta, tb), {a, b},
                     [ta, tb](const Tensor& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
                       Tensor ga, gb;
                       if (needs[0]) ga = sum_to(div(g, tb), ta.shape());
                       // d(a/b)/db = -a / b^2
                       if (needs[1]) gb = sum_to(neg(div(mul(g, ta), mul(tb, tb))), tb.shape());
                       return {ga, gb};
                     });
}

Variable add_scalar(const Variable& x, float s) {
  return make_result("add_scalar", add_scalar(x.data(), s), {x},
                     [](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> { return {g}; });
}

Variable mul_scalar(const Variable& x, float s) {
  return make_result("mul_scalar", mul_scalar(x.data(), s), {x},
                     [s](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {mul_scalar(g, s)};
                     });
}

Variable neg(const Variable& x) { return mul_scalar(x, -1.f); }

Variable exp(const Variable& x) {
  Tensor y = exp(x.data());
  return make_result("exp", y, {x}, [y](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
    return {mul(g, y)};
  });
}

Variable log(const Variable& x) {
  Tensor tx = x.data();
  return make_result("log", log(tx), {x}, [tx](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
    return {div(g, tx)};
  });
}

Variable sqrt(const Variable& x) {
  Tensor y = sqrt(x.data());
  return make_result("sqrt", y, {x}, [y](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
    return {div(mul_scalar(g, 0.5f), y)};  // d sqrt(x) = 1 / (2 sqrt(x))
  });
}

Variable abs(const Variable& x) {
  Tensor tx = x.data();
  return make_result("abs", abs(tx), {x}, [tx](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
    return {mul(g, div(tx, abs(tx)))};  // sign(x); the kink at 0 is not differentiable
  });
}

Variable pow_scalar(const Variable& x, float p) {
  Tensor tx = x.data();
  return make_result("pow", pow_scalar(tx, p), {x},
                     [tx, p](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {mul(g, mul_scalar(pow_scalar(tx, p - 1.f), p))};
                     });
}

}  // namespace dip
