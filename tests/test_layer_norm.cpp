// LayerNorm over the last dimension: kernels against a naive double computation (also on the
// threaded path, where grad_gamma/grad_beta are summed from per-thread parts), gradient checks.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/functions.h"
#include "tensor/layer_norm.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_gradients;
using dip::test::random_tensor;

namespace {

struct NaiveLayerNorm {
  std::vector<double> mean, rstd, y, grad_x, grad_gamma, grad_beta;

  NaiveLayerNorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, const Tensor& g) {
    const int64_t D = x.size(-1), rows = x.numel() / D;
    std::vector<float> vx = x.to_vector(), vg = gamma.to_vector(), vb = beta.to_vector(), vgy = g.to_vector();
    mean.assign(rows, 0);
    rstd.assign(rows, 0);
    y.assign(vx.size(), 0);
    grad_x.assign(vx.size(), 0);
    grad_gamma.assign(D, 0);
    grad_beta.assign(D, 0);
    for (int64_t r = 0; r < rows; ++r) {
      const float* p = vx.data() + r * D;
      const float* gy = vgy.data() + r * D;
      double m = 0, v = 0;
      for (int64_t i = 0; i < D; ++i) m += p[i];
      m /= D;
      for (int64_t i = 0; i < D; ++i) v += (p[i] - m) * (p[i] - m);
      v /= D;
      const double rs = 1.0 / std::sqrt(v + eps);
      mean[r] = m;
      rstd[r] = rs;
      // d/dx of y = xhat * gamma + beta through xhat's dependence on the row mean and variance.
      double mean_gg = 0, mean_gg_xhat = 0;
      for (int64_t i = 0; i < D; ++i) {
        const double xhat = (p[i] - m) * rs;
        y[r * D + i] = xhat * vg[i] + vb[i];
        grad_gamma[i] += gy[i] * xhat;
        grad_beta[i] += gy[i];
        mean_gg += gy[i] * vg[i] / D;
        mean_gg_xhat += gy[i] * vg[i] * xhat / D;
      }
      for (int64_t i = 0; i < D; ++i) {
        const double xhat = (p[i] - m) * rs;
        grad_x[r * D + i] = rs * (gy[i] * vg[i] - mean_gg - xhat * mean_gg_xhat);
      }
    }
  }
};

double max_error(const Tensor& a, const std::vector<double>& ref) {
  std::vector<float> v = a.to_vector();
  REQUIRE(v.size() == ref.size());
  double worst = 0;
  for (size_t i = 0; i < v.size(); ++i) worst = std::max(worst, std::fabs(v[i] - ref[i]) / (1.0 + std::fabs(ref[i])));
  return worst;
}

}  // namespace

TEST_CASE("layer_norm: kernels against a naive double computation") {
  const float eps = 1e-5f;
  // (64, 600): 38400 elements, the threaded path.
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{4, 16}, Shape{9}, Shape{64, 600}}) {
    INFO("shape ", s.str());
    const int64_t D = s[-1];
    Tensor x = random_tensor(s, 11, -2.f, 3.f);
    Tensor gamma = random_tensor({D}, 12, 0.5f, 1.5f), beta = random_tensor({D}, 13);
    Tensor g = random_tensor(s, 14);
    NaiveLayerNorm ref(x, gamma, beta, eps, g);
    LayerNormForward f = layer_norm_forward(x, gamma, beta, eps);
    CHECK(f.mean.numel() == x.numel() / D);
    CHECK(max_error(f.mean, ref.mean) < 1e-6);
    CHECK(max_error(f.rstd, ref.rstd) < 1e-5);
    CHECK(max_error(f.y, ref.y) < 1e-5);
    LayerNormBackward b = layer_norm_backward(g, x, gamma, f.mean, f.rstd);
    CHECK(max_error(b.grad_x, ref.grad_x) < 1e-5);
    CHECK(max_error(b.grad_gamma, ref.grad_gamma) < 1e-5);
    CHECK(max_error(b.grad_beta, ref.grad_beta) < 1e-5);
  }
  Tensor x = random_tensor({3, 4}, 1);
  CHECK_THROWS_AS(layer_norm_forward(x, Tensor::zeros({3}), Tensor::zeros({4}), eps), Error);
  CHECK_THROWS_AS(layer_norm_forward(x, Tensor::zeros({4}), Tensor::zeros({5}), eps), Error);
}

TEST_CASE("layer_norm: gradient checks") {
  // LayerNorm is smooth; like BatchNorm it gets rtol 2e-2, atol 2e-3 (step 1e-2).
  dip::test::GradCheck opt;
  opt.rtol = 2e-2f;
  opt.atol = 2e-3f;
  uint64_t seed = 20;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 1, 3, 3}, Shape{5, 4}, Shape{6}}) {
    INFO("shape ", s.str());
    const int64_t D = s[-1];
    Tensor x = random_tensor(s, seed++, -2.f, 2.f);
    Tensor gamma = random_tensor({D}, seed++, 0.5f, 1.5f), beta = random_tensor({D}, seed++);
    check_gradients("layer_norm", [](auto& v) { return layer_norm(v[0], v[1], v[2], 1e-5f); },
                    {x, gamma, beta}, opt);
  }
}
