// Denoising (DIP's denoising.ipynb, F16 setup): the observation is the image itself, so A is the
// identity; early stopping comes from the prior plus the EMA of the outputs and backtracking.
#include <cmath>

#include "apps/lib/degrade.h"
#include "apps/lib/image_io.h"
#include "apps/lib/metrics.h"
#include "apps/lib/task_common.h"
#include "apps/lib/user_error.h"

namespace dip::apps {

namespace {

TaskSetup build_denoise(const Args& args, const TaskContext& ctx) {
  DIP_USER_CHECK(args.has("image") != args.has("noisy"),
                 "denoise: give either --image (a clean image; noise is added) or --noisy (a noisy photo)");
  DIP_USER_CHECK(!(args.has("image") && args.has("gt")), "denoise: --gt goes with --noisy (with --image the "
                 "clean image is the ground truth)");
  DIP_USER_CHECK(!(args.has("noisy") && args.has("sigma")), "denoise: --sigma goes with --image (a --noisy "
                 "photo already has its noise)");
  TaskSetup s;
  const float sigma = static_cast<float>(args.real("sigma", 25.0));
  if (args.has("image")) {
    Image clean = prepare_image(load_rgb_option(args, "image"), ctx, "--image");
    Rng rng(stream_seed(ctx.seed, Stream::Degradation));
    s.observed = add_gaussian_noise(clean, sigma / 255.f, rng);
    s.fit.ground_truth = clean;
    s.observed_psnr = psnr(s.observed, clean);
    s.summary = "denoise " + size_text(clean) + ", Gaussian noise sigma " + args.text("sigma", "25") + "/255";
  } else {
    Image noisy = load_rgb_option(args, "noisy");
    if (args.has("gt")) {
      Image gt = load_image(args.text("gt"), 3);
      check_same_size(gt, "--gt", noisy, "--noisy");
      TaskContext silent = ctx;  // the same resizing and crop as --noisy; say it once
      silent.note = nullptr;
      s.fit.ground_truth = prepare_image(gt, silent, "--gt");
    }
    s.observed = prepare_image(noisy, ctx, "--noisy");
    if (s.fit.ground_truth) s.observed_psnr = psnr(s.observed, *s.fit.ground_truth);
    s.summary = "denoise " + size_text(s.observed) + " (real noise)";
  }
  s.fit.observed = image_to_tensor(s.observed, ctx.device);
  s.fit.input = noise_input(32, s.observed.height, s.observed.width, ctx.seed, ctx.device);
  return s;
}

// The notebook: reg_noise_std = 1/30, "set to 1/20 for sigma = 50".
size_t pick_denoise(const Args& args) { return args.has("image") && args.real("sigma", 25.0) >= 50.0 ? 1 : 0; }

}  // namespace

TaskInfo denoise_task() {
  TaskInfo t;
  t.name = "denoise";
  t.summary = "remove Gaussian (or real) noise";
  t.usage =
      "  dip denoise --image clean.png [--sigma 25]   add seeded noise, report PSNR against clean.png\n"
      "  dip denoise --noisy photo.png [--gt clean.png]   denoise a real noisy image\n";
  t.options = {
      text_option("image", "PATH", "clean image; Gaussian noise of --sigma is added (seeded by --seed)"),
      float_option("sigma", "S", "noise standard deviation on the 0..255 scale", 0.0, 255.0, true, "25"),
      text_option("noisy", "PATH", "an already noisy image to denoise"),
      text_option("gt", "PATH", "ground truth for --noisy (for PSNR only)"),
  };
  t.net = default_skip(32);
  t.input = "32 channels of U(0, 0.1)";
  t.cases = {{"", 3000, 0.01f, 1.f / 30.f, true, true}, {"--image with sigma >= 50", 3000, 0.01f, 1.f / 20.f, true, true}};
  t.pick = pick_denoise;
  // make run: 128x128 astronaut, sigma 25, 2 cores: ~150 ms/iteration; EMA PSNR +5.5 dB over the
  // noisy input at 1000 iterations, +4.9 dB at 800 (measured), so 1200 leaves margin on both sides.
  t.cpu_iters = 1200;
  t.build = build_denoise;
  return t;
}

}  // namespace dip::apps
