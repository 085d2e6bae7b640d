// conv2d: values against a plain direct convolution on an explicitly padded input, the backward
// kernels against the forward by the adjoint (dot-product) identity, finite-difference gradient
// checks, and argument errors.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "tensor/conv2d.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_gradients;
using dip::test::random_tensor;

namespace {

const char* mode_name(PaddingMode m) {
  switch (m) {
    case PaddingMode::Zeros: return "zeros";
    case PaddingMode::Reflect: return "reflect";
    case PaddingMode::Replicate: return "replicate";
  }
  return "?";
}

std::string describe_conv(const Shape& x, const Shape& w, const Conv2dOptions& o, bool bias) {
  return "x " + x.str() + " w " + w.str() + " stride " + std::to_string(o.stride) + " padding " +
         std::to_string(o.padding) + " " + mode_name(o.padding_mode) + " groups " +
         std::to_string(o.groups) + (bias ? " bias" : "");
}

// The padded input (N, C, H + 2p, W + 2p), built pixel by pixel as torch's ZeroPad2d /
// ReflectionPad2d / ReplicationPad2d would.
std::vector<double> pad_reference(const Tensor& x, int p, PaddingMode mode) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t hp = h + 2 * p, wp = w + 2 * p;
  std::vector<float> v = x.to_vector();
  std::vector<double> out(static_cast<size_t>(n * c * hp * wp), 0.0);
  auto source = [mode](int64_t i, int64_t size) -> int64_t {
    if (i >= 0 && i < size) return i;
    if (mode == PaddingMode::Zeros) return -1;
    if (mode == PaddingMode::Replicate) return i < 0 ? 0 : size - 1;
    return i < 0 ? -i : 2 * (size - 1) - i;  // reflect: the edge pixel is not repeated
  };
  for (int64_t b = 0; b < n * c; ++b)
    for (int64_t i = 0; i < hp; ++i)
      for (int64_t j = 0; j < wp; ++j) {
        int64_t si = source(i - p, h), sj = source(j - p, w);
        if (si >= 0 && sj >= 0) out[(b * hp + i) * wp + j] = v[(b * h + si) * w + sj];
      }
  return out;
}

// Direct convolution: out[n][co][oh][ow] = b[co] + sum_{ci, kh, kw} xp[n][g*Cg + ci][oh*s + kh][ow*s + kw]
// * w[co][ci][kh][kw], in double.
std::vector<double> conv_reference(const Tensor& x, const Tensor& w, const Tensor& bias,
                                   const Conv2dOptions& o) {
  const int64_t n = x.size(0), c_in = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t c_out = w.size(0), cg = w.size(1), kh = w.size(2), kw = w.size(3);
  const int64_t hp = h + 2 * o.padding, wp = wd + 2 * o.padding;
  const int64_t ho = (hp - kh) / o.stride + 1, wo = (wp - kw) / o.stride + 1;
  const int64_t per_group = c_out / o.groups;
  std::vector<double> xp = pad_reference(x, o.padding, o.padding_mode);
  std::vector<float> wv = w.to_vector();
  std::vector<float> bv = bias.defined() ? bias.to_vector() : std::vector<float>(c_out, 0.f);
  std::vector<double> out(static_cast<size_t>(n * c_out * ho * wo));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t co = 0; co < c_out; ++co) {
      const int64_t g = co / per_group;
      for (int64_t i = 0; i < ho; ++i)
        for (int64_t j = 0; j < wo; ++j) {
          double s = bv[co];
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t u = 0; u < kh; ++u)
              for (int64_t v = 0; v < kw; ++v)
                s += xp[((b * c_in + g * cg + ci) * hp + i * o.stride + u) * wp + j * o.stride + v] *
                     wv[((co * cg + ci) * kh + u) * kw + v];
          out[((b * c_out + co) * ho + i) * wo + j] = s;
        }
    }
  return out;
}

double dot(const Tensor& a, const Tensor& b) {
  std::vector<float> u = a.to_vector(), v = b.to_vector();
  REQUIRE(u.size() == v.size());
  double s = 0;
  for (size_t i = 0; i < u.size(); ++i) s += double(u[i]) * double(v[i]);
  return s;
}

// The checks shared by every configuration:
//  * forward equals the direct reference (|diff| <= 1e-4 * (1 + |ref|));
//  * backward_input and backward_weight are the adjoints of the forward in x and in w:
//      <conv(x, w), g> = <x, backward_input(g)> = <w, backward_weight(g, x)>   (rel. 1e-4)
//  * backward_bias is the adjoint of adding the bias: <b, backward_bias(g)> = sum over b[c] * g[., c].
void check_config(const Shape& xs, const Shape& ws, const Conv2dOptions& o, bool with_bias, uint64_t seed) {
  const std::string what = describe_conv(xs, ws, o, with_bias);
  INFO(what);
  Tensor x = random_tensor(xs, seed), w = random_tensor(ws, seed + 1);
  Tensor bias = with_bias ? random_tensor({ws[0]}, seed + 2) : Tensor();
  Tensor y = conv2d_forward(x, w, bias, o);
  REQUIRE(y.shape() == conv2d_output_shape(xs, ws, o));
  std::vector<double> ref = conv_reference(x, w, bias, o);
  std::vector<float> got = y.to_vector();
  REQUIRE(got.size() == ref.size());
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    worst = std::max(worst, std::fabs(got[i] - ref[i]) / (1.0 + std::fabs(ref[i])));
  CHECK(worst <= 1e-4);

  Tensor g = random_tensor(y.shape(), seed + 3);
  Tensor y0 = with_bias ? conv2d_forward(x, w, Tensor(), o) : y;
  const double lhs = dot(y0, g);
  const double scale = 1.0 + std::fabs(lhs);
  Tensor dx = conv2d_backward_input(g, w, xs, o);
  Tensor dw = conv2d_backward_weight(g, x, ws, o);
  REQUIRE(dx.shape() == xs);
  REQUIRE(dw.shape() == ws);
  CHECK(std::fabs(dot(x, dx) - lhs) <= 1e-4 * scale);
  CHECK(std::fabs(dot(w, dw) - lhs) <= 1e-4 * scale);
  if (with_bias) {
    Tensor db = conv2d_backward_bias(g);
    REQUIRE(db.shape() == Shape{ws[0]});
    // <b, db> = <y - y0, g>: the bias' contribution to the output, dotted with g.
    std::vector<float> yv = y.to_vector(), y0v = y0.to_vector(), gv = g.to_vector();
    double expected = 0;
    for (size_t i = 0; i < yv.size(); ++i) expected += (double(yv[i]) - double(y0v[i])) * gv[i];
    CHECK(std::fabs(dot(bias, db) - expected) <= 1e-4 * (1.0 + std::fabs(expected)));
  }
}

}  // namespace

TEST_CASE("conv2d: a hand-computed 3x3 reflect example") {
  // x = [[1 2 3] [4 5 6] [7 8 9]], padded by 1 with reflection:
  //   5 4 5 6 5
  //   2 1 2 3 2
  //   5 4 5 6 5
  //   8 7 8 9 8
  //   5 4 5 6 5
  // A 3x3 kernel of ones sums each 3x3 window of that.
  Tensor x = Tensor::from_vector({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = Tensor::full({1, 1, 3, 3}, 1.f);
  Conv2dOptions o;
  o.padding = 1;
  o.padding_mode = PaddingMode::Reflect;
  CHECK(conv2d_forward(x, w, Tensor(), o).to_vector() ==
        std::vector<float>{33, 36, 39, 42, 45, 48, 51, 54, 57});
  // The gradient of sum(y): each pixel counts how often it is read, mirrored reads included.
  // Padded rows 0..4 are read by 1, 2, 3, 2, 1 windows and come from rows 1, 0, 1, 2, 1, so rows
  // (and columns) 0, 1, 2 are read 2, 1 + 3 + 1, 2 times; a pixel's count is the product.
  Tensor dx = conv2d_backward_input(Tensor::full({1, 1, 3, 3}, 1.f), w, x.shape(), o);
  CHECK(dx.to_vector() == std::vector<float>{4, 10, 4, 10, 25, 10, 4, 10, 4});
}

TEST_CASE("conv2d: values and adjoints over kernel, stride, padding, mode, groups, bias") {
  // x (2, 4, 7, 9); groups 1 and 2 with 6 output channels, depthwise (groups 4) with 8.
  uint64_t seed = 100;
  for (int k : {1, 3, 5})
    for (int stride : {1, 2})
      for (int padding : {0, 1, 2})
        for (PaddingMode mode : {PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate})
          for (int groups : {1, 2, 4})
            for (bool bias : {false, true}) {
              Conv2dOptions o;
              o.stride = stride;
              o.padding = padding;
              o.padding_mode = mode;
              o.groups = groups;
              const int64_t c_out = groups == 4 ? 8 : 6;
              check_config({2, 4, 7, 9}, {c_out, 4 / groups, k, k}, o, bias, seed);
              seed += 10;
            }
}

TEST_CASE("conv2d: non-square kernels, single pixels, many output-row blocks") {
  Conv2dOptions o;
  o.padding = 1;
  o.padding_mode = PaddingMode::Reflect;
  check_config({1, 3, 6, 5}, {2, 3, 1, 3}, o, true, 1);
  check_config({2, 3, 5, 8}, {4, 3, 3, 2}, o, false, 2);
  o.padding_mode = PaddingMode::Replicate;
  o.padding = 3;
  check_config({1, 2, 1, 1}, {3, 2, 3, 3}, o, true, 3);  // every read is the one pixel
  o.padding_mode = PaddingMode::Zeros;
  o.padding = 0;
  o.stride = 3;
  check_config({1, 2, 8, 10}, {3, 2, 2, 2}, o, false, 4);
  // 64 channels of 64x64 under a 3x3 kernel: the column matrix (576 x 4096) exceeds the block budget,
  // so the output rows are processed in several blocks (and the last one is short).
  o = Conv2dOptions{};
  o.padding = 1;
  o.padding_mode = PaddingMode::Reflect;
  check_config({1, 64, 61, 64}, {4, 64, 3, 3}, o, true, 5);
  o.stride = 2;
  check_config({1, 64, 61, 64}, {4, 64, 3, 3}, o, false, 6);
}

TEST_CASE("conv2d: shapes big enough for the multi-threaded paths") {
  // Above ~2 MFLOP the kernels split work among threads: the forward by row blocks, the backward by
  // input channels, whose shares may cut through a group (12 channels in groups of 4 over 2 threads).
  Conv2dOptions o;
  o.padding = 1;
  o.padding_mode = PaddingMode::Reflect;
  o.groups = 3;
  check_config({2, 12, 40, 48}, {12, 4, 3, 3}, o, true, 11);
  o.groups = 16;  // depthwise with two filters per channel
  o.padding = 2;
  o.padding_mode = PaddingMode::Replicate;
  check_config({1, 16, 64, 64}, {32, 1, 5, 5}, o, false, 12);
  o = Conv2dOptions{};  // pointwise
  check_config({2, 64, 32, 32}, {32, 64, 1, 1}, o, true, 13);
  o.stride = 2;
  o.padding = 1;
  o.padding_mode = PaddingMode::Zeros;
  check_config({2, 32, 33, 35}, {16, 32, 3, 3}, o, true, 14);
}

TEST_CASE("conv2d: gradient checks") {
  // conv2d is linear in each input, so central differences are exact up to float rounding; the
  // default tolerances (rtol 1e-2, atol 1e-3, step 1e-2) leave a wide margin.
  struct Case {
    Shape x, w;
    int stride, padding, groups;
    PaddingMode mode;
    bool bias;
  };
  const std::vector<Case> cases = {
      {{2, 3, 7, 9}, {4, 3, 3, 3}, 1, 1, 1, PaddingMode::Reflect, true},
      {{2, 3, 7, 9}, {4, 3, 3, 3}, 2, 1, 1, PaddingMode::Reflect, true},
      {{1, 4, 8, 7}, {6, 2, 5, 5}, 2, 2, 2, PaddingMode::Replicate, false},
      {{2, 4, 6, 5}, {4, 1, 3, 3}, 1, 1, 4, PaddingMode::Zeros, true},  // depthwise
      {{2, 5, 5, 6}, {3, 5, 1, 1}, 1, 0, 1, PaddingMode::Zeros, true},  // pointwise: no im2col
      {{1, 3, 9, 8}, {2, 3, 3, 3}, 2, 0, 1, PaddingMode::Zeros, false},
      {{1, 2, 5, 7}, {3, 2, 3, 3}, 1, 2, 1, PaddingMode::Reflect, true},
  };
  uint64_t seed = 7;
  for (const Case& c : cases) {
    Conv2dOptions o;
    o.stride = c.stride;
    o.padding = c.padding;
    o.groups = c.groups;
    o.padding_mode = c.mode;
    std::vector<Tensor> inputs = {random_tensor(c.x, seed), random_tensor(c.w, seed + 1)};
    if (c.bias) inputs.push_back(random_tensor({c.w[0]}, seed + 2));
    seed += 3;
    check_gradients(
        "conv2d " + describe_conv(c.x, c.w, o, c.bias),
        [o](const std::vector<Variable>& v) { return conv2d(v[0], v[1], v.size() > 2 ? v[2] : Variable(), o); },
        inputs);
  }
}

TEST_CASE("conv2d: a constant input needs no gradient and keeps working") {
  // z (the DIP input) requires no gradient: only the weight and bias get one.
  Conv2dOptions o;
  o.padding = 1;
  o.padding_mode = PaddingMode::Reflect;
  Variable z(random_tensor({1, 2, 5, 5}, 1));
  Variable w(random_tensor({3, 2, 3, 3}, 2), true), b(random_tensor({3}, 3), true);
  Variable y = conv2d(z, w, b, o);
  y.backward(Tensor::full(y.shape(), 1.f));
  CHECK(!z.grad().defined());
  CHECK(w.grad().shape() == w.shape());
  CHECK(b.grad().to_vector() == std::vector<float>(3, 25.f));  // 25 output pixels each
}

TEST_CASE("conv2d: argument errors") {
  Tensor x = Tensor::zeros({1, 4, 5, 6});
  Conv2dOptions o;
  CHECK_THROWS_AS(conv2d_forward(x, Tensor::zeros({2, 3, 3, 3}), Tensor(), o), Error);  // C_in 3 != 4
  CHECK_THROWS_AS(conv2d_forward(Tensor::zeros({4, 5, 6}), Tensor::zeros({2, 4, 3, 3}), Tensor(), o),
                  Error);  // x not 4-D
  CHECK_THROWS_AS(conv2d_forward(x, Tensor::zeros({2, 4, 3, 3}), Tensor::zeros({3}), o), Error);  // bias
  CHECK_THROWS_AS(conv2d_forward(x, Tensor::zeros({2, 4, 7, 3}), Tensor(), o), Error);  // kernel > input
  o.groups = 3;
  CHECK_THROWS_AS(conv2d_forward(x, Tensor::zeros({3, 1, 3, 3}), Tensor(), o), Error);  // 3 does not divide 4
  o.groups = 2;
  CHECK_THROWS_AS(conv2d_forward(x, Tensor::zeros({4, 4, 3, 3}), Tensor(), o), Error);  // expects 2 per group
  o = Conv2dOptions{};
  o.padding_mode = PaddingMode::Reflect;
  o.padding = 5;  // == H
  CHECK_THROWS_AS(conv2d_forward(x, Tensor::zeros({2, 4, 3, 3}), Tensor(), o), Error);
  o.padding = 4;  // < H but padding 4 is fine for W = 6 too: allowed
  CHECK_NOTHROW(conv2d_forward(x, Tensor::zeros({2, 4, 3, 3}), Tensor(), o));
  o.padding = 1;
  o.stride = 0;
  CHECK_THROWS_AS(conv2d_forward(x, Tensor::zeros({2, 4, 3, 3}), Tensor(), o), Error);
  o.stride = 1;
  // A gradient whose shape is not the output's.
  CHECK_THROWS_AS(conv2d_backward_input(Tensor::zeros({1, 2, 4, 4}), Tensor::zeros({2, 4, 3, 3}),
                                        x.shape(), o),
                  Error);
}
