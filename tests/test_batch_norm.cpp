// BatchNorm2d (training mode): forward and backward kernels against a naive double-precision
// computation, PyTorch's running-statistics update, and gradient checks of x, gamma and beta.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/functions.h"
#include "tensor/batch_norm.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_gradients;
using dip::test::random_tensor;

namespace {

// Per-channel statistics and the textbook forward/backward, all in double.
struct NaiveBatchNorm {
  std::vector<double> mean, var;  // (C); var biased
  std::vector<double> y;          // (N, C, H, W)
  std::vector<double> grad_x, grad_gamma, grad_beta;

  NaiveBatchNorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, const Tensor& g) {
    const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
    const double M = double(N * HW);
    std::vector<float> vx = x.to_vector(), vg = gamma.to_vector(), vb = beta.to_vector(), vgy = g.to_vector();
    auto at = [&](int64_t n, int64_t c, int64_t i) { return (n * C + c) * HW + i; };
    mean.assign(C, 0);
    var.assign(C, 0);
    y.assign(vx.size(), 0);
    grad_x.assign(vx.size(), 0);
    grad_gamma.assign(C, 0);
    grad_beta.assign(C, 0);
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) mean[c] += vx[at(n, c, i)];
      mean[c] /= M;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) var[c] += std::pow(vx[at(n, c, i)] - mean[c], 2);
      var[c] /= M;
      const double invstd = 1.0 / std::sqrt(var[c] + eps);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          const int64_t k = at(n, c, i);
          const double xhat = (vx[k] - mean[c]) * invstd;
          y[k] = xhat * vg[c] + vb[c];
          grad_beta[c] += vgy[k];
          grad_gamma[c] += vgy[k] * xhat;
        }
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          const int64_t k = at(n, c, i);
          const double xhat = (vx[k] - mean[c]) * invstd;
          grad_x[k] = vg[c] * invstd / M * (M * vgy[k] - grad_beta[c] - xhat * grad_gamma[c]);
        }
    }
  }
};

// max |a - ref| / (1 + |ref|)
double max_error(const Tensor& a, const std::vector<double>& ref) {
  std::vector<float> v = a.to_vector();
  REQUIRE(v.size() == ref.size());
  double worst = 0;
  for (size_t i = 0; i < v.size(); ++i) worst = std::max(worst, std::fabs(v[i] - ref[i]) / (1.0 + std::fabs(ref[i])));
  return worst;
}

}  // namespace

TEST_CASE("batch_norm2d: kernels against a naive double computation") {
  const float eps = 1e-5f;
  struct Case {
    Shape shape;
    float offset;  // added to x: a large common offset tests the variance's precision
  };
  // Odd sizes, H = W = 1, and (2, 8, 48, 48) = 36864 elements for the threaded path.
  for (const Case& tc : {Case{{2, 3, 5, 7}, 0.f}, Case{{1, 1, 3, 3}, 0.f}, Case{{4, 2, 1, 1}, 0.f},
                         Case{{2, 8, 48, 48}, 0.f}, Case{{3, 4, 9, 11}, 50.f}}) {
    INFO("shape ", tc.shape.str(), " offset ", tc.offset);
    const int64_t C = tc.shape[1];
    Tensor x = random_tensor(tc.shape, 41, tc.offset - 1.f, tc.offset + 1.f);
    Tensor gamma = random_tensor({C}, 42, 0.5f, 1.5f), beta = random_tensor({C}, 43);
    Tensor g = random_tensor(tc.shape, 44);
    NaiveBatchNorm ref(x, gamma, beta, eps, g);

    BatchNormForward f = batch_norm2d_forward(x, gamma, beta, eps);
    CHECK(f.y.shape() == tc.shape);
    CHECK(f.mean.shape() == Shape{C});
    CHECK(max_error(f.mean, ref.mean) < 1e-6);
    std::vector<double> invstd(C);
    for (int64_t c = 0; c < C; ++c) invstd[c] = 1.0 / std::sqrt(ref.var[c] + eps);
    CHECK(max_error(f.invstd, invstd) < 1e-5);
    // Float rounding of x itself is ~|offset| * 6e-8, amplified by invstd (~1.7): 1e-5 covers it.
    CHECK(max_error(f.y, ref.y) < 2e-5);

    // The backward sees the mean as a float: its rounding (|offset| * 6e-8) times invstd * sum g
    // adds to grad_gamma, hence the looser bound with an offset.
    BatchNormBackward b = batch_norm2d_backward(g, x, gamma, f.mean, f.invstd);
    const double tol = tc.offset == 0.f ? 1e-5 : 1e-4;
    CHECK(max_error(b.grad_beta, ref.grad_beta) < 1e-5);
    CHECK(max_error(b.grad_gamma, ref.grad_gamma) < tol);
    CHECK(max_error(b.grad_x, ref.grad_x) < tol);
  }
}

TEST_CASE("batch_norm2d: output statistics and argument checks") {
  Tensor x = random_tensor({2, 3, 5, 7}, 51, -2.f, 3.f);
  Tensor ones = Tensor::full({3}, 1.f), zeros = Tensor::zeros({3});
  // With gamma = 1, beta = 0 each channel comes out with mean 0 and (biased) variance ~1.
  std::vector<float> y = batch_norm2d_forward(x, ones, zeros, 0.f).y.to_vector();
  for (int c = 0; c < 3; ++c) {
    double s = 0, ss = 0;
    for (int n = 0; n < 2; ++n)
      for (int i = 0; i < 35; ++i) {
        double v = y[(n * 3 + c) * 35 + i];
        s += v;
        ss += v * v;
      }
    CHECK(s / 70 == doctest::Approx(0.0).epsilon(1e-6));
    CHECK(ss / 70 == doctest::Approx(1.0).epsilon(1e-5));
  }
  CHECK_THROWS_AS(batch_norm2d_forward(Tensor::zeros({1, 3, 1, 1}), ones, zeros, 1e-5f), Error);  // 1 value
  CHECK_THROWS_AS(batch_norm2d_forward(x, Tensor::zeros({4}), zeros, 1e-5f), Error);
  CHECK_THROWS_AS(batch_norm2d_forward(Tensor::zeros({6, 5}), ones, zeros, 1e-5f), Error);
}

TEST_CASE("batch_norm2d: running statistics follow PyTorch") {
  // PyTorch: running = (1 - momentum) * running + momentum * batch, with the unbiased batch
  // variance (m / (m - 1) times the biased one) for running_var. Defaults: mean 0, var 1.
  const Shape s{2, 3, 4, 5};
  const int64_t m = 2 * 4 * 5;
  const float momentum = 0.1f;
  Tensor running_mean = Tensor::zeros({3}), running_var = Tensor::full({3}, 1.f);
  std::vector<double> rm(3, 0.0), rv(3, 1.0);
  Variable gamma(random_tensor({3}, 61, 0.5f, 1.5f), true), beta(random_tensor({3}, 62), true);
  for (int step = 0; step < 3; ++step) {
    Tensor x = random_tensor(s, 70 + step, -1.f + step, 2.f + 2 * step);
    NaiveBatchNorm ref(x, gamma.data(), beta.data(), 1e-5f, Tensor::zeros(s));
    for (int c = 0; c < 3; ++c) {
      rm[c] = (1 - momentum) * rm[c] + momentum * ref.mean[c];
      rv[c] = (1 - momentum) * rv[c] + momentum * ref.var[c] * m / (m - 1);
    }
    batch_norm2d(Variable(x, true), gamma, beta, 1e-5f, &running_mean, &running_var, momentum);
    std::vector<float> got_m = running_mean.to_vector(), got_v = running_var.to_vector();
    for (int c = 0; c < 3; ++c) {
      CHECK(got_m[c] == doctest::Approx(rm[c]).epsilon(1e-5));
      CHECK(got_v[c] == doctest::Approx(rv[c]).epsilon(1e-5));
    }
  }
  // Without pointers nothing is updated (and nothing breaks); momentum 1 copies the batch stats.
  Tensor x = random_tensor(s, 80);
  NaiveBatchNorm ref(x, gamma.data(), beta.data(), 1e-5f, Tensor::zeros(s));
  batch_norm2d(Variable(x), gamma, beta, 1e-5f);
  batch_norm2d(Variable(x), gamma, beta, 1e-5f, &running_mean, &running_var, 1.f);
  for (int c = 0; c < 3; ++c) {
    CHECK(running_mean.to_vector()[c] == doctest::Approx(ref.mean[c]).epsilon(1e-5));
    CHECK(running_var.to_vector()[c] == doctest::Approx(ref.var[c] * m / (m - 1)).epsilon(1e-5));
  }
}

TEST_CASE("batch_norm2d: gradient checks") {
  // The loss is dot(random g, y) (the helper's), which is not scale-invariant in x the way sum(y)
  // would be, so grad_x is non-trivial. BN is smooth; with step 1e-2 the O(h^2) error and float32
  // rounding stay below rtol 2e-2 + atol 2e-3 (stated; the defaults are 1e-2 and 1e-3).
  dip::test::GradCheck opt;
  opt.rtol = 2e-2f;
  opt.atol = 2e-3f;
  uint64_t seed = 90;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 1, 3, 3}, Shape{4, 2, 1, 1}, Shape{1, 4, 2, 3}}) {
    INFO("shape ", s.str());
    const int64_t C = s[1];
    Tensor x = random_tensor(s, seed++, -2.f, 2.f);
    Tensor gamma = random_tensor({C}, seed++, 0.5f, 1.5f), beta = random_tensor({C}, seed++);
    check_gradients("batch_norm2d",
                    [](auto& v) { return batch_norm2d(v[0], v[1], v[2], 1e-5f); }, {x, gamma, beta}, opt);
  }
}
