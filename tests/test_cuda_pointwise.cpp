// CUDA pointwise ops against the CPU: the runtime and caching allocator; elementwise ops with
// broadcasting, reductions, activations, softmax, layer norm, losses and Adam — forward and every
// backward kernel on the same seeded inputs; bitwise repeatability of the reductions; gradient
// checks with the GPU doing the work. Skipped where no GPU is usable.
//
// Tolerances (normalised error ||cuda - cpu|| / ||cpu||, see tests/cuda_compare.h):
//   IEEE-exact float ops (+ - * /, sqrt, neg, abs, scalar ops, leaky_relu, broadcast)   exact
//   library math (exp, log, pow, sigmoid, tanh, gelu; CUDA's are within 2 ulp)            1e-6
//   sums and everything built on them (summation order differs; both accumulate in
//   double except per-row statistics, which the GPU sums in float)                       1e-5
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "gpu/runtime.h"
#ifdef DIP_WITH_CUDA
#include "gpu/caching_allocator.h"  // built only with the CUDA backend
#endif
#include "tensor/activation.h"
#include "tensor/adam.h"
#include "tensor/elementwise.h"
#include "tensor/layer_norm.h"
#include "tensor/loss.h"
#include "tensor/reduce.h"
#include "tensor/softmax.h"
#include "tests/cuda_compare.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_close;
using dip::test::check_gradients;
using dip::test::needs_gpu;
using dip::test::random_tensor;

namespace {

constexpr double kLibMath = 1e-6;
constexpr double kSums = 1e-5;

Tensor on_gpu(const Tensor& t) { return t.defined() ? t.to(Device::CUDA) : Tensor(); }

// IEEE-exact ops must reproduce the CPU bit for bit.
void check_equal(const std::string& what, const Tensor& cuda_result, const Tensor& cpu_result) {
  INFO("cuda vs cpu: ", what);
  CHECK(cuda_result.is_cuda());
  REQUIRE(cuda_result.shape() == cpu_result.shape());
  CHECK(cuda_result.to_vector() == cpu_result.to_vector());
}

void check_near(const std::string& what, const Tensor& cuda_result, const Tensor& cpu_result, double tol) {
  CHECK_MESSAGE(cuda_result.is_cuda(), what, ": result not on the GPU");
  check_close(what, cuda_result, cpu_result, tol);
}

// |x| in [0.2, 1] with a random sign: away from the kinks of leaky_relu and abs.
Tensor away_from_zero(const Shape& s, uint64_t seed) {
  std::vector<float> v = random_tensor(s, seed, 0.2f, 1.f).to_vector();
  Rng rng(seed + 1000);
  for (float& x : v)
    if (rng.next_u32() & 1) x = -x;
  return Tensor::from_vector(s, v);
}

// Neighbours of opposite sign, |difference| >= 0.4: TV stays away from its kinks.
Tensor checkerboard(const Shape& s, uint64_t seed) {
  std::vector<float> v = random_tensor(s, seed, 0.2f, 1.f).to_vector();
  const int64_t h = s[-2], w = s[-1];
  for (size_t k = 0; k < v.size(); ++k)
    if (((k / w) % h + k % w) % 2) v[k] = -v[k];
  return Tensor::from_vector(s, v);
}

bool all_finite(const Tensor& t) {
  for (float v : t.to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

dip::test::GradCheck on_gpu_check() {
  dip::test::GradCheck opt;
  opt.device = Device::CUDA;
  return opt;
}

}  // namespace

// ---- runtime ------------------------------------------------------------------------

TEST_CASE("cuda: runtime, copies and fills" * needs_gpu()) {
  CHECK(gpu::describe().find("sm_") != std::string::npos);
  Tensor a = random_tensor({3, 5, 7}, 1);
  Tensor d = on_gpu(a);
  CHECK(d.is_cuda());
  CHECK(d.to_vector() == a.to_vector());
  Tensor c = d.clone();  // device to device
  CHECK_FALSE(c.shares_storage(d));
  CHECK(c.to(Device::CPU).to_vector() == a.to_vector());
  for (float value : {0.f, -0.f, 2.5f}) {
    Tensor f = Tensor::full({1001}, value, Device::CUDA);
    std::vector<float> v = f.to_vector();
    CHECK(std::all_of(v.begin(), v.end(), [&](float x) {
      return x == value && std::signbit(x) == std::signbit(value);
    }));
  }
  // Precision round trip.
  const gpu::Precision saved = gpu::precision();
  gpu::set_precision(gpu::Precision::FP32);
  CHECK(gpu::precision() == gpu::Precision::FP32);
  gpu::set_precision(gpu::Precision::TF32);
  CHECK(gpu::precision() == gpu::Precision::TF32);
  gpu::set_precision(saved);
}

#ifdef DIP_WITH_CUDA
TEST_CASE("cuda: caching allocator size classes, steady state and out-of-memory" * needs_gpu()) {
  for (size_t bytes : {size_t(1), size_t(511), size_t(512), size_t(4097), size_t(100000), size_t(138) << 20}) {
    const size_t c = gpu::allocation_class(bytes);
    INFO("bytes ", bytes, " class ", c);
    CHECK(c >= bytes);
    CHECK(c % 512 == 0);
    CHECK(double(c) <= 1.125 * double(bytes) + 512);
  }
  gpu::CachingAllocator& alloc = gpu::allocator();
  // The same sequence of allocations twice: the second round is served from the cache.
  auto round = [] {
    std::vector<Tensor> ts;
    for (int64_t n : {1, 100, 4096, 70000, 1 << 20}) ts.push_back(Tensor::empty({n}, Device::CUDA));
    Tensor s = sum_all(add(ts[4], ts[4]));  // ops with scratch buffers inside
    (void)s;
  };
  round();
  const size_t mallocs = alloc.cuda_malloc_calls();
  const size_t reserved = gpu::reserved_bytes();
  round();
  round();
  CHECK(alloc.cuda_malloc_calls() == mallocs);
  CHECK(gpu::reserved_bytes() == reserved);
  CHECK(gpu::peak_reserved_bytes() >= gpu::reserved_bytes());
  // An impossible request: a clear dip::Error, and the GPU keeps working afterwards.
  try {
    gpu::device_alloc(size_t(1) << 40);  // 1 TiB, more than any GPU has
    FAIL("a 1 TiB allocation succeeded");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("out of GPU memory") != std::string::npos);
  }
  Tensor x = random_tensor({257}, 2);
  check_near("sum after out-of-memory", sum_all(on_gpu(x)), sum_all(x), kSums);
}
#endif  // DIP_WITH_CUDA

// ---- elementwise -------------------------------------------------------------------

TEST_CASE("cuda: elementwise binary ops broadcast as the CPU" * needs_gpu()) {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 5}, {3, 5}},       {{2, 3, 5, 7}, {3, 1, 1}}, {{2, 3, 4, 5}, {1}},       {{4, 1, 3}, {5, 1}},
      {{1}, {2, 3, 4, 5}},    {{1, 3, 1, 7}, {2, 1, 5, 1}}, {{1000003}, {1000003}}, {{6, 1}, {6, 4097}}};
  uint64_t seed = 10;
  for (auto [sa, sb] : shapes) {
    Tensor a = random_tensor(sa, seed++), b = random_tensor(sb, seed++, 0.5f, 2.f);
    Tensor ga = on_gpu(a), gb = on_gpu(b);
    const std::string s = sa.str() + " with " + sb.str();
    check_equal("add " + s, add(ga, gb), add(a, b));
    check_equal("sub " + s, sub(ga, gb), sub(a, b));
    check_equal("mul " + s, mul(ga, gb), mul(a, b));
    check_equal("div " + s, div(ga, gb), div(a, b));
    check_equal("div reversed " + s, div(gb, ga), div(b, a));
  }
  CHECK_THROWS_AS(add(on_gpu(Tensor::zeros({2, 3})), on_gpu(Tensor::zeros({4}))), Error);
  CHECK_THROWS_AS(add(on_gpu(Tensor::zeros({3})), Tensor::zeros({3})), Error);  // mixed devices
}

TEST_CASE("cuda: elementwise unary ops, broadcast_to and add_" * needs_gpu()) {
  uint64_t seed = 30;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1001}, Shape{1}}) {
    Tensor x = random_tensor(s, seed++, -2.f, 2.f), pos = random_tensor(s, seed++, 0.1f, 3.f);
    Tensor gx = on_gpu(x), gpos = on_gpu(pos);
    const std::string n = " " + s.str();
    check_equal("neg" + n, neg(gx), neg(x));
    check_equal("abs" + n, abs(gx), abs(x));
    check_equal("add_scalar" + n, add_scalar(gx, 0.3f), add_scalar(x, 0.3f));
    check_equal("mul_scalar" + n, mul_scalar(gx, -1.7f), mul_scalar(x, -1.7f));
    check_equal("sqrt" + n, sqrt(gpos), sqrt(pos));
    check_near("exp" + n, exp(gx), exp(x), kLibMath);
    check_near("log" + n, log(gpos), log(pos), kLibMath);
    check_near("pow 2.5" + n, pow_scalar(gpos, 2.5f), pow_scalar(pos, 2.5f), kLibMath);
    check_near("pow -1" + n, pow_scalar(gpos, -1.f), pow_scalar(pos, -1.f), kLibMath);

    Tensor acc = random_tensor(s, seed++), acc_gpu = on_gpu(acc);
    add_(acc, x, 0.75f);
    add_(acc_gpu, gx, 0.75f);
    check_near("add_" + n, acc_gpu, acc, kLibMath);  // the GPU fuses dst + alpha * src into one FMA
  }
  const std::vector<std::pair<Shape, Shape>> bshapes = {
      {{3, 1, 1}, {2, 3, 5, 7}}, {{1}, {4, 5}}, {{5, 1}, {4, 5, 3}}, {{1, 7}, {3, 1, 7}}};
  for (auto [from, to] : bshapes) {
    Tensor x = random_tensor(from, seed++);
    check_equal("broadcast_to " + from.str() + " -> " + to.str(), broadcast_to(on_gpu(x), to), broadcast_to(x, to));
  }
  CHECK_THROWS_AS(broadcast_to(on_gpu(Tensor::zeros({3})), {4, 5}), Error);
}

TEST_CASE("cuda: sum_to over every pattern of kept and summed dimensions" * needs_gpu()) {
  // From (2, 3, 5, 7): summing W (rows strategy), keeping W (columns strategy), alternating
  // kept/summed segments in both orders, everything, nothing.
  const std::vector<Shape> targets = {{3, 1, 1}, {7},       {5, 1},    {2, 1, 1, 7}, {1},
                                      {1, 3, 1, 7}, {2, 1, 5, 1}, {3, 5, 1}, {2, 3, 5, 7}};
  Tensor x = random_tensor({2, 3, 5, 7}, 50);
  Tensor gx = on_gpu(x);
  for (const Shape& t : targets) check_near("sum_to " + t.str(), sum_to(gx, t), sum_to(x, t), kSums);
  // Large enough that each output is split into parts (second pass) in both strategies.
  Tensor big = random_tensor({64, 3000}, 51), gbig = on_gpu(big);
  check_near("sum_to (3000) from (64, 3000)", sum_to(gbig, {3000}), sum_to(big, {3000}), kSums);
  check_near("sum_to (64, 1) from (64, 3000)", sum_to(gbig, {64, 1}), sum_to(big, {64, 1}), kSums);
  check_near("sum_to (1) from (64, 3000)", sum_to(gbig, {1}), sum_to(big, {1}), kSums);
  Tensor img = random_tensor({4, 32, 64, 64}, 52), gimg = on_gpu(img);
  check_near("sum_to (32, 1, 1) from (4, 32, 64, 64)", sum_to(gimg, {32, 1, 1}), sum_to(img, {32, 1, 1}), kSums);
  // Deterministic: the same bits every time.
  CHECK(sum_to(gimg, {32, 1, 1}).to_vector() == sum_to(gimg, {32, 1, 1}).to_vector());
  CHECK(sum_to(gbig, {3000}).to_vector() == sum_to(gbig, {3000}).to_vector());
  CHECK_THROWS_AS(sum_to(gx, {4, 1}), Error);
}

// ---- reductions ---------------------------------------------------------------------

TEST_CASE("cuda: sum_all and sum_dim match the CPU and are bitwise repeatable" * needs_gpu()) {
  uint64_t seed = 60;
  for (int64_t n : {1, 7, 1000, (1 << 20) + 3}) {
    Tensor x = random_tensor({n}, seed++);
    Tensor s = sum_all(on_gpu(x));
    CHECK(s.shape() == Shape{1});
    check_near("sum_all n=" + std::to_string(n), s, sum_all(x), kSums);
    if (n > 1000) CHECK(s.to_vector() == sum_all(on_gpu(x)).to_vector());
  }
  for (const Shape& s : {Shape{3, 4, 5, 6}, Shape{1000, 70}, Shape{7}, Shape{2, 1, 3}}) {
    Tensor x = random_tensor(s, seed++);
    Tensor gx = on_gpu(x);
    for (int dim = -s.rank(); dim < s.rank(); ++dim)
      for (bool keepdim : {false, true}) {
        const std::string what = "sum_dim " + s.str() + " dim " + std::to_string(dim) + (keepdim ? " keepdim" : "");
        Tensor got = sum_dim(gx, dim, keepdim);
        check_near(what, got, sum_dim(x, dim, keepdim), kSums);
      }
  }
  CHECK_THROWS_AS(sum_dim(on_gpu(Tensor::zeros({2, 3})), 2), Error);
}

// ---- activations ----------------------------------------------------------------------

TEST_CASE("cuda: activations and their backward kernels match the CPU" * needs_gpu()) {
  uint64_t seed = 80;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1001}, Shape{4, 9}}) {
    Tensor x = random_tensor(s, seed++, -4.f, 4.f), g = random_tensor(s, seed++);
    Tensor gx = on_gpu(x), gg = on_gpu(g);
    const std::string n = " " + s.str();
    check_equal("leaky_relu" + n, leaky_relu(gx, 0.2f), leaky_relu(x, 0.2f));
    check_equal("leaky_relu_backward" + n, leaky_relu_backward(gx, gg, 0.2f), leaky_relu_backward(x, g, 0.2f));
    check_equal("relu" + n, relu(gx), relu(x));
    Tensor y = sigmoid(x), t = tanh(x);
    check_near("sigmoid" + n, sigmoid(gx), y, kLibMath);
    check_near("sigmoid_backward" + n, sigmoid_backward(on_gpu(y), gg), sigmoid_backward(y, g), kLibMath);
    check_near("tanh" + n, tanh(gx), t, kLibMath);
    check_near("tanh_backward" + n, tanh_backward(on_gpu(t), gg), tanh_backward(t, g), kLibMath);
    check_near("gelu" + n, gelu(gx), gelu(x), kLibMath);
    check_near("gelu_backward" + n, gelu_backward(gx, gg), gelu_backward(x, g), kLibMath);
  }
  // Saturated inputs stay finite.
  Tensor extreme = Tensor::from_vector({4}, {-200.f, -90.f, 90.f, 200.f}, Device::CUDA);
  CHECK(all_finite(sigmoid(extreme)));
  CHECK(all_finite(tanh(extreme)));
  CHECK(all_finite(gelu(extreme)));
  CHECK_THROWS_AS(sigmoid_backward(on_gpu(Tensor::zeros({3})), on_gpu(Tensor::zeros({4}))), Error);
}

// ---- softmax --------------------------------------------------------------------------

TEST_CASE("cuda: softmax and its backward match the CPU" * needs_gpu()) {
  uint64_t seed = 100;
  for (const Shape& s : {Shape{3, 1}, Shape{5, 7}, Shape{2, 2, 32}, Shape{4, 100}, Shape{3, 256}, Shape{2, 257},
                         Shape{2, 1500}, Shape{1, 3, 64, 64}}) {
    Tensor x = random_tensor(s, seed++, -5.f, 5.f), g = random_tensor(s, seed++);
    Tensor y = softmax_lastdim(x);
    check_near("softmax " + s.str(), softmax_lastdim(on_gpu(x)), y, kSums);
    check_near("softmax_backward " + s.str(), softmax_lastdim_backward(on_gpu(y), on_gpu(g)),
               softmax_lastdim_backward(y, g), kSums);
  }
  // Large logits: the max is subtracted first, nothing overflows.
  Tensor big = add_scalar(random_tensor({4, 50}, seed++), 1000.f);
  Tensor y = softmax_lastdim(on_gpu(big));
  CHECK(all_finite(y));
  check_near("softmax of logits near 1000", y, softmax_lastdim(big), kSums);
}

// ---- layer norm -----------------------------------------------------------------------

TEST_CASE("cuda: layer_norm forward and backward match the CPU" * needs_gpu()) {
  uint64_t seed = 120;
  // (700, 64): few columns, many rows -> the parameter gradients are split into parts.
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{6}, Shape{700, 64}, Shape{3, 1000}, Shape{5, 1}, Shape{4, 33}}) {
    INFO("shape ", s.str());
    const int64_t D = s[-1];
    Tensor x = random_tensor(s, seed++, -2.f, 3.f), g = random_tensor(s, seed++);
    Tensor gamma = random_tensor({D}, seed++, 0.5f, 1.5f), beta = random_tensor({D}, seed++);
    LayerNormForward cpu = layer_norm_forward(x, gamma, beta, 1e-5f);
    LayerNormForward gpu = layer_norm_forward(on_gpu(x), on_gpu(gamma), on_gpu(beta), 1e-5f);
    check_near("layer_norm y", gpu.y, cpu.y, kSums);
    check_near("layer_norm mean", gpu.mean, cpu.mean, kSums);
    check_near("layer_norm rstd", gpu.rstd, cpu.rstd, kSums);
    LayerNormBackward cb = layer_norm_backward(g, x, gamma, cpu.mean, cpu.rstd);
    LayerNormBackward gb = layer_norm_backward(on_gpu(g), on_gpu(x), on_gpu(gamma), on_gpu(cpu.mean), on_gpu(cpu.rstd));
    check_near("layer_norm grad_x", gb.grad_x, cb.grad_x, kSums);
    check_near("layer_norm grad_gamma", gb.grad_gamma, cb.grad_gamma, kSums);
    check_near("layer_norm grad_beta", gb.grad_beta, cb.grad_beta, kSums);
  }
  Tensor gx = on_gpu(random_tensor({3, 4}, 1));
  CHECK_THROWS_AS(layer_norm_forward(gx, on_gpu(Tensor::zeros({5})), on_gpu(Tensor::zeros({4})), 1e-5f), Error);
}

// ---- losses ---------------------------------------------------------------------------

TEST_CASE("cuda: losses match the CPU; backward takes grad_loss on the device" * needs_gpu()) {
  uint64_t seed = 140;
  const Tensor grad_loss = Tensor::full({1}, 0.7f);
  const Tensor grad_loss_gpu = on_gpu(grad_loss);
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 1, 1, 1}, Shape{1, 3, 64, 64}, Shape{1, 2, 1, 6}, Shape{1, 2, 5, 1},
                         Shape{3, 4}}) {
    const std::string n = " " + s.str();
    Tensor y = random_tensor(s, seed++), t = random_tensor(s, seed++);
    Tensor gy = on_gpu(y), gt = on_gpu(t);
    Tensor loss = mse_loss_forward(gy, gt);
    CHECK(loss.shape() == Shape{1});
    check_near("mse_loss" + n, loss, mse_loss_forward(y, t), kSums);
    check_near("mse_loss_backward" + n, mse_loss_backward(gy, gt, grad_loss_gpu), mse_loss_backward(y, t, grad_loss),
               kSums);
    Tensor x = checkerboard(s, seed++);
    check_near("tv_loss" + n, tv_loss_forward(on_gpu(x)), tv_loss_forward(x), kSums);
    check_near("tv_loss_backward" + n, tv_loss_backward(on_gpu(x), grad_loss_gpu), tv_loss_backward(x, grad_loss),
               kSums);
    // Random inputs (some differences tiny) exercise every sign branch as well.
    Tensor r = random_tensor(s, seed++);
    check_near("tv_loss random" + n, tv_loss_forward(on_gpu(r)), tv_loss_forward(r), kSums);
    check_near("tv_loss_backward random" + n, tv_loss_backward(on_gpu(r), grad_loss_gpu), tv_loss_backward(r, grad_loss),
               kSums);
    // Isotropic TV on the same inputs: the default eps (random ones have differences near 0, where
    // r ~ sqrt(eps)) and a large eps that dominates small differences.
    for (float eps : {1e-8f, 0.5f}) {
      const std::string e = n + (eps < 1e-3f ? " eps 1e-8" : " eps 0.5");
      check_near("isotropic_tv_loss" + e, isotropic_tv_loss_forward(on_gpu(x), eps), isotropic_tv_loss_forward(x, eps),
                 kSums);
      check_near("isotropic_tv_loss_backward" + e, isotropic_tv_loss_backward(on_gpu(x), eps, grad_loss_gpu),
                 isotropic_tv_loss_backward(x, eps, grad_loss), kSums);
      check_near("isotropic_tv_loss random" + e, isotropic_tv_loss_forward(on_gpu(r), eps),
                 isotropic_tv_loss_forward(r, eps), kSums);
      check_near("isotropic_tv_loss_backward random" + e, isotropic_tv_loss_backward(on_gpu(r), eps, grad_loss_gpu),
                 isotropic_tv_loss_backward(r, eps, grad_loss), kSums);
    }
  }
  Tensor gy = on_gpu(random_tensor({2, 3}, 1));
  CHECK_THROWS_AS(mse_loss_backward(gy, gy, grad_loss), Error);  // grad_loss must be on the GPU
  CHECK_THROWS_AS(tv_loss_forward(on_gpu(Tensor::zeros({5}))), Error);
  CHECK_THROWS_AS(isotropic_tv_loss_forward(on_gpu(Tensor::zeros({5})), 1e-8f), Error);  // rank 1
  CHECK_THROWS_AS(isotropic_tv_loss_forward(gy, 0.f), Error);                            // eps <= 0
  CHECK_THROWS_AS(isotropic_tv_loss_backward(gy, -1.f, grad_loss_gpu), Error);
  CHECK_THROWS_AS(isotropic_tv_loss_backward(gy, 1e-8f, grad_loss), Error);  // grad_loss must be on the GPU
}

// ---- Adam -------------------------------------------------------------------------------

namespace {

struct AdamCase {
  std::vector<Tensor> p, m, v;
};

AdamCase adam_case(const std::vector<int64_t>& sizes, uint64_t seed) {
  AdamCase c;
  for (int64_t n : sizes) {
    c.p.push_back(random_tensor({n}, seed++));
    c.m.push_back(Tensor::zeros({n}));
    c.v.push_back(Tensor::zeros({n}));
  }
  return c;
}

AdamCase adam_case_on_gpu(const AdamCase& c) {
  AdamCase g;
  for (size_t k = 0; k < c.p.size(); ++k) {
    g.p.push_back(on_gpu(c.p[k]));
    g.m.push_back(on_gpu(c.m[k]));
    g.v.push_back(on_gpu(c.v[k]));
  }
  return g;
}

// `steps` Adam steps on both devices with the same random gradients; slot `skip` gets none.
void compare_adam(const std::vector<int64_t>& sizes, const AdamStep& hyper, int steps, int skip, uint64_t seed) {
  AdamCase cpu = adam_case(sizes, seed), gpu = adam_case_on_gpu(cpu);
  AdamStep s = hyper;
  for (int t = 1; t <= steps; ++t) {
    s.step = t;
    std::vector<AdamSlot> cs, gs;
    for (size_t k = 0; k < sizes.size(); ++k) {
      Tensor g = int(k) == skip ? Tensor() : random_tensor({sizes[k]}, seed + 1000 * t + k);
      cs.push_back({cpu.p[k], g, cpu.m[k], cpu.v[k]});
      gs.push_back({gpu.p[k], on_gpu(g), gpu.m[k], gpu.v[k]});
    }
    adam_update_(cs, s);
    adam_update_(gs, s);
  }
  for (size_t k = 0; k < sizes.size(); ++k) {
    const std::string n = " slot " + std::to_string(k) + " (" + std::to_string(sizes[k]) + ")";
    if (int(k) == skip) {
      check_equal("adam skipped param" + n, gpu.p[k], cpu.p[k]);
      continue;
    }
    check_near("adam param" + n, gpu.p[k], cpu.p[k], kSums);
    check_near("adam m" + n, gpu.m[k], cpu.m[k], kSums);
    check_near("adam v" + n, gpu.v[k], cpu.v[k], kSums);
  }
}

}  // namespace

TEST_CASE("cuda: adam_update_ matches the CPU over several steps, in one launch per 512 tensors" * needs_gpu()) {
  const std::vector<int64_t> sizes = {1, 3, 1000, 1024, 1025, 5000, 7};
  SUBCASE("plain") { compare_adam(sizes, {0.01f, 0.9f, 0.999f, 1e-8f, 0.f, 1}, 3, 4, 200); }
  SUBCASE("weight decay") { compare_adam(sizes, {0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, 1}, 3, 0, 300); }
  SUBCASE("table sizes 32, 128, 512 and a split launch") {
    for (int count : {10, 100, 300, 600}) {
      INFO(count, " tensors");
      std::vector<int64_t> many;
      for (int k = 0; k < count; ++k) many.push_back(1 + (k * 37) % 1500);
      compare_adam(many, {0.05f, 0.8f, 0.99f, 1e-6f, 0.f, 1}, 2, count / 2, 400 + count);
    }
  }
  Tensor p = on_gpu(Tensor::zeros({4}));
  CHECK_THROWS_AS(adam_update_({{p, on_gpu(Tensor::zeros({5})), p.clone(), p.clone()}}, {0.01f, 0.9f, 0.999f, 1e-8f, 0.f, 1}),
                  Error);
}

// ---- gradient checks on the GPU ------------------------------------------------------

TEST_CASE("cuda: gradient checks" * needs_gpu()) {
  const dip::test::GradCheck opt = on_gpu_check();
  SUBCASE("elementwise") {
    const std::vector<std::pair<Shape, Shape>> shapes = {{{2, 3, 5, 7}, {3, 1, 1}}, {{4, 1, 3}, {5, 1}}};
    uint64_t seed = 500;
    for (auto [sa, sb] : shapes) {
      Tensor a = random_tensor(sa, seed++), b = random_tensor(sb, seed++, 0.5f, 2.f);
      check_gradients("cuda add", [](auto& v) { return add(v[0], v[1]); }, {a, b}, opt);
      check_gradients("cuda sub", [](auto& v) { return sub(v[0], v[1]); }, {a, b}, opt);
      check_gradients("cuda mul", [](auto& v) { return mul(v[0], v[1]); }, {a, b}, opt);
      check_gradients("cuda div", [](auto& v) { return div(v[0], v[1]); }, {a, b}, opt);
    }
    Tensor x = random_tensor({2, 3, 5, 7}, seed++), pos = random_tensor({3, 7, 5}, seed++, 0.5f, 2.f);
    check_gradients("cuda exp", [](auto& v) { return exp(v[0]); }, {x}, opt);
    check_gradients("cuda log", [](auto& v) { return log(v[0]); }, {pos}, opt);
    check_gradients("cuda sqrt", [](auto& v) { return sqrt(v[0]); }, {pos}, opt);
    check_gradients("cuda pow", [](auto& v) { return pow_scalar(v[0], 2.5f); }, {pos}, opt);
    check_gradients("cuda abs", [](auto& v) { return abs(v[0]); }, {away_from_zero({3, 7}, seed++)}, opt);
  }
  SUBCASE("reductions") {
    uint64_t seed = 520;
    for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{4, 9}, Shape{11}}) {
      Tensor x = random_tensor(s, seed++);
      check_gradients("cuda sum", [](auto& v) { return sum(v[0]); }, {x}, opt);
      check_gradients("cuda mean", [](auto& v) { return mean(v[0]); }, {x}, opt);
      for (int dim = 0; dim < s.rank(); ++dim)
        for (bool keepdim : {false, true}) {
          check_gradients("cuda sum_dim", [=](auto& v) { return sum_dim(v[0], dim, keepdim); }, {x}, opt);
          check_gradients("cuda mean_dim", [=](auto& v) { return mean_dim(v[0], dim, keepdim); }, {x}, opt);
        }
    }
  }
  SUBCASE("activations") {
    uint64_t seed = 540;
    for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{11}}) {
      Tensor kinked = away_from_zero(s, seed++), x = random_tensor(s, seed++, -3.f, 3.f);
      check_gradients("cuda leaky_relu", [](auto& v) { return leaky_relu(v[0], 0.2f); }, {kinked}, opt);
      check_gradients("cuda sigmoid", [](auto& v) { return sigmoid(v[0]); }, {x}, opt);
      check_gradients("cuda tanh", [](auto& v) { return tanh(v[0]); }, {x}, opt);
      check_gradients("cuda gelu", [](auto& v) { return gelu(v[0]); }, {x}, opt);
    }
  }
  SUBCASE("softmax") {
    uint64_t seed = 560;
    for (const Shape& s : {Shape{3, 7}, Shape{2, 2, 33}, Shape{1, 300}})
      check_gradients("cuda softmax", [](auto& v) { return softmax(v[0]); }, {random_tensor(s, seed++, -2.f, 2.f)}, opt);
  }
  SUBCASE("layer_norm") {
    // Smooth, but step 1e-2 on a normalisation needs rtol 2e-2, atol 2e-3 (as the CPU test).
    dip::test::GradCheck ln = opt;
    ln.rtol = 2e-2f;
    ln.atol = 2e-3f;
    uint64_t seed = 580;
    for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{5, 4}, Shape{6}, Shape{40, 300}}) {
      const int64_t D = s[-1];
      Tensor x = random_tensor(s, seed++, -2.f, 2.f);
      Tensor gamma = random_tensor({D}, seed++, 0.5f, 1.5f), beta = random_tensor({D}, seed++);
      check_gradients("cuda layer_norm " + s.str(), [](auto& v) { return layer_norm(v[0], v[1], v[2], 1e-5f); },
                      {x, gamma, beta}, ln);
    }
  }
  SUBCASE("losses") {
    uint64_t seed = 600, iso_seed = 620;
    for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 2, 1, 6}, Shape{1, 2, 5, 1}}) {
      Tensor y = random_tensor(s, seed++), t = random_tensor(s, seed++);
      check_gradients("cuda mse_loss", [](auto& v) { return mse_loss(v[0], v[1]); }, {y, t}, opt, {1});
      check_gradients("cuda tv_loss", [](auto& v) { return tv_loss(v[0]); }, {checkerboard(s, seed++)}, opt);
      // atol lowered to 5e-5 as in the CPU test (gradients are O(1 / numel)).
      dip::test::GradCheck iso = opt;
      iso.atol = 5e-5f;
      check_gradients("cuda isotropic_tv_loss", [](auto& v) { return isotropic_tv_loss(v[0]); },
                      {checkerboard(s, iso_seed++)}, iso);
      check_gradients("cuda isotropic_tv_loss eps 0.5", [](auto& v) { return isotropic_tv_loss(v[0], 0.5f); },
                      {random_tensor(s, iso_seed++)}, iso);
    }
  }
}
