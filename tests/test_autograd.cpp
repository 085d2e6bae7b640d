// Regression tests for the autograd engine (autograd/engine.cpp, autograd/variable.cpp): graph
// shapes that broke micrograd-style engines, accumulation across backward calls, gradient mode,
// depth, and that the graph and intermediate gradients are released after backward.
#include <doctest/doctest.h>

#include <memory>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "tensor/elementwise.h"
#include "tests/gradcheck.h"

using namespace dip;

namespace {

Variable leaf(std::vector<float> values) {
  return Variable(Tensor::from_vector({static_cast<int64_t>(values.size())}, values), true);
}

Tensor ones_like(const Variable& v) { return Tensor::full(v.shape(), 1.f); }

}  // namespace

TEST_CASE("autograd: a non-leaf used twice") {
  Variable w = leaf({1, 2, -3});
  Variable x = mul_scalar(w, 3.f);  // computed, then used as both inputs of one op
  Variable y = mul(x, x);           // y = 9 w^2, dy/dw = 18 w
  y.backward(ones_like(y));
  CHECK(w.grad().to_vector() == std::vector<float>{18, 36, -54});
}

TEST_CASE("autograd: b = a + a; c = b + b") {
  Variable a = leaf({2});
  Variable b = add(a, a);
  Variable c = add(b, b);
  c.backward();
  CHECK(a.grad().item() == 4.f);

  // The same with a computed `a` whose only owner is the graph.
  Variable w = leaf({2});
  Variable b2 = add(mul_scalar(w, 1.f), mul_scalar(w, 1.f));
  Variable c2 = add(b2, b2);
  c2.backward();
  CHECK(w.grad().item() == 4.f);
}

TEST_CASE("autograd: diamond graph") {
  Variable x = leaf({0.5f, -2.f});
  Variable a = add_scalar(x, 1.f);  // x + 1
  Variable b = mul_scalar(x, 3.f);  // 3x
  Variable c = mul(a, b);           // 3x^2 + 3x, dc/dx = 6x + 3
  c.backward(ones_like(c));
  CHECK(x.grad().to_vector() == std::vector<float>{6.f, -9.f});
}

TEST_CASE("autograd: backward on fresh graphs accumulates; zero_grad clears") {
  Variable x = leaf({1.5f});
  auto step = [&] { mul(x, x).backward(); };  // d(x^2)/dx = 3
  step();
  CHECK(x.grad().item() == 3.f);
  step();
  CHECK(x.grad().item() == 6.f);
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  step();
  CHECK(x.grad().item() == 3.f);
}

TEST_CASE("autograd: NoGradGuard records nothing and restores the mode") {
  Variable x = leaf({1, 2});
  {
    NoGradGuard outer;
    CHECK_FALSE(grad_enabled());
    {
      NoGradGuard inner;
    }
    CHECK_FALSE(grad_enabled());  // the inner guard restores "disabled", not "enabled"
    Variable y = mul(x, x);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
    CHECK(y.impl()->grad_fn == nullptr);
    CHECK_THROWS_AS(y.backward(ones_like(y)), Error);
  }
  CHECK(grad_enabled());
  Variable z = mul(x, x);
  CHECK(z.requires_grad());
  CHECK_FALSE(z.is_leaf());

  // Inputs that need no gradient record nothing either.
  Variable c(Tensor::from_vector({2}, {1, 2}));
  CHECK_FALSE(mul(c, c).requires_grad());
}

TEST_CASE("autograd: bad seeds throw") {
  Variable x = leaf({1, 2, 3});
  Variable y = mul_scalar(x, 2.f);
  CHECK_THROWS_AS(y.backward(), Error);  // not a scalar: the seed must be given
  CHECK_THROWS_AS(y.backward(Tensor::full({2}, 1.f)), Error);  // seed of the wrong shape
}

TEST_CASE("autograd: a chain of 100000 ops") {
  // The topological sort and the release of the graph must not recurse per node.
  Variable x = leaf({1.f});
  Variable y = x;
  for (int i = 0; i < 100000; ++i) y = add_scalar(y, 1.f / 1024);  // exact in float
  y.backward();
  CHECK(x.grad().item() == 1.f);
  CHECK(y.item() == 1.f + 100000.f / 1024);
}

TEST_CASE("autograd: a graph of 300000 ops dropped without backward") {
  // Destroying the graph must not recurse per node either (Node -> input -> its Node -> ...).
  Variable x = leaf({1.f});
  std::weak_ptr<VariableImpl> first;
  {
    Variable y = x;
    for (int i = 0; i < 300000; ++i) {
      y = add_scalar(y, 1.f);
      if (i == 0) first = y.impl();
    }
    CHECK_FALSE(first.expired());
  }
  CHECK(first.expired());
}

TEST_CASE("autograd: intermediate gradients and the graph are freed") {
  Variable x = leaf({1, 2});
  Variable a = mul_scalar(x, 2.f);  // kept alive by the test, a non-leaf
  std::weak_ptr<VariableImpl> hidden;
  std::weak_ptr<Node> node_a = a.impl()->grad_fn;
  std::weak_ptr<Node> node_root;
  {
    Variable b = exp(a);  // owned only by the graph once this scope ends; its node keeps b's output
    hidden = b.impl();
    Variable c = mul(b, a);
    node_root = c.impl()->grad_fn;
    c.backward(ones_like(c));
    CHECK_FALSE(b.grad().defined());
    CHECK(c.impl()->grad_fn == nullptr);
  }
  CHECK(x.grad().defined());
  CHECK_FALSE(a.grad().defined());  // a non-leaf keeps no gradient
  CHECK(node_a.expired());          // every Node (and what its closure captured) is released
  CHECK(node_root.expired());
  CHECK(hidden.expired());          // intermediates only the graph held are gone

  // Dropping a graph without calling backward frees it too.
  std::weak_ptr<Node> unused;
  {
    Variable d = mul(exp(x), x);
    unused = d.impl()->grad_fn;
    CHECK_FALSE(unused.expired());
  }
  CHECK(unused.expired());
}

TEST_CASE("autograd gradcheck: passes a right backward, catches a wrong one, names the element") {
  // y = x^2 with a correct backward (2x), then with a wrong one (3x).
  auto square = [](float factor) {
    return [factor](const std::vector<Variable>& v) {
      const Tensor x = v[0].data();
      return make_result("square", mul(x, x), {v[0]},
                         [x, factor](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                           return {mul(g, mul_scalar(x, factor))};
                         });
    };
  };
  Rng rng(2);
  const Tensor x = Tensor::uniform({3, 4}, -1.f, 1.f, rng);
  const GradCheckResult good = gradcheck(square(2.f), {x});
  CHECK(good.ok);
  CHECK(good.checked == 12);
  CHECK(good.worst <= 1.0);
  const GradCheckResult bad = gradcheck(square(3.f), {x});
  CHECK(!bad.ok);
  CHECK(bad.message.find("input 0 element") != std::string::npos);
}
