// BatchNorm2d (training mode): forward and backward kernels against a naive double-precision
// computation, PyTorch's running-statistics update, and gradient checks of x, gamma and beta; the
// same for the kernels with a fused LeakyReLU, which must also match BN followed by leaky_relu.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "autograd/functions.h"
#include "tensor/activation.h"
#include "tensor/batch_norm.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_gradients;
using dip::test::random_tensor;

namespace {

// Per-channel statistics and the textbook forward/backward, all in double. With act.leaky_relu,
// y = lrelu(z) for the affine output z, and the BN backward runs on dz = (z > 0 ? 1 : slope) * g.
struct NaiveBatchNorm {
  std::vector<double> mean, var;  // (C); var biased
  std::vector<double> y;          // (N, C, H, W)
  std::vector<double> grad_x, grad_gamma, grad_beta;

  NaiveBatchNorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, const Tensor& g,
                 const BatchNormActivation& act = {}) {
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
    std::vector<double> dz(vx.size());
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
          const double z = xhat * vg[c] + vb[c];
          const bool pass = !act.leaky_relu || z > 0;
          y[k] = pass ? z : act.slope * z;
          dz[k] = pass ? vgy[k] : act.slope * vgy[k];
          grad_beta[c] += dz[k];
          grad_gamma[c] += dz[k] * xhat;
        }
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          const int64_t k = at(n, c, i);
          const double xhat = (vx[k] - mean[c]) * invstd;
          grad_x[k] = vg[c] * invstd / M * (M * dz[k] - grad_beta[c] - xhat * grad_gamma[c]);
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

// The same between two float tensors, b the reference.
double max_error(const Tensor& a, const Tensor& b) {
  std::vector<float> vb = b.to_vector();
  return max_error(a, std::vector<double>(vb.begin(), vb.end()));
}

// x whose normalised values all have |xhat| >= 1/3: each channel holds pairs +u, -u with u in
// [0.5, 1.5] (so mean 0 and std <= 1.5), shuffled, then shifted by `offset`. With gamma > 0 and
// beta = 0 the fused LeakyReLU's input z = gamma * xhat stays >= 1/6 away from its kink at 0.
Tensor away_from_kink(const Shape& s, uint64_t seed, float offset = 0.f) {
  const int64_t N = s[0], C = s[1], HW = s[2] * s[3], count = N * HW;
  REQUIRE(count % 2 == 0);
  Rng rng(seed);
  std::vector<float> v(s.numel());
  for (int64_t c = 0; c < C; ++c) {
    std::vector<float> ch(count);
    for (int64_t i = 0; i < count / 2; ++i) {
      ch[2 * i] = rng.uniform(0.5f, 1.5f);
      ch[2 * i + 1] = -ch[2 * i];
    }
    for (int64_t i = count - 1; i > 0; --i) std::swap(ch[i], ch[rng.next_u32() % (i + 1)]);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) v[(n * C + c) * HW + i] = ch[n * HW + i] + offset;
  }
  return Tensor::from_vector(s, v);
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
    BatchNormBackward b = batch_norm2d_backward(g, x, gamma, beta, f.mean, f.invstd);
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

// ---- fused with LeakyReLU ------------------------------------------------------

TEST_CASE("batch_norm2d + leaky_relu fused: kernels against a naive double computation") {
  const float eps = 1e-5f;
  struct Case {
    Shape shape;
    float offset;
  };
  // As the plain test (the threaded (2, 8, 48, 48) and an offset case); beta spans [-1, 1] so each
  // channel has values on both sides of the kink. Slope 0 is ReLU.
  for (float slope : {0.2f, 0.f})
    for (const Case& tc : {Case{{2, 3, 5, 7}, 0.f}, Case{{1, 1, 3, 3}, 0.f}, Case{{4, 2, 1, 1}, 0.f},
                           Case{{2, 8, 48, 48}, 0.f}, Case{{3, 4, 9, 11}, 50.f}}) {
      INFO("slope ", slope, " shape ", tc.shape.str(), " offset ", tc.offset);
      const BatchNormActivation act{true, slope};
      const int64_t C = tc.shape[1];
      Tensor x = random_tensor(tc.shape, 141, tc.offset - 1.f, tc.offset + 1.f);
      Tensor gamma = random_tensor({C}, 142, 0.5f, 1.5f), beta = random_tensor({C}, 143);
      Tensor g = random_tensor(tc.shape, 144);
      NaiveBatchNorm ref(x, gamma, beta, eps, g, act);

      BatchNormForward f = batch_norm2d_forward(x, gamma, beta, eps, act);
      BatchNormForward plain = batch_norm2d_forward(x, gamma, beta, eps);
      CHECK(f.y.shape() == tc.shape);
      // The statistics do not depend on the activation.
      CHECK(f.mean.to_vector() == plain.mean.to_vector());
      CHECK(f.invstd.to_vector() == plain.invstd.to_vector());
      CHECK(max_error(f.y, ref.y) < 2e-5);  // as the plain kernel: the activation only scales

      // Tolerances as the plain test's; dz has the same size as g.
      BatchNormBackward b = batch_norm2d_backward(g, x, gamma, beta, f.mean, f.invstd, act);
      const double tol = tc.offset == 0.f ? 1e-5 : 1e-4;
      CHECK(max_error(b.grad_beta, ref.grad_beta) < 1e-5);
      CHECK(max_error(b.grad_gamma, ref.grad_gamma) < tol);
      CHECK(max_error(b.grad_x, ref.grad_x) < tol);
    }
}

TEST_CASE("batch_norm2d + leaky_relu fused: equals batch_norm2d followed by leaky_relu") {
  // The composition keeps z = BN(x) and masks with leaky_relu_backward(z, g); the fused backward
  // recomputes z from x with the forward's own (scale, bias). Both take the slope side at z == 0.
  // beta in [-1.5, -0.5] puts most values on the negative side, so a mask taken from the wrong side
  // (or a missing slope) changes every gradient. Tolerance 1e-6 (max |a - b| / (1 + |b|)).
  const float eps = 1e-5f;
  uint64_t seed = 150;
  for (float slope : {0.2f, 0.f})
    for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{2, 8, 48, 48}, Shape{3, 4, 9, 11}}) {
      INFO("slope ", slope, " shape ", s.str());
      const BatchNormActivation act{true, slope};
      const int64_t C = s[1];
      Tensor x = random_tensor(s, seed++, -2.f, 2.f);
      Tensor gamma = random_tensor({C}, seed++, 0.5f, 1.5f), beta = random_tensor({C}, seed++, -1.5f, -0.5f);
      Tensor g = random_tensor(s, seed++);

      BatchNormForward bn = batch_norm2d_forward(x, gamma, beta, eps);
      Tensor y = leaky_relu(bn.y, slope);
      BatchNormBackward unfused =
          batch_norm2d_backward(leaky_relu_backward(bn.y, g, slope), x, gamma, beta, bn.mean, bn.invstd);

      BatchNormForward f = batch_norm2d_forward(x, gamma, beta, eps, act);
      BatchNormBackward fused = batch_norm2d_backward(g, x, gamma, beta, f.mean, f.invstd, act);
      int negative = 0;
      for (float v : bn.y.to_vector()) negative += v <= 0.f;
      CHECK(negative > s.numel() / 2);
      CHECK(max_error(f.y, y) < 1e-6);
      CHECK(max_error(fused.grad_x, unfused.grad_x) < 1e-6);
      CHECK(max_error(fused.grad_gamma, unfused.grad_gamma) < 1e-6);
      CHECK(max_error(fused.grad_beta, unfused.grad_beta) < 1e-6);
      // And the mask matters here: without the activation's gradient the results are far off.
      BatchNormBackward unmasked = batch_norm2d_backward(g, x, gamma, beta, bn.mean, bn.invstd);
      CHECK(max_error(unmasked.grad_beta, unfused.grad_beta) > 1e-2);
    }

  // Exact zeros: each channel is {-2, -1, 0, 1, 2} with beta = 0, so the mean, the bias and the z
  // of the middle value are exactly 0, where both must take the slope side (as PyTorch).
  Tensor x = Tensor::from_vector({1, 2, 1, 5}, {-2.f, -1.f, 0.f, 1.f, 2.f, 2.f, 1.f, 0.f, -1.f, -2.f});
  Tensor gamma = Tensor::from_vector({2}, {1.f, 0.5f}), beta = Tensor::zeros({2});
  Tensor g = random_tensor({1, 2, 1, 5}, 160, 0.5f, 1.f);
  const BatchNormActivation act{true, 0.2f};
  BatchNormForward bn = batch_norm2d_forward(x, gamma, beta, eps);
  CHECK(bn.y.to_vector()[2] == 0.f);
  BatchNormBackward unfused =
      batch_norm2d_backward(leaky_relu_backward(bn.y, g, 0.2f), x, gamma, beta, bn.mean, bn.invstd);
  BatchNormBackward fused = batch_norm2d_backward(g, x, gamma, beta, bn.mean, bn.invstd, act);
  NaiveBatchNorm ref(x, gamma, beta, eps, g, act);
  CHECK(max_error(fused.grad_x, unfused.grad_x) < 1e-6);
  CHECK(max_error(fused.grad_x, ref.grad_x) < 1e-5);
  CHECK(max_error(fused.grad_gamma, ref.grad_gamma) < 1e-5);
  CHECK(max_error(fused.grad_beta, ref.grad_beta) < 1e-5);
}

TEST_CASE("batch_norm2d + leaky_relu fused: gradient checks and the op's name") {
  // Central differences are meaningless across the kink, so the inputs keep every z away from it:
  // away_from_kink gives |xhat| >= 1/3, gamma >= 0.5 and beta = 0 make |z| >= 1/6, far more than a
  // step of 1e-2 moves it. Tolerances as the plain BN check (rtol 2e-2, atol 2e-3).
  dip::test::GradCheck opt;
  opt.rtol = 2e-2f;
  opt.atol = 2e-3f;
  uint64_t seed = 170;
  for (float slope : {0.2f, 0.f})
    for (const Shape& s : {Shape{2, 3, 5, 6}, Shape{1, 4, 2, 3}, Shape{4, 2, 1, 1}}) {
      INFO("slope ", slope, " shape ", s.str());
      const int64_t C = s[1];
      Tensor x = away_from_kink(s, seed++, s[0] == 4 ? 3.f : 0.f);
      Tensor gamma = random_tensor({C}, seed++, 0.5f, 1.5f), beta = Tensor::zeros({C});
      check_gradients("batch_norm2d_leaky_relu",
                      [slope](auto& v) {
                        return batch_norm2d(v[0], v[1], v[2], 1e-5f, nullptr, nullptr, 0.1f, {true, slope});
                      },
                      {x, gamma, beta}, opt);
    }

  Variable x(random_tensor({2, 3, 4, 4}, 180), true);
  Variable gamma(Tensor::full({3}, 1.f), true), beta(Tensor::zeros({3}), true);
  Variable y = batch_norm2d(x, gamma, beta, 1e-5f, nullptr, nullptr, 0.1f, {true, 0.2f});
  REQUIRE(y.impl()->grad_fn != nullptr);
  CHECK(std::string(y.impl()->grad_fn->name) == "batch_norm2d_leaky_relu");
  CHECK(std::string(batch_norm2d(x, gamma, beta, 1e-5f).impl()->grad_fn->name) == "batch_norm2d");
}
