#include "apps/lib/downsampler.h"

#include <cmath>

#include "autograd/functions.h"

namespace dip::apps {

std::vector<float> lanczos2_kernel(int factor) {
  DIP_CHECK(factor >= 1, "lanczos2_kernel: factor must be >= 1");
  const int size = 4 * factor;                     // DIP's kernel_width - 1 for phase 1/2
  const double center = (4.0 * factor + 1 + 1) / 2.0;  // (kernel_width + 1) / 2
  const double pi = 3.14159265358979323846, support = 2.0;
  auto tap = [&](int i) {  // i counted from 1, as DIP's loop
    const double d = std::abs(i + 0.5 - center) / factor;
    if (d == 0.0) return 1.0;
    return support * std::sin(pi * d) * std::sin(pi * d / support) / (pi * pi * d * d);
  };
  std::vector<double> k1(size);
  for (int i = 0; i < size; ++i) k1[i] = tap(i + 1);
  std::vector<float> k(static_cast<size_t>(size) * size);
  double total = 0.0;
  for (int i = 0; i < size; ++i)
    for (int j = 0; j < size; ++j) total += k1[i] * k1[j];
  for (int i = 0; i < size; ++i)
    for (int j = 0; j < size; ++j) k[i * size + j] = static_cast<float>(k1[i] * k1[j] / total);
  return k;
}

Downsampler::Downsampler(int channels, int factor, Device device) : factor_(factor) {
  const std::vector<float> k = lanczos2_kernel(factor);
  const int size = 4 * factor;
  std::vector<float> w;
  w.reserve(static_cast<size_t>(channels) * k.size());
  for (int c = 0; c < channels; ++c) w.insert(w.end(), k.begin(), k.end());
  weight_ = Variable(Tensor::from_vector({channels, 1, size, size}, w, device));
  options_.stride = factor;
  options_.padding = (size - factor) / 2;  // DIP's preserve_size for an even kernel
  options_.groups = channels;
  options_.padding_mode = PaddingMode::Replicate;
}

Variable Downsampler::operator()(const Variable& x) const {
  DIP_CHECK(x.size(2) % factor_ == 0 && x.size(3) % factor_ == 0, "Downsampler: input ",
            x.shape().str(), " is not a multiple of the factor ", factor_);
  return conv2d(x, weight_, Variable(), options_);
}

}  // namespace dip::apps
