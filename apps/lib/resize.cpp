#include "apps/lib/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace dip::apps {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kSupport = 3.0;

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= kPi;
  return std::sin(x) / x;
}

double lanczos3(double x) { return (x > -kSupport && x < kSupport) ? sinc(x) * sinc(x / kSupport) : 0.0; }

// For each output sample: the first input index and the normalised weights (PIL's precompute_coeffs).
struct Taps {
  std::vector<int> first;
  std::vector<int> count;
  std::vector<std::vector<float>> weights;
};

Taps make_taps(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = kSupport * filter_scale;
  Taps t;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.resize(out_size);
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    int lo = std::max(0, static_cast<int>(std::floor(center - support + 0.5)));
    int hi = std::min(in_size, static_cast<int>(std::floor(center + support + 0.5)));
    std::vector<float>& w = t.weights[o];
    double total = 0.0;
    std::vector<double> raw;
    for (int i = lo; i < hi; ++i) {
      double v = lanczos3((i - center + 0.5) / filter_scale);
      raw.push_back(v);
      total += v;
    }
    for (double v : raw) w.push_back(static_cast<float>(total != 0.0 ? v / total : 0.0));
    t.first[o] = lo;
    t.count[o] = hi - lo;
  }
  return t;
}

}  // namespace

Image resize_lanczos3(const Image& img, int new_height, int new_width) {
  DIP_CHECK(new_height > 0 && new_width > 0, "resize: target size must be positive");
  const Taps tx = make_taps(img.width, new_width), ty = make_taps(img.height, new_height);
  // Horizontal pass: (C, H, W) -> (C, H, W').
  Image mid(img.channels, img.height, new_width);
#pragma omp parallel for collapse(2) schedule(static)
  for (int c = 0; c < img.channels; ++c)
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < new_width; ++x) {
        const float* row = &img.pixels[(static_cast<size_t>(c) * img.height + y) * img.width];
        float acc = 0.f;
        for (int k = 0; k < tx.count[x]; ++k) acc += tx.weights[x][k] * row[tx.first[x] + k];
        mid.at(c, y, x) = acc;
      }
  // Vertical pass: (C, H, W') -> (C, H', W').
  Image out(img.channels, new_height, new_width);
#pragma omp parallel for collapse(2) schedule(static)
  for (int c = 0; c < img.channels; ++c)
    for (int y = 0; y < new_height; ++y) {
      float* dst = &out.at(c, y, 0);
      for (int k = 0; k < ty.count[y]; ++k) {
        const float w = ty.weights[y][k];
        const float* src = &mid.at(c, ty.first[y] + k, 0);
        for (int x = 0; x < new_width; ++x) dst[x] += w * src[x];
      }
    }
  return out;
}

Image resize_longer_side(const Image& img, int longer_side) {
  const double s = static_cast<double>(longer_side) / std::max(img.height, img.width);
  const int h = std::max(1, static_cast<int>(std::lround(img.height * s)));
  const int w = std::max(1, static_cast<int>(std::lround(img.width * s)));
  if (h == img.height && w == img.width) return img;
  return resize_lanczos3(img, h, w);
}

}  // namespace dip::apps
