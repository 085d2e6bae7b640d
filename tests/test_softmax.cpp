// Softmax over the last dimension: rows sum to 1, values and backward against double references,
// stability with large inputs, gradient checks.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/functions.h"
#include "tensor/softmax.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_gradients;
using dip::test::random_tensor;

TEST_CASE("softmax: values, row sums and the backward kernel") {
  // (50, 700): 35000 elements, the threaded path.
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 1}, Shape{13}, Shape{50, 700}}) {
    INFO("shape ", s.str());
    const int64_t D = s[-1], rows = s.numel() / D;
    Tensor x = random_tensor(s, 5, -4.f, 4.f), g = random_tensor(s, 6);
    std::vector<float> vx = x.to_vector(), vg = g.to_vector();
    Tensor y = softmax_lastdim(x);
    std::vector<float> vy = y.to_vector(), vgx = softmax_lastdim_backward(y, g).to_vector();
    double worst_y = 0, worst_g = 0, worst_sum = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const float* p = vx.data() + r * D;
      double z = 0, sum = 0, dot = 0;
      for (int64_t i = 0; i < D; ++i) z += std::exp(double(p[i]));
      for (int64_t i = 0; i < D; ++i) {
        sum += vy[r * D + i];
        dot += vg[r * D + i] * std::exp(double(p[i])) / z;
      }
      worst_sum = std::max(worst_sum, std::fabs(sum - 1.0));
      for (int64_t i = 0; i < D; ++i) {
        const double ref = std::exp(double(p[i])) / z;
        worst_y = std::max(worst_y, std::fabs(vy[r * D + i] - ref));
        worst_g = std::max(worst_g, std::fabs(vgx[r * D + i] - ref * (vg[r * D + i] - dot)));
      }
    }
    CHECK(worst_sum < 1e-5);
    CHECK(worst_y < 1e-6);
    CHECK(worst_g < 1e-6);
  }
}

TEST_CASE("softmax: large inputs stay finite and shift-invariant") {
  Tensor x = Tensor::from_vector({2, 3}, {1000.f, 1001.f, 1002.f, -1000.f, -1001.f, -1002.f});
  std::vector<float> y = softmax_lastdim(x).to_vector();
  // softmax(0, 1, 2) = (0.0900306, 0.2447285, 0.6652410)
  std::vector<float> ref = {0.0900306f, 0.2447285f, 0.6652410f, 0.6652410f, 0.2447285f, 0.0900306f};
  for (int i = 0; i < 6; ++i) CHECK(y[i] == doctest::Approx(ref[i]).epsilon(1e-5));
}

TEST_CASE("softmax: gradient checks") {
  // Smooth; default tolerances (rtol 1e-2, atol 1e-3, step 1e-2).
  uint64_t seed = 40;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 1, 3, 3}, Shape{4, 9}, Shape{13}}) {
    INFO("shape ", s.str());
    check_gradients("softmax", [](auto& v) { return softmax(v[0]); }, {random_tensor(s, seed++, -2.f, 2.f)});
  }
}
