// Pieces the task files share: loading and sizing images, the authors' default network and the
// noise input z.
#pragma once
#include <string>

#include "apps/lib/image.h"
#include "apps/lib/tasks.h"

namespace dip::apps {

// Applies --size (longer side), checks the result is large enough for the network and centre-
// crops to ctx.multiple, telling the user what changed. `what` names the image in messages.
// A full-size image is never copied only to be resized; pass a temporary (or std::move) and an image
// that needs no change is moved through instead of copied.
Image prepare_image(const Image& img, const TaskContext& ctx, const std::string& what);
Image prepare_image(Image&& img, const TaskContext& ctx, const std::string& what);

// Loads the RGB file named by option --`option` (a UserError if the option is missing).
Image load_rgb_option(const Args& args, const std::string& option);

// A UserError unless both images have the same size.
void check_same_size(const Image& a, const std::string& a_what, const Image& b, const std::string& b_what);

// DIP's network for denoising and super-resolution (get_net 'skip': 128 channels at 5 scales,
// 4 skip channels, bilinear upsampling, reflection padding, LeakyReLU 0.2, sigmoid output).
SkipConfig default_skip(int in_channels);

// The fixed network input: (1, depth, h, w) uniform noise in [0, 0.1) (DIP's get_noise, var 1/10).
Tensor noise_input(int depth, int h, int w, uint64_t seed, Device device);

// "22.5 GiB".
std::string gib_text(double bytes);

// "256x256".
std::string size_text(const Image& img);

// Random streams derived from --seed, one per purpose, so changing one use does not shift another.
enum class Stream : uint64_t { Network = 1, Input = 2, Degradation = 3, RegNoise = 4 };
uint64_t stream_seed(uint64_t seed, Stream s);

}  // namespace dip::apps
