// Deep Image Prior in 60 lines: a small randomly initialised ConvNet, fed fixed noise, is fitted to a
// noisy picture. Its structure fits the picture before the noise, so stopping early denoises. Prints
// the PSNR of the noisy input and of the network's output against the clean picture.
//
//   dip_hello [--device cpu|cuda] [--steps N]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "autograd/functions.h"
#include "gpu/runtime.h"
#include "nn/activation.h"
#include "nn/batch_norm.h"
#include "nn/conv2d.h"
#include "nn/sequential.h"
#include "nn/upsample.h"
#include "optim/adam.h"
#include "tensor/elementwise.h"  // Tensor ops (no graph): the noisy copy

using namespace dip;

// PSNR in dB of `a` against `b`, both with values in [0, 1].
double psnr(const Tensor& a, const Tensor& b) {
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double se = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    const double d = std::fmin(std::fmax(va[i], 0.f), 1.f) - vb[i];
    se += d * d;
  }
  return 10.0 * std::log10(va.size() / se);
}

int main(int argc, char** argv) {
  Device device = Device::CPU;
  int steps = 300;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--device")) device = std::string(argv[i + 1]) == "cuda" ? Device::CUDA : Device::CPU;
    if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
  }
  if (device == Device::CUDA && !gpu::available()) {
    std::fprintf(stderr, "dip_hello: no usable GPU (%s)\n", gpu::describe().c_str());
    return 2;
  }
  // A clean 3 x 64 x 64 picture (soft stripes and a disc) and its noisy copy (sigma 0.1).
  const int h = 64, w = 64;
  Rng rng(1);
  std::vector<float> px(3 * h * w);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        px[(c * h + y) * w + x] = (x - 40) * (x - 40) + (y - 24) * (y - 24) < 200
                                      ? 0.9f
                                      : 0.3f + 0.2f * c + 0.2f * std::sin(x * 0.2f + c);
  const Tensor clean = Tensor::from_vector({1, 3, h, w}, px).to(device);            // (1, 3, H, W)
  const Tensor noisy = add(clean, Tensor::normal({1, 3, h, w}, 0.f, 0.1f, rng, device));
  const Variable z(Tensor::uniform({1, 16, h, w}, 0.f, 0.1f, rng, device));         // fixed noise input

  // The network: an hourglass of conv-BN-LeakyReLU blocks (two stride-2 convolutions down, two
  // bilinear upsamplings back), a 1x1 conv to RGB, a sigmoid. The bottleneck is the prior.
  auto net = std::make_shared<Sequential>();
  auto block = [&](int in, int out, int stride) {
    net->add(std::make_shared<Conv2d>(in, out, 3, stride, PaddingMode::Reflect, true, 1, rng));
    net->add(std::make_shared<BatchNorm2d>(out));
    net->add(std::make_shared<LeakyReLU>(0.2f));
  };
  block(16, 32, 2);  // (1, 32, 32, 32)
  block(32, 32, 2);  // (1, 32, 16, 16)
  net->add(std::make_shared<Upsample>(2, UpsampleMode::Bilinear));
  block(32, 32, 1);  // (1, 32, 32, 32)
  net->add(std::make_shared<Upsample>(2, UpsampleMode::Bilinear));
  block(32, 32, 1);  // (1, 32, 64, 64)
  net->add(std::make_shared<Conv2d>(32, 3, 1, 1, PaddingMode::Zeros, true, 1, rng));
  net->add(std::make_shared<Sigmoid>());
  net->to(device);
  Adam opt(net->parameters(), {.lr = 0.01f});

  std::printf("noisy input: PSNR %.2f dB\n", psnr(noisy, clean));
  const Variable target(noisy);
  for (int step = 1; step <= steps; ++step) {
    opt.zero_grad();
    Variable out = net->forward(z);  // (1, 3, H, W)
    Variable loss = mse_loss(out, target);
    loss.backward();
    opt.step();
    if (step % 50 == 0 || step == steps)
      std::printf("step %4d  loss %.5f  output PSNR %.2f dB\n", step, loss.item(), psnr(out.data(), clean));
  }
  return 0;
}
