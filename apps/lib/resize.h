// Antialiased Lanczos-3 resampling, as PIL's Image.resize(..., LANCZOS/ANTIALIAS) that the DIP
// notebooks use to make low-resolution inputs: when shrinking, the kernel is stretched by the
// scale factor so it also low-pass filters. Separable; windows cut at the border are renormalised.
#pragma once
#include "apps/lib/image.h"

namespace dip::apps {

Image resize_lanczos3(const Image& img, int new_height, int new_width);

// Scales so the longer side is `longer_side` (aspect ratio kept, sides rounded, at least 1).
Image resize_longer_side(const Image& img, int longer_side);

}  // namespace dip::apps
