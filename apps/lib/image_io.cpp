#include "apps/lib/image_io.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps/lib/atomic_file.h"
#include "apps/lib/user_error.h"

// Debian's libstb ships the implementations (CMake links it); elsewhere stb_impl.cpp compiles them
// (with the PNG, JPEG and BMP decoders only). Either way only those three formats reach stb: the
// magic-byte check below refuses everything else first.
#include <stb_image.h>
#include <stb_image_write.h>

namespace dip::apps {

namespace {

// stb_image takes the buffer size as an int.
constexpr uint64_t kMaxDecodeBytes = INT_MAX / 2;
// stb_image's own limit on a side (STBI_MAX_DIMENSIONS).
constexpr uint64_t kMaxSide = uint64_t{1} << 24;
// A progressive JPEG has about 10 scans; every scan walks the whole image again, so a small file with
// thousands of (empty) scans would take minutes.
constexpr int kMaxJpegScans = 100;
// Decoder working memory per pixel besides the float image: stb's buffers for a 16-bit RGBA PNG
// (inflated rows 8 B, 16-bit image 8 B, 8-bit conversions 4 + 3 B) or a progressive CMYK JPEG
// (coefficients 8 B, planes 4 B, output 3 B).
constexpr double kDecodeBytesPerPixel = 24;

// "4.0 KiB", "256.0 MiB", "3.1 GiB".
std::string bytes_text(double bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (u < 4 && bytes >= 1024) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

// "67.1 megapixels", "4096 pixels".
std::string pixels_text(double pixels) {
  char buf[40];
  if (pixels >= 1e5)
    std::snprintf(buf, sizeof buf, "%.1f megapixels", pixels / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.0f pixels", pixels);
  return buf;
}

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint32_t be16(const unsigned char* p) { return (uint32_t{p[0]} << 8) | p[1]; }
uint32_t le32(const unsigned char* p) {
  return (uint32_t{p[3]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[1]} << 8) | p[0];
}
uint32_t le16(const unsigned char* p) { return (uint32_t{p[1]} << 8) | p[0]; }

bool starts_with(const unsigned char* b, size_t n, const char* magic, size_t len) {
  return n >= len && std::memcmp(b, magic, len) == 0;
}

enum class Format { Png, Jpeg, Bmp };

// The formats a user might hand us that dip does not read, named so the message can say what the
// file is. (TGA has no magic bytes: it is "not an image" like any other unknown file.)
const char* other_format(const unsigned char* b, size_t n) {
  if (starts_with(b, n, "GIF87a", 6) || starts_with(b, n, "GIF89a", 6)) return "a GIF image";
  if (starts_with(b, n, "8BPS", 4)) return "a Photoshop (PSD) image";
  if (starts_with(b, n, "\x53\x80\xF6\x34", 4)) return "a Softimage PIC image";
  if (starts_with(b, n, "#?RADIANCE", 10) || starts_with(b, n, "#?RGBE", 6)) return "a Radiance HDR image";
  if (n >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7' && std::strchr(" \t\r\n", b[2]) && b[2])
    return "a PNM (PBM/PGM/PPM) image";
  if (starts_with(b, n, "II*\0", 4) || starts_with(b, n, "MM\0*", 4)) return "a TIFF image";
  if (starts_with(b, n, "RIFF", 4) && n >= 12 && std::memcmp(b + 8, "WEBP", 4) == 0) return "a WebP image";
  if (starts_with(b, n, "qoif", 4)) return "a QOI image";
  if (n >= 12 && std::memcmp(b + 4, "ftyp", 4) == 0) return "a HEIF/AVIF image";
  return nullptr;
}

// What dip read from the header before stb_image sees the bytes.
struct Header {
  Format format = Format::Png;
  uint64_t width = 0, height = 0;
  int png_bits_per_pixel = 0;
  bool png_interlaced = false;
  bool png_apple = false;           // PNG: Apple's CgBI variant (raw deflate, no zlib header)
  uint64_t png_inflated_bytes = 0;  // PNG: the exact size of the filtered rows the IDAT data must give
  std::vector<std::pair<size_t, size_t>> png_idat;  // PNG: (offset, length) of each IDAT chunk
  uint64_t bmp_data_end = 0;                        // BMP: the file must be at least this long
};

[[noreturn]] void corrupt(const std::string& what, const char* format, const std::string& why) {
  throw UserError(what + " is a damaged " + format + " file (" + why + "; the file may be truncated or corrupt)");
}

// The PNG signature, then IHDR (after Apple's CgBI chunk, if any): the size, before anything else.
Header png_header(const unsigned char* b, size_t n, const std::string& what) {
  Header h;
  h.format = Format::Png;
  size_t pos = 8;
  if (n >= pos + 8 && std::memcmp(b + pos + 4, "CgBI", 4) == 0) {
    h.png_apple = true;
    const uint32_t len = be32(b + pos);
    if (len > n - pos - 8) corrupt(what, "PNG", "a chunk runs past the end of the file");
    pos = std::min<size_t>(pos + 8 + size_t{len} + 4, n);
  }
  if (n < pos + 8 + 13) corrupt(what, "PNG", "the file ends in its header");
  if (std::memcmp(b + pos + 4, "IHDR", 4) != 0 || be32(b + pos) != 13) corrupt(what, "PNG", "IHDR is not the first chunk");
  const unsigned char* data = b + pos + 8;
  h.width = be32(data);
  h.height = be32(data + 4);
  const int depth = data[8], color = data[9];
  const int samples = color == 0 ? 1 : color == 2 ? 3 : color == 3 ? 1 : color == 4 ? 2 : color == 6 ? 4 : 0;
  if (samples == 0 || (depth != 1 && depth != 2 && depth != 4 && depth != 8 && depth != 16))
    corrupt(what, "PNG", "unknown colour type or bit depth");
  h.png_bits_per_pixel = samples * depth;
  h.png_interlaced = data[12] == 1;
  return h;
}

// The chunks after IHDR, each length checked against the bytes that are there (stb_image allocates
// a claimed IDAT length before it reads it), up to IEND; and the size of the filtered rows the IDAT
// data must inflate to. Called once check_size has accepted the size.
void png_chunks(const unsigned char* b, size_t n, Header& h, const std::string& what) {
  size_t pos = 8;
  bool have_iend = false;
  while (!have_iend) {
    if (n - pos < 8) corrupt(what, "PNG", "no IEND chunk");
    const uint32_t len = be32(b + pos);
    const unsigned char* type = b + pos + 4;
    if (len > 0x7fffffffu || len > n - pos - 8) corrupt(what, "PNG", "a chunk runs past the end of the file");
    if (std::memcmp(type, "IDAT", 4) == 0) h.png_idat.emplace_back(pos + 8, len);
    if (std::memcmp(type, "IEND", 4) == 0) have_iend = true;
    pos += 8 + static_cast<size_t>(len);
    pos += std::min<size_t>(4, n - pos);  // the CRC (stb_image reads zeros past the end)
  }
  if (h.png_idat.empty()) corrupt(what, "PNG", "no image data (IDAT)");
  // One filter byte per row, per Adam7 pass when interlaced.
  auto rows_bytes = [&](uint64_t w, uint64_t rows) {
    return w && rows ? ((w * h.png_bits_per_pixel + 7) / 8 + 1) * rows : 0;
  };
  if (!h.png_interlaced) {
    h.png_inflated_bytes = rows_bytes(h.width, h.height);
  } else {
    static const int x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
    static const int dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
    for (int p = 0; p < 7; ++p) {
      const uint64_t w = h.width > uint64_t(x0[p]) ? (h.width - x0[p] + dx[p] - 1) / dx[p] : 0;
      const uint64_t r = h.height > uint64_t(y0[p]) ? (h.height - y0[p] + dy[p] - 1) / dy[p] : 0;
      h.png_inflated_bytes += rows_bytes(w, r);
    }
  }
}

// The tables a JPEG has defined so far: stb_image does not check that a scan's Huffman and
// quantization tables were ever defined, and decodes with whatever its (uninitialized) heap block
// holds (fuzz-image found the out-of-bounds symbol index that follows).
struct JpegTables {
  bool dc[4] = {}, ac[4] = {}, quant[4] = {};
  std::vector<std::pair<int, int>> components;  // (id, quantization table) from the frame header
  bool progressive = false;
};

// DHT: tables of (class << 4 | id, 16 code counts, the symbols). stb_image writes one code length per
// symbol into a 257-entry array without checking the counts' sum (fuzz-image found the overflow), so
// more than 256 symbols are refused here.
void jpeg_dht(const unsigned char* p, size_t len, JpegTables& t, const std::string& what) {
  size_t pos = 0;
  while (pos < len) {
    if (len - pos < 17) corrupt(what, "JPEG", "short Huffman table");
    const int cls = p[pos] >> 4, id = p[pos] & 15;
    if (cls > 1 || id > 3) corrupt(what, "JPEG", "bad Huffman table id");
    size_t symbols = 0;
    for (int i = 1; i <= 16; ++i) symbols += p[pos + i];
    if (symbols > 256) corrupt(what, "JPEG", "a Huffman table with " + std::to_string(symbols) + " codes");
    (cls == 0 ? t.dc : t.ac)[id] = true;
    pos += 17 + symbols;
  }
}

// DQT: tables of (precision << 4 | id, 64 values of 1 or 2 bytes).
void jpeg_dqt(const unsigned char* p, size_t len, JpegTables& t, const std::string& what) {
  size_t pos = 0;
  while (pos < len) {
    const int precision = p[pos] >> 4, id = p[pos] & 15;
    if (precision > 1 || id > 3) corrupt(what, "JPEG", "bad quantization table id");
    t.quant[id] = true;
    pos += 1 + 64 * (precision + 1);
  }
}

// SOS: every table the scan decodes with must have been defined (a progressive DC refinement scan
// uses none; a DC scan only DC tables, an AC scan only AC tables).
void jpeg_sos(const unsigned char* p, size_t len, const JpegTables& t, const std::string& what) {
  if (len < 1 || len < 1 + 2 * size_t{p[0]} + 3) corrupt(what, "JPEG", "short scan header");
  const int count = p[0];
  const int spectral_start = p[1 + 2 * count], approx_high = p[3 + 2 * count] >> 4;
  const bool dc_scan = spectral_start == 0;
  for (int i = 0; i < count; ++i) {
    const int id = p[1 + 2 * i], dc = p[2 + 2 * i] >> 4, ac = p[2 + 2 * i] & 15;
    if (dc > 3 || ac > 3) corrupt(what, "JPEG", "bad Huffman table id in a scan");
    const bool needs_dc = !t.progressive || (dc_scan && approx_high == 0);
    const bool needs_ac = !t.progressive || !dc_scan;
    if ((needs_dc && !t.dc[dc]) || (needs_ac && !t.ac[ac]))
      corrupt(what, "JPEG", "a scan uses a Huffman table that was never defined");
    for (const auto& [cid, quant] : t.components)
      if (cid == id && !t.quant[quant]) corrupt(what, "JPEG", "a scan uses a quantization table that was never defined");
  }
}

// Walks the markers as stb_image does (segment lengths; stray bytes between segments skipped): the
// frame header's size, the tables, and the scans (counted).
Header jpeg_header(const unsigned char* b, size_t n, const std::string& what) {
  Header h;
  h.format = Format::Jpeg;
  JpegTables tables;
  size_t pos = 2;
  bool have_frame = false;
  int scans = 0;
  for (;;) {
    while (pos < n && b[pos] != 0xFF) ++pos;  // stray bytes
    while (pos < n && b[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) {
      if (!have_frame) corrupt(what, "JPEG", "no frame header");
      break;
    }
    const int marker = b[pos++];
    if (marker == 0xD9) {  // EOI
      if (!have_frame) corrupt(what, "JPEG", "no frame header");
      break;
    }
    if (marker >= 0xD0 && marker <= 0xD7) continue;  // RSTn: no length
    if (n - pos < 2) corrupt(what, "JPEG", "a segment runs past the end of the file");
    const uint32_t len = be16(b + pos);
    if (len < 2 || len > n - pos) corrupt(what, "JPEG", "a segment runs past the end of the file");
    const unsigned char* data = b + pos + 2;
    const size_t data_len = len - 2;
    pos += len;
    if (marker == 0xC4) jpeg_dht(data, data_len, tables, what);
    if (marker == 0xDB) jpeg_dqt(data, data_len, tables, what);
    if (!have_frame) {
      if (marker == 0xC0 || marker == 0xC1 || marker == 0xC2) {
        if (data_len < 6) corrupt(what, "JPEG", "short frame header");
        h.height = be16(data + 1);
        h.width = be16(data + 3);
        if (h.width == 0 || h.height == 0) corrupt(what, "JPEG", "no image size in the frame header");
        const size_t count = data[5];
        if (data_len < 6 + 3 * count) corrupt(what, "JPEG", "short frame header");
        for (size_t i = 0; i < count; ++i) {
          const int quant = data[6 + 3 * i + 2];
          if (quant > 3) corrupt(what, "JPEG", "bad quantization table id in the frame header");
          tables.components.emplace_back(data[6 + 3 * i], quant);
        }
        tables.progressive = marker == 0xC2;
        have_frame = true;
      } else if ((marker >= 0xC3 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC)) {
        throw UserError(what + " is a lossless, hierarchical or arithmetic-coded JPEG; dip reads baseline "
                        "and progressive JPEG (re-save it as an ordinary JPEG or PNG)");
      } else if (!(marker == 0xC4 || marker == 0xDB || marker == 0xDD || (marker >= 0xE0 && marker <= 0xEF) ||
                   marker == 0xFE)) {
        corrupt(what, "JPEG", "unexpected marker before the frame header");
      }
      continue;
    }
    if (marker != 0xDA) continue;  // tables, comments, DNL between scans
    if (++scans > kMaxJpegScans)
      throw UserError(what + " is a JPEG with more than " + std::to_string(kMaxJpegScans) +
                      " scans (progressive JPEGs have about 10); dip refuses it as damaged");
    jpeg_sos(data, data_len, tables, what);
    // Entropy-coded data up to the next marker: 0xFF followed by neither 0x00 (a stuffed byte),
    // 0xFF (fill) nor RSTn.
    for (;;) {
      const void* ff = pos < n ? std::memchr(b + pos, 0xFF, n - pos) : nullptr;
      if (!ff) {
        pos = n;
        break;
      }
      pos = static_cast<const unsigned char*>(ff) - b;
      size_t q = pos + 1;
      while (q < n && b[q] == 0xFF) ++q;
      if (q < n && (b[q] == 0x00 || (b[q] >= 0xD0 && b[q] <= 0xD7))) {
        pos = q + 1;
        continue;
      }
      break;  // at a marker (or the end)
    }
  }
  return h;
}

// BITMAPCOREHEADER (12 bytes) or BITMAPINFOHEADER and its successors (40, 56, 108, 124), as
// stb_image.
Header bmp_header(const unsigned char* b, size_t n, const std::string& what) {
  Header h;
  h.format = Format::Bmp;
  if (n < 26) corrupt(what, "BMP", "short header");
  const uint32_t offset = le32(b + 10), hsz = le32(b + 14);
  uint32_t bpp = 0, compression = 0;
  if (hsz == 12) {
    h.width = le16(b + 18);
    h.height = le16(b + 20);
    bpp = le16(b + 24);
  } else if (hsz == 40 || hsz == 56 || hsz == 108 || hsz == 124) {
    if (n < 34) corrupt(what, "BMP", "short header");
    const int32_t w = static_cast<int32_t>(le32(b + 18)), ht = static_cast<int32_t>(le32(b + 22));
    if (w <= 0 || ht == 0 || ht == INT32_MIN) corrupt(what, "BMP", "bad image size in the header");
    h.width = static_cast<uint64_t>(w);
    h.height = static_cast<uint64_t>(ht < 0 ? -static_cast<int64_t>(ht) : ht);
    bpp = le16(b + 28);
    compression = le32(b + 30);
  } else {
    corrupt(what, "BMP", "unknown header size " + std::to_string(hsz));
  }
  // The pixel rows (uncompressed or bit fields; stb_image refuses the rest), 4-byte aligned, from
  // the offset: how far the data must reach.
  const bool plain = compression == 0 || compression == 3;
  if (plain && (bpp == 1 || bpp == 4 || bpp == 8 || bpp == 16 || bpp == 24 || bpp == 32) && h.width <= kMaxSide &&
      h.height <= kMaxSide) {
    const uint64_t stride = (h.width * bpp + 31) / 32 * 4;
    h.bmp_data_end = uint64_t{offset} + stride * (h.height - 1) + (h.width * bpp + 7) / 8;
  }
  return h;
}

// Called once check_size has accepted the size.
void bmp_rows(size_t n, const Header& h, const std::string& what) {
  if (h.bmp_data_end > n)
    corrupt(what, "BMP", "its pixel rows end " + std::to_string(h.bmp_data_end - n) + " bytes past the end of the file");
}

Header read_header(const unsigned char* b, size_t n, const std::string& what) {
  DIP_USER_CHECK(n > 0, what, " is empty");
  if (starts_with(b, n, "\x89PNG\r\n\x1a\n", 8)) return png_header(b, n, what);
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return jpeg_header(b, n, what);
  if (starts_with(b, n, "BM", 2)) return bmp_header(b, n, what);
  if (const char* other = other_format(b, n)) throw UserError(what + " is " + other + "; dip reads PNG, JPEG or BMP");
  throw UserError(what + " is not an image dip reads: unsupported image format (PNG, JPEG or BMP)");
}

double machine_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * page : 0.0;
}

// Size checks on the header's width and height, before anything the size of the image is allocated.
void check_size(const Header& h, int channels, size_t file_bytes, const ImageLimits& limits,
                const std::string& what) {
  DIP_USER_CHECK(h.width > 0 && h.height > 0, what, " has no pixels (", h.width, "x", h.height, ")");
  const double pixels = static_cast<double>(h.width) * h.height;
  const std::string dims = std::to_string(h.width) + "x" + std::to_string(h.height) + " px";
  DIP_USER_CHECK(pixels <= static_cast<double>(limits.max_pixels), what, " is ", dims, " (", pixels_text(pixels),
                 "), too large to load: dip reads images of at most ",
                 pixels_text(static_cast<double>(limits.max_pixels)));
  DIP_USER_CHECK(h.width <= kMaxSide && h.height <= kMaxSide, what, " is ", dims,
                 ", too large to load: dip reads images of at most ", kMaxSide, " px a side");
  // JPEG planes are padded to whole MCUs (up to 32 px); the file is held twice while a PNG's stream
  // is checked (check_png_stream).
  const double pad = h.format == Format::Jpeg ? 32 : 0;
  const double padded = (static_cast<double>(h.width) + pad) * (h.height + pad);
  const double need = padded * (kDecodeBytesPerPixel + 2.0 * sizeof(float) * channels) + 2.0 * file_bytes;
  const double have = limits.memory_bytes > 0 ? limits.memory_bytes : 0.5 * machine_memory_bytes();
  DIP_USER_CHECK(have <= 0 || need <= have, what, " is ", dims, ", too large to load: decoding it needs about ",
                 bytes_text(need), " but dip plans on at most ", bytes_text(have),
                 limits.memory_bytes > 0 ? "" : " (half of this machine's memory)");
}

// The IDAT data must inflate to the rows the header promises. stb_image inflates into a buffer it
// doubles as needed (up to 4 GiB), so a small file of repeated zeros could claim gigabytes; here the
// stream is inflated once into a bounded buffer first.
void check_png_stream(const unsigned char* b, const Header& h, const std::string& what) {
  std::vector<char> idat;
  size_t total = 0;
  for (const auto& [off, len] : h.png_idat) total += len;
  idat.reserve(total);
  for (const auto& [off, len] : h.png_idat) idat.insert(idat.end(), b + off, b + off + len);
  // Twice the exact size (plus 1 MiB) leaves room for encoders that append padding; only the pages
  // actually written are touched.
  DIP_USER_CHECK(h.png_inflated_bytes <= INT_MAX / 2, what, " is too large to load (",
                 bytes_text(static_cast<double>(h.png_inflated_bytes)), " of pixel data)");
  const uint64_t bound = std::min<uint64_t>(2 * h.png_inflated_bytes + (uint64_t{1} << 20), INT_MAX);
  std::unique_ptr<char, decltype(&std::free)> out(static_cast<char*>(std::malloc(bound)), &std::free);
  if (!out) throw std::bad_alloc();
  const int got = h.png_apple ? stbi_zlib_decode_noheader_buffer(out.get(), static_cast<int>(bound), idat.data(),
                                                                 static_cast<int>(idat.size()))
                              : stbi_zlib_decode_buffer(out.get(), static_cast<int>(bound), idat.data(),
                                                        static_cast<int>(idat.size()));
  if (got < 0) {
    // stb_image says "output buffer limit" when the stream goes on past the bound.
    const char* reason = stbi_failure_reason();
    if (reason && std::strcmp(reason, "output buffer limit") == 0)
      corrupt(what, "PNG", "its pixel data inflates to more than the " + std::to_string(h.width) + "x" +
                               std::to_string(h.height) + " px its header states");
    corrupt(what, "PNG", std::string("bad compressed data: ") + (reason ? reason : "unknown error"));
  }
}

// stb_image's 8-bit interleaved (H, W, C) pixels.
struct Pixels8 {
  std::unique_ptr<unsigned char, decltype(&stbi_image_free)> data{nullptr, &stbi_image_free};
  int width = 0, height = 0, channels = 0;
};

// stb_image reads a grey file as 1 channel and RGB as 3 when asked; it converts for us.
Pixels8 decode8(const unsigned char* bytes, size_t size, int channels, const ImageLimits& limits,
                const std::string& what) {
  DIP_CHECK(channels == 1 || channels == 3, "decode_image: channels must be 1 or 3");
  DIP_USER_CHECK(size <= kMaxDecodeBytes, what, " is ", bytes_text(static_cast<double>(size)),
                 ", too large to load");
  Header h = read_header(bytes, size, what);
  check_size(h, channels, size, limits, what);
  if (h.format == Format::Png) {
    png_chunks(bytes, size, h, what);
    check_png_stream(bytes, h, what);
  }
  if (h.format == Format::Bmp) bmp_rows(size, h, what);
  Pixels8 px;
  int n = 0;
  px.data.reset(stbi_load_from_memory(bytes, static_cast<int>(size), &px.width, &px.height, &n, channels));
  if (!px.data)
    throw UserError(what + " could not be decoded (" + stbi_failure_reason() +
                    "; the file may be truncated or corrupt)");
  px.channels = channels;
  // stb_image read the same header fields; a difference would mean the checks above were on the wrong ones.
  DIP_USER_CHECK(uint64_t(px.width) == h.width && uint64_t(px.height) == h.height, what, " could not be decoded "
                 "(its header says ", h.width, "x", h.height, " px but it decodes to ", px.width, "x", px.height, ")");
  return px;
}

// 8-bit interleaved (H, W, C) -> planar float (C, H, W), v / 255 as quantize8's levels.
Image to_planar(const Pixels8& px) {
  const int c = px.channels;
  Image img(c, px.height, px.width);
  const size_t plane = static_cast<size_t>(px.height) * px.width;
  const unsigned char* src = px.data.get();
  for (int k = 0; k < c; ++k) {
    float* dst = img.pixels.data() + k * plane;
    for (size_t i = 0; i < plane; ++i) dst[i] = src[i * c + k] / 255.f;
  }
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

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(context);
  auto* p = static_cast<unsigned char*>(data);
  out->insert(out->end(), p, p + size);
}

const char* file_kind(mode_t mode) {
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Regular files and FIFOs (a pipe such as /dev/stdin or <(...)) only; directories and devices
// (/dev/zero) are refused before they are opened.
void check_file_type(const struct stat& st, const std::string& path, uint64_t cap) {
  DIP_USER_CHECK(!S_ISDIR(st.st_mode), "'", path, "' is a directory, not an image file");
  DIP_USER_CHECK(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode), "'", path, "' is ", file_kind(st.st_mode),
                 ", not an image file");
  DIP_USER_CHECK(!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) <= cap, "'", path, "' is ",
                 bytes_text(static_cast<double>(st.st_size)), ", too large to load: dip reads image files of at most ",
                 bytes_text(static_cast<double>(cap)));
}

// The whole file, at most `cap` bytes: fstat's size is checked first and the reads stop at cap + 1
// bytes, so a FIFO or a file that grows while it is read cannot get past the cap either.
std::vector<unsigned char> read_file_capped(const std::string& path, uint64_t cap) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw UserError("cannot open '" + path + "': " + std::strerror(errno));
  check_file_type(st, path, cap);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) throw UserError("cannot read '" + path + "': " + std::strerror(errno));
  std::unique_ptr<int, void (*)(int*)> closer(new int(fd), [](int* p) {
    close(*p);
    delete p;
  });
  if (fstat(fd, &st) != 0) throw UserError("cannot read '" + path + "': " + std::strerror(errno));
  check_file_type(st, path, cap);  // the path may have been replaced since stat
  std::vector<unsigned char> bytes;
  bytes.reserve(S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) + 1 : size_t{1} << 16);
  for (;;) {
    if (bytes.size() == bytes.capacity()) bytes.reserve(std::min<uint64_t>(2 * bytes.capacity(), cap + 1));
    const size_t room = std::min<uint64_t>(bytes.capacity(), cap + 1) - bytes.size();
    const size_t old = bytes.size();
    bytes.resize(old + room);
    const ssize_t got = read(fd, bytes.data() + old, room);
    if (got < 0) {
      bytes.resize(old);
      if (errno == EINTR) continue;
      throw UserError("cannot read '" + path + "': " + std::strerror(errno));
    }
    bytes.resize(old + static_cast<size_t>(got));
    if (got == 0) break;
    DIP_USER_CHECK(bytes.size() <= cap, "'", path, "' goes on past ", bytes_text(static_cast<double>(cap)),
                   ", too large to load: dip reads image files of at most that");
  }
  return bytes;
}

}  // namespace

Image load_image(const std::string& path, int channels, const ImageLimits& limits) {
  const uint64_t cap = std::min<uint64_t>(limits.max_file_bytes, kMaxDecodeBytes);
  std::vector<unsigned char> bytes = read_file_capped(path, cap);
  Pixels8 px = decode8(bytes.data(), bytes.size(), channels, limits, "'" + path + "'");
  std::vector<unsigned char>().swap(bytes);  // the file is no longer needed: free it before the floats
  return to_planar(px);
}

Image decode_image(const std::vector<unsigned char>& bytes, int channels, const std::string& what,
                   const ImageLimits& limits) {
  DIP_USER_CHECK(bytes.size() <= limits.max_file_bytes, what, " is ", bytes_text(static_cast<double>(bytes.size())),
                 ", too large to load: dip reads image files of at most ",
                 bytes_text(static_cast<double>(limits.max_file_bytes)));
  return to_planar(decode8(bytes.data(), bytes.size(), channels, limits, what));
}

void save_png(const std::string& path, const Image& img) {
  // Encoded in memory, then written by write_file_atomic, which checks every write, the close
  // and the flush (stb's own file writer ignores fwrite and fclose failures: a full disk left
  // 0-byte PNGs behind a success).
  std::vector<unsigned char> data = to_interleaved(img), png;
  if (!stbi_write_png_to_func(append_bytes, &png, img.width, img.height, img.channels, data.data(),
                              img.width * img.channels))
    throw std::runtime_error("could not encode '" + path + "' as PNG");
  write_file_atomic(path, png.data(), png.size());
}

std::vector<unsigned char> encode_jpeg(const Image& img, int quality) {
  std::vector<unsigned char> data = to_interleaved(img), out;
  if (!stbi_write_jpg_to_func(append_bytes, &out, img.width, img.height, img.channels, data.data(),
                              quality))
    throw std::runtime_error("JPEG encoding failed");
  return out;
}

}  // namespace dip::apps
