// Synthetic degradations that make an observed image from a clean one.
#pragma once
#include "apps/lib/image.h"
#include "tensor/random.h"

namespace dip::apps {

// img + N(0, sigma^2), clipped to [0, 1] (DIP's get_noisy_image); sigma on the [0, 1] scale.
Image add_gaussian_noise(const Image& img, float sigma, Rng& rng);

// Encodes as a baseline JPEG of `quality` (1..100) and decodes it again.
Image jpeg_roundtrip(const Image& img, int quality);

}  // namespace dip::apps
