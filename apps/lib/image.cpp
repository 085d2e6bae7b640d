#include "apps/lib/image.h"

#include <algorithm>
#include <cmath>

namespace dip::apps {

Image crop_center(const Image& img, int h, int w) {
  DIP_CHECK(h <= img.height && w <= img.width, "crop_center: ", h, "x", w, " window larger than ",
            img.height, "x", img.width, " image");
  const int y0 = (img.height - h) / 2, x0 = (img.width - w) / 2;
  Image out(img.channels, h, w);
  for (int c = 0; c < img.channels; ++c)
    for (int y = 0; y < h; ++y) {
      const float* src = &img.pixels[(static_cast<size_t>(c) * img.height + y0 + y) * img.width + x0];
      std::copy(src, src + w, &out.at(c, y, 0));
    }
  return out;
}

Image crop_to_multiple(const Image& img, int d) {
  return crop_center(img, img.height - img.height % d, img.width - img.width % d);
}

Image quantize8(const Image& img) {
  Image out = img;
  for (float& v : out.pixels) v = std::round(std::clamp(v, 0.f, 1.f) * 255.f) / 255.f;
  return out;
}

Image clip01(const Image& img) {
  Image out = img;
  for (float& v : out.pixels) v = std::clamp(v, 0.f, 1.f);
  return out;
}

Tensor image_to_tensor(const Image& img, Device device) {
  return Tensor::from_vector({1, img.channels, img.height, img.width}, img.pixels, device);
}

Image tensor_to_image(const Tensor& t) {
  DIP_CHECK(t.rank() == 4 && t.size(0) == 1, "tensor_to_image: expected (1, C, H, W), got ",
            t.shape().str());
  Image out;
  out.channels = static_cast<int>(t.size(1));
  out.height = static_cast<int>(t.size(2));
  out.width = static_cast<int>(t.size(3));
  out.pixels = t.to_vector();
  return out;
}

}  // namespace dip::apps
