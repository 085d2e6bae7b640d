// Upsampling: values against PyTorch's nn.Upsample (hand-computed), a double-precision reference of
// the same formula at odd sizes, the backward as the exact adjoint of the forward, thread-count
// independence, and finite-difference gradient checks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "autograd/functions.h"
#include "tensor/cpu/gemm.h"
#include "tensor/upsample.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_gradients;
using dip::test::random_tensor;

namespace {

// PyTorch's interpolation, written out per output element in double: nearest reads floor(o / s);
// bilinear (align_corners = false) reads src = max((o + 0.5) / s - 0.5, 0) and its right/lower
// neighbour clamped to the edge.
std::vector<double> reference_upsample(const Tensor& x, int s, UpsampleMode mode) {
  const int64_t P = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), Ho = H * s, Wo = W * s;
  std::vector<float> v = x.to_vector();
  std::vector<double> out(P * Ho * Wo);
  auto source = [s](int64_t o, int64_t n, int64_t& i0, int64_t& i1, double& f) {
    double src = std::max((o + 0.5) / s - 0.5, 0.0);
    i0 = static_cast<int64_t>(src);
    i1 = std::min(i0 + 1, n - 1);
    f = src - i0;
  };
  for (int64_t p = 0; p < P; ++p)
    for (int64_t oy = 0; oy < Ho; ++oy)
      for (int64_t ox = 0; ox < Wo; ++ox) {
        const float* plane = v.data() + p * H * W;
        double value;
        if (mode == UpsampleMode::Nearest) {
          value = plane[(oy / s) * W + ox / s];
        } else {
          int64_t y0, y1, x0, x1;
          double fy, fx;
          source(oy, H, y0, y1, fy);
          source(ox, W, x0, x1, fx);
          value = (1 - fy) * ((1 - fx) * plane[y0 * W + x0] + fx * plane[y0 * W + x1]) +
                  fy * ((1 - fx) * plane[y1 * W + x0] + fx * plane[y1 * W + x1]);
        }
        out[(p * Ho + oy) * Wo + ox] = value;
      }
  return out;
}

double dot(const Tensor& a, const Tensor& b) {
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double s = 0;
  for (size_t i = 0; i < va.size(); ++i) s += double(va[i]) * double(vb[i]);
  return s;
}

std::string mode_name(UpsampleMode m) { return m == UpsampleMode::Nearest ? "nearest" : "bilinear"; }

}  // namespace

TEST_CASE("upsample: values as PyTorch nn.Upsample") {
  Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4});
  // torch.nn.Upsample(scale_factor=2, mode='bilinear')(x)
  std::vector<float> bilinear = {1.00f, 1.25f, 1.75f, 2.00f,  //
                                 1.50f, 1.75f, 2.25f, 2.50f,  //
                                 2.50f, 2.75f, 3.25f, 3.50f,  //
                                 3.00f, 3.25f, 3.75f, 4.00f};
  std::vector<float> nearest = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
  Tensor yb = upsample2d(x, 2, UpsampleMode::Bilinear);
  CHECK(yb.shape() == Shape{1, 1, 4, 4});
  CHECK(yb.to_vector() == bilinear);  // weights 1/4, 3/4: exact in float
  CHECK(upsample2d(x, 2, UpsampleMode::Nearest).to_vector() == nearest);

  // Scale 3 along a row [1, 2, 3]: src = (o + 0.5) / 3 - 0.5 = -1/3 (clamped), 0, 1/3, ..., 7/3.
  Tensor row = Tensor::from_vector({1, 1, 1, 3}, {1, 2, 3});
  std::vector<float> expect3 = {1, 1, 4.f / 3, 5.f / 3, 2, 7.f / 3, 8.f / 3, 3, 3};
  std::vector<float> got3 = upsample2d(row, 3, UpsampleMode::Bilinear).to_vector();
  REQUIRE(got3.size() == 27);  // (1, 1, 3, 9): the three rows are equal
  for (int r = 0; r < 3; ++r)
    for (int i = 0; i < 9; ++i) CHECK(got3[r * 9 + i] == doctest::Approx(expect3[i]).epsilon(1e-6));
  CHECK(upsample2d(row, 3, UpsampleMode::Nearest).to_vector() ==
        std::vector<float>{1, 1, 1, 2, 2, 2, 3, 3, 3, 1, 1, 1, 2, 2, 2, 3, 3, 3, 1, 1, 1, 2, 2, 2, 3, 3, 3});

  // Scale 1 is the identity in both modes.
  Tensor r = random_tensor({2, 3, 5, 4}, 3);
  CHECK(upsample2d(r, 1, UpsampleMode::Bilinear).to_vector() == r.to_vector());
  CHECK(upsample2d(r, 1, UpsampleMode::Nearest).to_vector() == r.to_vector());
}

TEST_CASE("upsample: against the reference at odd sizes, scales 2 and 3") {
  // Includes 1-pixel planes (every neighbour clamped) and shapes large enough to run threaded.
  const std::vector<Shape> shapes = {{1, 1, 1, 1}, {1, 2, 1, 5}, {2, 3, 5, 7}, {1, 1, 6, 1},
                                     {1, 16, 33, 31}, {2, 5, 9, 64}};
  uint64_t seed = 10;
  for (const Shape& s : shapes)
    for (int scale : {2, 3})
      for (UpsampleMode mode : {UpsampleMode::Nearest, UpsampleMode::Bilinear}) {
        INFO(mode_name(mode), " x", scale, " of ", s.str());
        Tensor x = random_tensor(s, seed++);
        Tensor y = upsample2d(x, scale, mode);
        REQUIRE(y.shape() == Shape{s[0], s[1], s[2] * scale, s[3] * scale});
        std::vector<float> got = y.to_vector();
        std::vector<double> want = reference_upsample(x, scale, mode);
        double worst = 0;
        for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
        // The kernel computes source positions in float, as PyTorch does. For scale 2 the weights are
        // exact (1/4, 3/4); for scale 3 they move by ~1e-6 relative to src (up to ~100 here).
        CHECK(worst <= (scale == 2 ? 1e-6 : 1e-5));
      }
}

TEST_CASE("upsample: backward is the adjoint of the forward") {
  // <up(x), g> == <x, up_backward(g)> for random x, g pins down every weight of the gather.
  const std::vector<Shape> shapes = {{1, 1, 1, 1}, {1, 1, 2, 1}, {2, 3, 5, 7}, {1, 4, 8, 3}, {1, 16, 33, 31}};
  uint64_t seed = 40;
  for (const Shape& s : shapes)
    for (int scale : {1, 2, 3})
      for (UpsampleMode mode : {UpsampleMode::Nearest, UpsampleMode::Bilinear}) {
        INFO(mode_name(mode), " x", scale, " of ", s.str());
        Tensor x = random_tensor(s, seed++);
        Tensor y = upsample2d(x, scale, mode);
        Tensor g = random_tensor(y.shape(), seed++);
        Tensor gx = upsample2d_backward(g, scale, mode);
        REQUIRE(gx.shape() == s);
        double lhs = dot(y, g), rhs = dot(x, gx);
        CHECK(lhs == doctest::Approx(rhs).epsilon(1e-5));
      }
  // A constant gradient of 1 gives each input pixel its total weight: s^2 in both modes.
  Tensor ones = Tensor::full({1, 2, 10, 14}, 1.f);
  for (UpsampleMode mode : {UpsampleMode::Nearest, UpsampleMode::Bilinear})
    for (float v : upsample2d_backward(ones, 2, mode).to_vector()) CHECK(v == doctest::Approx(4.f));
}

TEST_CASE("upsample: results do not depend on the thread count") {
  const int saved = cpu::num_threads();
  Tensor x = random_tensor({1, 16, 32, 30}, 5);  // large enough for the threaded paths
  Tensor g = random_tensor({1, 16, 64, 60}, 6);
  Tensor g3 = random_tensor({1, 16, 96, 90}, 7);
  auto run = [&] {
    std::vector<std::vector<float>> r;
    for (UpsampleMode mode : {UpsampleMode::Nearest, UpsampleMode::Bilinear}) {
      r.push_back(upsample2d(x, 2, mode).to_vector());
      r.push_back(upsample2d_backward(g, 2, mode).to_vector());
      r.push_back(upsample2d_backward(g3, 3, mode).to_vector());
    }
    return r;
  };
  cpu::set_num_threads(1);
  auto one = run();
  cpu::set_num_threads(2);
  auto two = run();
  cpu::set_num_threads(saved);
  CHECK(one == two);  // bitwise: no atomics, fixed summation order
}

TEST_CASE("upsample: bad arguments throw") {
  CHECK_THROWS_AS(upsample2d(Tensor::zeros({3, 4, 4}), 2, UpsampleMode::Bilinear), Error);
  CHECK_THROWS_AS(upsample2d(Tensor::zeros({1, 1, 4, 4}), 0, UpsampleMode::Nearest), Error);
  CHECK_THROWS_AS(upsample2d_backward(Tensor::zeros({1, 1, 5, 4}), 2, UpsampleMode::Bilinear), Error);
  CHECK_THROWS_AS(upsample2d_backward(Tensor::zeros({1, 1, 6, 6}), 4, UpsampleMode::Nearest), Error);
  CHECK_THROWS_AS(upsample2d_backward(Tensor::zeros({6, 6}), 2, UpsampleMode::Nearest), Error);
}

TEST_CASE("upsample: gradient checks") {
  // The op is linear, so central differences are exact up to float rounding (default tolerances).
  const std::vector<Shape> shapes = {{1, 1, 1, 1}, {2, 3, 5, 7}, {1, 2, 4, 1}, {1, 3, 6, 6}};
  uint64_t seed = 70;
  for (const Shape& s : shapes)
    for (int scale : {2, 3})
      for (UpsampleMode mode : {UpsampleMode::Nearest, UpsampleMode::Bilinear}) {
        std::string what = "upsample2d " + mode_name(mode) + " x" + std::to_string(scale) +
                           " " + s.str();
        check_gradients(what, [=](auto& v) { return upsample2d(v[0], scale, mode); },
                        {random_tensor(s, seed++)});
      }
}
