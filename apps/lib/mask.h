// Inpainting masks: 1 = known pixel, 0 = pixel to fill in. (1, H, W) Images with values 0 or 1.
#pragma once
#include <string>

#include "apps/lib/image.h"
#include "tensor/random.h"

namespace dip::apps {

struct MaskKind {
  enum Kind { Random, Box, Text } kind = Text;
  float drop = 0.5f;  // Random: the fraction of pixels removed
};

// "random:P" (0 < P < 1), "box" or "text"; a UserError otherwise.
MaskKind parse_mask_kind(const std::string& spec);

// A generated h x w mask: Random drops each pixel with probability `drop`; Box removes a centred
// rectangle a third of each side; Text overlays lines of bitmap text (DIP's text-inpainting setup).
Image make_mask(const MaskKind& kind, int h, int w, Rng& rng);

// A mask file: white (>= 0.5 luminance) is known, black is missing.
Image binarize_mask(const Image& grey);

// Fraction of pixels that are known.
double mask_coverage(const Image& mask);

}  // namespace dip::apps
