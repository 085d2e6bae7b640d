// Activations: values at known points, kernels against double-precision references (also on
// tensors large enough for the threaded path), and gradient checks.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "autograd/functions.h"
#include "tensor/activation.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_gradients;
using dip::test::random_tensor;

namespace {

// U(-1, 1) values pushed out to |x| >= 0.05, away from the kink of (leaky) ReLU at 0: the
// finite-difference step (0.01) never crosses it.
Tensor away_from_zero(const Shape& s, uint64_t seed) {
  std::vector<float> v = random_tensor(s, seed).to_vector();
  for (float& x : v) x = x >= 0.f ? x + 0.05f : x - 0.05f;
  return Tensor::from_vector(s, v);
}

// Largest |a - ref(x)| relative to (1 + |ref|) over all elements.
double max_error(const Tensor& a, const Tensor& x, const std::function<double(double)>& ref) {
  std::vector<float> va = a.to_vector(), vx = x.to_vector();
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    double r = ref(vx[i]);
    worst = std::max(worst, std::fabs(va[i] - r) / (1.0 + std::fabs(r)));
  }
  return worst;
}

double phi_cdf(double v) { return 0.5 * (1.0 + std::erf(v / std::sqrt(2.0))); }

}  // namespace

TEST_CASE("activation: values at known points") {
  Tensor x = Tensor::from_vector({6}, {-3.f, -1.f, -0.5f, 0.f, 1.f, 2.f});
  std::vector<float> lr = leaky_relu(x, 0.1f).to_vector();
  std::vector<float> lr_ref = {-0.3f, -0.1f, -0.05f, 0.f, 1.f, 2.f};
  for (int i = 0; i < 6; ++i) CHECK(lr[i] == doctest::Approx(lr_ref[i]).epsilon(1e-6));
  CHECK(relu(x).to_vector() == std::vector<float>{0, 0, 0, 0, 1, 2});

  // PyTorch: torch.nn.functional.gelu(torch.tensor([-3., -1., -0.5, 0., 1., 2.]))
  std::vector<float> ge = gelu(x).to_vector();
  std::vector<float> ge_ref = {-0.0040497f, -0.1586553f, -0.1542687f, 0.f, 0.8413447f, 1.9544997f};
  for (int i = 0; i < 6; ++i) CHECK(ge[i] == doctest::Approx(ge_ref[i]).epsilon(1e-5));

  std::vector<float> sg = sigmoid(Tensor::from_vector({4}, {-100.f, 0.f, 2.f, 100.f})).to_vector();
  CHECK(sg[0] == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(sg[1] == 0.5f);
  CHECK(sg[2] == doctest::Approx(0.8807971f).epsilon(1e-6));
  CHECK(sg[3] == 1.f);
  CHECK(tanh(Tensor::from_vector({1}, {0.5f})).item() == doctest::Approx(0.4621172f).epsilon(1e-6));
}

TEST_CASE("activation: kernels against double references (threaded path)") {
  // 38115 elements: above the size where the kernels go parallel, and not a multiple of the
  // 16-float span alignment, so the last thread's ragged end is covered.
  Tensor x = random_tensor({3, 11, 33, 35}, 11, -4.f, 4.f);
  Tensor g = random_tensor(x.shape(), 12);
  const std::vector<float> vg = g.to_vector();
  const float slope = 0.2f;

  CHECK(max_error(leaky_relu(x, slope), x, [&](double v) { return v > 0 ? v : slope * v; }) < 1e-6);
  CHECK(max_error(sigmoid(x), x, [](double v) { return 1.0 / (1.0 + std::exp(-v)); }) < 1e-6);
  CHECK(max_error(tanh(x), x, [](double v) { return std::tanh(v); }) < 1e-6);
  CHECK(max_error(gelu(x), x, [](double v) { return v * phi_cdf(v); }) < 1e-6);

  // Backward kernels: grad_y * f'(x), with f' written out in double.
  auto check_backward = [&](const char* what, const Tensor& gx, const std::function<double(double)>& df) {
    INFO(what);
    std::vector<float> a = gx.to_vector(), vx = x.to_vector();
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      double r = vg[i] * df(vx[i]);
      worst = std::max(worst, std::fabs(a[i] - r) / (1.0 + std::fabs(r)));
    }
    CHECK(worst < 1e-5);
  };
  check_backward("leaky_relu", leaky_relu_backward(x, g, slope), [&](double v) { return v > 0 ? 1.0 : slope; });
  check_backward("sigmoid", sigmoid_backward(sigmoid(x), g), [](double v) {
    double s = 1.0 / (1.0 + std::exp(-v));
    return s * (1 - s);
  });
  check_backward("tanh", tanh_backward(tanh(x), g), [](double v) { return 1.0 - std::tanh(v) * std::tanh(v); });
  check_backward("gelu", gelu_backward(x, g), [](double v) {
    return phi_cdf(v) + v * std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI);
  });
  CHECK_THROWS_AS(leaky_relu_backward(x, Tensor::zeros({3}), slope), Error);
}

TEST_CASE("activation: gradient checks") {
  // Default GradCheck tolerances (rtol 1e-2, atol 1e-3, step 1e-2): all these are smooth away
  // from the (leaky) ReLU kink, which the inputs avoid.
  const std::vector<Shape> shapes = {{2, 3, 5, 7}, {1, 1, 3, 3}, {4, 9}, {11}};
  uint64_t seed = 100;
  for (const Shape& s : shapes) {
    INFO("shape ", s.str());
    Tensor kinked = away_from_zero(s, seed++);
    Tensor x = random_tensor(s, seed++, -3.f, 3.f);
    check_gradients("leaky_relu", [](auto& v) { return leaky_relu(v[0], 0.2f); }, {kinked});
    check_gradients("relu", [](auto& v) { return relu(v[0]); }, {kinked});
    check_gradients("sigmoid", [](auto& v) { return sigmoid(v[0]); }, {x});
    check_gradients("tanh", [](auto& v) { return tanh(v[0]); }, {x});
    check_gradients("gelu", [](auto& v) { return gelu(v[0]); }, {x});
  }
}
