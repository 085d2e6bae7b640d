// Reading and writing image files: PNG, JPEG and BMP in (stb_image), PNG and JPEG out.
//
// Reading is bounded before anything large is allocated: the file is at most
// ImageLimits::max_file_bytes (read with a hard cap, so /dev/stdin, FIFOs and growing files cannot
// exceed it); the format comes from the file's magic bytes (other formats are refused by name,
// whatever decoders the linked stb_image has); the width and height come from dip's own reading of
// the header and must fit max_pixels and the machine's memory before stb_image decodes anything.
// Every failure a user can cause (missing, unreadable, truncated, corrupt, too large or non-image
// file) is a UserError naming the file and the reason.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/lib/image.h"

namespace dip::apps {

struct ImageLimits {
  // Larger files are refused before they are read (a 64 Mpx photo is 10-40 MiB as JPEG or PNG).
  uint64_t max_file_bytes = uint64_t{256} << 20;  // 256 MiB
  // Larger images are refused before they are decoded: 8192 x 8192 (67.1 million pixels).
  uint64_t max_pixels = uint64_t{8192} * 8192;
  // Memory the decode may plan on; 0: half the machine's physical memory (sysconf).
  double memory_bytes = 0;
};

// Loads `path` as `channels` channels (3: grey is repeated, alpha dropped; 1: luminance).
Image load_image(const std::string& path, int channels, const ImageLimits& limits = {});

// Writes an 8-bit PNG (values clipped to [0, 1]); throws std::runtime_error on I/O failure.
void save_png(const std::string& path, const Image& img);

// JPEG encode/decode in memory (the JPEG task's synthetic degradation). decode_image applies the
// same format and size checks as load_image; `what` names the bytes in messages.
std::vector<unsigned char> encode_jpeg(const Image& img, int quality);
Image decode_image(const std::vector<unsigned char>& bytes, int channels, const std::string& what,
                   const ImageLimits& limits = {});

}  // namespace dip::apps
