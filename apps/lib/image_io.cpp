#include "apps/lib/image_io.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <sys/stat.h>

#include "apps/lib/user_error.h"

// Debian's libstb ships the implementations (CMake links it); elsewhere stb_impl.cpp compiles them.
#include <stb_image.h>
#include <stb_image_write.h>

namespace dip::apps {

namespace {

// Larger files are refused before decoding (16384 x 16384: 1 GiB of float pixels per channel).
constexpr double kMaxPixels = 16384.0 * 16384.0;

// 8-bit interleaved (H, W, C) -> planar float (C, H, W).
Image from_interleaved(const unsigned char* data, int w, int h, int c) {
  Image img(c, h, w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        img.at(k, y, x) = data[(static_cast<size_t>(y) * w + x) * c + k] / 255.f;  // as quantize8
  return img;
}

std::vector<unsigned char> to_interleaved(const Image& img) {
  const int c = img.channels, h = img.height, w = img.width;
  std::vector<unsigned char> out(static_cast<size_t>(c) * h * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) {
        float v = std::clamp(img.at(k, y, x), 0.f, 1.f);
        out[(static_cast<size_t>(y) * w + x) * c + k] = static_cast<unsigned char>(std::lround(v * 255.f));
      }
  return out;
}

// stb_image reads a grey file as 1 channel and RGB as 3 when asked; it converts for us.
Image decode(const unsigned char* bytes, size_t size, int channels, const std::string& what) {
  DIP_CHECK(channels == 1 || channels == 3, "decode_image: channels must be 1 or 3");
  DIP_USER_CHECK(size > 0, what, " is empty");
  int w = 0, h = 0, n = 0;
  if (!stbi_info_from_memory(bytes, static_cast<int>(size), &w, &h, &n))
    throw UserError(what + " is not an image (" + stbi_failure_reason() + ")");
  DIP_USER_CHECK(static_cast<double>(w) * h <= kMaxPixels, what, " is ", w, "x", h,
                 " px, too large to load (at most ", kMaxPixels / 1e6, " megapixels)");
  unsigned char* data = stbi_load_from_memory(bytes, static_cast<int>(size), &w, &h, &n, channels);
  if (!data)
    throw UserError(what + " could not be decoded (" + stbi_failure_reason() +
                    "; the file may be truncated or corrupt)");
  Image img = from_interleaved(data, w, h, channels);
  stbi_image_free(data);
  return img;
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(context);
  auto* p = static_cast<unsigned char*>(data);
  out->insert(out->end(), p, p + size);
}

}  // namespace

Image load_image(const std::string& path, int channels) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    throw UserError("cannot open '" + path + "': " + std::strerror(errno));
  DIP_USER_CHECK(!S_ISDIR(st.st_mode), "'", path, "' is a directory, not an image file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot read '" + path + "': " + std::strerror(errno));
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  DIP_USER_CHECK(!in.bad(), "cannot read '", path, "': read error");
  return decode(bytes.data(), bytes.size(), channels, "'" + path + "'");
}

Image decode_image(const std::vector<unsigned char>& bytes, int channels, const std::string& what) {
  return decode(bytes.data(), bytes.size(), channels, what);
}

void save_png(const std::string& path, const Image& img) {
  std::vector<unsigned char> data = to_interleaved(img);
  if (!stbi_write_png(path.c_str(), img.width, img.height, img.channels, data.data(),
                      img.width * img.channels))
    throw std::runtime_error("could not write '" + path + "'");
}

std::vector<unsigned char> encode_jpeg(const Image& img, int quality) {
  std::vector<unsigned char> data = to_interleaved(img), out;
  if (!stbi_write_jpg_to_func(append_bytes, &out, img.width, img.height, img.channels, data.data(),
                              quality))
    throw std::runtime_error("JPEG encoding failed");
  return out;
}

}  // namespace dip::apps
