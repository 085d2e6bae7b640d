// JPEG artifact removal (DIP's denoising.ipynb, the snail setup): the same loop as denoising with
// a smaller network and a 3-channel noise input.
#include "apps/lib/degrade.h"
#include "apps/lib/image_io.h"
#include "apps/lib/metrics.h"
#include "apps/lib/task_common.h"
#include "apps/lib/user_error.h"

namespace dip::apps {

namespace {

TaskSetup build_jpeg(const Args& args, const TaskContext& ctx) {
  DIP_USER_CHECK(!(args.has("quality") && args.has("gt")),
                 "jpeg: --gt goes with an already compressed --image; with --quality, --image is the ground truth");
  TaskSetup s;
  const Image original = load_rgb_option(args, "image");
  Image image = prepare_image(original, ctx, "--image");
  if (args.has("quality")) {
    const int q = args.integer("quality", 10);
    s.observed = jpeg_roundtrip(image, q);
    s.fit.ground_truth = image;
    s.summary = "JPEG artifact removal " + size_text(image) + " (compressed here at quality " +
                std::to_string(q) + ")";
  } else {
    s.observed = image;
    if (args.has("gt")) {
      Image gt = load_image(args.text("gt"), 3);
      check_same_size(gt, "--gt", original, "--image");
      TaskContext silent = ctx;
      silent.note = nullptr;
      s.fit.ground_truth = prepare_image(gt, silent, "--gt");
    }
    s.summary = "JPEG artifact removal " + size_text(image);
  }
  if (s.fit.ground_truth) s.observed_psnr = psnr(s.observed, *s.fit.ground_truth);
  s.fit.observed = image_to_tensor(s.observed, ctx.device);
  s.fit.input = noise_input(3, image.height, image.width, ctx.seed, ctx.device);
  return s;
}

}  // namespace

TaskInfo jpeg_task() {
  TaskInfo t;
  t.name = "jpeg";
  t.summary = "remove JPEG compression artifacts";
  t.usage =
      "  dip jpeg --image photo.jpg [--gt clean.png]   restore a compressed photo\n"
      "  dip jpeg --image clean.png --quality 10       compress it here first, PSNR against clean.png\n";
  t.options = {
      text_option("image", "PATH", "the compressed image (or, with --quality, the clean one)"),
      int_option("quality", "Q", "JPEG-compress --image at this quality first (1..100)", 1, 100),
      text_option("gt", "PATH", "ground truth for PSNR"),
  };
  t.net = default_skip(3);
  t.net.channels_down = {8, 16, 32, 64, 128};
  t.net.channels_up = {8, 16, 32, 64, 128};
  t.net.channels_skip = {0, 0, 0, 4, 4};
  t.net.upsample_mode = UpsampleMode::Bilinear;
  t.input = "3 channels of U(0, 0.1)";
  t.cases = {{"", 2400, 0.01f, 1.f / 30.f, true, true}};
  t.cpu_iters = 800;
  t.build = build_jpeg;
  return t;
}

}  // namespace dip::apps
