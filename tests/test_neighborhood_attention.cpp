// Neighbourhood attention: the clamped windows against tables worked out by hand, forward and both
// backward kernels against a double loop reference (which scatters where the kernels gather), the
// box-blur property of a flat attention, argument checks, thread-count independence of the CPU
// backward, finite-difference gradients of the autograd op and of the layer, and the CUDA kernels
// and the layer against the CPU (skipped where no GPU is usable).
//
// Tolerances: kernels vs the double reference, max |error| <= 5e-6 * max(1, max |reference|);
// CUDA vs CPU, normalised error <= 1e-5 (per-element float math, summation orders differ);
// gradient checks as tests/gradcheck.h (central differences, step 1e-2, rtol 1e-2, atol 1e-3).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "gpu/runtime.h"
#include "nn/neighborhood_attention.h"
#include "tensor/cpu/gemm.h"
#include "tensor/neighborhood_attention.h"
#include "tests/cuda_compare.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_close;
using dip::test::check_gradients;
using dip::test::check_parameter_gradients;
using dip::test::GradCheck;
using dip::test::needs_gpu;
using dip::test::random_tensor;

namespace {

struct NaCase {
  int n, grid_h, grid_w, dim, heads, kernel;
};

std::string describe_case(const NaCase& c) {
  return "N=" + std::to_string(c.n) + " grid " + std::to_string(c.grid_h) + "x" + std::to_string(c.grid_w) +
         " D=" + std::to_string(c.dim) + " heads=" + std::to_string(c.heads) +
         " k=" + std::to_string(c.kernel);
}

NeighborhoodSpec spec_of(const NaCase& c) {
  return {c.grid_h, c.grid_w, c.heads, c.kernel, 1.f / std::sqrt(float(c.dim / c.heads))};
}

struct NaInputs {
  Tensor qkv, rpb, grad_out;  // (N, T, 3D), (H, 2k-1, 2k-1), (N, T, D)
};

// Random inputs; q and k in [-1.5, 1.5] so some windows are peaked, not all near-uniform.
NaInputs random_inputs(const NaCase& c, uint64_t seed) {
  const int64_t T = int64_t(c.grid_h) * c.grid_w, R = 2 * c.kernel - 1;
  return {random_tensor({c.n, T, 3 * c.dim}, seed, -1.5f, 1.5f), random_tensor({c.heads, R, R}, seed + 1),
          random_tensor({c.n, T, c.dim}, seed + 2)};
}

// Straight from the definition, in double: each query's window is enumerated, the softmax taken,
// and the backward scatters into dK, dV and d_rpb from every query (the kernels gather per key).
struct Reference {
  std::vector<double> out, probs, grad_qkv, grad_rpb;

  Reference(const NaCase& c, const NaInputs& in) {
    const int N = c.n, gh = c.grid_h, gw = c.grid_w, D = c.dim, H = c.heads, k = c.kernel;
    const int d = D / H, T = gh * gw, R = 2 * k - 1;
    const int kh = std::min(k, gh), kw = std::min(k, gw), K2 = kh * kw;
    const double scale = 1.0 / std::sqrt(double(d));
    const std::vector<float> vqkv = in.qkv.to_vector(), vrpb = in.rpb.to_vector(),
                             vg = in.grad_out.to_vector();
    // Channel ch of head h of block (0 = q, 1 = k, 2 = v) of token t of image n.
    auto at = [&](int n, int t, int block, int h, int ch) {
      return size_t((n * T + t) * 3 * D + block * D + h * d + ch);
    };
    out.assign(size_t(N) * T * D, 0);
    probs.assign(size_t(N) * H * T * K2, 0);
    grad_qkv.assign(size_t(N) * T * 3 * D, 0);
    grad_rpb.assign(size_t(H) * R * R, 0);
    for (int n = 0; n < N; ++n)
      for (int h = 0; h < H; ++h)
        for (int i = 0; i < gh; ++i)
          for (int j = 0; j < gw; ++j) {
            const int t = i * gw + j;
            const int si = std::clamp(i - k / 2, 0, gh - kh), sj = std::clamp(j - k / 2, 0, gw - kw);
            std::vector<int> key, bias;  // per window entry m: the key token, its rpb element
            std::vector<double> p;
            for (int y = si; y < si + kh; ++y)
              for (int x = sj; x < sj + kw; ++x) {
                key.push_back(y * gw + x);
                bias.push_back((h * R + y - i + k - 1) * R + x - j + k - 1);
                double s = 0;
                for (int ch = 0; ch < d; ++ch)
                  s += double(vqkv[at(n, t, 0, h, ch)]) * vqkv[at(n, key.back(), 1, h, ch)];
                p.push_back(scale * s + vrpb[bias.back()]);
              }
            const double mx = *std::max_element(p.begin(), p.end());
            double z = 0;
            for (double& v : p) {
              v = std::exp(v - mx);
              z += v;
            }
            for (double& v : p) v /= z;

            const float* go = vg.data() + (n * T + t) * D + h * d;  // dO of this query and head
            std::vector<double> dp(K2, 0.0);
            double sum_pdp = 0;
            for (int m = 0; m < K2; ++m) {
              probs[size_t((n * H + h) * T + t) * K2 + m] = p[m];
              for (int ch = 0; ch < d; ++ch) {
                out[size_t(n * T + t) * D + h * d + ch] += p[m] * vqkv[at(n, key[m], 2, h, ch)];
                dp[m] += double(go[ch]) * vqkv[at(n, key[m], 2, h, ch)];
              }
              sum_pdp += p[m] * dp[m];
            }
            for (int m = 0; m < K2; ++m) {
              const double ds = p[m] * (dp[m] - sum_pdp);
              grad_rpb[bias[m]] += ds;
              for (int ch = 0; ch < d; ++ch) {
                grad_qkv[at(n, t, 0, h, ch)] += scale * ds * vqkv[at(n, key[m], 1, h, ch)];
                grad_qkv[at(n, key[m], 1, h, ch)] += scale * ds * vqkv[at(n, t, 0, h, ch)];
                grad_qkv[at(n, key[m], 2, h, ch)] += p[m] * go[ch];
              }
            }
          }
  }
};

// CHECKs max |a - ref| <= 5e-6 * max(1, max |ref|) (measured: below 4e-7).
void check_matches(const std::string& what, const Tensor& a, const std::vector<double>& ref) {
  INFO(what);
  const std::vector<float> v = a.to_vector();
  REQUIRE(v.size() == ref.size());
  double err = 0, mag = 1;
  for (size_t i = 0; i < v.size(); ++i) {
    err = std::max(err, std::fabs(v[i] - ref[i]));
    mag = std::max(mag, std::fabs(ref[i]));
  }
  CHECK_MESSAGE(err <= 5e-6 * mag, what, ": max error ", err, " (reference magnitude ", mag, ")");
}

struct NaResult {
  Tensor out, probs, grad_qkv, grad_rpb;
};

NaResult run_kernels(const NaCase& c, const NaInputs& in, Device device) {
  const NeighborhoodSpec spec = spec_of(c);
  NaResult r;
  const Tensor qkv = in.qkv.to(device);
  r.out = neighborhood_attention_forward(qkv, in.rpb.to(device), spec, r.probs);
  r.grad_qkv = neighborhood_attention_backward(qkv, r.probs, in.grad_out.to(device), spec, r.grad_rpb);
  return r;
}

// Odd grids, grids narrower than the kernel on one or both sides, k = 1, a single grid row, and one
// case big enough for the threaded CPU path (N*T*H*window*d = 124800 multiply-adds).
const std::vector<NaCase> kCases = {
    {2, 5, 7, 6, 2, 3}, {2, 3, 9, 8, 2, 5}, {1, 2, 3, 4, 1, 7},
    {1, 4, 4, 3, 3, 1}, {1, 1, 6, 4, 2, 3}, {2, 12, 13, 16, 2, 5},
};

}  // namespace

TEST_CASE("neighborhood attention: clamped windows match tables worked out by hand") {
  // Window starts per grid row (or column): the window slides inward at the borders and covers the
  // whole axis when the axis is shorter than the kernel.
  struct Axis {
    int kernel, size;
    std::vector<int> starts;
  };
  const std::vector<Axis> axes = {
      {3, 5, {0, 0, 1, 2, 2}},
      {3, 4, {0, 0, 1, 1}},
      {5, 9, {0, 0, 0, 1, 2, 3, 4, 4, 4}},
      {5, 3, {0, 0, 0}},
      {7, 2, {0, 0}},
      {1, 3, {0, 1, 2}},
      {3, 1, {0}},
      {5, 5, {0, 0, 0, 0, 0}},
  };
  for (const Axis& a : axes) {
    INFO("kernel ", a.kernel, ", axis of ", a.size);
    for (int i = 0; i < a.size; ++i) CHECK(neighborhood_window_start(i, a.kernel, a.size) == a.starts[i]);
  }
}

TEST_CASE("neighborhood attention: forward and backward kernels against a loop reference") {
  uint64_t seed = 100;
  for (const NaCase& c : kCases) {
    INFO(describe_case(c));
    const NaInputs in = random_inputs(c, seed += 10);
    const Reference ref(c, in);
    const NaResult r = run_kernels(c, in, Device::CPU);
    const int64_t K2 = int64_t(std::min(c.kernel, c.grid_h)) * std::min(c.kernel, c.grid_w);
    REQUIRE(r.out.shape() == Shape{c.n, int64_t(c.grid_h) * c.grid_w, c.dim});
    REQUIRE(r.probs.shape() == Shape{c.n, c.heads, int64_t(c.grid_h) * c.grid_w, K2});
    REQUIRE(r.grad_qkv.shape() == in.qkv.shape());
    REQUIRE(r.grad_rpb.shape() == in.rpb.shape());
    check_matches("probs", r.probs, ref.probs);
    check_matches("out", r.out, ref.out);
    check_matches("grad_qkv", r.grad_qkv, ref.grad_qkv);
    check_matches("grad_rpb", r.grad_rpb, ref.grad_rpb);
  }
}

TEST_CASE("neighborhood attention: kernel 1 attends to the token itself") {
  const NaCase c{2, 3, 5, 6, 2, 1};
  const NaInputs in = random_inputs(c, 7);
  const NaResult r = run_kernels(c, in, Device::CPU);
  const std::vector<float> qkv = in.qkv.to_vector(), out = r.out.to_vector();
  for (float p : r.probs.to_vector()) REQUIRE(p == 1.f);
  for (int64_t t = 0; t < 2 * 15; ++t)
    for (int64_t ch = 0; ch < 6; ++ch) REQUIRE(out[t * 6 + ch] == qkv[t * 18 + 12 + ch]);
  // One key per query: the softmax is constant, so q, k and rpb get no gradient.
  const std::vector<float> gq = r.grad_qkv.to_vector(), go = in.grad_out.to_vector();
  for (int64_t t = 0; t < 2 * 15; ++t)
    for (int64_t ch = 0; ch < 6; ++ch) {
      REQUIRE(gq[t * 18 + ch] == 0.f);
      REQUIRE(gq[t * 18 + 6 + ch] == 0.f);
      REQUIRE(gq[t * 18 + 12 + ch] == go[t * 6 + ch]);
    }
  for (float g : r.grad_rpb.to_vector()) CHECK(g == 0.f);
}

TEST_CASE("neighborhood attention: with q = k = 0 and no bias, the output is the mean of v over the window") {
  // The windows from tables worked out by hand (row and column starts), not from the kernels' formula.
  struct Case {
    int grid_h, grid_w, kernel;
    std::vector<int> row_starts, col_starts;
  };
  const std::vector<Case> cases = {
      {1, 5, 3, {0}, {0, 0, 1, 2, 2}},
      {3, 4, 3, {0, 0, 0}, {0, 0, 1, 1}},
      {3, 9, 5, {0, 0, 0}, {0, 0, 0, 1, 2, 3, 4, 4, 4}},
      {5, 5, 3, {0, 0, 1, 2, 2}, {0, 0, 1, 2, 2}},
  };
  for (const Case& c : cases) {
    INFO("grid ", c.grid_h, "x", c.grid_w, " k=", c.kernel);
    const int gh = c.grid_h, gw = c.grid_w, k = c.kernel, T = gh * gw, D = 4, H = 2, N = 2;
    const int kh = std::min(k, gh), kw = std::min(k, gw);
    std::vector<float> qkv = random_tensor({N, T, 3 * D}, 21).to_vector();
    for (int t = 0; t < N * T; ++t) std::fill(qkv.begin() + t * 3 * D, qkv.begin() + t * 3 * D + 2 * D, 0.f);
    const NeighborhoodSpec spec{gh, gw, H, k, 1.f / std::sqrt(2.f)};
    Tensor probs;
    const Tensor out = neighborhood_attention_forward(Tensor::from_vector({N, T, 3 * D}, qkv),
                                                      Tensor::zeros({H, 2 * k - 1, 2 * k - 1}), spec, probs);
    for (float p : probs.to_vector()) REQUIRE(p == doctest::Approx(1.0 / (kh * kw)).epsilon(1e-6));
    const std::vector<float> o = out.to_vector();
    double worst = 0;
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < gh; ++i)
        for (int j = 0; j < gw; ++j)
          for (int ch = 0; ch < D; ++ch) {
            double mean = 0;
            for (int y = c.row_starts[i]; y < c.row_starts[i] + kh; ++y)
              for (int x = c.col_starts[j]; x < c.col_starts[j] + kw; ++x)
                mean += qkv[size_t((n * T + y * gw + x) * 3 * D + 2 * D + ch)];
            mean /= kh * kw;
            worst = std::max(worst, std::fabs(o[size_t((n * T + i * gw + j) * D + ch)] - mean));
          }
    CHECK(worst < 1e-6);
  }
}

TEST_CASE("neighborhood attention: arguments are checked") {
  const Tensor qkv = random_tensor({1, 12, 12}, 1);  // 3x4 grid, D = 4
  const Tensor rpb = Tensor::zeros({2, 5, 5});
  Tensor probs;
  auto forward = [&](const Tensor& x, const Tensor& b, NeighborhoodSpec s) {
    return neighborhood_attention_forward(x, b, s, probs);
  };
  CHECK_NOTHROW(forward(qkv, rpb, {3, 4, 2, 3, 1.f}));
  CHECK_THROWS_AS(forward(qkv, Tensor::zeros({2, 4, 4}), {3, 4, 2, 2, 1.f}), Error);       // even kernel
  CHECK_THROWS_AS(forward(qkv, Tensor::zeros({2, 1, 1}), {3, 4, 2, 0, 1.f}), Error);       // kernel 0
  CHECK_THROWS_AS(forward(qkv, rpb, {3, 3, 2, 3, 1.f}), Error);                            // 9 != 12 tokens
  CHECK_THROWS_AS(forward(qkv, Tensor::zeros({3, 5, 5}), {3, 4, 3, 3, 1.f}), Error);       // D = 4, 3 heads
  CHECK_THROWS_AS(forward(random_tensor({1, 12, 10}, 2), rpb, {3, 4, 2, 3, 1.f}), Error);  // not 3D
  CHECK_THROWS_AS(forward(qkv.reshape({12, 12}), rpb, {3, 4, 2, 3, 1.f}), Error);          // rank 2
  CHECK_THROWS_AS(forward(qkv, Tensor::zeros({2, 3, 3}), {3, 4, 2, 3, 1.f}), Error);       // rpb for k = 2
  CHECK_THROWS_AS(forward(qkv, Tensor::zeros({1, 5, 5}), {3, 4, 2, 3, 1.f}), Error);       // rpb for 1 head
  std::string message;
  try {
    forward(qkv, rpb, {3, 3, 2, 3, 1.f});
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK_MESSAGE(message.find("3x3 grid has 9") != std::string::npos, "message: ", message);

  const NeighborhoodSpec spec{3, 4, 2, 3, 1.f};
  Tensor p;
  forward(qkv, Tensor::zeros({2, 5, 5}), spec);
  p = probs;
  const Tensor g = random_tensor({1, 12, 4}, 3);
  Tensor grad_rpb;
  CHECK_NOTHROW(neighborhood_attention_backward(qkv, p, g, spec, grad_rpb));
  CHECK_THROWS_AS(neighborhood_attention_backward(qkv, p, g, {3, 4, 2, 1, 1.f}, grad_rpb), Error);  // other k
  CHECK_THROWS_AS(neighborhood_attention_backward(qkv, p, random_tensor({1, 12, 12}, 4), spec, grad_rpb),
                  Error);
  CHECK_THROWS_AS(neighborhood_attention_backward(qkv, p.reshape({2, 12, 9}), g, spec, grad_rpb), Error);

  Rng rng(5);
  CHECK_THROWS_AS(NeighborhoodAttention(6, 4, 3, 3, 3, rng), Error);  // width not a multiple of heads
  CHECK_THROWS_AS(NeighborhoodAttention(8, 2, 4, 3, 3, rng), Error);  // even kernel
  NeighborhoodAttention layer(8, 2, 3, 3, 3, rng);
  CHECK_THROWS_AS(layer.forward(Variable(random_tensor({1, 10, 8}, 6))), Error);  // 10 tokens, grid 3x3
}

TEST_CASE("neighborhood attention: the CPU backward is bitwise the same on any thread count") {
  const NaCase c{2, 12, 13, 16, 2, 5};  // the threaded path
  const NaInputs in = random_inputs(c, 31);
  const int saved = cpu::num_threads();
  cpu::set_num_threads(1);
  const NaResult one = run_kernels(c, in, Device::CPU);
  cpu::set_num_threads(3);
  const NaResult three = run_kernels(c, in, Device::CPU);
  cpu::set_num_threads(saved);
  CHECK(one.out.to_vector() == three.out.to_vector());
  CHECK(one.grad_qkv.to_vector() == three.grad_qkv.to_vector());
  CHECK(one.grad_rpb.to_vector() == three.grad_rpb.to_vector());
}

TEST_CASE("neighborhood attention: gradient checks of qkv and rpb") {
  uint64_t seed = 60;
  for (const NaCase& c : {NaCase{1, 3, 4, 4, 2, 3}, NaCase{2, 2, 5, 3, 1, 5}}) {
    INFO(describe_case(c));
    const int64_t T = int64_t(c.grid_h) * c.grid_w, R = 2 * c.kernel - 1;
    check_gradients(
        "neighborhood_attention " + describe_case(c),
        [c](auto& v) { return neighborhood_attention(v[0], v[1], c.grid_h, c.grid_w, c.heads, c.kernel); },
        {random_tensor({c.n, T, 3 * c.dim}, seed++), random_tensor({c.heads, R, R}, seed++, -0.5f, 0.5f)});
  }
}

TEST_CASE("neighborhood attention layer: parameters, name and gradients") {
  Rng rng(17);
  NeighborhoodAttention layer(4, 2, 3, 3, 3, rng);
  CHECK(layer.name() == "NeighborhoodAttention(4, heads=2, kernel=3, grid=3x3)");
  const auto params = layer.named_parameters();
  REQUIRE(params.size() == 5);
  CHECK(params[0].first == "rpb");
  CHECK(params[1].first == "qkv.weight");
  CHECK(params[4].first == "proj.bias");
  // rpb 2*5*5, qkv 12*4 + 12, proj 4*4 + 4.
  CHECK(layer.num_parameters() == 50 + 60 + 20);
  for (float v : layer.relative_position_bias().data().to_vector()) REQUIRE(v == 0.f);

  const Tensor x = random_tensor({2, 9, 4}, 18);
  CHECK(layer.forward(Variable(x)).shape() == Shape{2, 9, 4});
  check_gradients("NeighborhoodAttention input", [&](auto& v) { return layer.forward(v[0]); }, {x});
  // rpb away from its zero start, so its gradient check is not at a special point.
  Variable rpb = layer.relative_position_bias();  // shares the parameter
  rpb.data().copy_(random_tensor({2, 5, 5}, 19, -0.5f, 0.5f));
  check_parameter_gradients("NeighborhoodAttention", layer, x);
}

// ---- CUDA ---------------------------------------------------------------------------

TEST_CASE("cuda: neighborhood attention forward and backward against the CPU" * needs_gpu()) {
  std::vector<NaCase> cases = kCases;
  cases.push_back({2, 33, 31, 64, 4, 7});  // many blocks, head size 16
  cases.push_back({1, 16, 16, 64, 2, 13});
  uint64_t seed = 200;
  for (const NaCase& c : cases) {
    INFO(describe_case(c));
    const NaInputs in = random_inputs(c, seed += 10);
    const NaResult cpu_r = run_kernels(c, in, Device::CPU);
    const NaResult gpu_r = run_kernels(c, in, Device::CUDA);
    REQUIRE(gpu_r.out.is_cuda());
    check_close("probs", gpu_r.probs, cpu_r.probs);
    check_close("out", gpu_r.out, cpu_r.out);
    check_close("grad_qkv", gpu_r.grad_qkv, cpu_r.grad_qkv);
    check_close("grad_rpb", gpu_r.grad_rpb, cpu_r.grad_rpb);
    // No atomics: a second run gives the same bits.
    const NaResult again = run_kernels(c, in, Device::CUDA);
    CHECK(again.grad_qkv.to_vector() == gpu_r.grad_qkv.to_vector());
    CHECK(again.grad_rpb.to_vector() == gpu_r.grad_rpb.to_vector());
  }
}

TEST_CASE("cuda: neighborhood attention against the loop reference, and gradient checks" * needs_gpu()) {
  const NaCase c{2, 5, 7, 6, 2, 3};
  const NaInputs in = random_inputs(c, 300);
  const Reference ref(c, in);
  const NaResult r = run_kernels(c, in, Device::CUDA);
  check_matches("cuda out", r.out, ref.out);
  check_matches("cuda grad_qkv", r.grad_qkv, ref.grad_qkv);
  check_matches("cuda grad_rpb", r.grad_rpb, ref.grad_rpb);

  GradCheck opt;
  opt.device = Device::CUDA;
  uint64_t seed = 310;
  for (const NaCase& g : {NaCase{1, 3, 4, 4, 2, 3}, NaCase{2, 2, 5, 3, 1, 5}}) {
    const int64_t T = int64_t(g.grid_h) * g.grid_w, R = 2 * g.kernel - 1;
    check_gradients(
        "cuda neighborhood_attention " + describe_case(g),
        [g](auto& v) { return neighborhood_attention(v[0], v[1], g.grid_h, g.grid_w, g.heads, g.kernel); },
        {random_tensor({g.n, T, 3 * g.dim}, seed++), random_tensor({g.heads, R, R}, seed++, -0.5f, 0.5f)},
        opt);
  }
}

TEST_CASE("cuda: the layer on the GPU matches the CPU" * needs_gpu()) {
  // Strict FP32 matrix products for the two Linear layers (TF32 would need a 2e-3 tolerance).
  struct Fp32Scope {
    gpu::Precision saved = gpu::precision();
    Fp32Scope() { gpu::set_precision(gpu::Precision::FP32); }
    ~Fp32Scope() { gpu::set_precision(saved); }
  } fp32;
  Rng rng(23);
  NeighborhoodAttention layer(8, 2, 5, 4, 6, rng);
  Variable rpb = layer.relative_position_bias();  // shares the parameter
  rpb.data().copy_(random_tensor({2, 9, 9}, 24, -0.5f, 0.5f));
  const Tensor x = random_tensor({2, 24, 8}, 25);
  const Tensor cpu_y = layer.forward(Variable(x)).data();
  layer.to(Device::CUDA);
  REQUIRE(layer.relative_position_bias().data().is_cuda());
  const Tensor gpu_y = layer.forward(Variable(x.to(Device::CUDA))).data();
  check_close("NeighborhoodAttention forward", gpu_y, cpu_y);
}
