// Reading and writing image files (PNG, JPEG, BMP, ... via stb_image; PNG and JPEG out).
//
// Every failure a user can cause (missing, unreadable, truncated or non-image file) is a
// UserError naming the file and the reason.
#pragma once
#include <string>
#include <vector>

#include "apps/lib/image.h"

namespace dip::apps {

// Loads `path` as `channels` channels (3: grey is repeated, alpha dropped; 1: luminance).
Image load_image(const std::string& path, int channels);

// Writes an 8-bit PNG (values clipped to [0, 1]); throws std::runtime_error on I/O failure.
void save_png(const std::string& path, const Image& img);

// JPEG encode/decode in memory (the JPEG task's synthetic degradation).
std::vector<unsigned char> encode_jpeg(const Image& img, int quality);
Image decode_image(const std::vector<unsigned char>& bytes, int channels, const std::string& what);

}  // namespace dip::apps
