#include "nn/skip.h"

#include "nn/activation.h"
#include "nn/batch_norm.h"
#include "nn/concat.h"
#include "nn/conv2d.h"
#include "nn/sequential.h"
#include "nn/upsample.h"

namespace dip {

std::shared_ptr<Module> skip(const SkipConfig& c, Rng& rng) {
  const size_t n = c.channels_down.size();
  DIP_CHECK(n > 0 && c.channels_up.size() == n && c.channels_skip.size() == n,
            "skip: channels_down, channels_up and channels_skip need the same (non-zero) length, got ",
            c.channels_down.size(), ", ", c.channels_up.size(), ", ", c.channels_skip.size());
  DIP_CHECK(c.in_channels > 0 && c.out_channels > 0, "skip: in/out channels must be positive");
  DIP_CHECK(c.upsample_modes.empty() || c.upsample_modes.size() == n, "skip: upsample_modes has ",
            c.upsample_modes.size(), " entries for ", n, " scales");

  auto conv = [&](int in, int out, int k, int stride = 1) {
    return std::make_shared<Conv2d>(in, out, k, stride, c.pad, c.need_bias, /*groups=*/1, rng);
  };
  auto bn = [](int ch) { return std::make_shared<BatchNorm2d>(ch); };
  auto act = [&] { return std::make_shared<LeakyReLU>(c.leaky_slope); };

  auto top = std::make_shared<Sequential>();
  std::shared_ptr<Sequential> model_tmp = top;
  int input_depth = c.in_channels;
  // Modules are created in the order DIP's Python adds them, so the initial weights are drawn in the
  // same sequence (skip branch, then deeper, then the decoder convs of this scale).
  for (size_t i = 0; i < n; ++i) {
    const bool last = i + 1 == n;
    const int down = c.channels_down[i], up = c.channels_up[i], sk = c.channels_skip[i];
    const int k = last ? down : c.channels_up[i + 1];  // channels coming back up from below

    auto deeper = std::make_shared<Sequential>();
    auto skip_branch = std::make_shared<Sequential>();
    if (sk != 0)
      model_tmp->add(std::make_shared<Concat>(1, skip_branch, deeper));
    else
      model_tmp->add(deeper);
    model_tmp->add(bn(sk + k));

    if (sk != 0) {
      skip_branch->add(conv(input_depth, sk, c.filter_skip_size));
      skip_branch->add(bn(sk));
      skip_branch->add(act());
    }
    deeper->add(conv(input_depth, down, c.filter_size_down, /*stride=*/2));
    deeper->add(bn(down));
    deeper->add(act());
    deeper->add(conv(down, down, c.filter_size_down));
    deeper->add(bn(down));
    deeper->add(act());
    auto deeper_main = std::make_shared<Sequential>();
    if (!last) deeper->add(deeper_main);
    deeper->add(std::make_shared<Upsample>(2, c.upsample_modes.empty() ? c.upsample_mode : c.upsample_modes[i]));

    model_tmp->add(conv(sk + k, up, c.filter_size_up));
    model_tmp->add(bn(up));
    model_tmp->add(act());
    if (c.need1x1_up) {
      model_tmp->add(conv(up, up, 1));
      model_tmp->add(bn(up));
      model_tmp->add(act());
    }
    input_depth = down;
    model_tmp = deeper_main;
  }
  top->add(conv(c.channels_up[0], c.out_channels, 1));
  if (c.need_sigmoid) top->add(std::make_shared<Sigmoid>());
  return top;
}

}  // namespace dip
