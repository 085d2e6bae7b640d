// Super-resolution (DIP's super-resolution.ipynb): A is the Lanczos-2 downsampler, so the network
// output at high resolution is fitted through it to the low-resolution observation.
#include <algorithm>
#include <memory>

#include "apps/lib/downsampler.h"
#include "apps/lib/image_io.h"
#include "apps/lib/resize.h"
#include "apps/lib/task_common.h"
#include "apps/lib/user_error.h"

namespace dip::apps {

namespace {

TaskSetup build_sr(const Args& args, const TaskContext& ctx) {
  DIP_USER_CHECK(args.has("image") != args.has("lowres"),
                 "sr: give either --image (a high-resolution image to downscale) or --lowres (a low-resolution image)");
  const int factor = args.integer("factor", 4);
  TaskSetup s;
  Image hr_shape;  // only the size matters for --lowres
  if (args.has("image")) {
    // load_LR_HR_imgs_sr: crop HR to multiples of 32, LR = PIL's antialiased Lanczos resize (8-bit).
    Image hr = prepare_image(load_rgb_option(args, "image"), ctx, "--image");
    s.observed = quantize8(resize_lanczos3(hr, hr.height / factor, hr.width / factor));
    s.fit.ground_truth = hr;
    hr_shape = hr;
  } else {
    // The HR size is LR x factor and must be a multiple of ctx.multiple: size and crop the LR image
    // with everything divided by the factor.
    DIP_USER_CHECK(ctx.multiple % factor == 0, "sr: --factor ", factor, " must divide ", ctx.multiple);
    TaskContext lr_ctx = ctx;
    lr_ctx.size = ctx.size > 0 ? std::max(1, ctx.size / factor) : 0;
    lr_ctx.multiple = ctx.multiple / factor;
    lr_ctx.min_side = (ctx.min_side + factor - 1) / factor;
    lr_ctx.bytes_per_pixel = ctx.bytes_per_pixel * factor * factor;  // per low-resolution pixel
    s.observed = prepare_image(load_rgb_option(args, "lowres"), lr_ctx, "--lowres");
    hr_shape = Image(3, s.observed.height * factor, s.observed.width * factor);
  }
  s.summary = "super-resolution x" + std::to_string(factor) + ": " + size_text(s.observed) + " -> " +
              size_text(hr_shape);
  s.fit.observed = image_to_tensor(s.observed, ctx.device);
  s.fit.input = noise_input(32, hr_shape.height, hr_shape.width, ctx.seed, ctx.device);
  auto down = std::make_shared<Downsampler>(3, factor, ctx.device);
  s.fit.degrade = [down](const Variable& x) { return (*down)(x); };
  return s;
}

// The notebook's settings for x4 and x8 (it asserts those two); x2 takes the x4 ones.
size_t pick_sr(const Args& args) { return args.integer("factor", 4) == 8 ? 1 : 0; }

}  // namespace

TaskInfo sr_task() {
  TaskInfo t;
  t.name = "sr";
  t.summary = "super-resolution x2, x4 or x8";
  t.usage =
      "  dip sr --image hr.png --factor 4     downscale hr.png (Lanczos-3), upscale it back, PSNR against hr.png\n"
      "  dip sr --lowres lr.png --factor 4    upscale a real low-resolution image\n";
  t.options = {
      text_option("image", "PATH", "high-resolution image: the input is made from it (antialiased Lanczos-3)"),
      text_option("lowres", "PATH", "a low-resolution image to upscale (no ground truth)"),
      text_option("factor", "F", "upscaling factor: 2, 4 or 8", "4", {"2", "4", "8"}),
  };
  t.net = default_skip(32);
  t.input = "32 channels of U(0, 0.1)";
  t.cases = {{"x4 (and x2)", 2000, 0.01f, 0.03f, false, false}, {"x8", 4000, 0.01f, 0.05f, false, false}};
  t.pick = pick_sr;
  t.notes = "degradation: Lanczos-2 downsampler (kernel 4*factor, phase 1/2, replicate padding)";
  t.cpu_iters = 600;
  t.build = build_sr;
  return t;
}

}  // namespace dip::apps
