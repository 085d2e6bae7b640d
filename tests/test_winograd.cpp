// Winograd F(2x2, 3x3) (tensor/cpu/winograd.cpp) against the direct im2col + GEMM convolution: the
// forward and both backward kernels for every padding mode, odd and even sizes, several images,
// with and without bias; which convolutions take the fast path; and the same bits on 1, 2 and 3
// threads. The direct path itself is checked against a plain loop and by finite differences in
// test_conv2d.cpp, so agreement here carries those checks over.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "tensor/conv2d.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/winograd.h"
#include "tests/cuda_compare.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_gradients;
using dip::test::normalized_error;
using dip::test::random_tensor;

namespace {

// F(4x4, 3x3)'s transforms scale by up to 8 (A) and 1/24 (G) around the channel sum, so in float32
// the result differs from the direct sum by more than a few ulps. Measured worst normalised error
// over the cases below: 2.1e-6 (forward at 132 -> 128 channels; F(2x2, 3x3) had 4.3e-7); the
// tolerance leaves a margin of about 5x.
constexpr double kTolerance = 1e-5;

// Runs f with Winograd on or off, restoring the setting.
template <class F>
auto with_winograd(bool on, F f) {
  const bool saved = cpu::winograd_enabled();
  cpu::set_winograd_enabled(on);
  auto result = f();
  cpu::set_winograd_enabled(saved);
  return result;
}

struct Case {
  Shape x;
  int64_t c_out;
  int padding;
  PaddingMode mode;
  bool bias;
};

std::string describe(const Case& c) {
  const char* mode = c.mode == PaddingMode::Zeros ? "zeros" : c.mode == PaddingMode::Reflect ? "reflect" : "replicate";
  return "x " + c.x.str() + " c_out " + std::to_string(c.c_out) + " padding " + std::to_string(c.padding) + " " +
         mode + (c.bias ? " bias" : "");
}

std::vector<Case> cases() {
  std::vector<Case> v;
  for (PaddingMode mode : {PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate}) {
    v.push_back({{1, 16, 48, 48}, 16, 1, mode, true});     // even output
    v.push_back({{2, 20, 47, 53}, 24, 1, mode, false});    // odd sizes, two images
    v.push_back({{1, 16, 45, 46}, 17, 2, mode, true});     // padding 2: a larger output than input
  }
  v.push_back({{1, 18, 50, 48}, 16, 0, PaddingMode::Zeros, false});  // no padding: 48 x 46
  v.push_back({{1, 132, 64, 64}, 128, 1, PaddingMode::Reflect, true});  // the skip net's decoder conv
  return v;
}

}  // namespace

TEST_CASE("winograd: forward and both backward kernels match the direct convolution") {
  for (const Case& c : cases()) {
    INFO(describe(c));
    const Shape w_shape{c.c_out, c.x[1], 3, 3};
    Conv2dOptions opt;
    opt.padding = c.padding;
    opt.padding_mode = c.mode;
    const ConvSizes sizes = conv2d_sizes(c.x, w_shape, opt);
    REQUIRE(with_winograd(true, [&] { return cpu::winograd_applies(sizes, opt); }));
    REQUIRE_FALSE(with_winograd(false, [&] { return cpu::winograd_applies(sizes, opt); }));

    const Tensor x = random_tensor(c.x, 1);
    const Tensor w = random_tensor(w_shape, 2, -0.2f, 0.2f);
    const Tensor b = c.bias ? random_tensor({c.c_out}, 3) : Tensor();
    const Shape out_shape = conv2d_output_shape(c.x, w_shape, opt);
    const Tensor dy = random_tensor(out_shape, 4);

    const Tensor y_fast = with_winograd(true, [&] { return conv2d_forward(x, w, b, opt); });
    const Tensor y_ref = with_winograd(false, [&] { return conv2d_forward(x, w, b, opt); });
    CHECK(y_fast.shape() == out_shape);
    CHECK(normalized_error(y_fast, y_ref) < kTolerance);

    const Tensor dx_fast = with_winograd(true, [&] { return conv2d_backward_input(dy, w, c.x, opt); });
    const Tensor dx_ref = with_winograd(false, [&] { return conv2d_backward_input(dy, w, c.x, opt); });
    CHECK(normalized_error(dx_fast, dx_ref) < kTolerance);

    const Tensor dw_fast = with_winograd(true, [&] { return conv2d_backward_weight(dy, x, w_shape, opt); });
    const Tensor dw_ref = with_winograd(false, [&] { return conv2d_backward_weight(dy, x, w_shape, opt); });
    CHECK(normalized_error(dw_fast, dw_ref) < kTolerance);
  }
}

TEST_CASE("winograd: only stride-1 3x3 convolutions with enough channels and pixels take it") {
  auto applies = [](Shape x, Shape w, int stride, int groups) {
    Conv2dOptions opt;
    opt.stride = stride;
    opt.padding = 1;
    opt.groups = groups;
    return cpu::winograd_applies(conv2d_sizes(x, w, opt), opt);
  };
  CHECK(applies({1, 128, 64, 64}, {128, 128, 3, 3}, 1, 1));
  CHECK_FALSE(applies({1, 128, 64, 64}, {128, 128, 3, 3}, 2, 1));  // stride 2
  CHECK_FALSE(applies({1, 128, 64, 64}, {128, 128, 1, 1}, 1, 1));  // 1x1
  CHECK_FALSE(applies({1, 128, 64, 64}, {128, 64, 3, 3}, 1, 2));   // groups
  CHECK_FALSE(applies({1, 4, 64, 64}, {128, 4, 3, 3}, 1, 1));      // too few input channels
  CHECK_FALSE(applies({1, 128, 16, 16}, {128, 128, 3, 3}, 1, 1));  // too few pixels
}

TEST_CASE("winograd: results do not depend on the number of threads") {
  const Shape xs{2, 24, 49, 46}, ws{20, 24, 3, 3};
  Conv2dOptions opt;
  opt.padding = 1;
  opt.padding_mode = PaddingMode::Reflect;
  const Tensor x = random_tensor(xs, 5), w = random_tensor(ws, 6, -0.2f, 0.2f), b = random_tensor({20}, 7);
  const Tensor dy = random_tensor(conv2d_output_shape(xs, ws, opt), 8);
  const int saved = cpu::num_threads();
  std::vector<std::vector<float>> runs[3];
  for (int threads : {1, 2, 3}) {
    cpu::set_num_threads(threads);
    REQUIRE(cpu::winograd_applies(conv2d_sizes(xs, ws, opt), opt));
    runs[threads - 1] = {conv2d_forward(x, w, b, opt).to_vector(), conv2d_backward_input(dy, w, xs, opt).to_vector(),
                         conv2d_backward_weight(dy, x, ws, opt).to_vector()};
  }
  cpu::set_num_threads(saved);
  CHECK(runs[0] == runs[1]);
  CHECK(runs[0] == runs[2]);
}

TEST_CASE("winograd: finite-difference gradient checks of conv2d through the Winograd path") {
  // The autograd conv2d on sizes that take Winograd, every padding mode, with bias: the analytic
  // gradients (Winograd backward kernels) against central differences of the Winograd forward.
  for (PaddingMode mode : {PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate}) {
    Conv2dOptions opt;
    opt.padding = 1;
    opt.padding_mode = mode;
    const Shape xs{1, 16, 33, 32}, ws{16, 16, 3, 3};
    REQUIRE(cpu::winograd_applies(conv2d_sizes(xs, ws, opt), opt));
    check_gradients(
        std::string("winograd conv2d, padding mode ") + std::to_string(int(mode)),
        [opt](const std::vector<Variable>& v) { return conv2d(v[0], v[1], v[2], opt); },
        {random_tensor(xs, 11), random_tensor(ws, 12, -0.2f, 0.2f), random_tensor({16}, 13)});
  }
}
