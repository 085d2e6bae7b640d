// Optimizers: Adam and SGD against values worked out by hand (float64, torch.optim formulas).
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/functions.h"
#include "optim/adam.h"
#include "optim/sgd.h"
#include "tensor/elementwise.h"

using namespace dip;

namespace {

// Sets p.grad = p by back-propagating 0.5 * p^2 (d/dp = p).
void grad_is_p(Variable& p) {
  Variable y = mul(p, p);
  y.backward(Tensor::full(p.shape(), 0.5f));
}

void check_values(const Variable& p, const std::vector<double>& expected, double tol) {
  std::vector<float> got = p.data().to_vector();
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i)
    CHECK_MESSAGE(std::fabs(got[i] - expected[i]) <= tol, "element ", i, ": ", got[i], " vs ",
                  expected[i]);
}

}  // namespace

TEST_CASE("adam: first three steps match hand-computed values") {
  // Loss 0.5 |p|^2, so g = p. Step 1: m_hat = g, v_hat = g^2, so each element moves by
  // lr * g / (|g| + eps) = lr in magnitude, towards 0. Later steps follow m = 0.9 m + 0.1 g,
  // v = 0.999 v + 0.001 g^2, p -= lr/(1-0.9^t) * m / (sqrt(v)/sqrt(1-0.999^t) + 1e-8).
  Variable p(Tensor::from_vector({4}, {1.f, -2.f, 0.5f, 3.f}), true);
  Adam opt({p}, {.lr = 0.1f});
  const std::vector<std::vector<double>> expected = {
      {0.900000001, -1.900000000, 0.400000002, 2.900000000},
      {0.800412230, -1.800166487, 0.301187424, 2.800102708},
      {0.701586275, -1.700623393, 0.204871256, 2.700381524}};
  for (int t = 0; t < 3; ++t) {
    opt.zero_grad();
    grad_is_p(p);
    opt.step();
    INFO("step ", t + 1);
    check_values(p, expected[t], 2e-6);
  }
  CHECK(opt.steps_taken() == 3);
}

TEST_CASE("adam: weight decay adds wd * p to the gradient") {
  // Constant gradient c plus L2 decay 0.1 p; the last element's gradient is the decay alone.
  Variable p(Tensor::from_vector({4}, {1.f, -2.f, 0.5f, 3.f}), true);
  const Tensor c = Tensor::from_vector({4}, {0.5f, 0.5f, -1.f, 0.f});
  Adam opt({p}, {.lr = 0.1f, .weight_decay = 0.1f});
  const std::vector<std::vector<double>> expected = {
      {0.900000002, -2.099999997, 0.599999999, 2.900000003},
      {0.800047340, -2.199897286, 0.699971016, 2.800102714},
      {0.700174575, -2.299618467, 0.799893380, 2.700381533}};
  for (int t = 0; t < 3; ++t) {
    opt.zero_grad();
    p.backward(c);  // a leaf: its gradient becomes c
    opt.step();
    INFO("step ", t + 1);
    check_values(p, expected[t], 2e-6);
  }
}

TEST_CASE("adam: zero gradient stays put; a parameter without gradient is skipped") {
  Variable a(Tensor::from_vector({2}, {1.f, 2.f}), true);
  Variable b(Tensor::from_vector({3}, {4.f, 5.f, 6.f}), true);
  Adam opt({a, b}, {.lr = 0.5f});
  a.backward(Tensor::from_vector({2}, {0.f, -3.f}));  // b gets no gradient
  opt.step();
  check_values(a, {1.0, 2.5}, 1e-6);  // element 0: 0 / (0 + eps) = 0; element 1 moves by lr
  check_values(b, {4.0, 5.0, 6.0}, 0.0);
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
}

TEST_CASE("adam: the CPU kernel updates many slots in one call") {
  // A large slot (the parallel path) and a small one, with the same gradient pattern: element i
  // of both moves by exactly lr after the first step.
  const int64_t big = 100000;
  Tensor p1 = Tensor::full({big}, 1.f), g1 = Tensor::full({big}, -2.f);
  Tensor p2 = Tensor::full({3}, 1.f), g2 = Tensor::full({3}, 4.f);
  std::vector<AdamSlot> slots = {{p1, g1, Tensor::zeros({big}), Tensor::zeros({big})},
                                 {p2, g2, Tensor::zeros({3}), Tensor::zeros({3})}};
  cpu::adam_update_(slots, {0.01f, 0.9f, 0.999f, 1e-8f, 0.f, 1});
  std::vector<float> v1 = p1.to_vector(), v2 = p2.to_vector();
  CHECK(v1[0] == doctest::Approx(1.01f).epsilon(1e-6));
  CHECK(v1[big - 1] == doctest::Approx(1.01f).epsilon(1e-6));
  CHECK(v2[2] == doctest::Approx(0.99f).epsilon(1e-6));
  CHECK(slots[0].m.to_vector()[7] == doctest::Approx(-0.2f));   // (1 - 0.9) g
  CHECK(slots[0].v.to_vector()[7] == doctest::Approx(0.004f));  // (1 - 0.999) g^2
}

TEST_CASE("sgd: plain and with momentum") {
  {
    Variable p(Tensor::from_vector({2}, {1.f, -2.f}), true);
    SGD opt({p}, 0.1f);
    p.backward(Tensor::from_vector({2}, {3.f, -1.f}));
    opt.step();
    check_values(p, {0.7, -1.9}, 1e-6);
  }
  // Momentum 0.9, g = p: buf_1 = g, buf_t = 0.9 buf + g; p -= 0.1 buf.
  Variable p(Tensor::from_vector({4}, {1.f, -2.f, 0.5f, 3.f}), true);
  SGD opt({p}, 0.1f, 0.9f);
  const std::vector<std::vector<double>> expected = {{0.9, -1.8, 0.45, 2.7},
                                                     {0.72, -1.44, 0.36, 2.16},
                                                     {0.486, -0.972, 0.243, 1.458}};
  for (int t = 0; t < 3; ++t) {
    opt.zero_grad();
    grad_is_p(p);
    opt.step();
    INFO("step ", t + 1);
    check_values(p, expected[t], 1e-6);
  }
}
