#include "apps/lib/mask.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_easy_font.h>  // header-only (static functions), public domain
#pragma GCC diagnostic pop

#include "apps/lib/user_error.h"

namespace dip::apps {

MaskKind parse_mask_kind(const std::string& spec) {
  MaskKind m;
  if (spec == "text") {
    m.kind = MaskKind::Text;
  } else if (spec == "box") {
    m.kind = MaskKind::Box;
  } else if (spec.rfind("random:", 0) == 0) {
    const std::string num = spec.substr(7);
    char* end = nullptr;
    const double p = std::strtod(num.c_str(), &end);
    DIP_USER_CHECK(!num.empty() && end && *end == '\0', "--mask-kind: '", num,
                   "' is not a number (use random:P, e.g. random:0.5)");
    DIP_USER_CHECK(p > 0.0 && p < 1.0, "--mask-kind: random:P needs 0 < P < 1 (the fraction of ",
                   "pixels removed), got ", num);
    m.kind = MaskKind::Random;
    m.drop = static_cast<float>(p);
  } else {
    throw UserError("--mask-kind: unknown kind '" + spec + "' (use random:P, box or text)");
  }
  return m;
}

namespace {

// Draws text with stb_easy_font's quads scaled by `scale`: each quad becomes a filled rectangle
// of zeros, so strokes are `scale` pixels wide.
void stamp_text(Image& mask, const std::string& text, float x0, float y0, int scale) {
  std::vector<char> buffer(text.size() * 300 + 64);
  std::vector<char> chars(text.begin(), text.end());
  chars.push_back('\0');
  const int quads = stb_easy_font_print(0.f, 0.f, chars.data(), nullptr, buffer.data(),
                                        static_cast<int>(buffer.size()));
  // Each vertex: x, y, z (floats) and 4 colour bytes = 16 bytes; 4 vertices a quad.
  for (int q = 0; q < quads; ++q) {
    const float* v0 = reinterpret_cast<const float*>(buffer.data() + q * 64);
    const float* v2 = reinterpret_cast<const float*>(buffer.data() + q * 64 + 32);
    const int xa = static_cast<int>(x0 + std::min(v0[0], v2[0]) * scale);
    const int xb = static_cast<int>(x0 + std::max(v0[0], v2[0]) * scale);
    const int ya = static_cast<int>(y0 + std::min(v0[1], v2[1]) * scale);
    const int yb = static_cast<int>(y0 + std::max(v0[1], v2[1]) * scale);
    for (int y = std::max(0, ya); y < std::min(mask.height, yb); ++y)
      for (int x = std::max(0, xa); x < std::min(mask.width, xb); ++x) mask.at(0, y, x) = 0.f;
  }
}

}  // namespace

Image make_mask(const MaskKind& kind, int h, int w, Rng& rng) {
  Image mask(1, h, w, 1.f);
  switch (kind.kind) {
    case MaskKind::Random:
      for (float& v : mask.pixels) v = rng.uniform() < kind.drop ? 0.f : 1.f;
      break;
    case MaskKind::Box: {
      const int bh = std::max(1, h / 3), bw = std::max(1, w / 3);
      const int y0 = (h - bh) / 2, x0 = (w - bw) / 2;
      for (int y = y0; y < y0 + bh; ++y)
        for (int x = x0; x < x0 + bw; ++x) mask.at(0, y, x) = 0.f;
      break;
    }
    case MaskKind::Text: {
      // Glyphs are 7 font units tall: about 20 px letters with 3 px strokes on a 512 px image.
      const int scale = std::max(1, std::min(h, w) / 170);
      const std::string line = "Deep Image Prior restores what is hidden under text. ";
      const int line_height = 12 * scale;
      const int advance = stb_easy_font_width(const_cast<char*>(line.c_str())) * scale;
      int row = 0;
      for (int y = line_height / 2; y < h; y += 2 * line_height, ++row) {
        // Shift every other row so the strokes do not line up vertically.
        for (int x = -(row % 2) * advance / 3; x < w; x += advance)
          stamp_text(mask, line, static_cast<float>(x), static_cast<float>(y), scale);
      }
      break;
    }
  }
  return mask;
}

Image binarize_mask(const Image& grey) {
  DIP_CHECK(grey.channels == 1, "binarize_mask: expected one channel");
  Image m = grey;
  for (float& v : m.pixels) v = v >= 0.5f ? 1.f : 0.f;
  return m;
}

double mask_coverage(const Image& mask) {
  double known = 0;
  for (float v : mask.pixels) known += v;
  return mask.pixels.empty() ? 0.0 : known / mask.pixels.size();
}

}  // namespace dip::apps
