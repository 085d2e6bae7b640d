// Image loading under hostile input: every bad file is one UserError, refused before anything its
// header claims is allocated; the files dip does read (PNG, JPEG, BMP) still load bit for bit, and
// prepare_image makes no full-size copy on the way to --size.
#include <doctest/doctest.h>

#include <chrono>
#include <climits>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image_write.h>

#include "apps/lib/degrade.h"
#include "apps/lib/image.h"
#include "apps/lib/image_io.h"
#include "apps/lib/metrics.h"
#include "apps/lib/resize.h"
#include "apps/lib/task_common.h"
#include "apps/lib/user_error.h"
#include "tests/test_apps_util.h"

using namespace dip;
using namespace dip::apps;
using dip::test::ScratchDir;
using dip::test::test_picture;

namespace {

using Bytes = std::string;

// ---- building files byte by byte ---------------------------------------------
void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b += static_cast<char>((v >> s) & 0xFF);
}
void put_le16(Bytes& b, uint32_t v) {
  b += static_cast<char>(v & 0xFF);
  b += static_cast<char>((v >> 8) & 0xFF);
}
void put_le32(Bytes& b, uint32_t v) {
  put_le16(b, v & 0xFFFF);
  put_le16(b, v >> 16);
}

uint32_t crc32(const Bytes& data) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    c ^= byte;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

Bytes png_chunk(const std::string& type, const Bytes& data) {
  Bytes c;
  put_be32(c, static_cast<uint32_t>(data.size()));
  c += type + data;
  put_be32(c, crc32(type + data));
  return c;
}

Bytes png_ihdr(uint32_t w, uint32_t h, int depth, int color, int interlace = 0) {
  Bytes d;
  put_be32(d, w);
  put_be32(d, h);
  d += static_cast<char>(depth);
  d += static_cast<char>(color);
  d += '\0';
  d += '\0';
  d += static_cast<char>(interlace);
  return png_chunk("IHDR", d);
}

uint32_t adler32(const Bytes& data) {
  uint32_t a = 1, b = 0;
  for (unsigned char c : data) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}

// A zlib stream of stored (uncompressed) blocks.
Bytes zlib_stored(const Bytes& raw) {
  Bytes z = "\x78\x01";
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    z += static_cast<char>(pos + n == raw.size() ? 1 : 0);
    put_le16(z, static_cast<uint32_t>(n));
    put_le16(z, static_cast<uint32_t>(~n & 0xFFFF));
    z += raw.substr(pos, n);
    pos += n;
  } while (pos < raw.size());
  put_be32(z, adler32(raw));
  return z;
}

// A PNG of the given filtered rows (raw: each row a filter byte then the pixels).
Bytes png_file(uint32_t w, uint32_t h, int depth, int color, const Bytes& raw, int interlace = 0) {
  return Bytes("\x89PNG\r\n\x1a\n", 8) + png_ihdr(w, h, depth, color, interlace) +
         png_chunk("IDAT", zlib_stored(raw)) + png_chunk("IEND", "");
}

// Deflate with fixed Huffman codes: one literal zero, then `matches` copies of 258 bytes at distance
// 1 (13 bits each), so about 20 bytes of file per 258 * 8 bytes of output.
Bytes zlib_zero_bomb(size_t matches) {
  Bytes z = "\x78\x01";
  uint64_t bits = 0;
  int nbits = 0;
  auto put = [&](uint32_t v, int n) {  // LSB first
    bits |= uint64_t{v} << nbits;
    nbits += n;
    while (nbits >= 8) {
      z += static_cast<char>(bits & 0xFF);
      bits >>= 8;
      nbits -= 8;
    }
  };
  auto put_code = [&](uint32_t code, int n) {  // Huffman codes go MSB first
    uint32_t r = 0;
    for (int i = 0; i < n; ++i) r |= ((code >> i) & 1u) << (n - 1 - i);
    put(r, n);
  };
  put(1, 1);               // BFINAL
  put(1, 2);               // BTYPE = fixed Huffman
  put_code(0x30, 8);       // literal 0
  for (size_t i = 0; i < matches; ++i) {
    put_code(0xC5, 8);     // length code 285: 258 bytes
    put_code(0, 5);        // distance code 0: distance 1
  }
  put_code(0, 7);          // end of block (256)
  if (nbits) put(0, 8 - nbits);
  put_be32(z, 0);          // the Adler-32 is never reached: the check stops first
  return z;
}

// ---- files on disk ---------------------------------------------------------------
void write_bytes(const std::string& path, const Bytes& b) { dip::test::write_file(path, b); }

long max_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// Runs f, which must throw a UserError containing `needle`, within `seconds`, raising the process's
// peak memory by less than 64 MiB.
void check_refused(const std::function<void()>& f, const std::string& needle, double seconds = 2.0) {
  const long rss0 = max_rss_kib();
  const auto t0 = std::chrono::steady_clock::now();
  std::string message;
  bool user_error = false;
  try {
    f();
  } catch (const UserError& e) {
    user_error = true;
    message = e.what();
  } catch (const std::exception& e) {
    message = std::string("not a UserError: ") + e.what();
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO("message: ", message);
  CHECK(user_error);
  CHECK(message.find(needle) != std::string::npos);
  CHECK(message.find('\n') == std::string::npos);  // one line for the CLI
  CHECK(took < seconds);
  CHECK(max_rss_kib() - rss0 < 64 * 1024);
}

Bytes small_png_bytes(const ScratchDir& dir) {
  dip::test::write_test_png(dir / "ok.png", 16, 24);
  return dip::test::read_file(dir / "ok.png");
}

}  // namespace

TEST_CASE("image_io: a 35-byte GIF claiming 16384x16384 is refused at once, without allocating") {
  ScratchDir dir;
  Bytes gif = "GIF89a";
  put_le16(gif, 16384);
  put_le16(gif, 16384);
  gif += Bytes("\x80\x00\x00", 3);               // a global colour table of 2 entries
  gif += Bytes("\x00\x00\x00\xFF\xFF\xFF", 6);
  gif += "\x2C";                                 // image descriptor
  put_le32(gif, 0);                              // left, top
  put_le16(gif, 16384);
  put_le16(gif, 16384);
  gif += Bytes("\x00\x02\x02\x44\x01\x00\x3B", 7);  // LZW data, trailer
  REQUIRE(gif.size() == 35);
  write_bytes(dir / "bomb.gif", gif);
  check_refused([&] { load_image(dir / "bomb.gif", 3); }, "is a GIF image; dip reads PNG, JPEG or BMP", 0.5);
  check_refused([&] { load_image(dir / "bomb.gif", 3); }, "'" + dir / "bomb.gif" + "'", 0.5);
}

TEST_CASE("image_io: other formats are named and refused; non-images say so") {
  ScratchDir dir;
  const std::vector<std::pair<Bytes, std::string>> files = {
      {Bytes("8BPS\x00\x01", 6) + Bytes(20, '\0'), "Photoshop (PSD)"},
      {Bytes("\x53\x80\xF6\x34", 4) + Bytes(100, '\0'), "Softimage PIC"},
      {"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 16384 +X 16384\n", "Radiance HDR"},
      {"P6\n16384 16384\n255\n", "PNM"},
      {Bytes("II*\0", 4) + Bytes(20, '\0'), "TIFF"},
      {Bytes("RIFF\x10\0\0\0WEBPVP8 ", 16), "WebP"},
      {Bytes("\0\0\0\x18" "ftypheic", 12) + Bytes(12, '\0'), "HEIF"},
  };
  for (const auto& [bytes, name] : files) {
    write_bytes(dir / "x", bytes);
    check_refused([&] { load_image(dir / "x", 3); }, name);
    check_refused([&] { load_image(dir / "x", 3); }, "dip reads PNG, JPEG or BMP");
  }
  // TGA has no magic bytes: a 16384x16384 TGA header is just not an image (stb_image would take it).
  Bytes tga(18, '\0');
  tga[2] = 2;  // uncompressed true colour
  tga[12] = 0, tga[13] = 0x40, tga[14] = 0, tga[15] = 0x40, tga[16] = 24;
  write_bytes(dir / "bomb.tga", tga);
  check_refused([&] { load_image(dir / "bomb.tga", 3); }, "unsupported image format (PNG, JPEG or BMP)");
  write_bytes(dir / "empty.png", "");
  check_refused([&] { load_image(dir / "empty.png", 3); }, "is empty");
}

TEST_CASE("image_io: PNG headers claiming huge sizes say 'too large', before decoding") {
  ScratchDir dir;
  // 100000 x 100000 RGB: 10 gigapixels. (stb_image itself said "unknown image type".)
  const Bytes huge = Bytes("\x89PNG\r\n\x1a\n", 8) + png_ihdr(100000, 100000, 8, 2) +
                     png_chunk("IDAT", zlib_stored(Bytes(64, '\0'))) + png_chunk("IEND", "");
  write_bytes(dir / "huge.png", huge);
  check_refused([&] { load_image(dir / "huge.png", 3); }, "100000x100000 px (10000.0 megapixels), too large");
  // Just over 2^30 decoded bytes (16385 x 16385 RGBA): stb_image's own limit, ours comes first.
  write_bytes(dir / "big.png", Bytes("\x89PNG\r\n\x1a\n", 8) + png_ihdr(16385, 16385, 8, 6) + png_chunk("IEND", ""));
  check_refused([&] { load_image(dir / "big.png", 3); }, "too large to load");
  // The header alone (truncated right after IHDR) also says it is too large: the size comes first.
  write_bytes(dir / "header.png", huge.substr(0, 33));
  check_refused([&] { load_image(dir / "header.png", 3); }, "too large");
  // A limit of the caller's, and the memory check.
  const std::string ok = dip::test::write_test_png(dir / "ok.png", 64, 64);
  ImageLimits few;
  few.max_pixels = 1000;
  check_refused([&] { load_image(ok, 3, few); }, "64x64 px (4096 pixels), too large to load: dip reads images of at most 1000 pixels");
  ImageLimits little;
  little.memory_bytes = 100000;
  check_refused([&] { load_image(ok, 3, little); }, "decoding it needs about");
  // Only JPEG planes are padded to whole MCUs: a 100000 x 1 PNG needs about 100000 x 48 bytes.
  ImageLimits line;
  line.memory_bytes = 6e6;
  write_bytes(dir / "line.png", Bytes("\x89PNG\r\n\x1a\n", 8) + png_ihdr(100000, 1, 8, 2) +
                                    png_chunk("IDAT", zlib_stored(Bytes(64, '\0'))) + png_chunk("IEND", ""));
  check_refused([&] { load_image(dir / "line.png", 3, line); }, "could not be decoded");
  CHECK(load_image(ok, 3).width == 64);
}

TEST_CASE("image_io: truncated and damaged PNGs are UserErrors") {
  ScratchDir dir;
  const Bytes png = small_png_bytes(dir);
  for (size_t cut : {size_t{7}, size_t{8}, size_t{20}, size_t{33}, size_t{40}, png.size() / 2, png.size() - 12,
                     png.size() - 8}) {
    write_bytes(dir / "cut.png", png.substr(0, cut));
    INFO("cut at ", cut, " of ", png.size());
    check_refused([&] { load_image(dir / "cut.png", 3); }, "'" + dir / "cut.png" + "'");
  }
  // An IDAT claiming 2 GiB in a 60-byte file (stb_image would allocate the claimed size first).
  Bytes claim = Bytes("\x89PNG\r\n\x1a\n", 8) + png_ihdr(4, 4, 8, 2);
  put_be32(claim, 0x7FFFFFF0u);
  claim += "IDAT" + Bytes(20, '\0');
  write_bytes(dir / "claim.png", claim);
  check_refused([&] { load_image(dir / "claim.png", 3); }, "runs past the end of the file");
}

TEST_CASE("image_io: a PNG whose pixel data inflates far past its header's size is refused") {
  ScratchDir dir;
  // 16 x 16 grey (272 bytes of rows) with a stream of 8 MiB of zeros in ~53 KB: stb_image would
  // inflate all of it (up to 4 GiB for a ~4 MiB file) before looking at the size.
  const Bytes bomb = Bytes("\x89PNG\r\n\x1a\n", 8) + png_ihdr(16, 16, 8, 0) +
                     png_chunk("IDAT", zlib_zero_bomb((8u << 20) / 258)) + png_chunk("IEND", "");
  CHECK(bomb.size() < 100000);
  write_bytes(dir / "zip.png", bomb);
  check_refused([&] { load_image(dir / "zip.png", 3); }, "inflates to more than the 16x16 px its header states");
}

TEST_CASE("image_io: files over the size cap, devices, directories and FIFOs") {
  ScratchDir dir;
  // A sparse 300 MiB file: refused by its size, before it is read (costs no disk).
  const std::string big = dir / "big.png";
  {
    const int fd = open(big.c_str(), O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, off_t{300} << 20) == 0);
    close(fd);
  }
  check_refused([&] { load_image(big, 3); }, "300.0 MiB, too large to load: dip reads image files of at most 256.0 MiB");
  // /dev/zero never ends: refused as a device, at once.
  check_refused([&] { load_image("/dev/zero", 3); }, "'/dev/zero' is a character device, not an image file", 0.5);
  check_refused([&] { load_image(dir.path(), 3); }, "is a directory, not an image file");
  check_refused([&] { load_image(dir / "missing.png", 3); }, "cannot open");

  // A FIFO is read (a pipe: dip --image /dev/stdin), up to the cap. (SIGPIPE ignored: the last
  // writer outlives its reader.)
  struct IgnoreSigpipe {
    void (*old)(int) = std::signal(SIGPIPE, SIG_IGN);
    ~IgnoreSigpipe() { std::signal(SIGPIPE, old); }
  } ignore_sigpipe;
  const std::string fifo = dir / "fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  const Bytes png = small_png_bytes(dir);
  auto feed = [&](const Bytes& bytes) {
    return std::thread([&fifo, bytes] {
      const int fd = open(fifo.c_str(), O_WRONLY);
      if (fd < 0) return;
      for (size_t off = 0; off < bytes.size();) {
        const ssize_t n = write(fd, bytes.data() + off, bytes.size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      close(fd);
    });
  };
  {
    std::thread writer = feed(png);
    Image img = load_image(fifo, 3);
    writer.join();
    CHECK(img.width == 24);
    CHECK(img.height == 16);
  }
  {
    std::thread writer = feed("hello");
    check_refused([&] { load_image(fifo, 3); }, "not an image");
    writer.join();
  }
  {
    // More than the cap through the pipe: the read stops at cap + 1 bytes.
    ImageLimits limits;
    limits.max_file_bytes = 4096;
    std::thread writer = feed(png + Bytes(1 << 16, '\0'));
    check_refused([&] { load_image(fifo, 3, limits); }, "goes on past 4.0 KiB, too large to load");
    writer.join();  // the writer sees the pipe closed (EPIPE)
  }
}

TEST_CASE("image_io: PNG, JPEG and BMP files load; 16-bit and interlaced PNGs too") {
  ScratchDir dir;
  const Image p = quantize8(test_picture(13, 21));
  save_png(dir / "a.png", p);
  CHECK(load_image(dir / "a.png", 3).pixels == p.pixels);

  // BMP (24-bit, bottom-up) through stb_image_write.
  std::vector<unsigned char> rgb(13 * 21 * 3);
  for (int y = 0; y < 13; ++y)
    for (int x = 0; x < 21; ++x)
      for (int k = 0; k < 3; ++k) rgb[(y * 21 + x) * 3 + k] = static_cast<unsigned char>(std::lround(p.at(k, y, x) * 255.f));
  REQUIRE(stbi_write_bmp((dir / "a.bmp").c_str(), 21, 13, 3, rgb.data()));
  CHECK(load_image(dir / "a.bmp", 3).pixels == p.pixels);

  // JPEG: close to the original.
  const std::vector<unsigned char> jpg = encode_jpeg(p, 95);
  write_bytes(dir / "a.jpg", Bytes(jpg.begin(), jpg.end()));
  const Image j = load_image(dir / "a.jpg", 3);
  CHECK(j.width == 21);
  CHECK(psnr(j, p) > 30.0);
  CHECK(load_image(dir / "a.jpg", 1).channels == 1);

  // A 16-bit RGB PNG: 8-bit levels from the high byte.
  Bytes raw16;
  for (int y = 0; y < 3; ++y) {
    raw16 += '\0';
    for (int x = 0; x < 2; ++x)
      for (int k = 0; k < 3; ++k) raw16 += Bytes{static_cast<char>(40 * y + 10 * x + k), '\x00'};
  }
  write_bytes(dir / "d16.png", png_file(2, 3, 16, 2, raw16));
  const Image d16 = load_image(dir / "d16.png", 3);
  CHECK(d16.at(2, 2, 1) == static_cast<float>(40 * 2 + 10 + 2) / 255.f);

  // An interlaced 5x5 grey PNG: the seven Adam7 passes, each row a filter byte then its pixels.
  static const int x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
  static const int dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
  Bytes adam7;
  for (int pass = 0; pass < 7; ++pass)
    for (int y = y0[pass]; y < 5; y += dy[pass]) {
      if (x0[pass] >= 5) break;
      adam7 += '\0';
      for (int x = x0[pass]; x < 5; x += dx[pass]) adam7 += static_cast<char>(10 * y + x);
    }
  write_bytes(dir / "i.png", png_file(5, 5, 8, 0, adam7, 1));
  const Image inter = load_image(dir / "i.png", 1);
  CHECK(inter.at(0, 3, 4) == 34.f / 255.f);
  CHECK(inter.at(0, 4, 0) == 40.f / 255.f);

  // decode_image applies the same checks.
  const std::vector<unsigned char> gif = {'G', 'I', 'F', '8', '9', 'a', 0, 0x40, 0, 0x40};
  CHECK_THROWS_WITH_AS(decode_image(gif, 3, "the bytes"), doctest::Contains("the bytes is a GIF image"), UserError);
  CHECK(decode_image(jpg, 3, "the bytes").height == 13);
}

TEST_CASE("image_io: damaged JPEG and BMP headers") {
  ScratchDir dir;
  const std::vector<unsigned char> jpg = encode_jpeg(quantize8(test_picture(16, 16)), 90);
  const Bytes j(jpg.begin(), jpg.end());
  // Lossless JPEG (SOF3) instead of baseline.
  Bytes lossless = j;
  const size_t sof = lossless.find("\xFF\xC0");
  REQUIRE(sof != Bytes::npos);
  lossless[sof + 1] = '\xC3';
  write_bytes(dir / "l.jpg", lossless);
  check_refused([&] { load_image(dir / "l.jpg", 3); }, "lossless, hierarchical or arithmetic-coded JPEG");
  // No frame header at all.
  write_bytes(dir / "n.jpg", Bytes("\xFF\xD8\xFF\xD9", 4));
  check_refused([&] { load_image(dir / "n.jpg", 3); }, "damaged JPEG file (no frame header");
  // 200 empty scans: every scan would walk the whole image again.
  Bytes scans = j.substr(0, j.size() - 2);
  const size_t sos = j.find("\xFF\xDA");
  REQUIRE(sos != Bytes::npos);
  const size_t sos_len = (static_cast<unsigned char>(j[sos + 2]) << 8) | static_cast<unsigned char>(j[sos + 3]);
  for (int i = 0; i < 200; ++i) scans += j.substr(sos, 2 + sos_len);
  scans += "\xFF\xD9";
  write_bytes(dir / "s.jpg", scans);
  check_refused([&] { load_image(dir / "s.jpg", 3); }, "more than 100 scans");
  // Found by fuzz-image (tests/fuzz/corpus_image/crash_jpeg_*): a Huffman table of more than 256
  // codes (stb_image writes past its 257-entry array), and a scan using a Huffman table that was
  // never defined (stb_image decodes with uninitialized heap memory).
  Bytes over = j;
  const size_t dht = over.find("\xFF\xC4");
  REQUIRE(dht != Bytes::npos);
  over[dht + 5 + 15] = '\xFF';  // the count of 16-bit codes
  write_bytes(dir / "h.jpg", over);
  check_refused([&] { load_image(dir / "h.jpg", 3); }, "a Huffman table with");
  Bytes undefined = j;
  undefined[sos + 6] = '\x33';  // the first component's DC and AC tables: 3, never defined
  write_bytes(dir / "u.jpg", undefined);
  check_refused([&] { load_image(dir / "u.jpg", 3); }, "a scan uses a Huffman table that was never defined");
  // Truncated JPEG headers.
  for (size_t cut : {size_t{3}, size_t{10}, sof + 4}) {
    write_bytes(dir / "t.jpg", j.substr(0, cut));
    check_refused([&] { load_image(dir / "t.jpg", 3); }, "damaged JPEG");
  }
  // BMP: INT_MIN height (stb_image takes abs() of it), a 16384 x 16384 claim, an unknown header.
  auto bmp = [](uint32_t hsz, int32_t w, int32_t h) {
    Bytes b = "BM";
    put_le32(b, 54);
    put_le32(b, 0);
    put_le32(b, 54);
    put_le32(b, hsz);
    put_le32(b, static_cast<uint32_t>(w));
    put_le32(b, static_cast<uint32_t>(h));
    put_le16(b, 1);
    put_le16(b, 24);
    b += Bytes(24, '\0');
    return b;
  };
  write_bytes(dir / "a.bmp", bmp(40, 4, INT32_MIN));
  check_refused([&] { load_image(dir / "a.bmp", 3); }, "damaged BMP file (bad image size");
  write_bytes(dir / "b.bmp", bmp(40, 16384, -16384));
  check_refused([&] { load_image(dir / "b.bmp", 3); }, "16384x16384 px (268.4 megapixels), too large");
  write_bytes(dir / "c.bmp", bmp(41, 4, 4));
  check_refused([&] { load_image(dir / "c.bmp", 3); }, "unknown header size 41");
  write_bytes(dir / "d.bmp", bmp(40, 4, 4));  // no pixel rows: stb_image would read zeros
  check_refused([&] { load_image(dir / "d.bmp", 3); }, "its pixel rows end 48 bytes past the end of the file");
}

TEST_CASE("prepare_image: moves a temporary through, resizes without copying, same pixels as before") {
  TaskContext ctx;
  ctx.multiple = 32;
  ctx.min_side = 64;
  // Nothing to change: a temporary is moved, not copied; a named image is copied and kept.
  Image a = quantize8(test_picture(64, 96));
  const Image keep = a;
  const float* data = a.pixels.data();
  Image moved = prepare_image(std::move(a), ctx, "--image");
  CHECK(moved.pixels.data() == data);
  CHECK(moved.pixels == keep.pixels);
  Image copied = prepare_image(keep, ctx, "--image");
  CHECK(copied.pixels == keep.pixels);
  CHECK(copied.pixels.data() != keep.pixels.data());
  // --size and the crop: the same values as resize_longer_side then crop_to_multiple.
  std::vector<std::string> notes;
  ctx.note = [&](const std::string& s) { notes.push_back(s); };
  ctx.size = 100;
  const Image src = quantize8(test_picture(70, 90));
  const Image expect = crop_to_multiple(resize_longer_side(src, 100), 32);
  CHECK(prepare_image(src, ctx, "--image").pixels == expect.pixels);
  CHECK(prepare_image(Image(src), ctx, "--image").pixels == expect.pixels);
  CHECK(notes.size() == 4);  // resized, cropped; twice
  // Only a crop.
  ctx.size = 0;
  const Image odd = quantize8(test_picture(70, 90));
  CHECK(prepare_image(Image(odd), ctx, "--image").pixels == crop_to_multiple(odd, 32).pixels);
}
