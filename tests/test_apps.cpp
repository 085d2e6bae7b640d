// The dip apps' building blocks: images, resampling, the SR downsampler, masks, metrics, options,
// the atomic output directory and the DIP loop itself. (End-to-end CLI runs: test_apps_cli.cpp.)
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "apps/lib/cli.h"
#include "apps/lib/degrade.h"
#include "apps/lib/downsampler.h"
#include "apps/lib/image.h"
#include "apps/lib/mask.h"
#include "apps/lib/metrics.h"
#include "apps/lib/options.h"
#include "apps/lib/output_dir.h"
#include "apps/lib/report.h"
#include "apps/lib/resize.h"
#include "apps/lib/tasks.h"
#include "apps/lib/trainer.h"
#include "apps/lib/user_error.h"
#include "nn/skip.h"
#include "tests/test_apps_util.h"

using namespace dip;
using namespace dip::apps;
using dip::test::ScratchDir;
using dip::test::test_picture;

TEST_CASE("apps image: centre crop, multiples of d, quantisation, tensor round trip") {
  Image img(1, 5, 7);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x) img.at(0, y, x) = static_cast<float>(10 * y + x);
  Image c = crop_center(img, 3, 4);  // offsets (5-3)/2 = 1, (7-4)/2 = 1 (rounded down)
  CHECK(c.height == 3);
  CHECK(c.width == 4);
  CHECK(c.at(0, 0, 0) == 11.f);
  CHECK(c.at(0, 2, 3) == 34.f);
  Image m = crop_to_multiple(Image(3, 70, 100), 32);
  CHECK(m.height == 64);
  CHECK(m.width == 96);

  Image q(1, 1, 3);
  q.pixels = {-0.2f, 0.5f, 1.7f};
  CHECK(quantize8(q).pixels == std::vector<float>{0.f, 128.f / 255.f, 1.f});

  Image p = test_picture(6, 9);
  Tensor t = image_to_tensor(p);
  CHECK(t.shape() == Shape{1, 3, 6, 9});
  CHECK(tensor_to_image(t).pixels == p.pixels);
}

TEST_CASE("apps image_io: PNG round trip keeps 8-bit values; errors name the file") {
  ScratchDir dir;
  Image p = quantize8(test_picture(17, 23));
  save_png(dir / "a.png", p);
  Image back = load_image(dir / "a.png", 3);
  CHECK(back.height == 17);
  CHECK(back.width == 23);
  CHECK(back.pixels == p.pixels);
  Image grey = load_image(dir / "a.png", 1);
  CHECK(grey.channels == 1);
  CHECK_THROWS_AS(load_image(dir / "missing.png", 3), UserError);
  dip::test::write_file(dir / "text.png", "this is not an image\n");
  CHECK_THROWS_WITH_AS(load_image(dir / "text.png", 3), doctest::Contains("not an image"), UserError);
  // A PNG cut in half: the header parses, the pixel data does not.
  const std::string bytes = dip::test::read_file(dir / "a.png");
  dip::test::write_file(dir / "cut.png", bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_AS(load_image(dir / "cut.png", 3), UserError);
  // JPEG round trip: close to the original at high quality, further at low quality.
  const double hi = psnr(jpeg_roundtrip(p, 95), p), lo = psnr(jpeg_roundtrip(p, 5), p);
  CHECK(hi > 30.0);
  CHECK(lo < hi);
}

TEST_CASE("apps resize: Lanczos-3 keeps constants, sizes and averages stripes when shrinking") {
  Image flat(3, 40, 30, 0.25f);
  Image r = resize_lanczos3(flat, 13, 17);
  CHECK(r.height == 13);
  CHECK(r.width == 17);
  for (float v : r.pixels) CHECK(v == doctest::Approx(0.25f).epsilon(1e-5));
  // Alternating 0/1 columns shrunk 4x: antialiasing leaves ~0.5 everywhere (no aliasing).
  Image stripes(1, 32, 64);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 64; ++x) stripes.at(0, y, x) = static_cast<float>(x % 2);
  Image s = resize_lanczos3(stripes, 8, 16);
  for (int x = 1; x < 15; ++x) CHECK(s.at(0, 4, x) == doctest::Approx(0.5f).epsilon(0.02));
  Image big = resize_longer_side(Image(3, 50, 100), 64);
  CHECK(big.width == 64);
  CHECK(big.height == 32);
}

TEST_CASE("apps downsampler: DIP's Lanczos-2 kernel and the (H/f, W/f) output") {
  for (int f : {2, 4, 8}) {
    std::vector<float> k = lanczos2_kernel(f);
    const int n = 4 * f;
    REQUIRE(k.size() == static_cast<size_t>(n * n));
    double total = 0;
    for (float v : k) total += v;
    CHECK(total == doctest::Approx(1.0).epsilon(1e-5));
    for (int i = 0; i < n; ++i)  // symmetric in both axes, separable (so k = k^T)
      for (int j = 0; j < n; ++j) {
        CHECK(k[i * n + j] == doctest::Approx(k[(n - 1 - i) * n + j]).epsilon(1e-6));
        CHECK(k[i * n + j] == doctest::Approx(k[j * n + i]).epsilon(1e-6));
      }
  }
  // factor 2 by hand: d = |i + 1.5 - 5| / 2 for i = 0..7 -> 1.75, 1.25, 0.75, 0.25, ...
  auto L = [](double d) { return 2 * std::sin(M_PI * d) * std::sin(M_PI * d / 2) / (M_PI * M_PI * d * d); };
  const double row[4] = {L(1.75), L(1.25), L(0.75), L(0.25)};
  const double s = 2 * (row[0] + row[1] + row[2] + row[3]);
  std::vector<float> k2 = lanczos2_kernel(2);
  CHECK(k2[0] == doctest::Approx(row[0] * row[0] / (s * s)).epsilon(1e-5));
  CHECK(k2[3 * 8 + 2] == doctest::Approx(row[3] * row[2] / (s * s)).epsilon(1e-5));

  Downsampler down(3, 4, Device::CPU);
  Variable flat(Tensor::full({1, 3, 32, 48}, 0.7f));
  Variable y = down(flat);
  CHECK(y.shape() == Shape{1, 3, 8, 12});
  for (float v : y.data().to_vector()) CHECK(v == doctest::Approx(0.7f).epsilon(1e-5));
  // Channels stay separate (depthwise): a picture with different channels keeps their means apart.
  Image pic = test_picture(32, 32);
  Image small = tensor_to_image(down(Variable(image_to_tensor(pic))).data());
  auto mean = [](const Image& im, int c) {
    double t = 0;
    for (int y = 0; y < im.height; ++y)
      for (int x = 0; x < im.width; ++x) t += im.at(c, y, x);
    return t / (im.height * im.width);
  };
  for (int c = 0; c < 3; ++c) CHECK(mean(small, c) == doctest::Approx(mean(pic, c)).epsilon(0.03));
}

TEST_CASE("apps degrade: seeded Gaussian noise of the right strength, clipped") {
  Image flat(3, 64, 64, 0.5f);
  Rng a(3), b(3);
  Image n1 = add_gaussian_noise(flat, 25.f / 255.f, a), n2 = add_gaussian_noise(flat, 25.f / 255.f, b);
  CHECK(n1.pixels == n2.pixels);
  const double expected = 10 * std::log10(1.0 / std::pow(25.0 / 255.0, 2));  // 20.17 dB
  CHECK(psnr(n1, flat) == doctest::Approx(expected).epsilon(0.01));
  Rng c(4);
  for (float v : add_gaussian_noise(Image(1, 8, 8, 1.f), 0.5f, c).pixels) CHECK(v <= 1.f);
}

TEST_CASE("apps metrics: PSNR definition, clipping of the estimate, JSON nulls") {
  Image ref(1, 2, 2, 0.5f), est(1, 2, 2, 0.6f);
  CHECK(mse(est, ref) == doctest::Approx(0.01));
  CHECK(psnr(est, ref) == doctest::Approx(20.0));
  Image over(1, 2, 2, 1.5f), one(1, 2, 2, 1.f);
  CHECK(std::isinf(psnr(over, one)));  // clipped to 1 first
  RunMetrics m;
  m.task = "denoise";
  m.net = "skip";
  m.device = "cpu";
  m.precision = "fp32";
  m.iters = 2;
  m.height = 64;
  m.width = 96;
  m.final_psnr = 25.5;
  TracePoint t0, t1;
  t0.iter = 0, t0.loss = 0.5, t0.psnr = 12.0;
  t1.iter = 1, t1.loss = 0.25, t1.psnr = 13.0;
  m.trace = {t0, t1};
  const std::string j = metrics_json(m);
  for (const char* key : {"\"task\": \"denoise\"", "\"size\": [64, 96]", "\"final_psnr\": 25.5", "\"avg_psnr\": null",
                          "\"best_iter\": null", "\"trace\": [", "{\"iter\": 1, \"loss\": 0.25, \"psnr\": 13, \"psnr_avg\": null, \"mse\": null"})
    CHECK_MESSAGE(j.find(key) != std::string::npos, key);
  const std::string svg = curve_svg(m.trace);
  CHECK(svg.find("<svg") == 0);
  CHECK(svg.find("<polyline") != std::string::npos);
}

TEST_CASE("apps masks: kinds, coverage, parsing") {
  Rng rng(1);
  Image r = make_mask(parse_mask_kind("random:0.3"), 128, 128, rng);
  CHECK(mask_coverage(r) == doctest::Approx(0.7).epsilon(0.03));
  Image box = make_mask(parse_mask_kind("box"), 96, 96, rng);
  CHECK(mask_coverage(box) == doctest::Approx(1.0 - 1.0 / 9.0).epsilon(1e-6));
  CHECK(box.at(0, 48, 48) == 0.f);
  CHECK(box.at(0, 0, 0) == 1.f);
  Image text = make_mask(parse_mask_kind("text"), 256, 256, rng);
  const double cov = mask_coverage(text);
  CHECK(cov > 0.6);
  CHECK(cov < 0.97);
  int non_binary = 0;
  for (float v : text.pixels) non_binary += v != 0.f && v != 1.f;
  CHECK(non_binary == 0);
  CHECK_THROWS_AS(parse_mask_kind("random:1.5"), UserError);
  CHECK_THROWS_AS(parse_mask_kind("random:x"), UserError);
  CHECK_THROWS_AS(parse_mask_kind("circle"), UserError);
  Image g(1, 1, 3);
  g.pixels = {0.2f, 0.5f, 0.9f};
  CHECK(binarize_mask(g).pixels == std::vector<float>{0.f, 1.f, 1.f});
}

TEST_CASE("apps options: parsing, ranges, choices and one-line errors") {
  const std::vector<OptionSpec> specs = {
      int_option("iters", "N", "iterations", 1, 100),
      float_option("lr", "LR", "learning rate", 0.0, 1.0, true),
      text_option("net", "NET", "network", "skip", {"skip", "vit"}),
      text_option("image", "PATH", "image"),
      flag_option("quiet", "quiet"),
  };
  Args a = parse_options(specs, {"--iters", "7", "--lr=0.5", "--quiet", "--image", "x.png"}, "dip t");
  CHECK(a.integer("iters", 0) == 7);
  CHECK(a.real("lr", 0) == doctest::Approx(0.5));
  CHECK(a.flag("quiet"));
  CHECK(a.text("image") == "x.png");
  CHECK(a.text("net", "skip") == "skip");
  auto error_of = [&](std::vector<std::string> argv) {
    try {
      parse_options(specs, argv, "dip t");
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error_of({"--bogus"}).find("unknown option '--bogus'") != std::string::npos);
  CHECK(error_of({"--iters"}).find("needs a value") != std::string::npos);
  CHECK(error_of({"--iters", "0"}).find("out of range") != std::string::npos);
  CHECK(error_of({"--iters", "2.5"}).find("not an integer") != std::string::npos);
  CHECK(error_of({"--lr", "0"}).find("out of range") != std::string::npos);
  CHECK(error_of({"--lr", "abc"}).find("not a number") != std::string::npos);
  CHECK(error_of({"--net", "unet"}).find("not one of skip, vit") != std::string::npos);
  CHECK(error_of({"--iters", "3", "--iters", "4"}).find("twice") != std::string::npos);
  CHECK(error_of({"stray"}).find("unexpected argument") != std::string::npos);
  CHECK(error_of({"--quiet=1"}).find("takes no value") != std::string::npos);
  for (auto argv : std::vector<std::vector<std::string>>{{"--bogus"}, {"--iters", "0"}, {"--net", "x"}})
    CHECK(error_of(argv).find('\n') == std::string::npos);
  CHECK(format_options(specs).find("--iters N") != std::string::npos);
}

TEST_CASE("apps output_dir: appears only on commit, replaces an earlier output, refuses foreign dirs") {
  ScratchDir dir;
  const std::string target = dir / "run";
  {
    OutputDir out(target, false);
    dip::test::write_file(out.file("metrics.json"), "{}");
    CHECK(!std::filesystem::exists(target));
    CHECK(std::filesystem::exists(target + ".partial"));
  }  // neither committed nor kept: nothing left
  CHECK(dir.entries().empty());
  {
    OutputDir out(dir / "nested/deeper/run", false);  // parents created ...
  }
  CHECK(dir.entries().empty());  // ... and removed again when the run fails
  {
    OutputDir out(target, false);
    dip::test::write_file(out.file("metrics.json"), "{\"first\": 1}");
    out.commit();
  }
  CHECK(dip::test::read_file(target + "/metrics.json") == "{\"first\": 1}");
  {
    OutputDir out(target, false);  // an earlier dip output may be replaced
    dip::test::write_file(out.file("metrics.json"), "{\"second\": 2}");
    out.commit();
  }
  CHECK(dip::test::read_file(target + "/metrics.json") == "{\"second\": 2}");
  CHECK(dir.entries() == std::vector<std::string>{"run"});
  std::filesystem::create_directory(dir / "mine");
  dip::test::write_file(dir / "mine/notes.txt", "keep");
  CHECK_THROWS_AS(OutputDir::check_target(dir / "mine"), UserError);
  dip::test::write_file(dir / "file", "x");
  CHECK_THROWS_AS(OutputDir::check_target(dir / "file"), UserError);
}

TEST_CASE("apps trainer: the DIP loop fits a small net, traces, EMA and seeded reg-noise") {
  // A 2-scale skip net on a 32x32 picture: the loss must fall well within 60 iterations.
  dip::test::SmallFit small = dip::test::small_fit();
  Module* net = small.net.get();
  const FitTarget& fit = small.target;
  const Image& pic = *fit.ground_truth;
  TrainOptions opt;
  opt.iters = 60;
  opt.every = 20;
  opt.lr = 0.01f;
  opt.reg_noise_std = 1.f / 30.f;
  opt.ema = true;
  opt.backtrack = true;
  Progress quiet(opt.iters, Progress::Style::Quiet, stderr);
  int snapshots = 0;
  TrainResult r = train_dip(*net, fit, opt, quiet, [&](int, const Image&) { ++snapshots; });
  CHECK(r.iters_done == 60);
  CHECK(!r.interrupted);
  REQUIRE(r.trace.size() == 4);  // iterations 0, 20, 40 and the last (59)
  CHECK(r.trace.back().iter == 59);
  CHECK(snapshots == 4);
  CHECK(r.trace.back().loss < r.trace.front().loss / 4);
  CHECK(*r.trace.back().psnr > *r.trace.front().psnr + 5);
  REQUIRE(r.output_avg.has_value());
  CHECK(r.output.height == 32);
  CHECK(psnr(r.output, pic) > *r.trace.front().psnr);
}

TEST_CASE("apps tasks: the defaults are written once; --help and apps/README.md print them") {
  // apps/README.md holds the table between markers, exactly as defaults_markdown_table() makes it.
  const std::string readme =
      dip::test::read_file((std::filesystem::path(__FILE__).parent_path().parent_path() / "apps/README.md").string());
  const std::string begin = "<!-- defaults: generated from the tasks (apps/lib/tasks.h), checked by tests/test_apps.cpp -->\n";
  const std::string end = "<!-- end of defaults -->";
  const size_t a = readme.find(begin), b = readme.find(end);
  REQUIRE_MESSAGE(a != std::string::npos, "apps/README.md lacks the defaults table marker");
  REQUIRE(b != std::string::npos);
  const std::string table = readme.substr(a + begin.size(), b - a - begin.size());
  CHECK_MESSAGE(table == defaults_markdown_table(), "apps/README.md's defaults table drifted from the code; "
                "replace it with:\n", defaults_markdown_table());
  // --help shows each case; the options pick them.
  CHECK(task_help("sr").find("x8: 4000 iterations, Adam lr 0.01, reg-noise 0.05") != std::string::npos);
  const TaskInfo& sr = *find_task("sr");
  Args a8, a2;
  a8.set("factor", "8");
  a2.set("factor", "2");
  CHECK(task_defaults(sr, a8).iters == 4000);
  CHECK(task_defaults(sr, a2).iters == 2000);
  CHECK(reg_noise_text(1.f / 30.f) == "1/30");
  CHECK(reg_noise_text(0.05f) == "0.05");
  CHECK(describe_skip(find_task("jpeg")->net) == "skip [8,16,32,64,128], skip [0,0,0,4,4], bilinear, reflect");
}
