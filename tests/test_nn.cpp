// Layers (nn/): parameter bookkeeping, PyTorch-default initialisation, each layer against a direct
// reference, gradient checks through whole modules, and the DIP skip network's size and shapes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "autograd/functions.h"
#include "nn/activation.h"
#include "nn/batch_norm.h"
#include "nn/concat.h"
#include "nn/conv2d.h"
#include "nn/init.h"
#include "nn/layer_norm.h"
#include "nn/linear.h"
#include "nn/sequential.h"
#include "nn/skip.h"
#include "nn/upsample.h"
#include "tests/cuda_compare.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::random_tensor;

namespace {

// Finite-difference check of a whole module: the input and every parameter (a seeded sample of
// elements each), with the loss sum(g * module(x)) as in tests/gradcheck.h. Parameters are
// perturbed in place, so this exercises exactly the Variables the module registered.
void check_module_gradients(const std::string& what, Module& m, const Tensor& x_value,
                            const test::GradCheck& opt = {}) {
  INFO("module gradient check: ", what);
  Rng rng(99);
  Variable x(x_value.clone(), true);
  m.zero_grad();
  Variable y = m(x);
  std::vector<float> g = Tensor::uniform(y.shape(), -1.f, 1.f, rng).to_vector();
  y.backward(Tensor::from_vector(y.shape(), g));

  std::vector<std::pair<std::string, Variable>> checked = m.named_parameters();
  checked.emplace_back("input", x);
  for (auto& [name, v] : checked) {
    REQUIRE_MESSAGE(v.grad().defined(), what, ": ", name, " got no gradient");
    std::vector<float> analytic = v.grad().to_vector();
    float* data = v.data().data();
    const int64_t n = v.data().numel();
    const int samples = static_cast<int>(std::min<int64_t>(n, opt.max_elements));
    for (int s = 0; s < samples; ++s) {
      const int64_t k = n <= opt.max_elements ? s : rng.next_u32() % n;
      const float saved = data[k];
      auto loss_at = [&](float value) {
        data[k] = value;
        NoGradGuard no_grad;
        return dip::weighted_sum(m(x).data(), g);
      };
      const double numeric = (loss_at(saved + opt.step) - loss_at(saved - opt.step)) / (2.0 * opt.step);
      data[k] = saved;
      const double a = analytic[k];
      const double tol = opt.atol + opt.rtol * std::max(std::fabs(a), std::fabs(numeric));
      if (std::fabs(a - numeric) > tol) {
        FAIL_CHECK(what, ": ", name, " element ", k, ": analytic ", a, " vs numeric ", numeric,
                   " (tolerance ", tol, ")");
        return;
      }
    }
  }
}

// Direct convolution with reflection padding p = (k-1)/2, the definition Conv2d must implement.
std::vector<float> reference_conv_reflect(const Tensor& x, const Tensor& w, const Tensor& b, int stride,
                                          int groups, Shape* out_shape) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(0), Cg = w.size(1), K = w.size(2), p = (K - 1) / 2;
  const int64_t Ho = (H + 2 * p - K) / stride + 1, Wo = (W + 2 * p - K) / stride + 1;
  *out_shape = Shape{N, O, Ho, Wo};
  auto reflect = [](int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); };
  std::vector<float> xv = x.to_vector(), wv = w.to_vector(), bv = b.defined() ? b.to_vector() : std::vector<float>();
  std::vector<float> out(N * O * Ho * Wo);
  const int64_t Og = O / groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          double s = bv.empty() ? 0.0 : bv[o];
          const int64_t c0 = (o / Og) * Cg;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t ki = 0; ki < K; ++ki)
              for (int64_t kj = 0; kj < K; ++kj) {
                const int64_t hi = reflect(i * stride + ki - p, H), wj = reflect(j * stride + kj - p, W);
                s += double(xv[((n * C + c0 + c) * H + hi) * W + wj]) * wv[((o * Cg + c) * K + ki) * K + kj];
              }
          out[((n * O + o) * Ho + i) * Wo + j] = static_cast<float>(s);
        }
  return out;
}

void check_close(const std::vector<float>& got, const std::vector<float>& want, double tol) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
  CHECK_MESSAGE(worst <= tol, "max abs difference ", worst, " > ", tol);
}

}  // namespace

TEST_CASE("module: parameter names, counts, identity, zero_grad, train mode") {
  Rng rng(1);
  auto net = std::make_shared<Sequential>();
  auto conv = net->add(std::make_shared<Conv2d>(3, 8, 3, 1, PaddingMode::Reflect, true, 1, rng));
  auto inner = net->add(std::make_shared<Sequential>());
  auto bn = inner->add(std::make_shared<BatchNorm2d>(8));
  inner->add(std::make_shared<LeakyReLU>(0.2f));
  net->add(std::make_shared<Conv2d>(8, 2, 1, 1, PaddingMode::Zeros, false, 1, rng));

  auto named = net->named_parameters();
  std::vector<std::string> names;
  for (auto& [n, p] : named) names.push_back(n);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "1.0.weight", "1.0.bias", "2.weight"});
  CHECK(net->num_parameters() == 8 * 3 * 9 + 8 + 8 + 8 + 2 * 8);
  CHECK(named[0].second.impl() == conv->weight().impl());  // the very Variable, not a copy
  for (auto& [n, p] : named) CHECK(p.requires_grad());

  Variable x(random_tensor({1, 3, 6, 5}, 2));
  Variable y = (*net)(x);
  CHECK(y.shape() == Shape{1, 2, 6, 5});
  y.backward(Tensor::full(y.shape(), 1.f));
  for (auto& [n, p] : named) CHECK_MESSAGE(p.grad().defined(), n);
  net->zero_grad();
  for (auto& [n, p] : named) CHECK_FALSE(p.grad().defined());

  CHECK(bn->is_training());
  net->train(false);
  CHECK_FALSE(bn->is_training());
  CHECK_FALSE(net->is_training());

  // to() on the current device keeps every Variable (an optimizer holding them stays valid).
  net->to(Device::CPU);
  CHECK(net->named_parameters()[0].second.impl() == conv->weight().impl());
}

TEST_CASE("init: PyTorch default bounds for Conv2d and Linear; BatchNorm ones and zeros") {
  Rng rng(3);
  Conv2d conv(16, 32, 3, 1, PaddingMode::Zeros, true, 1, rng);  // fan_in 16*9 = 144: bound 1/12
  std::vector<float> w = conv.weight().data().to_vector(), b = conv.bias().data().to_vector();
  auto max_abs = [](const std::vector<float>& v) {
    float m = 0;
    for (float x : v) m = std::max(m, std::fabs(x));
    return m;
  };
  auto mean = [](const std::vector<float>& v) {
    double s = 0;
    for (float x : v) s += x;
    return s / v.size();
  };
  CHECK(max_abs(w) <= 1.f / 12.f);
  CHECK(max_abs(w) > 0.98f / 12.f);  // 4608 draws reach near the bound
  CHECK(std::fabs(mean(w)) < 0.005);
  CHECK(max_abs(b) <= 1.f / 12.f);
  CHECK(max_abs(b) > 0.5f / 12.f);

  Conv2d grouped(8, 8, 3, 1, PaddingMode::Zeros, true, 4, rng);  // fan_in (8/4)*9 = 18
  CHECK(grouped.weight().shape() == Shape{8, 2, 3, 3});
  CHECK(max_abs(grouped.weight().data().to_vector()) <= 1.f / std::sqrt(18.f));

  Linear lin(50, 20, true, rng);  // fan_in 50
  CHECK(lin.weight().shape() == Shape{20, 50});
  CHECK(max_abs(lin.weight().data().to_vector()) <= 1.f / std::sqrt(50.f));
  CHECK(max_abs(lin.weight().data().to_vector()) > 0.95f / std::sqrt(50.f));
  CHECK(max_abs(lin.bias().data().to_vector()) <= 1.f / std::sqrt(50.f));

  // kaiming_uniform with a = 0 (ReLU gain sqrt 2): bound sqrt(6 / fan_in).
  Tensor k = init::kaiming_uniform({1000}, 24, 0.f, rng);
  CHECK(max_abs(k.to_vector()) <= 0.5f);
  CHECK(max_abs(k.to_vector()) > 0.49f);

  BatchNorm2d bn(5);
  CHECK(bn.weight().data().to_vector() == std::vector<float>(5, 1.f));
  CHECK(bn.bias().data().to_vector() == std::vector<float>(5, 0.f));
  CHECK(bn.running_mean().to_vector() == std::vector<float>(5, 0.f));
  CHECK(bn.running_var().to_vector() == std::vector<float>(5, 1.f));
}

TEST_CASE("conv2d layer: same-size and stride-2 outputs equal a direct reflect-padded convolution") {
  struct Case {
    int in, out, k, stride, groups;
    Shape x;
  };
  const std::vector<Case> cases = {{3, 4, 3, 1, 1, {2, 3, 7, 6}},  {3, 5, 3, 2, 1, {1, 3, 9, 8}},
                                   {4, 4, 1, 1, 1, {1, 4, 5, 5}},  {4, 6, 5, 2, 2, {1, 4, 11, 10}},
                                   {2, 3, 3, 2, 1, {1, 2, 4, 4}}};
  Rng rng(5);
  for (const Case& c : cases) {
    Conv2d conv(c.in, c.out, c.k, c.stride, PaddingMode::Reflect, true, c.groups, rng);
    Tensor x = random_tensor(c.x, 6);
    Variable y = conv(Variable(x));
    Shape want_shape;
    std::vector<float> want = reference_conv_reflect(x, conv.weight().data(), conv.bias().data(), c.stride,
                                                     c.groups, &want_shape);
    INFO(conv.name(), " on ", c.x.str());
    REQUIRE(y.shape() == want_shape);
    check_close(y.data().to_vector(), want, 1e-4);
  }
  // Same size for stride 1, halved (rounded up) for stride 2, as DIP's conv().
  Conv2d down(2, 2, 3, 2, PaddingMode::Zeros, false, 1, rng);
  CHECK(down(Variable(Tensor::zeros({1, 2, 9, 9}))).shape() == Shape{1, 2, 5, 5});
  CHECK_FALSE(down.bias().defined());
  CHECK(down.num_parameters() == 2 * 2 * 9);
  CHECK_THROWS_AS(down(Variable(Tensor::zeros({1, 3, 8, 8}))), Error);  // wrong channel count
  CHECK_THROWS_AS(Conv2d(3, 4, 3, 1, PaddingMode::Zeros, true, 2, rng), Error);  // 3 % 2 != 0
}

TEST_CASE("conv2d layer: gradient check (weight, bias and input, stride 1 and 2)") {
  Rng rng(7);
  Conv2d c1(3, 4, 3, 1, PaddingMode::Reflect, true, 1, rng);
  check_module_gradients("conv 3x3 reflect", c1, random_tensor({2, 3, 5, 6}, 8));
  Conv2d c2(2, 3, 3, 2, PaddingMode::Zeros, true, 1, rng);
  check_module_gradients("conv 3x3 stride 2", c2, random_tensor({1, 2, 7, 7}, 9));
}

TEST_CASE("batch_norm layer: training statistics, running averages, evaluation mode") {
  BatchNorm2d bn(3, 1e-5f, 0.1f);
  // Channel c of x is a + s * u with known mean a and spread.
  Tensor x = random_tensor({2, 3, 4, 5}, 10, -1.f, 3.f);
  std::vector<float> xv = x.to_vector();
  const int64_t per = 2 * 4 * 5;
  std::vector<double> mean(3, 0), var(3, 0);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 20; ++i) mean[c] += xv[(n * 3 + c) * 20 + i] / per;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 20; ++i) var[c] += std::pow(xv[(n * 3 + c) * 20 + i] - mean[c], 2) / per;

  Variable y = bn(Variable(x));
  std::vector<float> yv = y.data().to_vector();
  for (int64_t c = 0; c < 3; ++c) {
    double m = 0, v = 0;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t i = 0; i < 20; ++i) m += yv[(n * 3 + c) * 20 + i] / per;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t i = 0; i < 20; ++i) v += std::pow(yv[(n * 3 + c) * 20 + i] - m, 2) / per;
    CHECK(std::fabs(m) < 1e-5);
    CHECK(v == doctest::Approx(var[c] / (var[c] + 1e-5)).epsilon(1e-4));
    // running = 0.9 * initial + 0.1 * batch, with the unbiased variance.
    CHECK(bn.running_mean().to_vector()[c] == doctest::Approx(0.1 * mean[c]).epsilon(1e-5));
    CHECK(bn.running_var().to_vector()[c] ==
          doctest::Approx(0.9 + 0.1 * var[c] * per / (per - 1)).epsilon(1e-5));
  }

  // Evaluation: (x - running_mean) / sqrt(running_var + eps) * gamma + beta, no statistic update.
  bn.train(false);
  const std::vector<float> rm = bn.running_mean().to_vector(), rv = bn.running_var().to_vector();
  Variable gamma = bn.weight(), beta = bn.bias();  // handles on the layer's own parameters
  gamma.data().copy_(Tensor::from_vector({3}, {1.5f, -0.5f, 2.f}));
  beta.data().copy_(Tensor::from_vector({3}, {0.25f, 0.f, -1.f}));
  Variable ye = bn(Variable(x));
  std::vector<float> yev = ye.data().to_vector();
  const float g[3] = {1.5f, -0.5f, 2.f}, b[3] = {0.25f, 0.f, -1.f};
  std::vector<float> want(xv.size());
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 20; ++i) {
        const int64_t k = (n * 3 + c) * 20 + i;
        want[k] = (xv[k] - rm[c]) / std::sqrt(rv[c] + 1e-5f) * g[c] + b[c];
      }
  check_close(yev, want, 1e-5);
  CHECK(bn.running_mean().to_vector() == rm);
  check_module_gradients("batch_norm eval", bn, random_tensor({2, 3, 3, 5}, 11));
  bn.train(true);
  check_module_gradients("batch_norm train", bn, random_tensor({2, 3, 3, 5}, 12),
                         {.step = 1e-2f, .rtol = 2e-2f, .atol = 2e-3f});
}

namespace {

// Sets Sequential's BatchNorm2d + LeakyReLU fusion for a scope, then puts it back (even on a failed REQUIRE).
class FusionScope {
 public:
  explicit FusionScope(bool on) : saved_(Sequential::fusion_enabled()) { Sequential::set_fusion_enabled(on); }
  ~FusionScope() { Sequential::set_fusion_enabled(saved_); }
  FusionScope(const FusionScope&) = delete;
  FusionScope& operator=(const FusionScope&) = delete;

 private:
  bool saved_;
};

// max |a - b| / (1 + |b|)
double max_rel_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  REQUIRE(va.size() == vb.size());
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i)
    worst = std::max(worst, std::fabs(double(va[i]) - vb[i]) / (1.0 + std::fabs(double(vb[i]))));
  return worst;
}

}  // namespace

TEST_CASE("sequential: BatchNorm2d + LeakyReLU run as one fused op, with the unfused results") {
  // Sequential [BatchNorm2d, LeakyReLU(0.2)]: with the fusion one batch_norm2d_leaky_relu op, without
  // it two ops; outputs, running statistics and every gradient agree to 1e-6 (max |a - b| / (1 + |b|)).
  auto make = [] {
    auto net = std::make_shared<Sequential>();
    auto bn = net->add(std::make_shared<BatchNorm2d>(4));
    net->add(std::make_shared<LeakyReLU>(0.2f));
    Variable gamma = bn->weight(), beta = bn->bias();  // handles on the layer's own parameters
    gamma.data().copy_(random_tensor({4}, 30, 0.5f, 1.5f));
    beta.data().copy_(random_tensor({4}, 31));
    return net;
  };
  const Tensor x_value = random_tensor({2, 4, 6, 5}, 32, -1.f, 2.f);
  const Tensor g = random_tensor({2, 4, 6, 5}, 33);
  struct Run {
    std::string op;
    Tensor y, grad_x, grad_weight, grad_bias, running_mean, running_var, eval_y;
  };
  auto run = [&](bool fuse) {
    FusionScope scope(fuse);
    auto net = make();
    // The tree and the parameter names are the same either way (they mirror PyTorch's).
    CHECK(net->size() == 2);
    std::vector<std::string> names;
    for (auto& [n, p] : net->named_parameters()) names.push_back(n);
    CHECK(names == std::vector<std::string>{"0.weight", "0.bias"});
    Variable x(x_value.clone(), true);
    Variable y = (*net)(x);
    REQUIRE(y.impl()->grad_fn != nullptr);
    const std::string op = y.impl()->grad_fn->name;  // before backward() releases the graph
    y.backward(g);
    auto bn = std::dynamic_pointer_cast<BatchNorm2d>((*net)[0]);
    Run r{op, y.data(), x.grad(), bn->weight().grad(), bn->bias().grad(), bn->running_mean(),
          bn->running_var(), Tensor()};
    // Evaluation mode uses the running statistics; the activation then runs as its own op.
    net->train(false);
    Variable ye = (*net)(Variable(x_value));
    r.eval_y = ye.data();
    return r;
  };
  CHECK(Sequential::fusion_enabled());  // on by default
  const Run fused = run(true), plain = run(false);
  CHECK(fused.op == "batch_norm2d_leaky_relu");
  CHECK(plain.op == "leaky_relu");
  CHECK(max_rel_diff(fused.y, plain.y) < 1e-6);
  CHECK(max_rel_diff(fused.grad_x, plain.grad_x) < 1e-6);
  CHECK(max_rel_diff(fused.grad_weight, plain.grad_weight) < 1e-6);
  CHECK(max_rel_diff(fused.grad_bias, plain.grad_bias) < 1e-6);
  CHECK(max_rel_diff(fused.running_mean, plain.running_mean) < 1e-6);
  CHECK(max_rel_diff(fused.running_var, plain.running_var) < 1e-6);
  CHECK(max_rel_diff(fused.eval_y, plain.eval_y) < 1e-6);
  int negative = 0;
  for (float v : fused.y.to_vector()) negative += v < 0.f;
  CHECK(negative > 10);  // both sides of the kink are exercised

  // A LeakyReLU that does not directly follow a BatchNorm2d stays an op of its own.
  Sequential only_act;
  only_act.add(std::make_shared<LeakyReLU>(0.2f));
  CHECK(std::string(only_act(Variable(x_value, true)).impl()->grad_fn->name) == "leaky_relu");
}

TEST_CASE("skip: the fused BatchNorm2d + LeakyReLU gives the unfused network's output and gradients") {
  // The peephole fusion reaches every nested Sequential of DIP's net; two nets from the same seed,
  // one run with the fusion and one without, agree to 1e-5 (max |a - b| / (1 + |b|)).
  SkipConfig c;
  c.in_channels = 3;
  c.out_channels = 3;
  c.channels_down = c.channels_up = {4, 4};
  c.channels_skip = {2, 2};
  const Tensor z = random_tensor({1, 3, 16, 16}, 34);
  const Tensor g = random_tensor({1, 3, 16, 16}, 35);
  auto run = [&](bool fuse) {
    FusionScope scope(fuse);
    Rng rng(36);
    auto net = skip(c, rng);
    Variable y = (*net)(Variable(z));
    y.backward(g);
    std::vector<Tensor> out{y.data()};
    for (auto& [n, p] : net->named_parameters()) out.push_back(p.grad());
    return out;
  };
  const std::vector<Tensor> fused = run(true), plain = run(false);
  REQUIRE(fused.size() == plain.size());
  for (size_t i = 0; i < fused.size(); ++i) {
    INFO("tensor ", i, " (0: the output, then the parameters' gradients)");
    CHECK(max_rel_diff(fused[i], plain[i]) < 1e-5);
  }
}

TEST_CASE("activation and upsample layers") {
  Variable x(Tensor::from_vector({1, 1, 2, 2}, {-2.f, -0.5f, 0.5f, 3.f}));
  check_close(LeakyReLU(0.2f)(x).data().to_vector(), {-0.4f, -0.1f, 0.5f, 3.f}, 1e-7);
  check_close(ReLU()(x).data().to_vector(), {0.f, 0.f, 0.5f, 3.f}, 1e-7);
  check_close(Sigmoid()(x).data().to_vector(),
              {0.11920292f, 0.37754067f, 0.62245933f, 0.95257413f}, 1e-6);
  // GELU(x) = x * Phi(x): -2 * 0.0227501 = -0.0455003, 3 * 0.9986501 = 2.9959502.
  check_close(GELU()(x).data().to_vector(), {-0.04550026f, -0.15426877f, 0.34573123f, 2.99595031f},
              1e-5);
  CHECK(LeakyReLU(0.2f).name() == "LeakyReLU(0.2)");

  Upsample near(2, UpsampleMode::Nearest);
  check_close(near(x).data().to_vector(),
              {-2, -2, -.5f, -.5f, -2, -2, -.5f, -.5f, .5f, .5f, 3, 3, .5f, .5f, 3, 3}, 0);
  Upsample bil(2, UpsampleMode::Bilinear);
  CHECK(bil(Variable(Tensor::zeros({2, 3, 5, 7}))).shape() == Shape{2, 3, 10, 14});
}

TEST_CASE("concat layer: branches on one input, centre-cropped to the smallest size") {
  // Branch outputs (1, 2, 10, 10) and (1, 2, 15, 15): the second is cropped at offset (15-10)/2 = 2.
  Tensor xt = random_tensor({1, 2, 5, 5}, 13);
  Concat cat(1, std::make_shared<Upsample>(2, UpsampleMode::Nearest),
             std::make_shared<Upsample>(3, UpsampleMode::Nearest));
  Variable y = cat(Variable(xt));
  REQUIRE(y.shape() == Shape{1, 4, 10, 10});
  std::vector<float> xv = xt.to_vector(), yv = y.data().to_vector();
  std::vector<float> want(4 * 100);
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 10; ++i)
      for (int j = 0; j < 10; ++j) {
        want[(c * 10 + i) * 10 + j] = xv[(c * 5 + i / 2) * 5 + j / 2];
        want[((2 + c) * 10 + i) * 10 + j] = xv[(c * 5 + (i + 2) / 3) * 5 + (j + 2) / 3];
      }
  check_close(yv, want, 0);

  // Gradients through both branches, with an odd size cropped after a stride-2 round trip
  // (7 -> 4 -> 8, cropped back to 7).
  Rng rng(14);
  auto down_up = std::make_shared<Sequential>();
  down_up->add(std::make_shared<Conv2d>(2, 3, 3, 2, PaddingMode::Reflect, true, 1, rng));
  down_up->add(std::make_shared<Upsample>(2, UpsampleMode::Bilinear));
  Concat cat2(1, std::make_shared<Conv2d>(2, 1, 1, 1, PaddingMode::Zeros, true, 1, rng), down_up);
  CHECK(cat2(Variable(Tensor::zeros({1, 2, 7, 7}))).shape() == Shape{1, 4, 7, 7});
  check_module_gradients("concat of conv branches", cat2, random_tensor({1, 2, 7, 7}, 15));
}

TEST_CASE("linear and layer_norm layers") {
  Rng rng(16);
  Linear lin(5, 3, true, rng);
  Tensor x = random_tensor({2, 4, 5}, 17);  // (B, T, in)
  Variable y = lin(Variable(x));
  REQUIRE(y.shape() == Shape{2, 4, 3});
  std::vector<float> xv = x.to_vector(), wv = lin.weight().data().to_vector(),
                     bv = lin.bias().data().to_vector(), want(2 * 4 * 3);
  for (int r = 0; r < 8; ++r)
    for (int o = 0; o < 3; ++o) {
      double s = bv[o];
      for (int i = 0; i < 5; ++i) s += double(xv[r * 5 + i]) * wv[o * 5 + i];
      want[r * 3 + o] = static_cast<float>(s);
    }
  check_close(y.data().to_vector(), want, 1e-5);
  check_module_gradients("linear 3-D input", lin, x);
  Linear nobias(4, 6, false, rng);
  CHECK(nobias(Variable(Tensor::zeros({7, 4}))).shape() == Shape{7, 6});
  CHECK(nobias.num_parameters() == 24);

  LayerNorm ln(6);
  Tensor z = random_tensor({3, 6}, 18, -2.f, 2.f);
  std::vector<float> zv = z.to_vector(), lv = ln(Variable(z)).data().to_vector();
  for (int r = 0; r < 3; ++r) {
    double m = 0, v = 0;
    for (int i = 0; i < 6; ++i) m += zv[r * 6 + i] / 6.0;
    for (int i = 0; i < 6; ++i) v += std::pow(zv[r * 6 + i] - m, 2) / 6.0;
    for (int i = 0; i < 6; ++i)
      CHECK(lv[r * 6 + i] == doctest::Approx((zv[r * 6 + i] - m) / std::sqrt(v + 1e-5)).epsilon(1e-4));
  }
  Variable ln_gamma = ln.weight(), ln_beta = ln.bias();
  ln_gamma.data().copy_(random_tensor({6}, 19, 0.5f, 1.5f));
  ln_beta.data().copy_(random_tensor({6}, 20));
  check_module_gradients("layer_norm", ln, random_tensor({2, 3, 6}, 21));
}

TEST_CASE("skip: the standard DIP network has 2,217,831 parameters") {
  Rng rng(22);
  SkipConfig config;  // 32 in, 5 scales of 128, skip 4, bilinear, reflect
  auto net = skip(config, rng);
  CHECK(net->num_parameters() == 2217831);
  // 5 scales x (skip conv + 2 down convs + up conv + 1x1 conv) + the output conv.
  int convs = 0, bns = 0;
  for (auto& [name, p] : net->named_parameters()) {
    if (p.shape().rank() == 4) ++convs;
    if (p.shape().rank() == 1 && name.find("weight") != std::string::npos) ++bns;
  }
  CHECK(convs == 5 * 5 + 1);
  CHECK(bns == 5 * 6);  // per scale: concat BN, skip BN, 2 down BNs, 2 up BNs
  // Top level: Concat, BN, conv 3x3, BN, act, conv 1x1, BN, act, output conv 1x1, Sigmoid.
  auto top = std::dynamic_pointer_cast<Sequential>(net);
  REQUIRE(top != nullptr);
  CHECK(top->size() == 10);
  CHECK((*top)[0]->name() == "Concat(dim=1, 2 branches)");
  CHECK((*top)[8]->name() == "Conv2d(128, 3, k=1, s=1, reflect)");
}

TEST_CASE("skip: output shapes and parameter counts of smaller configurations") {
  Rng rng(23);
  SkipConfig c;
  c.in_channels = 4;
  c.channels_down = {8, 8, 8};
  c.channels_up = {8, 8, 8};
  c.channels_skip = {2, 2, 2};
  auto net = skip(c, rng);
  // Per scale: concat BN (2 + 8), skip conv 1x1 + BN, two 3x3 down convs + BNs, 3x3 up conv from
  // 10 channels + BN, 1x1 conv + BN; then 1x1 to 3 outputs.
  auto conv = [](int i, int o, int k) { return o * i * k * k + o; };
  const int64_t want = 2 * 10 + conv(4, 2, 1) + 4 + conv(4, 8, 3) + 16 + conv(8, 8, 3) + 16 +
                       conv(10, 8, 3) + 16 + conv(8, 8, 1) + 16 +
                       2 * (2 * 10 + conv(8, 2, 1) + 4 + conv(8, 8, 3) + 16 + conv(8, 8, 3) + 16 +
                            conv(10, 8, 3) + 16 + conv(8, 8, 1) + 16) +
                       conv(8, 3, 1);
  CHECK(net->num_parameters() == want);

  for (int size : {64, 30, 17}) {
    INFO("input ", size, "x", size);
    Variable y = (*net)(Variable(random_tensor({1, 4, size, size}, 24, 0.f, 0.1f)));
    REQUIRE(y.shape() == Shape{1, 3, size, size});
    for (float v : y.data().to_vector()) REQUIRE((v > 0.f && v < 1.f));  // sigmoid output
  }

  // No skip branch at the middle scale, no 1x1 convs, no sigmoid, nearest upsampling, zero padding.
  SkipConfig d = c;
  d.channels_skip = {2, 0, 2};
  d.need1x1_up = false;
  d.need_sigmoid = false;
  d.upsample_mode = UpsampleMode::Nearest;
  d.pad = PaddingMode::Zeros;
  auto net2 = skip(d, rng);
  const int64_t want2 = (2 * 10 + conv(4, 2, 1) + 4 + conv(4, 8, 3) + 16 + conv(8, 8, 3) + 16 +
                         conv(10, 8, 3) + 16) +
                        (2 * 8 + conv(8, 8, 3) + 16 + conv(8, 8, 3) + 16 + conv(8, 8, 3) + 16) +
                        (2 * 10 + conv(8, 2, 1) + 4 + conv(8, 8, 3) + 16 + conv(8, 8, 3) + 16 +
                         conv(10, 8, 3) + 16) +
                        conv(8, 3, 1);
  CHECK(net2->num_parameters() == want2);
  Variable y2 = (*net2)(Variable(random_tensor({2, 4, 16, 12}, 25)));
  CHECK(y2.shape() == Shape{2, 3, 16, 12});

  SkipConfig bad = c;
  bad.channels_up = {8, 8};
  CHECK_THROWS_AS(skip(bad, rng), Error);
}

TEST_CASE("skip: per-scale upsample modes (DIP's flash/no-flash net)") {
  SkipConfig c;
  c.in_channels = 4;
  c.channels_down = c.channels_up = {8, 8, 8};
  c.channels_skip = {2, 2, 2};
  Tensor z = random_tensor({1, 4, 32, 32}, 31, 0.f, 0.1f);
  auto output = [&](const SkipConfig& config) {
    Rng rng(7);  // the same weights for every configuration
    return (*skip(config, rng))(Variable(z)).data().to_vector();
  };
  SkipConfig all_nearest = c, per_scale_nearest = c, mixed = c;
  all_nearest.upsample_mode = UpsampleMode::Nearest;
  per_scale_nearest.upsample_modes = {UpsampleMode::Nearest, UpsampleMode::Nearest, UpsampleMode::Nearest};
  mixed.upsample_modes = {UpsampleMode::Nearest, UpsampleMode::Bilinear, UpsampleMode::Bilinear};
  CHECK(output(per_scale_nearest) == output(all_nearest));  // the list overrides upsample_mode
  CHECK(output(mixed) != output(all_nearest));
  CHECK(output(mixed) != output(c));

  SkipConfig bad = c;
  bad.upsample_modes = {UpsampleMode::Nearest};
  Rng rng(7);
  CHECK_THROWS_AS(skip(bad, rng), Error);
}

TEST_CASE("skip: gradient check through a tiny network (every parameter and the input)") {
  Rng rng(26);
  SkipConfig c;
  c.in_channels = 2;
  c.out_channels = 2;
  c.channels_down = {3, 3};
  c.channels_up = {3, 3};
  c.channels_skip = {1, 1};
  auto net = skip(c, rng);
  // Training-mode BatchNorm over few pixels followed by LeakyReLU makes the loss strongly curved in
  // some parameters (a skip-branch BN shift moves values across the kink: its central difference is
  // off by 50% at h = 5e-3, 12% at 1e-3, 1% at 3e-4, converging to the analytic value). Hence a
  // small step; float32 noise in the loss is then ~7e-4 in the difference quotient: atol 3e-3.
  check_module_gradients("skip 2 scales", *net, random_tensor({2, 2, 8, 8}, 27),
                         {.step = 3e-4f, .rtol = 5e-2f, .atol = 3e-3f, .max_elements = 6});
}

TEST_CASE("module: to(CUDA) moves parameters and buffers; the skip net matches the CPU" *
          test::needs_gpu()) {
  Rng rng_a(28), rng_b(28);
  SkipConfig c;
  c.in_channels = 4;
  c.channels_down = c.channels_up = {8, 8, 8};
  c.channels_skip = {2, 2, 2};
  auto cpu_net = skip(c, rng_a);
  auto gpu_net = skip(c, rng_b);
  std::vector<Variable> before = gpu_net->parameters();
  gpu_net->to(Device::CUDA);
  std::vector<Variable> after = gpu_net->parameters();
  for (size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i].impl() == before[i].impl());
    CHECK(after[i].device() == Device::CUDA);
  }
  Tensor x = random_tensor({1, 4, 32, 32}, 29, 0.f, 0.1f);
  Variable y_cpu = (*cpu_net)(Variable(x));
  Variable y_gpu = (*gpu_net)(Variable(x.to(Device::CUDA)));
  test::check_close("skip forward", y_gpu.data(), y_cpu.data(), 1e-4);
  gpu_net->to(Device::CPU);
  CHECK(gpu_net->parameters()[0].device() == Device::CPU);
}
