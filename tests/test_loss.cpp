// Losses: MSE, anisotropic and isotropic TV against plain loops and hand-worked examples; gradient
// checks (TV at inputs whose neighbour differences stay away from the kink of |.| at 0, isotropic TV
// also where eps smooths it).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/functions.h"
#include "tensor/cpu/gemm.h"
#include "tensor/loss.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_gradients;
using dip::test::random_tensor;

namespace {

// A checkerboard of signs times U(0.2, 1): every horizontal or vertical neighbour has the opposite
// sign, so |difference| >= 0.4, far from 0 at the gradient check's step of 0.01.
Tensor checkerboard(const Shape& s, uint64_t seed) {
  std::vector<float> v = random_tensor(s, seed, 0.2f, 1.f).to_vector();
  const int64_t h = s[-2], w = s[-1];
  for (size_t k = 0; k < v.size(); ++k) {
    const int64_t i = (k / w) % h, j = k % w;
    if ((i + j) % 2) v[k] = -v[k];
  }
  return Tensor::from_vector(s, v);
}

// TV by visiting every neighbour pair once: the loss, and each pair's +-sign added to both ends.
struct NaiveTv {
  double loss = 0;
  std::vector<double> grad;
  explicit NaiveTv(const Tensor& x) {
    const int64_t h = x.size(-2), w = x.size(-1), planes = x.numel() / (h * w);
    std::vector<float> v = x.to_vector();
    grad.assign(v.size(), 0);
    auto pair = [&](int64_t a, int64_t b) {  // |x_b - x_a|
      const double d = double(v[b]) - v[a];
      loss += std::fabs(d);
      const double s = (d > 0) - (d < 0);
      grad[b] += s;
      grad[a] -= s;
    };
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
          const int64_t k = (p * h + i) * w + j;
          if (j + 1 < w) pair(k, k + 1);
          if (i + 1 < h) pair(k, k + w);
        }
    loss /= double(v.size());
    for (double& g : grad) g /= double(v.size());
  }
};

// Isotropic TV in double, by visiting every element's term r = sqrt(dx^2 + dy^2 + eps) once and
// scattering its derivative to the three elements it reads (the kernels gather instead): the loss,
// and the gradient for grad_loss = numel (so O(1) values).
struct NaiveIsoTv {
  double loss = 0;
  std::vector<double> grad;
  NaiveIsoTv(const Tensor& x, double eps) {
    const int64_t h = x.size(-2), w = x.size(-1), planes = x.numel() / (h * w);
    std::vector<float> v = x.to_vector();
    grad.assign(v.size(), 0);
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
          const int64_t k = (p * h + i) * w + j;
          const double dx = j + 1 < w ? double(v[k + 1]) - v[k] : 0.0;
          const double dy = i + 1 < h ? double(v[k + w]) - v[k] : 0.0;
          const double r = std::sqrt(dx * dx + dy * dy + eps);
          loss += r;
          grad[k] -= (dx + dy) / r;
          if (j + 1 < w) grad[k + 1] += dx / r;
          if (i + 1 < h) grad[k + w] += dy / r;
        }
    loss /= double(v.size());
  }
};

}  // namespace

TEST_CASE("loss: mse values and backward") {
  Tensor y = Tensor::from_vector({2, 2}, {1, 2, 3, 4}), t = Tensor::from_vector({2, 2}, {0, 2, 5, 3});
  CHECK(mse_loss_forward(y, t).item() == doctest::Approx((1 + 0 + 4 + 1) / 4.0));
  // dL/dy = grad_loss * 2 (y - t) / n, grad_loss = 3
  CHECK(mse_loss_backward(y, t, Tensor::full({1}, 3.f)).to_vector() == std::vector<float>{1.5f, 0, -3, 1.5f});
  CHECK_THROWS_AS(mse_loss_forward(y, Tensor::zeros({4})), Error);

  // (3, 3, 70, 60) = 37800 elements: the threaded reduction.
  Tensor a = random_tensor({3, 3, 70, 60}, 1), b = random_tensor({3, 3, 70, 60}, 2);
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double ref = 0;
  for (size_t i = 0; i < va.size(); ++i) ref += (double(va[i]) - vb[i]) * (double(va[i]) - vb[i]);
  CHECK(mse_loss_forward(a, b).item() == doctest::Approx(ref / va.size()).epsilon(1e-6));
}

TEST_CASE("loss: tv values and backward") {
  // [[1, 2, 4], [0, 3, 3]]: horizontal 1 + 2 + 3 + 0, vertical 1 + 1 + 1; 9 / 6 elements.
  Tensor x = Tensor::from_vector({1, 1, 2, 3}, {1, 2, 4, 0, 3, 3});
  CHECK(tv_loss_forward(x).item() == doctest::Approx(1.5));
  // Odd sizes, one-row and one-column images, (2, 3, 80, 70) = 33600 for the threaded path.
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 1, 3, 3}, Shape{1, 2, 1, 6}, Shape{1, 2, 5, 1},
                         Shape{4, 5}, Shape{2, 3, 80, 70}}) {
    INFO("shape ", s.str());
    Tensor img = random_tensor(s, 3);
    NaiveTv ref(img);
    CHECK(tv_loss_forward(img).item() == doctest::Approx(ref.loss).epsilon(1e-5));
    std::vector<float> g = tv_loss_backward(img, Tensor::full({1}, 2.f)).to_vector();
    double worst = 0;
    for (size_t k = 0; k < g.size(); ++k) worst = std::max(worst, std::fabs(g[k] - 2.0 * ref.grad[k]));
    CHECK(worst < 1e-7);
  }
  CHECK_THROWS_AS(tv_loss_forward(Tensor::zeros({5})), Error);
}

TEST_CASE("loss: isotropic tv, a hand-worked example") {
  // [[1, 2, 4], [0, 3, 3]], eps = 1/4. (dx, dy) per element: (1, -1) (2, 1) (0, -1) / (3, 0) (0, 0) (0, 0).
  Tensor x = Tensor::from_vector({1, 1, 2, 3}, {1, 2, 4, 0, 3, 3});
  const double r01 = std::sqrt(5.25), r02 = std::sqrt(1.25), r10 = std::sqrt(9.25);
  CHECK(isotropic_tv_loss_forward(x, 0.25f).item() == doctest::Approx((1.5 + r01 + r02 + r10 + 0.5 + 0.5) / 6));
  // grad_loss = 6 = numel: the gradient is the sum of the terms' derivatives.
  //   [0, 0]: -(1 - 1) / 1.5 = 0
  //   [0, 1]: -(2 + 1) / r01 + 1 / 1.5 (dx of [0, 0])
  //   [0, 2]: -(0 - 1) / r02 + 2 / r01
  //   [1, 0]: -(3 + 0) / r10 - 1 / 1.5 (dy of [0, 0])
  //   [1, 1]: 0 + 3 / r10 + 1 / r01
  //   [1, 2]: 0 + 0 (dx of [1, 1]) - 1 / r02
  const std::vector<double> want = {0, -3 / r01 + 1 / 1.5, 1 / r02 + 2 / r01, -3 / r10 - 1 / 1.5, 3 / r10 + 1 / r01,
                                    -1 / r02};
  std::vector<float> g = isotropic_tv_loss_backward(x, 0.25f, Tensor::full({1}, 6.f)).to_vector();
  REQUIRE(g.size() == want.size());
  for (size_t k = 0; k < g.size(); ++k) {
    INFO("element ", k);
    CHECK(g[k] == doctest::Approx(want[k]).epsilon(1e-6));
  }
  // Through the Variable op, with the default eps.
  Variable v(x, true);
  Variable loss = isotropic_tv_loss(v);
  CHECK(loss.item() == doctest::Approx((std::sqrt(2.0) + std::sqrt(5.0) + 1 + 3 + 1e-4 + 1e-4) / 6).epsilon(1e-6));
  loss.backward();
  CHECK(v.grad().defined());
}

TEST_CASE("loss: isotropic tv of a constant image is sqrt(eps), its gradient 0") {
  for (float eps : {1e-8f, 1e-3f, 0.5f}) {
    INFO("eps ", eps);
    Tensor c = Tensor::full({2, 3, 9, 11}, 0.37f);
    CHECK(isotropic_tv_loss_forward(c, eps).item() == doctest::Approx(std::sqrt(double(eps))).epsilon(1e-6));
    for (float g : isotropic_tv_loss_backward(c, eps, Tensor::full({1}, 5.f)).to_vector()) REQUIRE(g == 0.f);
  }
}

TEST_CASE("loss: isotropic tv against a loop, odd sizes, one row and one column") {
  // (2, 3, 80, 70) = 33600 and (1, 5, 81, 83) = 33615 take the threaded path; the second puts
  // thread boundaries in the middle of a plane.
  for (float eps : {1e-8f, 0.5f})
    for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 1, 3, 3}, Shape{1, 2, 1, 6}, Shape{1, 2, 5, 1},
                           Shape{1, 1, 1, 1}, Shape{4, 5}, Shape{3, 1, 9}, Shape{2, 3, 80, 70}, Shape{1, 5, 81, 83}}) {
      INFO("shape ", s.str(), " eps ", eps);
      Tensor img = random_tensor(s, 30);
      NaiveIsoTv ref(img, eps);
      CHECK(isotropic_tv_loss_forward(img, eps).item() == doctest::Approx(ref.loss).epsilon(1e-6));
      // grad_loss = 2: the kernel's gradient is 2 / numel times the reference's.
      const double scale = 2.0 / double(img.numel());
      std::vector<float> g = isotropic_tv_loss_backward(img, eps, Tensor::full({1}, 2.f)).to_vector();
      double worst = 0;
      for (size_t k = 0; k < g.size(); ++k) worst = std::max(worst, std::fabs(g[k] / scale - ref.grad[k]));
      CHECK(worst < 1e-5);  // the terms are O(1)
    }
}

TEST_CASE("loss: isotropic tv is bitwise the same on any thread count") {
  Tensor img = random_tensor({1, 5, 81, 83}, 31);  // the threaded path, row chunks starting mid-plane
  const Tensor grad_loss = Tensor::full({1}, 1.3f);
  const int saved = cpu::num_threads();
  cpu::set_num_threads(1);
  const std::vector<float> f1 = isotropic_tv_loss_forward(img, 1e-8f).to_vector();
  const std::vector<float> g1 = isotropic_tv_loss_backward(img, 1e-8f, grad_loss).to_vector();
  cpu::set_num_threads(3);
  const std::vector<float> f3 = isotropic_tv_loss_forward(img, 1e-8f).to_vector();
  const std::vector<float> g3 = isotropic_tv_loss_backward(img, 1e-8f, grad_loss).to_vector();
  cpu::set_num_threads(saved);
  CHECK(f1 == f3);
  CHECK(g1 == g3);
}

TEST_CASE("loss: isotropic tv rejects bad arguments") {
  Tensor x = random_tensor({1, 1, 3, 3}, 1);
  const Tensor one = Tensor::full({1}, 1.f);
  CHECK_THROWS_AS(isotropic_tv_loss_forward(Tensor::zeros({5}), 1e-8f), Error);        // rank 1
  CHECK_THROWS_AS(isotropic_tv_loss_backward(Tensor::zeros({5}), 1e-8f, one), Error);  // rank 1
  for (float eps : {0.f, -1e-8f, -1.f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    INFO("eps ", eps);
    CHECK_THROWS_AS(isotropic_tv_loss_forward(x, eps), Error);
    CHECK_THROWS_AS(isotropic_tv_loss_backward(x, eps, one), Error);
    CHECK_THROWS_AS(isotropic_tv_loss(Variable(x, true), eps), Error);
  }
  CHECK_THROWS_AS(isotropic_tv_loss_backward(x, 1e-8f, Tensor::zeros({2})), Error);  // grad_loss not (1)
}

TEST_CASE("loss: gradient checks") {
  // MSE is quadratic and TV piecewise linear (kinks avoided): central differences are exact up to
  // float rounding, so the default tolerances hold with room to spare.
  uint64_t seed = 10;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 1, 3, 3}, Shape{1, 2, 1, 6}, Shape{1, 2, 5, 1}}) {
    INFO("shape ", s.str());
    Tensor y = random_tensor(s, seed++), t = random_tensor(s, seed++);
    check_gradients("mse_loss", [](auto& v) { return mse_loss(v[0], v[1]); }, {y, t}, {}, {1});
    check_gradients("tv_loss", [](auto& v) { return tv_loss(v[0]); }, {checkerboard(s, seed++)});
    // Isotropic TV is smooth, but with eps = 1e-8 its curvature is ~1 / |difference|: the
    // checkerboard keeps every difference >= 0.4 (only the last row's dx and column's dy are 0, and
    // the bottom-right term is the constant sqrt(eps)). Its gradients are O(1 / numel) (~0.01 on
    // (2, 3, 5, 7)), so atol is lowered from 1e-3 to 5e-5 (the loss's float rounding, ~1e-7 / 2h,
    // is ~1e-5) to leave a missing or wrong neighbour term no room.
    dip::test::GradCheck iso;
    iso.atol = 5e-5f;
    check_gradients("isotropic_tv_loss", [](auto& v) { return isotropic_tv_loss(v[0]); }, {checkerboard(s, seed++)},
                    iso);
    // A large eps matters in the gradient, and keeps random inputs (small differences) smooth.
    check_gradients("isotropic_tv_loss eps 0.5", [](auto& v) { return isotropic_tv_loss(v[0], 0.5f); },
                    {random_tensor(s, seed++)}, iso);
  }
  // The target gets no gradient even when it asks for one.
  Variable y(random_tensor({2, 3}, 1), true), t(random_tensor({2, 3}, 2), true);
  mse_loss(y, t).backward();
  CHECK(y.grad().defined());
  CHECK_FALSE(t.grad().defined());
}
