// skip(): Deep Image Prior's encoder-decoder with skip connections (models/skip.py of Ulyanov et al.).
//
// Scale i (of n = channels_down.size()) wraps everything deeper in a Concat with a skip branch:
//
//   in (d_in, H) --+-- skip:   conv k_skip (d_in -> s_i) - BN - act                 (s_i, H)
//                  +-- deeper: conv k_down stride 2 (d_in -> down_i) - BN - act
//                              conv k_down (down_i -> down_i) - BN - act             (down_i, H/2)
//                              [scale i+1, only when i < n-1]                         (up_{i+1}, H/2)
//                              upsample x2                                           (k, H)
//   concat (s_i + k) - BN - conv k_up (-> up_i) - BN - act [- conv 1x1 - BN - act]    (up_i, H)
//
// with k = up_{i+1} below the last scale, down_i at it; d_in is in_channels at scale 0, then down_{i-1}.
// The top ends with conv 1x1 (up_0 -> out_channels) and a sigmoid. A scale with s_i = 0 has no skip
// branch (no Concat). The default configuration is the one DIP uses for denoising and inpainting:
// 2,217,831 parameters.
#pragma once
#include <memory>
#include <vector>

#include "autograd/functions.h"
#include "nn/module.h"

namespace dip {

struct SkipConfig {
  int in_channels = 32, out_channels = 3;
  std::vector<int> channels_down{128, 128, 128, 128, 128}, channels_up{128, 128, 128, 128, 128},
      channels_skip{4, 4, 4, 4, 4};
  int filter_size_down = 3, filter_size_up = 3, filter_skip_size = 1;
  UpsampleMode upsample_mode = UpsampleMode::Bilinear;
  // Per scale, finest first, when the scales differ (DIP's flash/no-flash net); empty: upsample_mode.
  std::vector<UpsampleMode> upsample_modes;
  PaddingMode pad = PaddingMode::Reflect;
  bool need_sigmoid = true, need_bias = true, need1x1_up = true;
  float leaky_slope = 0.2f;
};

// The network as a Module tree (Sequential / Concat / Conv2d / BatchNorm2d / ...), drawn from `rng`.
std::shared_ptr<Module> skip(const SkipConfig& config, Rng& rng);

}  // namespace dip
