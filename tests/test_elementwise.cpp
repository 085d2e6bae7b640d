// Elementwise ops: values, broadcasting, and gradient checks.
#include <doctest/doctest.h>

#include "autograd/functions.h"
#include "tensor/elementwise.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_gradients;
using dip::test::random_tensor;

TEST_CASE("elementwise: broadcasting values") {
  Tensor a = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from_vector({3}, {10, 20, 30});
  CHECK(add(a, b).to_vector() == std::vector<float>{11, 22, 33, 14, 25, 36});
  Tensor c = Tensor::from_vector({2, 1}, {2, 3});
  CHECK(mul(a, c).to_vector() == std::vector<float>{2, 4, 6, 12, 15, 18});
  CHECK(sum_to(a, {3}).to_vector() == std::vector<float>{5, 7, 9});
  CHECK(sum_to(a, {2, 1}).to_vector() == std::vector<float>{6, 15});
  CHECK_THROWS_AS(add(a, Tensor::zeros({4})), Error);
}

TEST_CASE("elementwise: gradient checks") {
  // Shapes: same, per-channel (C,1,1) against NCHW, scalar, and odd sizes.
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 5}, {3, 5}}, {{2, 3, 5, 7}, {3, 1, 1}}, {{2, 3, 4, 5}, {1}}, {{4, 1, 3}, {5, 1}}};
  int seed = 1;
  for (auto [sa, sb] : shapes) {
    Tensor a = random_tensor(sa, seed++), b = random_tensor(sb, seed++, 0.5f, 2.f);
    check_gradients("add", [](auto& v) { return add(v[0], v[1]); }, {a, b});
    check_gradients("sub", [](auto& v) { return sub(v[0], v[1]); }, {a, b});
    check_gradients("mul", [](auto& v) { return mul(v[0], v[1]); }, {a, b});
    check_gradients("div", [](auto& v) { return div(v[0], v[1]); }, {a, b});
  }
  Tensor x = random_tensor({2, 3, 5, 7}, 7);
  Tensor pos = random_tensor({3, 7, 5}, 8, 0.5f, 2.f);  // log, sqrt, pow need x > 0
  check_gradients("neg", [](auto& v) { return neg(v[0]); }, {x});
  check_gradients("add_scalar", [](auto& v) { return add_scalar(v[0], 0.5f); }, {x});
  check_gradients("mul_scalar", [](auto& v) { return mul_scalar(v[0], -3.f); }, {x});
  check_gradients("exp", [](auto& v) { return exp(v[0]); }, {x});
  check_gradients("log", [](auto& v) { return log(v[0]); }, {pos});
  check_gradients("sqrt", [](auto& v) { return sqrt(v[0]); }, {pos});
  check_gradients("pow", [](auto& v) { return pow_scalar(v[0], 2.5f); }, {pos});
  check_gradients("abs", [](auto& v) { return abs(v[0]); }, {pos});
}
