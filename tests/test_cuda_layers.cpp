// CUDA layers against the CPU: conv2d, matmul, batch_norm2d, upsample2d and the layout ops, forward
// and every backward, on the same seeded inputs; gradient checks with the GPU doing the work; and
// bitwise repeatability of the gather-based backward kernels. Skipped where no GPU is usable.
//
// Tolerances (normalised error ||cuda - cpu|| / ||cpu||, see tests/cuda_compare.h):
//   data movement (concat, narrow, permute, nearest upsampling)      exact (nearest backward: 1e-5)
//   per-element float math (bilinear, batch norm, bias sums)        1e-5 (summation order differs)
//   GEMM-based ops with gpu::Precision::FP32                         1e-5
//   GEMM-based ops with gpu::Precision::TF32 (10-bit mantissas)     2e-3
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <string>
#include <tuple>
#include <vector>

#include "autograd/functions.h"
#include "gpu/runtime.h"
#include "tensor/activation.h"
#include "tensor/batch_norm.h"
#include "tensor/conv2d.h"
#include "tensor/elementwise.h"
#include "tensor/layout.h"
#include "tensor/matmul.h"
#include "tensor/upsample.h"
#include "tests/cuda_compare.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_close;
using dip::test::check_gradients;
using dip::test::needs_gpu;
using dip::test::PrecisionScope;
using dip::test::random_tensor;

namespace {

constexpr double kFloatMath = 1e-5;
constexpr double kFp32Gemm = 1e-5;
constexpr double kTf32Gemm = 2e-3;

// A copy on the GPU; an undefined tensor (no bias) stays undefined.
Tensor on_gpu(const Tensor& t) { return t.defined() ? t.to(Device::CUDA) : Tensor(); }

// Data movement must reproduce the CPU bit for bit.
void check_equal(const std::string& what, const Tensor& cuda_result, const Tensor& cpu_result) {
  INFO("cuda vs cpu: ", what);
  REQUIRE(cuda_result.shape() == cpu_result.shape());
  CHECK(cuda_result.to_vector() == cpu_result.to_vector());
}

// The same computation twice on the GPU gives bitwise the same values (no atomics, fixed orders).
void check_repeatable(const std::string& what, const Tensor& first, const Tensor& second) {
  INFO("repeatability: ", what);
  CHECK(first.to_vector() == second.to_vector());
}

// ---- conv2d ------------------------------------------------------------------------

struct ConvCase {
  Shape x, w;
  int stride, padding, groups;
  PaddingMode mode;
  bool bias;
};

Conv2dOptions options(const ConvCase& c) {
  Conv2dOptions o;
  o.stride = c.stride;
  o.padding = c.padding;
  o.groups = c.groups;
  o.padding_mode = c.mode;
  return o;
}

std::string describe_conv(const ConvCase& c) {
  const char* modes[] = {"zeros", "reflect", "replicate"};
  return "x " + c.x.str() + " w " + c.w.str() + " stride " + std::to_string(c.stride) + " pad " +
         std::to_string(c.padding) + " " + modes[int(c.mode)] + " groups " + std::to_string(c.groups) +
         (c.bias ? " bias" : "");
}

// Forward and the three backward kernels against the CPU on the same inputs.
void compare_conv(const ConvCase& c, uint64_t seed, double tol) {
  const Conv2dOptions o = options(c);
  const std::string name = "conv2d " + describe_conv(c);
  Tensor x = random_tensor(c.x, seed), w = random_tensor(c.w, seed + 1);
  Tensor b = c.bias ? random_tensor({c.w[0]}, seed + 2) : Tensor();
  Tensor y = conv2d_forward(x, w, b, o);  // (N, C_out, H_out, W_out)
  Tensor g = random_tensor(y.shape(), seed + 3);
  Tensor xd = on_gpu(x), wd = on_gpu(w), bd = on_gpu(b), gd = on_gpu(g);
  check_close(name + ": forward", conv2d_forward(xd, wd, bd, o), y, tol);
  check_close(name + ": backward_input", conv2d_backward_input(gd, wd, c.x, o),
              conv2d_backward_input(g, w, c.x, o), tol);
  check_close(name + ": backward_weight", conv2d_backward_weight(gd, xd, c.w, o),
              conv2d_backward_weight(g, x, c.w, o), tol);
  check_close(name + ": backward_bias", conv2d_backward_bias(gd), conv2d_backward_bias(g), kFloatMath);
}

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {{2, 3, 7, 9}, {4, 3, 3, 3}, 1, 1, 1, PaddingMode::Zeros, true},
      {{2, 3, 7, 9}, {4, 3, 3, 3}, 1, 1, 1, PaddingMode::Reflect, true},
      {{2, 3, 7, 9}, {4, 3, 3, 3}, 2, 1, 1, PaddingMode::Reflect, false},
      {{2, 3, 7, 9}, {4, 3, 3, 3}, 2, 1, 1, PaddingMode::Replicate, true},
      {{1, 4, 8, 7}, {6, 2, 5, 5}, 2, 2, 2, PaddingMode::Replicate, false},   // groups
      {{2, 4, 6, 5}, {4, 1, 3, 3}, 1, 1, 4, PaddingMode::Zeros, true},        // depthwise
      {{2, 4, 7, 9}, {6, 2, 3, 3}, 1, 1, 2, PaddingMode::Reflect, true},      // groups + reflect
      {{2, 5, 5, 6}, {3, 5, 1, 1}, 1, 0, 1, PaddingMode::Zeros, true},        // pointwise: no im2col
      {{2, 6, 7, 9}, {4, 3, 1, 1}, 1, 0, 2, PaddingMode::Zeros, false},       // pointwise, groups
      {{2, 5, 7, 9}, {3, 5, 1, 1}, 2, 0, 1, PaddingMode::Zeros, true},        // 1x1 stride 2: im2col
      {{1, 3, 9, 7}, {2, 3, 5, 3}, 2, 2, 1, PaddingMode::Reflect, true},      // non-square kernel
      {{1, 2, 3, 5}, {3, 2, 3, 3}, 1, 2, 1, PaddingMode::Reflect, true},      // padding = H - 1
      {{1, 2, 4, 4}, {3, 2, 3, 3}, 1, 3, 1, PaddingMode::Replicate, false},   // border wider than kernel
      {{1, 2, 8, 10}, {3, 2, 2, 2}, 3, 0, 1, PaddingMode::Zeros, true},       // stride > kernel
      {{1, 3, 1, 1}, {2, 3, 3, 3}, 1, 1, 1, PaddingMode::Replicate, true},    // single pixel
      {{3, 8, 16, 12}, {8, 8, 3, 3}, 1, 1, 1, PaddingMode::Reflect, true},    // batched GEMM, more work
  };
  return cases;
}

// ---- matmul --------------------------------------------------------------------------

Shape operand_shape(int64_t batch, int64_t rows, int64_t cols, bool trans) {
  const int64_t r = trans ? cols : rows, c = trans ? rows : cols;
  return batch > 0 ? Shape{batch, r, c} : Shape{r, c};
}

void compare_matmul(int64_t batch_a, int64_t batch_b, int64_t m, int64_t n, int64_t k, bool ta, bool tb,
                    uint64_t seed, double tol) {
  Tensor a = random_tensor(operand_shape(batch_a, m, k, ta), seed);
  Tensor b = random_tensor(operand_shape(batch_b, k, n, tb), seed + 1);
  check_close("matmul a " + a.shape().str() + (ta ? "^T" : "") + " b " + b.shape().str() + (tb ? "^T" : ""),
              matmul(on_gpu(a), on_gpu(b), ta, tb), matmul(a, b, ta, tb), tol);
}

}  // namespace

// ---- conv2d --------------------------------------------------------------------------

TEST_CASE("cuda: conv2d forward and backward match the CPU (FP32)" * needs_gpu()) {
  PrecisionScope fp32(gpu::Precision::FP32);
  uint64_t seed = 100;
  for (const ConvCase& c : conv_cases()) {
    compare_conv(c, seed, kFp32Gemm);
    seed += 4;
  }
}

TEST_CASE("cuda: conv2d with TF32 tensor cores stays within TF32 accuracy" * needs_gpu()) {
  PrecisionScope tf32(gpu::Precision::TF32);
  compare_conv({{2, 32, 16, 16}, {16, 32, 3, 3}, 1, 1, 1, PaddingMode::Reflect, true}, 300, kTf32Gemm);
  compare_conv({{1, 16, 15, 17}, {32, 16, 3, 3}, 2, 1, 1, PaddingMode::Zeros, false}, 304, kTf32Gemm);
  compare_conv({{2, 32, 9, 7}, {8, 32, 1, 1}, 1, 0, 1, PaddingMode::Zeros, true}, 308, kTf32Gemm);
}

TEST_CASE("cuda: conv2d with a batch split over several column buffers" * needs_gpu()) {
  // One image's column matrix is 576 x 49152 floats, so the 256 MiB column budget holds two images:
  // the batch of three runs as a chunk of two (batched GEMM) and a chunk of one.
  PrecisionScope fp32(gpu::Precision::FP32);
  compare_conv({{3, 64, 256, 192}, {4, 64, 3, 3}, 1, 1, 1, PaddingMode::Reflect, true}, 400, kFp32Gemm);
}

TEST_CASE("cuda: conv2d backward kernels are bitwise repeatable" * needs_gpu()) {
  const ConvCase c{{2, 4, 7, 9}, {6, 2, 3, 3}, 2, 1, 2, PaddingMode::Reflect, true};
  const Conv2dOptions o = options(c);
  Tensor x = on_gpu(random_tensor(c.x, 500)), w = on_gpu(random_tensor(c.w, 501));
  Tensor g = on_gpu(random_tensor(conv2d_output_shape(c.x, c.w, o), 502));
  check_repeatable("conv2d_backward_input", conv2d_backward_input(g, w, c.x, o),
                   conv2d_backward_input(g, w, c.x, o));
  check_repeatable("conv2d_backward_weight", conv2d_backward_weight(g, x, c.w, o),
                   conv2d_backward_weight(g, x, c.w, o));
  check_repeatable("conv2d_backward_bias", conv2d_backward_bias(g), conv2d_backward_bias(g));
}

TEST_CASE("cuda: conv2d argument errors" * needs_gpu()) {
  Conv2dOptions o;
  o.padding = 1;
  Tensor x = on_gpu(random_tensor({1, 3, 5, 5}, 1));
  CHECK_THROWS_AS(conv2d_forward(x, on_gpu(random_tensor({4, 2, 3, 3}, 2)), Tensor(), o), Error);
  CHECK_THROWS_AS(conv2d_forward(x, on_gpu(random_tensor({4, 3, 3, 3}, 2)), on_gpu(random_tensor({3}, 3)), o),
                  Error);
  CHECK_THROWS_AS(conv2d_backward_input(on_gpu(random_tensor({1, 4, 4, 5}, 4)),
                                        on_gpu(random_tensor({4, 3, 3, 3}, 2)), Shape{1, 3, 5, 5}, o),
                  Error);
}

// ---- matmul --------------------------------------------------------------------------

TEST_CASE("cuda: matmul matches the CPU for every transpose and batch layout (FP32)" * needs_gpu()) {
  PrecisionScope fp32(gpu::Precision::FP32);
  // (batch_a, batch_b), 0 = 2-D: plain, batched, batched a with shared b (one tall GEMM, or the
  // strided path when a is transposed), shared a with batched b.
  const std::vector<std::pair<int64_t, int64_t>> layouts = {{0, 0}, {3, 3}, {4, 0}, {0, 2}};
  const std::vector<std::array<int64_t, 3>> sizes = {{3, 5, 7}, {1, 4, 2}, {17, 9, 33}, {64, 48, 40}};
  uint64_t seed = 600;
  for (auto [ba, bb] : layouts)
    for (auto [m, n, k] : sizes)
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          compare_matmul(ba, bb, m, n, k, ta, tb, seed, kFp32Gemm);
          seed += 2;
        }
}

TEST_CASE("cuda: matmul with TF32 tensor cores stays within TF32 accuracy" * needs_gpu()) {
  PrecisionScope tf32(gpu::Precision::TF32);
  compare_matmul(0, 0, 96, 80, 128, false, false, 700, kTf32Gemm);
  compare_matmul(4, 4, 64, 48, 96, true, false, 702, kTf32Gemm);
  compare_matmul(4, 0, 64, 48, 96, false, true, 704, kTf32Gemm);
}

TEST_CASE("cuda: matmul argument errors" * needs_gpu()) {
  Tensor a = on_gpu(random_tensor({3, 4}, 1)), b = on_gpu(random_tensor({5, 6}, 2));
  CHECK_THROWS_AS(matmul(a, b), Error);
  CHECK_THROWS_AS(matmul(on_gpu(random_tensor({2, 3, 4}, 3)), on_gpu(random_tensor({3, 4, 5}, 4))), Error);
  CHECK_THROWS_AS(matmul(on_gpu(random_tensor({2, 2, 3, 4}, 5)), b), Error);
}

// ---- batch_norm2d ----------------------------------------------------------------

TEST_CASE("cuda: batch_norm2d forward and backward match the CPU" * needs_gpu()) {
  // The last two shapes span several pass-1 blocks per plane (4096 values each) and several images;
  // the offset one has |mean| >> std, where unshifted sums of squares would lose the variance.
  struct Case {
    Shape shape;
    float offset;
  };
  const std::vector<Case> cases = {{{2, 3, 7, 9}, 0.f},  {{1, 4, 5, 5}, 0.f},   {{4, 2, 3, 3}, 0.f},
                                   {{8, 3, 1, 1}, 0.f},  {{3, 2, 70, 90}, 0.f}, {{2, 3, 65, 64}, 20.f}};
  uint64_t seed = 800;
  for (const Case& c : cases) {
    const std::string name = "batch_norm2d " + c.shape.str() + " offset " + std::to_string(c.offset);
    const int64_t C = c.shape[1];
    Tensor x = add_scalar(random_tensor(c.shape, seed, -1.f, 1.f), c.offset);
    Tensor gamma = random_tensor({C}, seed + 1, 0.5f, 1.5f), beta = random_tensor({C}, seed + 2);
    Tensor g = random_tensor(c.shape, seed + 3);
    seed += 4;
    BatchNormForward cpu = batch_norm2d_forward(x, gamma, beta, 1e-5f);
    BatchNormForward cuda = batch_norm2d_forward(on_gpu(x), on_gpu(gamma), on_gpu(beta), 1e-5f);
    check_close(name + ": y", cuda.y, cpu.y, kFloatMath);
    check_close(name + ": mean", cuda.mean, cpu.mean, kFloatMath);
    check_close(name + ": invstd", cuda.invstd, cpu.invstd, kFloatMath);
    BatchNormBackward cpu_b = batch_norm2d_backward(g, x, gamma, beta, cpu.mean, cpu.invstd);
    BatchNormBackward cuda_b =
        batch_norm2d_backward(on_gpu(g), on_gpu(x), on_gpu(gamma), on_gpu(beta), cuda.mean, cuda.invstd);
    check_close(name + ": grad_x", cuda_b.grad_x, cpu_b.grad_x, kFloatMath);
    check_close(name + ": grad_gamma", cuda_b.grad_gamma, cpu_b.grad_gamma, kFloatMath);
    check_close(name + ": grad_beta", cuda_b.grad_beta, cpu_b.grad_beta, kFloatMath);
  }
}

TEST_CASE("cuda: batch_norm2d is bitwise repeatable and checks its arguments" * needs_gpu()) {
  Tensor x = on_gpu(random_tensor({3, 2, 70, 90}, 900)), g = on_gpu(random_tensor({3, 2, 70, 90}, 901));
  Tensor gamma = on_gpu(random_tensor({2}, 902, 0.5f, 1.5f)), beta = on_gpu(random_tensor({2}, 903));
  BatchNormForward a = batch_norm2d_forward(x, gamma, beta, 1e-5f);
  BatchNormForward b = batch_norm2d_forward(x, gamma, beta, 1e-5f);
  check_repeatable("batch_norm2d y", a.y, b.y);
  check_repeatable("batch_norm2d grad_x", batch_norm2d_backward(g, x, gamma, beta, a.mean, a.invstd).grad_x,
                   batch_norm2d_backward(g, x, gamma, beta, b.mean, b.invstd).grad_x);
  CHECK_THROWS_AS(batch_norm2d_forward(on_gpu(random_tensor({1, 2, 1, 1}, 1)), gamma, beta, 1e-5f), Error);
  CHECK_THROWS_AS(batch_norm2d_forward(x, on_gpu(random_tensor({3}, 2)), beta, 1e-5f), Error);
}

TEST_CASE("cuda: batch_norm2d with the fused LeakyReLU matches the CPU" * needs_gpu()) {
  // The CPU folds z = x * scale + bias, the GPU computes (x - mean) * scale + beta: where z is within
  // rounding of 0 the two could take different sides of the kink. So the CPU reference for the
  // backward takes its mask from the GPU's own z (the plain CUDA forward, which the fused kernels
  // recompute bit for bit): leaky_relu_backward on it, then the plain CPU batch_norm2d_backward.
  struct Case {
    Shape shape;
    float offset;
  };
  const std::vector<Case> cases = {{{2, 3, 7, 9}, 0.f}, {{8, 3, 1, 1}, 0.f}, {{3, 2, 70, 90}, 0.f},
                                   {{2, 3, 65, 64}, 20.f}};
  uint64_t seed = 850;
  for (float slope : {0.2f, 0.f})
    for (const Case& c : cases) {
      const std::string name = "batch_norm2d_leaky_relu " + c.shape.str() + " offset " +
                               std::to_string(c.offset) + " slope " + std::to_string(slope);
      const BatchNormActivation act{true, slope};
      const int64_t C = c.shape[1];
      Tensor x = add_scalar(random_tensor(c.shape, seed, -1.f, 1.f), c.offset);
      Tensor gamma = random_tensor({C}, seed + 1, 0.5f, 1.5f), beta = random_tensor({C}, seed + 2);
      Tensor g = random_tensor(c.shape, seed + 3);
      seed += 4;
      BatchNormForward cpu = batch_norm2d_forward(x, gamma, beta, 1e-5f, act);
      BatchNormForward cuda = batch_norm2d_forward(on_gpu(x), on_gpu(gamma), on_gpu(beta), 1e-5f, act);
      check_close(name + ": y", cuda.y, cpu.y, kFloatMath);
      check_close(name + ": mean", cuda.mean, cpu.mean, kFloatMath);
      check_close(name + ": invstd", cuda.invstd, cpu.invstd, kFloatMath);

      // The fused CUDA forward is the plain one followed by the activation, exactly.
      BatchNormForward cuda_z = batch_norm2d_forward(on_gpu(x), on_gpu(gamma), on_gpu(beta), 1e-5f);
      check_repeatable(name + ": y = leaky_relu(z)", cuda.y, leaky_relu(cuda_z.y, slope));

      const Tensor z = cuda_z.y.to(Device::CPU), mean = cuda.mean.to(Device::CPU);
      const Tensor invstd = cuda.invstd.to(Device::CPU);
      BatchNormBackward cpu_b =
          batch_norm2d_backward(leaky_relu_backward(z, g, slope), x, gamma, beta, mean, invstd);
      BatchNormBackward cuda_b = batch_norm2d_backward(on_gpu(g), on_gpu(x), on_gpu(gamma), on_gpu(beta),
                                                       cuda.mean, cuda.invstd, act);
      check_close(name + ": grad_x", cuda_b.grad_x, cpu_b.grad_x, kFloatMath);
      check_close(name + ": grad_gamma", cuda_b.grad_gamma, cpu_b.grad_gamma, kFloatMath);
      check_close(name + ": grad_beta", cuda_b.grad_beta, cpu_b.grad_beta, kFloatMath);
    }
}

TEST_CASE("cuda: the fused batch_norm2d_leaky_relu op passes a gradient check" * needs_gpu()) {
  // As the CPU check (tests/test_batch_norm.cpp): each channel holds +u, -u pairs, u in [0.5, 1.5],
  // so |xhat| >= 1/3, and with gamma >= 0.5, beta = 0 every z stays >= 1/6 from the kink.
  dip::test::GradCheck opt;
  opt.rtol = 2e-2f;
  opt.atol = 2e-3f;
  opt.device = Device::CUDA;
  const Shape s{2, 3, 5, 6};
  std::vector<float> v(s.numel());
  Rng rng(1550);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < 30; ++i) {
      const float u = rng.uniform(0.5f, 1.5f), sign = (rng.next_u32() & 1) ? 1.f : -1.f;
      v[c * 30 + i] = sign * u;         // image 0
      v[(3 + c) * 30 + i] = -sign * u;  // image 1: the mirrored value, so the channel's mean is 0
    }
  for (float slope : {0.2f, 0.f})
    check_gradients("cuda batch_norm2d_leaky_relu slope " + std::to_string(slope),
                    [slope](auto& v) {
                      return batch_norm2d(v[0], v[1], v[2], 1e-5f, nullptr, nullptr, 0.1f, {true, slope});
                    },
                    {Tensor::from_vector(s, v), random_tensor({3}, 1551, 0.5f, 1.5f), Tensor::zeros({3})}, opt);
}

// ---- upsample2d --------------------------------------------------------------------

TEST_CASE("cuda: upsample2d forward and backward match the CPU" * needs_gpu()) {
  uint64_t seed = 1000;
  for (const Shape& s : {Shape{2, 3, 7, 9}, Shape{1, 2, 1, 5}, Shape{1, 1, 4, 4}, Shape{1, 2, 6, 1}})
    for (int scale : {1, 2, 3, 4})
      for (UpsampleMode mode : {UpsampleMode::Nearest, UpsampleMode::Bilinear}) {
        const std::string name = std::string("upsample2d ") + (mode == UpsampleMode::Nearest ? "nearest" : "bilinear") +
                                 " x" + std::to_string(scale) + " " + s.str();
        Tensor x = random_tensor(s, seed);
        Tensor g = random_tensor({s[0], s[1], s[2] * scale, s[3] * scale}, seed + 1);
        seed += 2;
        Tensor y = upsample2d(x, scale, mode), gx = upsample2d_backward(g, scale, mode);
        Tensor yd = upsample2d(on_gpu(x), scale, mode), gxd = upsample2d_backward(on_gpu(g), scale, mode);
        if (mode == UpsampleMode::Nearest) {
          check_equal(name + ": forward", yd, y);
          check_close(name + ": backward", gxd, gx, kFloatMath);
        } else {
          check_close(name + ": forward", yd, y, kFloatMath);
          check_close(name + ": backward", gxd, gx, kFloatMath);
        }
      }
  Tensor g = on_gpu(random_tensor({2, 3, 14, 18}, 1100));
  check_repeatable("upsample2d_backward bilinear", upsample2d_backward(g, 2, UpsampleMode::Bilinear),
                   upsample2d_backward(g, 2, UpsampleMode::Bilinear));
  CHECK_THROWS_AS(upsample2d_backward(on_gpu(random_tensor({1, 1, 5, 4}, 1)), 2, UpsampleMode::Bilinear),
                  Error);
}

// ---- layout ------------------------------------------------------------------------

TEST_CASE("cuda: concat, narrow, narrow_backward and permute match the CPU exactly" * needs_gpu()) {
  const Shape base{2, 3, 4, 5};
  uint64_t seed = 1200;
  for (int dim : {0, 1, 2, 3, -1}) {
    std::vector<Tensor> xs, xs_gpu;
    for (int64_t size : {2, 1, 3}) {
      Shape s = base;
      s[dim] = size;
      xs.push_back(random_tensor(s, seed++));
      xs_gpu.push_back(on_gpu(xs.back()));
    }
    check_equal("concat dim " + std::to_string(dim), concat(xs_gpu, dim), concat(xs, dim));
  }
  Tensor x = random_tensor({3, 4, 5, 6}, seed++);
  Tensor xd = on_gpu(x);
  for (int dim = 0; dim < 4; ++dim)
    for (auto [start, length] : {std::pair<int64_t, int64_t>{1, x.size(dim) - 2}, {0, x.size(dim)}, {2, 0}}) {
      const std::string name = "narrow dim " + std::to_string(dim) + " [" + std::to_string(start) + ", +" +
                               std::to_string(length) + ")";
      check_equal(name, narrow(xd, dim, start, length), narrow(x, dim, start, length));
      Tensor g = random_tensor(narrow(x, dim, start, length).shape(), seed++);
      check_equal(name + " backward", narrow_backward(on_gpu(g), x.shape(), dim, start),
                  narrow_backward(g, x.shape(), dim, start));
    }
  std::array<int, 4> perm{0, 1, 2, 3};
  do {
    check_equal("permute " + std::to_string(perm[0]) + std::to_string(perm[1]) + std::to_string(perm[2]) +
                    std::to_string(perm[3]),
                permute(xd, perm), permute(x, perm));
  } while (std::next_permutation(perm.begin(), perm.end()));
  Tensor m = random_tensor({3, 7, 5}, seed++);
  std::array<int, 4> p3{0, 1, 2, 3};
  do {
    check_equal("permute rank 3", permute(on_gpu(m), p3), permute(m, p3));
  } while (std::next_permutation(p3.begin(), p3.begin() + 3));
  Tensor t = random_tensor({7, 9}, seed++);
  check_equal("transpose rank 2", transpose(on_gpu(t), 0, 1), transpose(t, 0, 1));
  CHECK_THROWS_AS(permute(xd, {0, 0, 1, 2}), Error);
  CHECK_THROWS_AS(narrow(xd, 1, 2, 3), Error);
  CHECK_THROWS_AS(concat({xd, on_gpu(random_tensor({3, 4, 5, 7}, 1))}, 1), Error);
}

// ---- gradient checks on the GPU ----------------------------------------------------

TEST_CASE("cuda: gradient checks (FP32)" * needs_gpu()) {
  // Finite differences need full FP32 products: TF32 rounding (~5e-4) would swamp the step.
  PrecisionScope fp32(gpu::Precision::FP32);
  dip::test::GradCheck opt;
  opt.device = Device::CUDA;

  SUBCASE("conv2d") {
    // Linear in each input: central differences are exact up to rounding (default tolerances).
    const std::vector<ConvCase> cases = {
        {{2, 3, 7, 9}, {4, 3, 3, 3}, 2, 1, 1, PaddingMode::Reflect, true},
        {{1, 4, 8, 7}, {6, 2, 5, 5}, 2, 2, 2, PaddingMode::Replicate, false},
        {{2, 4, 6, 5}, {4, 1, 3, 3}, 1, 1, 4, PaddingMode::Zeros, true},
        {{2, 5, 5, 6}, {3, 5, 1, 1}, 1, 0, 1, PaddingMode::Zeros, true},
    };
    uint64_t seed = 1300;
    for (const ConvCase& c : cases) {
      const Conv2dOptions o = options(c);
      std::vector<Tensor> inputs;  // x, weight[, bias]
      inputs.reserve(3);
      inputs.push_back(random_tensor(c.x, seed));
      inputs.push_back(random_tensor(c.w, seed + 1));
      if (c.bias) inputs.push_back(random_tensor({c.w[0]}, seed + 2));
      seed += 3;
      check_gradients(
          "cuda conv2d " + describe_conv(c),
          [o](const std::vector<Variable>& v) { return conv2d(v[0], v[1], v.size() > 2 ? v[2] : Variable(), o); },
          inputs, opt);
    }
  }
  SUBCASE("matmul") {
    for (auto [ta, tb] : {std::pair<bool, bool>{false, false}, {true, false}, {false, true}, {true, true}}) {
      Tensor a = random_tensor(operand_shape(3, 5, 7, ta), 1400), b = random_tensor(operand_shape(3, 7, 4, tb), 1401);
      check_gradients("cuda matmul batched", [ta = ta, tb = tb](auto& v) { return matmul(v[0], v[1], ta, tb); },
                      {a, b}, opt);
      Tensor shared = random_tensor(operand_shape(0, 7, 4, tb), 1402);
      check_gradients("cuda matmul shared b", [ta = ta, tb = tb](auto& v) { return matmul(v[0], v[1], ta, tb); },
                      {a, shared}, opt);
    }
  }
  SUBCASE("batch_norm2d") {
    // As the CPU test: smooth, but step 1e-2 on a normalisation needs rtol 2e-2, atol 2e-3.
    dip::test::GradCheck bn = opt;
    bn.rtol = 2e-2f;
    bn.atol = 2e-3f;
    uint64_t seed = 1500;
    for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 4, 2, 3}}) {
      Tensor x = random_tensor(s, seed++, -2.f, 2.f);
      Tensor gamma = random_tensor({s[1]}, seed++, 0.5f, 1.5f), beta = random_tensor({s[1]}, seed++);
      check_gradients("cuda batch_norm2d " + s.str(),
                      [](auto& v) { return batch_norm2d(v[0], v[1], v[2], 1e-5f); }, {x, gamma, beta}, bn);
    }
  }
  SUBCASE("upsample2d") {
    Tensor x = random_tensor({2, 3, 5, 7}, 1600);
    for (int scale : {2, 3})
      for (UpsampleMode mode : {UpsampleMode::Nearest, UpsampleMode::Bilinear})
        check_gradients("cuda upsample2d x" + std::to_string(scale),
                        [scale, mode](auto& v) { return upsample2d(v[0], scale, mode); }, {x}, opt);
  }
  SUBCASE("concat and narrow") {
    Tensor a = random_tensor({2, 3, 5, 7}, 1700), b = random_tensor({2, 2, 5, 7}, 1701);
    check_gradients("cuda concat dim 1", [](auto& v) { return concat(v, 1); }, {a, b}, opt);
    Tensor x = random_tensor({2, 3, 7, 9}, 1702);
    check_gradients("cuda narrow dim 3", [](auto& v) { return narrow(v[0], 3, 2, 5); }, {x}, opt);
    check_gradients("cuda crop_center 4x6", [](auto& v) { return crop_center(v[0], 4, 6); }, {x}, opt);
    check_gradients("cuda permute 0231", [](auto& v) { return permute(v[0], {0, 2, 3, 1}); }, {x}, opt);
  }
}
