// Image: a planar float picture, the form every task works in before it becomes a Tensor.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace dip::apps {

struct Image {
  int channels = 0, height = 0, width = 0;
  std::vector<float> pixels;  // (C, H, W), values in [0, 1]

  Image() = default;
  Image(int c, int h, int w, float fill = 0.f)
      : channels(c), height(h), width(w), pixels(static_cast<size_t>(c) * h * w, fill) {}

  bool empty() const { return pixels.empty(); }
  float& at(int c, int y, int x) { return pixels[(static_cast<size_t>(c) * height + y) * width + x]; }
  float at(int c, int y, int x) const {
    return pixels[(static_cast<size_t>(c) * height + y) * width + x];
  }
};

// The centred h x w window (the top-left offset rounds down, as DIP's crop_image).
Image crop_center(const Image& img, int h, int w);
// Largest centred crop whose sides are multiples of `d`.
Image crop_to_multiple(const Image& img, int d);

// Rounds every value to the nearest of the 256 levels of an 8-bit file.
Image quantize8(const Image& img);
// Values clipped to [0, 1].
Image clip01(const Image& img);

// (1, C, H, W) on `device`.
Tensor image_to_tensor(const Image& img, Device device = Device::CPU);
// From (1, C, H, W) (any device); values are copied as they are (no clipping).
Image tensor_to_image(const Tensor& t);

}  // namespace dip::apps
