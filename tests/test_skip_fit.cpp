// End to end: the DIP skip network trained with Adam, as the apps use it.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>

#include "autograd/functions.h"
#include "nn/skip.h"
#include "optim/adam.h"

using namespace dip;

namespace {

// A 64x64 RGB test image with what DIP must reproduce: smooth colour ramps, a disc and a square
// with sharp edges. Values in [0.05, 0.95].
Tensor synthetic_image(int size) {
  std::vector<float> v(3 * size * size);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const float u = float(x) / (size - 1), w = float(y) / (size - 1);
      float rgb[3] = {0.2f + 0.6f * u, 0.3f + 0.4f * w, 0.5f + 0.3f * std::sin(6.f * u * w)};
      const float dx = x - 0.35f * size, dy = y - 0.4f * size;
      if (dx * dx + dy * dy < 0.04f * size * size) rgb[0] = 0.95f, rgb[1] = 0.15f, rgb[2] = 0.1f;
      if (x > 0.6 * size && x < 0.85 * size && y > 0.55 * size && y < 0.8 * size)
        rgb[0] = 0.05f, rgb[1] = 0.1f, rgb[2] = 0.9f;
      for (int c = 0; c < 3; ++c) v[(c * size + y) * size + x] = rgb[c];
    }
  return Tensor::from_vector({1, 3, size, size}, v);  // (1, 3, H, W)
}

}  // namespace

TEST_CASE("skip fit: a small skip net learns a 64x64 image (MSE down 10x) with Adam") {
  Rng rng(42);
  SkipConfig c;
  c.in_channels = 8;
  c.channels_down = {16, 16, 16};
  c.channels_up = {16, 16, 16};
  c.channels_skip = {4, 4, 4};
  auto net = skip(c, rng);
  Variable z(Tensor::uniform({1, 8, 64, 64}, 0.f, 0.1f, rng));  // DIP's noise input, fixed
  Variable target(synthetic_image(64));
  Adam opt(net->parameters(), {.lr = 0.01f});

  const auto start = std::chrono::steady_clock::now();
  float first = 0, last = 0;
  int iters = 0;
  for (; iters < 400; ++iters) {
    opt.zero_grad();
    Variable loss = mse_loss((*net)(z), target);
    last = loss.item();
    if (iters == 0) first = last;
    REQUIRE(std::isfinite(last));
    if (last < first / 10) break;
    loss.backward();
    opt.step();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("skip fit: MSE ", first, " -> ", last, " after ", iters, " iterations, ", seconds, " s");
  CHECK(last < first / 10);
}

// 64x64 is the smallest square input the standard network takes: its five stride-2 scales leave a
// 2x2 map at the bottom (at 32x32 it would be 1x1, where training-mode BatchNorm has one value per
// channel and a 3x3 reflection pad does not fit — PyTorch refuses both too).
TEST_CASE("skip fit: one training step of the standard network at 64x64") {
  Rng rng(7);
  auto net = skip(SkipConfig{}, rng);
  Variable z(Tensor::uniform({1, 32, 64, 64}, 0.f, 0.1f, rng));  // (1, 32, H, W)
  Variable target(Tensor::uniform({1, 3, 64, 64}, 0.f, 1.f, rng));
  Adam opt(net->parameters(), {.lr = 0.01f});
  std::vector<Variable> params = net->parameters();
  std::vector<std::vector<float>> before;
  for (const Variable& p : params) before.push_back(p.data().to_vector());

  opt.zero_grad();
  Variable y = (*net)(z);
  REQUIRE(y.shape() == Shape{1, 3, 64, 64});
  Variable loss = mse_loss(y, target);
  REQUIRE(loss.shape().numel() == 1);
  CHECK(std::isfinite(loss.item()));
  loss.backward();
  int64_t with_grad = 0;
  for (const Variable& p : params) {
    REQUIRE(p.grad().defined());
    CHECK(p.grad().shape() == p.shape());
    with_grad += p.grad().numel();
  }
  CHECK(with_grad == 2217831);
  opt.step();
  // Adam's first step moves every weight with a non-zero gradient by ~lr: all tensors change.
  for (size_t i = 0; i < params.size(); ++i) CHECK_MESSAGE(params[i].data().to_vector() != before[i], i);
  // The next forward pass uses the updated weights and still runs.
  opt.zero_grad();
  CHECK(std::isfinite(mse_loss((*net)(z), target).item()));
  // Too small an input fails with an error (not a crash).
  CHECK_THROWS_AS((*net)(Variable(Tensor::zeros({1, 32, 32, 32}))), Error);
}
