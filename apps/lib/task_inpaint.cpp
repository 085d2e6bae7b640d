// Inpainting (DIP's inpainting.ipynb, the kate/peppers text setup): A multiplies by the mask, so
// only known pixels are fitted and the prior fills the rest.
#include <memory>

#include "apps/lib/image_io.h"
#include "apps/lib/mask.h"
#include "apps/lib/resize.h"
#include "apps/lib/task_common.h"
#include "apps/lib/user_error.h"
#include "autograd/functions.h"

namespace dip::apps {

namespace {

TaskSetup build_inpaint(const Args& args, const TaskContext& ctx) {
  DIP_USER_CHECK(!(args.has("mask") && args.has("mask-kind")), "inpaint: give --mask or --mask-kind, not both");
  Image original = load_rgb_option(args, "image");
  Image image = prepare_image(original, ctx, "--image");
  Image mask;
  std::string mask_text;
  if (args.has("mask")) {
    Image m = load_image(args.text("mask"), 1);
    check_same_size(m, "--mask", original, "--image");
    // The same resize and crop as the image; resampling blurs the edges, so binarise afterwards.
    TaskContext silent = ctx;
    silent.note = nullptr;
    mask = binarize_mask(prepare_image(m, silent, "--mask"));
    mask_text = "mask " + args.text("mask");
  } else {
    const std::string kind = args.text("mask-kind", "text");
    Rng rng(stream_seed(ctx.seed, Stream::Degradation));
    mask = make_mask(parse_mask_kind(kind), image.height, image.width, rng);
    mask_text = "generated mask '" + kind + "'";
  }
  const double known = mask_coverage(mask);
  DIP_USER_CHECK(known > 0.0, "inpaint: the mask marks no pixel as known (white = known)");

  TaskSetup s;
  s.observed = image;
  for (int c = 0; c < image.channels; ++c)
    for (int y = 0; y < image.height; ++y)
      for (int x = 0; x < image.width; ++x) s.observed.at(c, y, x) *= mask.at(0, y, x);
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.1f%%", 100.0 * (1.0 - known));
  s.summary = "inpaint " + size_text(image) + ", " + mask_text + " (" + pct + " of pixels missing)";
  s.fit.ground_truth = image;
  s.fit.observed = image_to_tensor(s.observed, ctx.device);  // image * mask
  auto mask_var = std::make_shared<Variable>(image_to_tensor(mask, ctx.device));  // (1, 1, H, W)
  s.fit.degrade = [mask_var](const Variable& x) { return mul(x, *mask_var); };
  s.fit.input = noise_input(32, image.height, image.width, ctx.seed, ctx.device);
  return s;
}

}  // namespace

TaskInfo inpaint_task() {
  TaskInfo t;
  t.name = "inpaint";
  t.summary = "fill in missing pixels";
  t.usage =
      "  dip inpaint --image img.png --mask mask.png     mask: white = known pixel, black = to fill in\n"
      "  dip inpaint --image img.png --mask-kind text    generated mask: text, box or random:P\n";
  t.options = {
      text_option("image", "PATH", "the image (its masked pixels are hidden from the network)"),
      text_option("mask", "PATH", "mask file of the image's size: white = known, black = missing"),
      text_option("mask-kind", "KIND",
                  "generated mask: text (lines of text), box (a centred box), random:P (drop a fraction P)", "text"),
  };
  t.net = default_skip(32);
  t.net.channels_skip = {128, 128, 128, 128, 128};
  t.net.upsample_mode = UpsampleMode::Nearest;
  t.input = "32 channels of U(0, 0.1)";
  t.cases = {{"", 3001, 0.01f, 0.03f, false, false}};
  t.notes = "3001 iterations as the reference PyTorch run (the notebook runs 6001); sides multiples of 64";
  t.multiple = 64;
  t.cpu_iters = 600;
  t.build = build_inpaint;
  return t;
}

}  // namespace dip::apps
