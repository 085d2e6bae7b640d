// libFuzzer target: the image decode path (format check, header parsing, size and memory checks,
// stb_image's PNG/JPEG/BMP decoders) on arbitrary bytes. A UserError is the expected answer to bad
// input; anything else (a crash, a sanitizer report, another exception, a hang, a huge allocation,
// an image that breaks the invariants below) is a bug. Built by `make fuzz` (CMake: -DDIP_FUZZ=ON).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "apps/lib/image_io.h"
#include "apps/lib/user_error.h"

using namespace dip::apps;

namespace {

[[noreturn]] void invariant_broken(const char* what) {
  std::fprintf(stderr, "fuzz_image: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Small limits keep each input fast and well under libFuzzer's 2 GiB RSS limit; the checks are
  // the same code as with the defaults.
  ImageLimits limits;
  limits.max_pixels = 1 << 20;
  limits.memory_bytes = 512.0 * (1 << 20);
  const std::vector<unsigned char> bytes(data, data + size);
  const int channels = size % 2 ? 3 : 1;  // both conversions, without spending bytes of the input
  try {
    const Image img = decode_image(bytes, channels, "input", limits);
    if (img.channels != channels || img.width <= 0 || img.height <= 0) invariant_broken("bad image shape");
    if (static_cast<uint64_t>(img.width) * img.height > limits.max_pixels) invariant_broken("over max_pixels");
    if (img.pixels.size() != static_cast<size_t>(img.channels) * img.height * img.width)
      invariant_broken("pixel count does not match the shape");
    for (float v : img.pixels)
      if (!(v >= 0.f && v <= 1.f)) invariant_broken("value outside [0, 1]");
  } catch (const UserError&) {
    // bad input, said in one line: fine
  }
  return 0;
}
