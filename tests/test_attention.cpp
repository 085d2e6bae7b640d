// The fused attention op (tensor/attention.h): forward, lse and backward against the plain composition
// scaled_dot_product_attention (autograd/functions.h) on the same packed inputs, at lengths that straddle
// the CPU's query/key blocks (64/128) and the GPU's tiles (64, or 32 for d = 128); finite-difference
// gradient checks; independence of the thread count; argument errors; and, where a GPU is usable,
// the CUDA kernels against the CPU (forward, lse, backward, repeatability, a gradient check) and
// MultiHeadSelfAttention on the GPU, including its composition fallback for heads wider than 128.
//
// Tolerances: CPU fused vs composition, both FP32 with different summation orders: normalised error
// 1e-5 (measured ~1e-7 .. 1e-6). lse vs a double-precision loop: 1e-5 absolute. CUDA vs CPU
// (FP32 on both, tests/cuda_compare.h): 1e-5 forward and lse, 5e-5 backward (dS = P (dP - Drow)
// cancels, which amplifies rounding in the smaller entries); the whole module on the GPU (cuBLAS
// set to FP32) 1e-4. Gradient checks: tests/gradcheck.h defaults (step 1e-2, rtol 1e-2, atol 1e-3):
// attention is smooth everywhere.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "gpu/runtime.h"
#include "nn/attention.h"
#include "tensor/attention.h"
#include "tensor/cpu/gemm.h"
#include "tests/cuda_compare.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_close;
using dip::test::check_gradients;
using dip::test::GradCheck;
using dip::test::needs_gpu;
using dip::test::normalized_error;
using dip::test::PrecisionScope;
using dip::test::random_tensor;

namespace {

constexpr double kCompositionTol = 1e-5;
constexpr double kCudaForwardTol = 1e-5;
constexpr double kCudaBackwardTol = 5e-5;
constexpr double kCudaModuleTol = 1e-4;

struct Case {
  int64_t batch, tokens, dim;  // B, L, D
  int heads;
  std::string str() const {
    return "B=" + std::to_string(batch) + " L=" + std::to_string(tokens) + " D=" + std::to_string(dim) +
           " heads=" + std::to_string(heads) + " (d=" + std::to_string(dim / heads) + ")";
  }
};

float default_scale(const Case& c) { return 1.f / std::sqrt(float(c.dim / c.heads)); }

// lse (B, H, L) in double, straight from the definition.
std::vector<double> reference_lse(const Tensor& qkv, int heads, float scale) {
  const int64_t B = qkv.size(0), L = qkv.size(1), D = qkv.size(2) / 3, d = D / heads;
  std::vector<float> x = qkv.to_vector();
  std::vector<double> lse;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < L; ++i) {
        std::vector<double> s(L);
        double mx = -1e300;
        for (int64_t j = 0; j < L; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < d; ++c)
            dot += double(x[(b * L + i) * 3 * D + h * d + c]) * x[(b * L + j) * 3 * D + D + h * d + c];
          s[j] = scale * dot;
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (double v : s) z += std::exp(v - mx);
        lse.push_back(mx + std::log(z));
      }
  return lse;
}

// Fused forward and backward (through autograd) vs the composition, with the same output gradient.
void check_against_composition(const Case& c, uint64_t seed) {
  INFO(c.str());
  const float scale = default_scale(c);
  Tensor x = random_tensor({c.batch, c.tokens, 3 * c.dim}, seed);
  Tensor g = random_tensor({c.batch, c.tokens, c.dim}, seed + 1);

  Variable fused_in(x.clone(), true), composed_in(x.clone(), true);
  Variable fused = attention(fused_in, c.heads, scale);
  Variable composed = attention_composed(composed_in, c.heads, scale);
  REQUIRE(fused.shape() == Shape{c.batch, c.tokens, c.dim});
  const double forward_err = normalized_error(fused.data(), composed.data());
  CHECK_MESSAGE(forward_err <= kCompositionTol, "forward: normalised error ", forward_err);

  fused.backward(g);
  composed.backward(g);
  const double backward_err = normalized_error(fused_in.grad(), composed_in.grad());
  CHECK_MESSAGE(backward_err <= kCompositionTol, "backward: normalised error ", backward_err);
}

}  // namespace

TEST_CASE("attention: forward and backward match the composition across block boundaries") {
  // L = 1; odd lengths; 65 and 130 cross the 64-query block, 130 and 257 the 128-key block;
  // d from 1 to 32, one to four heads.
  const std::vector<Case> cases = {{2, 1, 8, 2},   {1, 7, 12, 3},  {3, 5, 3, 3},  {2, 65, 16, 2},
                                   {1, 130, 32, 4}, {2, 64, 32, 1}, {1, 257, 6, 2}, {1, 129, 64, 2}};
  uint64_t seed = 100;
  for (const Case& c : cases) check_against_composition(c, seed += 2);
}

TEST_CASE("attention: lse is the log-sum-exp of the scaled scores") {
  for (const Case& c : {Case{2, 7, 12, 3}, Case{1, 130, 8, 2}}) {
    INFO(c.str());
    const float scale = 0.9f;
    Tensor x = random_tensor({c.batch, c.tokens, 3 * c.dim}, 7, -2.f, 2.f);
    Tensor lse;
    attention_forward(x, AttentionSpec{c.heads, scale}, lse);
    REQUIRE(lse.shape() == Shape{c.batch, c.heads, c.tokens});
    std::vector<double> want = reference_lse(x, c.heads, scale);
    std::vector<float> got = lse.to_vector();
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
    CHECK(worst < 1e-5);
  }
}

TEST_CASE("attention: gradient checks") {
  check_gradients("attention (2, 5, 3*8), 2 heads",
                  [](auto& v) { return attention(v[0], 2, 0.5f); }, {random_tensor({2, 5, 24}, 31)});
  check_gradients("attention (1, 7, 3*6), 3 heads",
                  [](auto& v) { return attention(v[0], 3, 1.f / std::sqrt(2.f)); }, {random_tensor({1, 7, 18}, 32)});
}

TEST_CASE("attention: results do not depend on the thread count") {
  // Large enough for the threaded path; each (b, h, query block) forward task and each (b, h)
  // backward is computed whole by one thread, so the values must agree bit for bit.
  const Case c{2, 150, 32, 2};
  Tensor x = random_tensor({c.batch, c.tokens, 3 * c.dim}, 41);
  Tensor g = random_tensor({c.batch, c.tokens, c.dim}, 42);
  const AttentionSpec spec{c.heads, default_scale(c)};
  auto run = [&](int threads) {
    const int saved = cpu::num_threads();
    cpu::set_num_threads(threads);
    Tensor lse;
    Tensor out = attention_forward(x, spec, lse);
    Tensor grad = attention_backward(x, out, lse, g, spec);
    cpu::set_num_threads(saved);
    return std::vector<std::vector<float>>{out.to_vector(), lse.to_vector(), grad.to_vector()};
  };
  CHECK(run(1) == run(2));
}

TEST_CASE("attention: argument errors") {
  Tensor lse;
  const AttentionSpec two_heads{2, 1.f};
  CHECK_THROWS_AS(attention_forward(Tensor::zeros({4, 24}), two_heads, lse), Error);       // not (B, L, 3D)
  CHECK_THROWS_AS(attention_forward(Tensor::zeros({1, 4, 18}), AttentionSpec{4, 1.f}, lse), Error);  // D=6, 4 heads
  CHECK_THROWS_AS(attention_forward(Tensor::zeros({1, 4, 20}), two_heads, lse), Error);    // 20 is not 3D
  CHECK_THROWS_AS(attention_forward(Tensor::zeros({1, 4, 24}), AttentionSpec{0, 1.f}, lse), Error);
  CHECK_THROWS_AS(attention_forward(Tensor::zeros({1, 4, 24}), AttentionSpec{2, NAN}, lse), Error);

  Tensor x = random_tensor({1, 4, 24}, 51);
  Tensor out = attention_forward(x, two_heads, lse);
  Tensor g = Tensor::zeros({1, 4, 8});
  CHECK_NOTHROW(attention_backward(x, out, lse, g, two_heads));
  CHECK_THROWS_AS(attention_backward(x, out, Tensor::zeros({1, 4, 2}), g, two_heads), Error);  // lse (B, L, H)
  CHECK_THROWS_AS(attention_backward(x, out, lse, Tensor::zeros({1, 4, 9}), two_heads), Error);
  CHECK_THROWS_AS(attention_backward(x, Tensor::zeros({1, 3, 8}), lse, g, two_heads), Error);
  CHECK_THROWS_AS(attention_backward(x, out, lse, g, AttentionSpec{4, 1.f}), Error);  // lse has 2 heads
}

// ---- CUDA ---------------------------------------------------------------------------------------

TEST_CASE("cuda: attention forward, lse and backward match the CPU" * needs_gpu()) {
  // Head sizes 16, 32, 64, 128 and some between (3, 20, 48); L = 1, odd, not a multiple of the tile
  // (64, or 32 for d = 128), and spanning several tiles.
  const std::vector<Case> cases = {{2, 1, 32, 2},   {1, 7, 96, 3},   {2, 65, 128, 2}, {1, 130, 256, 2},
                                   {1, 33, 6, 2},   {2, 100, 40, 2}, {1, 97, 128, 1}, {3, 64, 48, 1},
                                   {1, 130, 128, 2}, {1, 200, 16, 1}};
  uint64_t seed = 200;
  for (const Case& c : cases) {
    INFO(c.str());
    const AttentionSpec spec{c.heads, default_scale(c)};
    Tensor x = random_tensor({c.batch, c.tokens, 3 * c.dim}, seed += 2);
    Tensor g = random_tensor({c.batch, c.tokens, c.dim}, seed + 1);
    Tensor lse_cpu, lse_gpu;
    Tensor out_cpu = attention_forward(x, spec, lse_cpu);
    Tensor x_gpu = x.to(Device::CUDA), g_gpu = g.to(Device::CUDA);
    Tensor out_gpu = attention_forward(x_gpu, spec, lse_gpu);
    REQUIRE(out_gpu.device() == Device::CUDA);
    check_close("attention out " + c.str(), out_gpu, out_cpu, kCudaForwardTol);
    check_close("attention lse " + c.str(), lse_gpu, lse_cpu, kCudaForwardTol);

    Tensor grad_cpu = attention_backward(x, out_cpu, lse_cpu, g, spec);
    Tensor grad_gpu = attention_backward(x_gpu, out_gpu, lse_gpu, g_gpu, spec);
    check_close("attention grad_qkv " + c.str(), grad_gpu, grad_cpu, kCudaBackwardTol);
    // No atomics: the same backward again is bitwise the same.
    CHECK(attention_backward(x_gpu, out_gpu, lse_gpu, g_gpu, spec).to_vector() == grad_gpu.to_vector());
  }
}

TEST_CASE("cuda: attention gradient check and argument errors" * needs_gpu()) {
  GradCheck opt;
  opt.device = Device::CUDA;
  check_gradients("cuda attention (2, 5, 3*8), 2 heads",
                  [](auto& v) { return attention(v[0], 2, 0.5f); }, {random_tensor({2, 5, 24}, 61)}, opt);
  check_gradients("cuda attention (1, 70, 3*32), 1 head",
                  [](auto& v) { return attention(v[0], 1, 0.25f); }, {random_tensor({1, 70, 96}, 62)}, opt);

  // d = 129 is beyond the kernels' 128.
  Tensor lse;
  CHECK_THROWS_AS(attention_forward(Tensor::zeros({1, 4, 3 * 129}, Device::CUDA), AttentionSpec{1, 1.f}, lse),
                  Error);
}

TEST_CASE("cuda: MultiHeadSelfAttention on the GPU matches the CPU, also past the kernels' head size" * needs_gpu()) {
  // d = 16 runs the fused kernels; d = 160 > 128 takes the composition fallback in nn/attention.cpp.
  // The Linear layers' cuBLAS GEMMs in strict FP32, so that the whole layer compares at FP32 accuracy.
  PrecisionScope fp32(gpu::Precision::FP32);
  struct Width {
    int dim, heads;
  };
  for (const Width w : {Width{32, 2}, Width{160, 1}}) {
    const int dim = w.dim, heads = w.heads;
    INFO("dim ", dim, ", heads ", heads);
    Rng rng(71);
    MultiHeadSelfAttention attn(dim, heads, rng);
    Tensor x = random_tensor({2, 9, dim}, 72);
    Tensor g = random_tensor({2, 9, dim}, 73);
    Variable x_cpu(x, true);
    Variable y_cpu = attn.forward(x_cpu);
    y_cpu.backward(g);
    attn.to(Device::CUDA);
    Variable x_gpu(x.to(Device::CUDA), true);
    Variable y_gpu = attn.forward(x_gpu);
    y_gpu.backward(g.to(Device::CUDA));
    check_close("MultiHeadSelfAttention forward", y_gpu.data(), y_cpu.data(), kCudaModuleTol);
    check_close("MultiHeadSelfAttention input gradient", x_gpu.grad(), x_cpu.grad(), kCudaModuleTol);
  }
}

TEST_CASE("attention: the backend says which head sizes its fused kernel takes; the op falls back itself") {
  CHECK(attention_supported(Device::CPU, 4096));
  CHECK(attention_supported(Device::CUDA, kAttentionCudaMaxHeadDim));
  CHECK(!attention_supported(Device::CUDA, kAttentionCudaMaxHeadDim + 1));
  // On the CPU the op is the fused kernel for any head size: it records one "attention" node.
  Rng rng(11);
  Variable qkv(Tensor::uniform({1, 5, 3 * 2 * 160}, -1.f, 1.f, rng), true);  // 2 heads of 160
  Variable o = attention(qkv, 2, 0.1f);
  CHECK(std::string(o.impl()->grad_fn->name) == "attention");
  Variable c = attention_composed(qkv, 2, 0.1f);
  CHECK(std::string(c.impl()->grad_fn->name) != "attention");
}
