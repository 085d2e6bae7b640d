// Counter-based Gaussian noise (tensor/noise.h): determinism per (seed, counter), independence
// of neighbouring counters and seeds, moments and tails of the distribution, odd sizes, and the
// CUDA kernel against the CPU one.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/noise.h"
#include "tests/cuda_compare.h"

using namespace dip;

namespace {

double correlation(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
  return ab / std::sqrt(aa * bb);
}

}  // namespace

TEST_CASE("noise: the same (seed, counter) gives the same values, others are uncorrelated") {
  const Shape shape{2, 3, 70, 91};  // odd count: the last pair has one element
  const std::vector<float> a = normal_noise(shape, 0.5f, 11, 3).to_vector();
  CHECK(a == normal_noise(shape, 0.5f, 11, 3).to_vector());
  const std::vector<float> next_counter = normal_noise(shape, 0.5f, 11, 4).to_vector();
  const std::vector<float> next_seed = normal_noise(shape, 0.5f, 12, 3).to_vector();
  // Independent N(0, 1) samples of this size have |correlation| ~ 1/sqrt(38220) = 0.005.
  CHECK(std::fabs(correlation(a, next_counter)) < 0.03);
  CHECK(std::fabs(correlation(a, next_seed)) < 0.03);
  // Neighbouring elements (the two halves of a Box-Muller pair, and successive pairs).
  std::vector<float> even, odd, shifted;
  for (size_t i = 0; i + 2 < a.size(); i += 2) even.push_back(a[i]), odd.push_back(a[i + 1]), shifted.push_back(a[i + 2]);
  CHECK(std::fabs(correlation(even, odd)) < 0.03);
  CHECK(std::fabs(correlation(even, shifted)) < 0.03);
  // A prefix of a longer draw is the shorter draw: values depend on the index, not the size.
  const std::vector<float> longer = normal_noise({5, 100}, 1.f, 7, 0).to_vector();
  const std::vector<float> shorter = normal_noise({3, 100}, 1.f, 7, 0).to_vector();
  CHECK(std::equal(shorter.begin(), shorter.end(), longer.begin()));
}

TEST_CASE("noise: mean, standard deviation and tails of N(0, sigma^2)") {
  const float sigma = 0.25f;
  const std::vector<float> v = normal_noise({1 << 20}, sigma, 5, 9).to_vector();
  double s = 0, s2 = 0, s4 = 0;
  int64_t beyond2 = 0;
  for (float x : v) {
    const double z = x / sigma;
    s += z, s2 += z * z, s4 += z * z * z * z;
    beyond2 += std::fabs(z) > 2.0;
  }
  const double n = static_cast<double>(v.size());
  CHECK(std::fabs(s / n) < 0.005);            // standard error 0.001
  CHECK(s2 / n == doctest::Approx(1.0).epsilon(0.01));
  CHECK(s4 / n == doctest::Approx(3.0).epsilon(0.03));  // the normal's kurtosis
  CHECK(beyond2 / n == doctest::Approx(0.0455).epsilon(0.05));
  CHECK(std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); }));
}

TEST_CASE("noise: CUDA draws the CPU's values" * dip::test::needs_gpu()) {
  for (const Shape& shape : {Shape{1}, Shape{7}, Shape{3, 5, 33}, Shape{1, 32, 256, 256}}) {
    INFO("shape ", shape.str());
    const Tensor cpu = normal_noise(shape, 0.1f, 42, 17);
    const Tensor gpu = normal_noise(shape, 0.1f, 42, 17, Device::CUDA);
    // logf, sqrtf and sincospif differ from the host's by a few ulp (and 2*pi*u rounds once more).
    dip::test::check_close("normal_noise", gpu, cpu, 1e-5);
  }
}
