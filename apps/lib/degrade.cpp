#include "apps/lib/degrade.h"

#include <algorithm>

#include "apps/lib/image_io.h"

namespace dip::apps {

Image add_gaussian_noise(const Image& img, float sigma, Rng& rng) {
  Image out = img;
  for (float& v : out.pixels) v = std::clamp(v + sigma * rng.normal(), 0.f, 1.f);
  return out;
}

Image jpeg_roundtrip(const Image& img, int quality) {
  return decode_image(encode_jpeg(img, quality), img.channels, "the JPEG-compressed image");
}

}  // namespace dip::apps
