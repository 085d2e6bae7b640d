// Thread-count independence of the CPU kernels (issue 12): every op family computes its forward
// result and its gradients on 1 thread, then on 2, 3 and 4, and every value must agree bit for bit
// (memcmp), on sizes large enough for each kernel's threaded path. Then a few Adam iterations of a
// small skip net give the same parameters on 1 and 3 threads.
//
// Inputs: seeded random values. The sums accumulate in double, where a different order changes
// the float result only when the double lands near a float rounding boundary; the reduction inputs
// therefore cancel (big values of both signs plus small ones), so that any order dependence shows.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "nn/linear.h"
#include "nn/skip.h"
#include "optim/adam.h"
#include "tensor/cpu/gemm.h"

using namespace dip;

namespace {

using Outputs = std::vector<Tensor>;
using OpFn = std::function<Variable(const std::vector<Variable>&)>;

// Restores the thread count a test case found.
struct KeepThreads {
  int saved = cpu::num_threads();
  ~KeepThreads() { cpu::set_num_threads(saved); }
};

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  return std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.numel())) == 0;
}

// How many values of b differ from a, and the largest difference (for the failure message).
std::string difference(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return "shape " + a.shape().str() + " vs " + b.shape().str();
  int64_t count = 0;
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const float u = a.data()[i], v = b.data()[i];
    if (std::memcmp(&u, &v, sizeof u) == 0) continue;
    ++count;
    worst = std::max(worst, std::fabs(double(u) - double(v)));
  }
  return std::to_string(count) + " of " + std::to_string(a.numel()) + " values differ, max |diff| " +
         std::to_string(worst);
}

// Runs f on 1 thread, then on 2, 3 and 4: every output must match the 1-thread one bit for bit.
void check_thread_invariant(const std::string& what, const std::function<Outputs()>& f,
                            std::vector<int> threads = {2, 3, 4}) {
  KeepThreads keep;
  cpu::set_num_threads(1);
  const Outputs ref = f();
  for (int t : threads) {
    cpu::set_num_threads(t);
    const Outputs got = f();
    REQUIRE(got.size() == ref.size());
    for (size_t i = 0; i < ref.size(); ++i)
      CHECK_MESSAGE(same_bits(ref[i], got[i]), what, ": output ", i, " ", describe(ref[i]), " on ", t,
                    " threads differs from 1 thread: ", difference(ref[i], got[i]));
  }
}

Tensor random(const Shape& shape, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  Rng rng(seed);
  return Tensor::uniform(shape, lo, hi, rng);
}

// Values whose sum cancels: big values of both signs (up to 2^25) at random places, each matched by
// its negative at the same place in the second half, and small values of every scale (2^-24 .. 1)
// elsewhere. The exact sum is small, the partial sums are not and round in double (on every SIMD
// lane), so the float result depends on the order of the sum.
float small_value(Rng& rng) { return rng.uniform(-1.f, 1.f) * std::exp2(-float(int(rng.uniform() * 24.f))); }

Tensor cancelling(const Shape& shape, uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::empty(shape);
  const int64_t n = t.numel(), half = n / 2;
  float* p = t.data();
  for (int64_t i = 0; i < half; ++i) {
    const float big = rng.uniform(-1.f, 1.f) * std::exp2(float(int(rng.uniform() * 26.f)));
    const bool is_big = rng.uniform() < 0.5f;
    p[i] = is_big ? big : small_value(rng);
    p[half + i] = is_big ? -big : small_value(rng);
  }
  for (int64_t i = 2 * half; i < n; ++i) p[i] = small_value(rng);
  return t;
}

// Random values whose second half (in memory order) repeats the first: with a cancelling upstream
// gradient, sums over the rows of a (rows, D) tensor cancel as above (layer_norm's grad_gamma).
Tensor repeated_halves(const Shape& shape, uint64_t seed, float lo, float hi) {
  Tensor t = random(shape, seed, lo, hi);
  const int64_t half = t.numel() / 2;
  std::memcpy(t.data() + half, t.data(), sizeof(float) * static_cast<size_t>(half));
  return t;
}

// The op's output and the gradients of all its inputs, for a fixed upstream gradient: uniform in
// [-1, 1], or with `cancel`, cancelling values (see cancelling()).
Outputs forward_backward(const OpFn& op, const std::vector<Tensor>& inputs, bool cancel) {
  std::vector<Variable> vars;
  for (const Tensor& t : inputs) vars.emplace_back(t.clone(), true);
  Variable y = op(vars);
  y.backward(cancel ? cancelling(y.shape(), 99) : random(y.shape(), 99));
  Outputs out{y.data().clone()};
  for (const Variable& v : vars) out.push_back(v.grad().clone());
  return out;
}

void check_op(const std::string& what, const OpFn& op, const std::vector<Tensor>& inputs, bool cancel = false) {
  check_thread_invariant(what, [&] { return forward_backward(op, inputs, cancel); });
}

}  // namespace

TEST_CASE("thread determinism: sum and mean") {
  const Tensor x = cancelling({4, 8, 128, 128}, 1);  // (N, C, H, W), 512 Ki values
  check_op("sum", [](const std::vector<Variable>& v) { return sum(v[0]); }, {x});
  check_op("mean", [](const std::vector<Variable>& v) { return mean(v[0]); }, {x});
  for (int dim : {0, 1, 3})
    check_op("sum_dim " + std::to_string(dim),
             [dim](const std::vector<Variable>& v) { return sum_dim(v[0], dim); }, {x});
  check_op("mean_dim 2", [](const std::vector<Variable>& v) { return mean_dim(v[0], 2, true); }, {x});
}

TEST_CASE("thread determinism: losses (mse, tv, isotropic tv)") {
  // mse and tv sum positive terms in double: an order dependence there rarely reaches the float
  // result, whatever the data.
  const Tensor y = cancelling({2, 3, 256, 256}, 2), target = random({2, 3, 256, 256}, 3);
  check_op("mse_loss", [&](const std::vector<Variable>& v) { return mse_loss(v[0], Variable(target)); }, {y});
  const Tensor img = random({2, 3, 256, 256}, 4, 0.f, 1.f);
  check_op("tv_loss", [](const std::vector<Variable>& v) { return tv_loss(v[0]); }, {img});
  check_op("isotropic_tv_loss", [](const std::vector<Variable>& v) { return isotropic_tv_loss(v[0]); }, {img});
}

TEST_CASE("thread determinism: batch_norm2d forward and backward, plain and with the fused LeakyReLU") {
  const Tensor x = random({2, 32, 64, 64}, 5, -2.f, 3.f);  // (N, C, H, W)
  const Tensor gamma = random({32}, 6, 0.5f, 1.5f), beta = random({32}, 7);
  check_op("batch_norm2d",
           [](const std::vector<Variable>& v) { return batch_norm2d(v[0], v[1], v[2], 1e-5f); },
           {x, gamma, beta});
  check_op("batch_norm2d_leaky_relu",
           [](const std::vector<Variable>& v) {
             return batch_norm2d(v[0], v[1], v[2], 1e-5f, nullptr, nullptr, 0.1f, {true, 0.2f});
           },
           {x, gamma, beta});
}

TEST_CASE("thread determinism: conv2d forward and backward") {
  struct Case {
    const char* name;
    Shape x, w;
    Conv2dOptions opt;
  };
  const Case cases[] = {
      {"3x3 reflect", {1, 32, 64, 64}, {48, 32, 3, 3}, {1, 1, 1, PaddingMode::Reflect}},
      {"3x3 stride 2 reflect", {2, 24, 64, 64}, {40, 24, 3, 3}, {2, 1, 1, PaddingMode::Reflect}},
      {"1x1", {1, 68, 48, 48}, {36, 68, 1, 1}, {}},
      {"5x5 zeros", {1, 20, 40, 40}, {28, 20, 5, 5}, {1, 2, 1, PaddingMode::Zeros}},
      {"3x3 odd width, 2 groups", {3, 12, 29, 37}, {20, 6, 3, 3}, {1, 1, 2, PaddingMode::Reflect}},
      {"3x3 small (serial)", {1, 8, 12, 12}, {8, 8, 3, 3}, {1, 1, 1, PaddingMode::Reflect}},
  };
  uint64_t seed = 10;
  for (const Case& c : cases) {
    const Tensor x = random(c.x, seed++), w = random(c.w, seed++, -0.2f, 0.2f), b = random({c.w[0]}, seed++);
    const Conv2dOptions opt = c.opt;
    check_op(std::string("conv2d ") + c.name,
             [opt](const std::vector<Variable>& v) { return conv2d(v[0], v[1], v[2], opt); }, {x, w, b});
  }
}

TEST_CASE("thread determinism: matmul and linear") {
  check_op("matmul (300, 260) x (260, 250)", [](const std::vector<Variable>& v) { return matmul(v[0], v[1]); },
           {random({300, 260}, 20), random({260, 250}, 21)});
  check_op("matmul transposed, K = 700",
           [](const std::vector<Variable>& v) { return matmul(v[0], v[1], true, true); },
           {random({700, 130}, 22), random({90, 700}, 23)});
  check_op("batched matmul (6, 70, 90) x (6, 90, 80)",
           [](const std::vector<Variable>& v) { return matmul(v[0], v[1]); },
           {random({6, 70, 90}, 24), random({6, 90, 80}, 25)});
  check_thread_invariant("linear", [] {
    Rng rng(26);
    Linear layer(192, 160, true, rng);
    Variable x(random({4, 100, 192}, 27), true);  // (B, T, D)
    Variable y = layer.forward(x);
    Rng g(28);
    y.backward(Tensor::uniform(y.shape(), -1.f, 1.f, g));
    Outputs out{y.data().clone(), x.grad().clone()};
    for (const Variable& p : layer.parameters()) out.push_back(p.grad().clone());
    return out;
  });
}

// cpu::gemm cuts large products into tiles (by columns when N >= M, else by rows): the tiles must
// put together the right product, for every transpose and with row strides wider than the matrices.
TEST_CASE("thread determinism: tiled gemm against a plain loop") {
  KeepThreads keep;
  cpu::set_num_threads(3);
  const std::array<int64_t, 3> sizes[] = {{130, 700, 64}, {700, 90, 70}, {50, 60, 40}};  // (M, N, K)
  uint64_t seed = 60;
  for (const auto& [M, N, K] : sizes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        INFO("gemm M ", M, " N ", N, " K ", K, " trans_a ", ta, " trans_b ", tb);
        const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 7;
        const std::vector<float> a = random({(ta ? K : M) * lda}, seed++).to_vector();
        const std::vector<float> b = random({(tb ? N : K) * ldb}, seed++).to_vector();
        std::vector<float> c = random({M * ldc}, seed++).to_vector();
        const std::vector<float> c0 = c;
        const float alpha = 0.75f, beta = -0.5f;
        cpu::gemm(ta, tb, M, N, K, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
        double worst = 0;
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double acc = 0;
            for (int64_t k = 0; k < K; ++k)
              acc += double(ta ? a[k * lda + i] : a[i * lda + k]) * double(tb ? b[j * ldb + k] : b[k * ldb + j]);
            const double want = alpha * acc + beta * c0[i * ldc + j];
            worst = std::max(worst, std::fabs(want - c[i * ldc + j]));
          }
        CHECK(worst < 1e-4);
        int64_t touched = 0;  // the padding between rows of C must be left alone
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = N; j < ldc; ++j) touched += c[i * ldc + j] != c0[i * ldc + j];
        CHECK(touched == 0);
      }
}

TEST_CASE("thread determinism: layer_norm, softmax, attention, neighborhood attention") {
  // Rows repeated in both halves and a cancelling upstream gradient: grad_gamma and grad_beta sum
  // over the rows, and their sums cancel.
  const Tensor x = repeated_halves({8, 64, 96}, 30, -2.f, 3.f);  // (B, T, D)
  check_op("layer_norm",
           [](const std::vector<Variable>& v) { return layer_norm(v[0], v[1], v[2], 1e-5f); },
           {x, random({96}, 31, 0.5f, 1.5f), random({96}, 32)}, true);
  check_op("softmax", [](const std::vector<Variable>& v) { return softmax(v[0]); }, {random({128, 300}, 33, -4.f, 4.f)});
  check_op("attention", [](const std::vector<Variable>& v) { return attention(v[0], 4, 0.125f); },
           {random({2, 200, 3 * 128}, 34)});  // (B, L, 3D), 4 heads of 32
  check_op("neighborhood_attention",
           [](const std::vector<Variable>& v) { return neighborhood_attention(v[0], v[1], 16, 20, 4, 5); },
           {random({2, 16 * 20, 3 * 64}, 36), random({4, 9, 9}, 37)});  // (N, T, 3D), (heads, 2k-1, 2k-1)
  check_op("attention (serial)", [](const std::vector<Variable>& v) { return attention(v[0], 2, 0.25f); },
           {random({1, 40, 3 * 32}, 35)});
}

TEST_CASE("thread determinism: upsample2d backward") {
  const Tensor x = random({1, 16, 64, 64}, 40);  // (N, C, H, W)
  for (UpsampleMode mode : {UpsampleMode::Bilinear, UpsampleMode::Nearest})
    for (int scale : {2, 3})
      check_op(std::string("upsample2d ") + (mode == UpsampleMode::Bilinear ? "bilinear x" : "nearest x") +
                   std::to_string(scale),
               [mode, scale](const std::vector<Variable>& v) { return upsample2d(v[0], scale, mode); }, {x});
}

TEST_CASE("thread determinism: Adam steps") {
  check_thread_invariant("adam", [] {
    Variable p(random({300000}, 50), true), q(random({1000}, 51), true);
    Adam opt({p, q}, {.lr = 0.01f, .weight_decay = 1e-3f});
    for (int step = 0; step < 3; ++step) {
      opt.zero_grad();
      // d/dp of 0.5 * p^2 * g is p * g: a gradient that changes with p.
      mul(mul(p, p), Variable(random(p.shape(), 52 + step))).backward(Tensor::full(p.shape(), 0.5f));
      mul(q, q).backward(Tensor::full(q.shape(), 0.5f));
      opt.step();
    }
    return Outputs{p.data().clone(), q.data().clone()};
  });
}

TEST_CASE("thread determinism: skip net training gives the same parameters on 1 and 3 threads") {
  check_thread_invariant(
      "skip fit",
      [] {
        Rng rng(5);
        SkipConfig c;
        c.in_channels = 8;
        c.channels_down = {16, 16, 16};
        c.channels_up = {16, 16, 16};
        c.channels_skip = {4, 4, 4};
        auto net = skip(c, rng);
        Variable z(Tensor::uniform({1, 8, 64, 64}, 0.f, 0.1f, rng));  // (1, 8, H, W)
        Variable target(Tensor::uniform({1, 3, 64, 64}, 0.f, 1.f, rng));
        Adam opt(net->parameters(), {.lr = 0.01f});
        for (int it = 0; it < 4; ++it) {
          opt.zero_grad();
          Variable y = (*net)(z);
          add(mse_loss(y, target), mul_scalar(isotropic_tv_loss(y), 0.01f)).backward();
          opt.step();
        }
        Outputs out;
        for (const Variable& p : net->parameters()) out.push_back(p.data().clone());
        out.push_back((*net)(z).data().clone());
        return out;
      },
      {3});
}
