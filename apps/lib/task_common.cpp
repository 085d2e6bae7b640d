#include "apps/lib/task_common.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "apps/lib/image_io.h"
#include "apps/lib/resize.h"
#include "apps/lib/user_error.h"

namespace dip::apps {

std::string size_text(const Image& img) {
  return std::to_string(img.width) + "x" + std::to_string(img.height);
}

std::string gib_text(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / (1024.0 * 1024 * 1024));
  return buf;
}

namespace {

// prepare_image for both overloads: `owned` is img itself when the caller gave it up (moved from
// instead of copied when nothing changes), else null. Resizing reads img directly: no full-size
// float copy is made on the way.
Image prepare(const Image& img, Image* owned, const TaskContext& ctx, const std::string& what) {
  const bool resize = ctx.size > 0 && std::max(img.height, img.width) != ctx.size &&
                      !(ctx.size_shrinks_only && std::max(img.height, img.width) < ctx.size);
  // Check the size before resizing: enlarging to something that cannot train is wasted work.
  const double scale = resize ? static_cast<double>(ctx.size) / std::max(img.height, img.width) : 1.0;
  const double h = std::round(img.height * scale), w = std::round(img.width * scale);
  const double need = h * w * ctx.bytes_per_pixel;
  DIP_USER_CHECK(ctx.memory_bytes <= 0 || need < 0.8 * ctx.memory_bytes, what, " is too large for memory: ",
                 static_cast<long>(w), "x", static_cast<long>(h), " needs about ", gib_text(need),
                 " to train but ", ctx.memory_owner, " has ", gib_text(ctx.memory_bytes),
                 "; use --size to shrink it");
  Image resized;
  if (resize) {
    resized = resize_longer_side(img, ctx.size);
    if (ctx.note) ctx.note(what + ": resized from " + size_text(img) + " to " + size_text(resized) + " (--size " +
                           std::to_string(ctx.size) + ")");
  }
  const Image& out = resize ? resized : img;
  DIP_USER_CHECK(std::min(out.height, out.width) >= ctx.min_side, what, " is ", size_text(out),
                 " px; the network needs at least ", ctx.min_side, " px on each side",
                 resize ? " (raise --size)" : "");
  if (out.height % ctx.multiple == 0 && out.width % ctx.multiple == 0) {
    if (resize) return resized;
    if (owned) return std::move(*owned);
    return img;
  }
  Image cropped = crop_to_multiple(out, ctx.multiple);
  if (ctx.note) ctx.note(what + ": centre-cropped from " + size_text(out) + " to " + size_text(cropped) +
                         " (sides must be multiples of " + std::to_string(ctx.multiple) + ")");
  return cropped;
}

}  // namespace

Image prepare_image(const Image& img, const TaskContext& ctx, const std::string& what) {
  return prepare(img, nullptr, ctx, what);
}

Image prepare_image(Image&& img, const TaskContext& ctx, const std::string& what) {
  return prepare(img, &img, ctx, what);
}

Image load_rgb_option(const Args& args, const std::string& option) {
  DIP_USER_CHECK(args.has(option), "--", option, " is required");
  return load_image(args.text(option), 3);
}

void check_same_size(const Image& a, const std::string& a_what, const Image& b, const std::string& b_what) {
  DIP_USER_CHECK(a.height == b.height && a.width == b.width, a_what, " is ", size_text(a), " but ", b_what,
                 " is ", size_text(b), "; they must have the same size");
}

SkipConfig default_skip(int in_channels) {
  SkipConfig c;  // nn/skip.h's defaults are DIP's get_net('skip', 128, 128, 4, 5 scales)
  c.in_channels = in_channels;
  c.out_channels = 3;
  c.upsample_mode = UpsampleMode::Bilinear;
  c.pad = PaddingMode::Reflect;
  return c;
}

Tensor noise_input(int depth, int h, int w, uint64_t seed, Device device) {
  Rng rng(stream_seed(seed, Stream::Input));
  return Tensor::uniform({1, depth, h, w}, 0.f, 0.1f, rng, device);
}

uint64_t stream_seed(uint64_t seed, Stream s) {
  // SplitMix64 finaliser of (seed, stream): well-separated PCG streams.
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(s) * 0xD1B54A32D192ED03ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace dip::apps
