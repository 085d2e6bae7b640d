// Flash / no-flash (DIP's flash-no-flash.ipynb): the flash photo is the network input and the
// no-flash photo the target, so the output keeps the no-flash lighting with the flash image's
// detail and little of its noise. The notebook stops early (601 iterations) for that reason.
#include "apps/lib/image_io.h"
#include "apps/lib/metrics.h"
#include "apps/lib/task_common.h"
#include "apps/lib/user_error.h"

namespace dip::apps {

namespace {

TaskSetup build_flash(const Args& args, const TaskContext& ctx) {
  Image flash = load_rgb_option(args, "flash");
  Image noflash = load_rgb_option(args, "noflash");
  check_same_size(noflash, "--noflash", flash, "--flash");
  flash = prepare_image(flash, ctx, "--flash");
  TaskContext silent = ctx;
  silent.note = nullptr;
  noflash = prepare_image(noflash, silent, "--noflash");

  TaskSetup s;
  s.observed = flash;
  s.fit.ground_truth = noflash;  // the notebook's figure compares against the no-flash image
  s.observed_psnr = psnr(flash, noflash);
  s.summary = "flash/no-flash " + size_text(flash);
  s.fit.observed = image_to_tensor(noflash, ctx.device);
  s.fit.input = image_to_tensor(flash, ctx.device);  // (1, 3, H, W)
  return s;
}

}  // namespace

TaskInfo flash_task() {
  TaskInfo t;
  t.name = "flash";
  t.summary = "flash/no-flash reconstruction";
  t.usage = "  dip flash --flash f.jpg --noflash nf.jpg   input = flash image, fitted to the no-flash one\n";
  t.options = {
      text_option("flash", "PATH", "the photo taken with flash (the network input)"),
      text_option("noflash", "PATH", "the photo taken without flash (the target), same size"),
  };
  t.net = default_skip(3);
  // As the notebook: nearest at the two finest scales, bilinear below.
  t.net.upsample_modes = {UpsampleMode::Nearest, UpsampleMode::Nearest, UpsampleMode::Bilinear,
                          UpsampleMode::Bilinear, UpsampleMode::Bilinear};
  t.input = "the flash photo";
  t.cases = {{"", 601, 0.1f, 0.f, false, false}};
  t.cpu_iters = 300;
  t.build = build_flash;
  return t;
}

}  // namespace dip::apps
