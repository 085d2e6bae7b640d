// Losses: MSE and anisotropic TV against plain loops and a hand-worked example; gradient checks
// (TV at inputs whose neighbour differences stay away from the kink of |.| at 0).
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/functions.h"
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

TEST_CASE("loss: gradient checks") {
  // MSE is quadratic and TV piecewise linear (kinks avoided): central differences are exact up to
  // float rounding, so the default tolerances hold with room to spare.
  uint64_t seed = 10;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 1, 3, 3}, Shape{1, 2, 1, 6}, Shape{1, 2, 5, 1}}) {
    INFO("shape ", s.str());
    Tensor y = random_tensor(s, seed++), t = random_tensor(s, seed++);
    check_gradients("mse_loss", [](auto& v) { return mse_loss(v[0], v[1]); }, {y, t}, {}, {1});
    check_gradients("tv_loss", [](auto& v) { return tv_loss(v[0]); }, {checkerboard(s, seed++)});
  }
  // The target gets no gradient even when it asks for one.
  Variable y(random_tensor({2, 3}, 1), true), t(random_tensor({2, 3}, 2), true);
  mse_loss(y, t).backward();
  CHECK(y.grad().defined());
  CHECK_FALSE(t.grad().defined());
}
