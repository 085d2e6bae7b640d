// Reductions: sum_all and sum_dim against plain loops, result shapes, and gradient checks of
// sum, mean, sum_dim and mean_dim.
#include <doctest/doctest.h>

#include <array>
#include <cmath>

#include "autograd/functions.h"
#include "tensor/cpu/strides.h"
#include "tensor/reduce.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_gradients;
using dip::test::random_tensor;

namespace {

// sum over dimension `dim` of x, by a plain 4-D loop in double; the result keeps the dimension.
std::vector<double> naive_sum_dim(const Tensor& x, int dim) {
  const int rank = x.rank();
  const int d4 = dim + (4 - rank);  // dim in the 4-D view (leading 1s)
  auto n = cpu::dims4(x.shape());
  std::array<int64_t, 4> o = n;
  o[d4] = 1;
  std::vector<double> out(o[0] * o[1] * o[2] * o[3], 0.0);
  std::vector<float> v = x.to_vector();
  for (int64_t a = 0; a < n[0]; ++a)
    for (int64_t b = 0; b < n[1]; ++b)
      for (int64_t c = 0; c < n[2]; ++c)
        for (int64_t e = 0; e < n[3]; ++e) {
          std::array<int64_t, 4> i = {a, b, c, e};
          i[d4] = 0;
          out[((i[0] * o[1] + i[1]) * o[2] + i[2]) * o[3] + i[3]] += v[((a * n[1] + b) * n[2] + c) * n[3] + e];
        }
  return out;
}

void check_sum_dim(const Tensor& x, int dim) {
  INFO("sum_dim ", describe(x), " over ", dim);
  const int d = x.shape().normalize(dim);
  std::vector<double> ref = naive_sum_dim(x, d);
  for (bool keepdim : {false, true}) {
    Tensor s = sum_dim(x, dim, keepdim);
    Shape expect;
    for (int i = 0; i < x.rank(); ++i) {
      if (i != d) expect.push_back(x.size(i));
      else if (keepdim) expect.push_back(1);
    }
    if (expect.rank() == 0) expect.push_back(1);
    CHECK(s.shape() == expect);
    std::vector<float> got = s.to_vector();
    REQUIRE(got.size() == ref.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(ref[i]).epsilon(1e-5));
  }
}

}  // namespace

TEST_CASE("reduce: sum_all and sum_dim values") {
  Tensor a = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(sum_all(a).shape() == Shape{1});
  CHECK(sum_all(a).item() == 21.f);
  CHECK(sum_dim(a, 0).to_vector() == std::vector<float>{5, 7, 9});
  CHECK(sum_dim(a, -1).to_vector() == std::vector<float>{6, 15});
  CHECK(sum_dim(a, 1, true).shape() == Shape{2, 1});
  CHECK_THROWS_AS(sum_dim(a, 2), Error);
  CHECK_THROWS_AS(sum_dim(a, -3), Error);

  // Every dimension, small odd shape and one over the threading threshold (63240 elements; the
  // innermost block of 512 columns is exceeded by dim 0's inner size 17*31*40 = 21080).
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{3, 40, 17, 31}, Shape{9}, Shape{70000}}) {
    Tensor x = random_tensor(s, 21);
    for (int dim = -1; dim < x.rank(); ++dim) check_sum_dim(x, dim);
    double ref = 0;
    for (float v : x.to_vector()) ref += v;
    CHECK(sum_all(x).item() == doctest::Approx(ref).epsilon(1e-5));
  }

  // Double accumulation: a million 0.1s sum to 1e5 within float rounding of the result.
  Tensor ones = Tensor::full({1000, 1000}, 0.1f);
  CHECK(sum_all(ones).item() == doctest::Approx(100000.0).epsilon(1e-6));
  CHECK(sum_dim(ones, 0).to_vector()[17] == doctest::Approx(100.0).epsilon(1e-6));
}

TEST_CASE("reduce: gradient checks") {
  // Sums are linear: central differences are exact up to float rounding (default tolerances).
  int seed = 30;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 1, 3, 3}, Shape{4, 9}, Shape{11}}) {
    INFO("shape ", s.str());
    Tensor x = random_tensor(s, seed++);
    check_gradients("sum", [](auto& v) { return sum(v[0]); }, {x});
    check_gradients("mean", [](auto& v) { return mean(v[0]); }, {x});
    for (int dim = -1; dim < x.rank(); ++dim)
      for (bool keepdim : {false, true}) {
        INFO("dim ", dim, " keepdim ", keepdim);
        check_gradients("sum_dim", [=](auto& v) { return sum_dim(v[0], dim, keepdim); }, {x});
        check_gradients("mean_dim", [=](auto& v) { return mean_dim(v[0], dim, keepdim); }, {x});
      }
  }
  // mean's gradient is exactly 1/n everywhere.
  Variable x(random_tensor({3, 5}, 9), true);
  mean(x).backward();
  for (float g : x.grad().to_vector()) CHECK(g == doctest::Approx(1.0 / 15).epsilon(1e-6));
}
