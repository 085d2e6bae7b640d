// The dip command line end to end, on tiny generated images: every task runs a few iterations and
// writes its outputs; every kind of bad input gives a one-line error, exit status 2 and no output
// directory; Ctrl-C saves what was done. Mostly in-process (run_cli), plus real process runs.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "apps/lib/cli.h"
#include "apps/lib/degrade.h"
#include "apps/lib/image_io.h"
#include "apps/lib/mask.h"
#include "nn/vit.h"
#include "tests/test_apps_util.h"

using namespace dip;
using namespace dip::apps;
using dip::test::ScratchDir;
using dip::test::write_test_png;

namespace {

// The run's files; each must exist and be non-empty.
void check_outputs(const std::string& out, std::vector<std::string> files) {
  for (const std::string& f : files) {
    const std::string p = out + "/" + f;
    CHECK_MESSAGE(std::filesystem::exists(p), p);
    if (std::filesystem::exists(p)) CHECK_MESSAGE(std::filesystem::file_size(p) > 0, p);
  }
}

// One failing run: exit status 2, a one-line message mentioning `expect`, and the scratch
// directory holding only the inputs it had before (no output, no temporary directory).
void check_bad(const ScratchDir& dir, std::vector<std::string> args, const std::string& expect) {
  const std::vector<std::string> before = dir.entries();
  args.push_back("--out");
  args.push_back(dir / "out");
  args.push_back("--quiet");
  std::string error;
  const int status = run_cli(args, &error);
  std::string joined;
  for (const std::string& a : args) joined += a + " ";
  CHECK_MESSAGE(status == 2, joined);
  CHECK_MESSAGE(error.find(expect) != std::string::npos, joined, " -> ", error);
  CHECK_MESSAGE(error.find('\n') == std::string::npos, error);
  CHECK_MESSAGE(dir.entries() == before, joined);
}

std::string self_dir() {
  return std::filesystem::canonical("/proc/self/exe").parent_path().string();
}

}  // namespace

TEST_CASE("apps cli: every task runs a few iterations on a tiny image and writes its outputs") {
  ScratchDir dir;
  const std::string img = write_test_png(dir / "img.png", 64, 64);
  const std::vector<std::string> common = {"--device", "cpu", "--iters", "2", "--every", "1", "--quiet"};
  auto run = [&](std::vector<std::string> args) {
    for (const std::string& a : common) args.push_back(a);
    std::string error;
    const int status = run_cli(args, &error);
    CHECK_MESSAGE(status == 0, args[0], ": ", error);
    return status;
  };

  SUBCASE("denoise") {
    run({"denoise", "--image", img, "--sigma", "30", "--out", dir / "d"});
    check_outputs(dir / "d", {"observed.png", "output.png", "output_avg.png", "ground_truth.png", "metrics.json",
                              "curve.svg", "report.html", "snapshots/iter_00000.png", "snapshots/iter_00001.png"});
    const std::string j = dip::test::read_file(dir / "d/metrics.json");
    for (const char* key : {"\"task\": \"denoise\"", "\"net\": \"skip\"", "\"device\": \"cpu\"",
                            "\"precision\": \"fp32\"", "\"iters\": 2", "\"size\": [64, 64]", "\"ms_per_iter\": ",
                            "\"best_iter\": ", "\"trace\": [\n    {\"iter\": 0, \"loss\": "})
      CHECK_MESSAGE(j.find(key) != std::string::npos, key, "\n", j);
    CHECK(j.find("\"final_psnr\": null") == std::string::npos);
    CHECK(j.find("\"avg_psnr\": null") == std::string::npos);
    // The observation is the seeded noisy image: same seed, same file.
    run({"denoise", "--image", img, "--sigma", "30", "--out", dir / "d2"});
    CHECK(dip::test::read_file(dir / "d/observed.png") == dip::test::read_file(dir / "d2/observed.png"));
    const std::string html = dip::test::read_file(dir / "d/report.html");
    CHECK(html.find("observed.png") != std::string::npos);
    CHECK(html.find("ground_truth.png") != std::string::npos);
    CHECK(html.find("curve.svg") != std::string::npos);
  }
  SUBCASE("denoise with the Transformer generator") {
    run({"denoise", "--image", img, "--net", "vit", "--out", dir / "v"});
    check_outputs(dir / "v", {"output.png", "metrics.json"});
    CHECK(dip::test::read_file(dir / "v/metrics.json").find("\"net\": \"vit\"") != std::string::npos);
  }
  SUBCASE("the multi-scale Transformers, with their options") {
    run({"denoise", "--image", img, "--net", "vit-na", "--out", dir / "na"});
    const std::string na = dip::test::read_file(dir / "na/metrics.json");
    CHECK(na.find("\"net\": \"vit-na\"") != std::string::npos);
    CHECK(na.find("neighborhood=7") != std::string::npos);
    run({"denoise", "--image", img, "--net", "vit-ms", "--stages", "3", "--width", "16", "--heads", "2",
         "--window", "4", "--positional", "sinusoidal", "--out", dir / "ms"});
    const std::string ms = dip::test::read_file(dir / "ms/metrics.json");
    CHECK_MESSAGE(ms.find("MultiScaleViT(stages=3, p=1, widths=16,16,16, depths=1,1,1, head size=8, "
                          "sinusoidal, window=4") != std::string::npos, ms);
    run({"denoise", "--image", img, "--net", "vit", "--patch", "4", "--width", "32", "--depth", "2",
         "--heads", "4", "--mlp-ratio", "2", "--neighborhood", "3", "--out", dir / "v2"});
    CHECK(dip::test::read_file(dir / "v2/metrics.json").find("ViT(p=4, D=32, depth=2, heads=4") !=
          std::string::npos);
  }
  SUBCASE("denoise a real noisy image without ground truth") {
    run({"denoise", "--noisy", img, "--out", dir / "n"});
    check_outputs(dir / "n", {"observed.png", "output.png", "metrics.json", "report.html"});
    CHECK(!std::filesystem::exists(dir / "n/ground_truth.png"));
    CHECK(dip::test::read_file(dir / "n/metrics.json").find("\"final_psnr\": null") != std::string::npos);
  }
  SUBCASE("sr x4 and x8") {
    run({"sr", "--image", img, "--factor", "4", "--out", dir / "s"});
    check_outputs(dir / "s", {"observed.png", "output.png", "ground_truth.png", "metrics.json", "curve.svg"});
    CHECK(load_image(dir / "s/observed.png", 3).width == 16);
    CHECK(load_image(dir / "s/output.png", 3).width == 64);
    const std::string lr = write_test_png(dir / "lr.png", 8, 8);
    run({"sr", "--lowres", lr, "--factor", "8", "--out", dir / "s8"});
    CHECK(load_image(dir / "s8/output.png", 3).height == 64);
  }
  SUBCASE("inpaint with generated and file masks") {
    run({"inpaint", "--image", img, "--mask-kind", "random:0.5", "--out", dir / "i"});
    check_outputs(dir / "i", {"observed.png", "output.png", "ground_truth.png", "metrics.json"});
    Rng rng(0);
    save_png(dir / "mask.png", make_mask(parse_mask_kind("box"), 64, 64, rng));
    run({"inpaint", "--image", img, "--mask", dir / "mask.png", "--out", dir / "i2"});
    // The masked-out box is black in the observation.
    CHECK(load_image(dir / "i2/observed.png", 3).at(0, 32, 32) == 0.f);
  }
  SUBCASE("flash") {
    const std::string nf = write_test_png(dir / "nf.png", 64, 64, 1);
    run({"flash", "--flash", img, "--noflash", nf, "--out", dir / "f"});
    check_outputs(dir / "f", {"observed.png", "output.png", "ground_truth.png", "metrics.json"});
  }
  SUBCASE("jpeg") {
    run({"jpeg", "--image", img, "--quality", "10", "--out", dir / "j"});
    check_outputs(dir / "j", {"observed.png", "output.png", "output_avg.png", "ground_truth.png", "metrics.json"});
    CHECK(dip::test::read_file(dir / "j/metrics.json").find("\"observed_psnr\": null") == std::string::npos);
  }
}

TEST_CASE("apps cli: every task takes a stopping rule and the TV regulariser") {
  ScratchDir dir;
  const std::string img = write_test_png(dir / "img.png", 64, 64);
  const std::string nf = write_test_png(dir / "nf.png", 64, 64, 1);
  const std::vector<std::vector<std::string>> tasks = {
      {"denoise", "--image", img}, {"sr", "--image", img}, {"inpaint", "--image", img},
      {"flash", "--flash", img, "--noflash", nf}, {"jpeg", "--image", img, "--quality", "10"}};
  int n = 0;
  for (std::vector<std::string> args : tasks) {
    const std::string rule = n % 2 ? "emv" : "wmv", out = dir / ("o" + std::to_string(n++));
    for (const std::string a : {"--device", "cpu", "--iters", "12", "--every", "1", "--quiet", "--stop-window", "4",
                                "--stop-check", "2", "--stop-patience", "4", "--tv", "0.01", "--out"})
      args.push_back(a);
    args.push_back(out);
    args.push_back("--stop");
    args.push_back(rule);
    std::string error;
    REQUIRE_MESSAGE(run_cli(args, &error) == 0, args[0], ": ", error);
    const std::string j = dip::test::read_file(out + "/metrics.json");
    for (const std::string& key : {"\"rule\": \"" + rule + "\", \"window\": 4, \"patience\": 4, \"min_iter\": 0, "
                                  "\"check_every\": 2", std::string("\"tv\": 0.01"), std::string("\"wmv\": "),
                                  std::string("\"gap_db\": ")})
      CHECK_MESSAGE(j.find(key) != std::string::npos, args[0], ": ", key, "\n", j);
    CHECK_MESSAGE(j.find("\"t_star\": null") == std::string::npos, args[0], j);
    CHECK_MESSAGE(j.find("\"gap_db\": null") == std::string::npos, args[0], j);
    CHECK(dip::test::read_file(out + "/curve.svg").find("t* (") != std::string::npos);
  }
}

TEST_CASE("apps cli: --size resizes, odd sizes are centre-cropped to multiples of 32 (64 for inpainting)") {
  ScratchDir dir;
  const std::string img = write_test_png(dir / "wide.png", 100, 150);
  REQUIRE(run_cli({"denoise", "--image", img, "--size", "120", "--iters", "1", "--device", "cpu", "--quiet",
                   "--out", dir / "a"}) == 0);
  // 150x100 -> longer side 120: 120x80 -> cropped to 96x64.
  Image out = load_image(dir / "a/output.png", 3);
  CHECK(out.width == 96);
  CHECK(out.height == 64);
  REQUIRE(run_cli({"inpaint", "--image", img, "--iters", "1", "--device", "cpu", "--quiet", "--out", dir / "b"}) == 0);
  Image inp = load_image(dir / "b/output.png", 3);
  CHECK(inp.width == 128);
  CHECK(inp.height == 64);
}

TEST_CASE("apps cli: bad input -> one-line error, exit status 2, no output directory") {
  ScratchDir dir;
  const std::string img = write_test_png(dir / "img.png", 64, 64);
  write_test_png(dir / "small.png", 20, 40);
  write_test_png(dir / "mid.png", 48, 80);
  write_test_png(dir / "other.png", 96, 64);
  dip::test::write_file(dir / "notes.png", "plain text, not a picture\n");
  const std::string png = dip::test::read_file(img);
  dip::test::write_file(dir / "cut.png", png.substr(0, png.size() * 2 / 3));
  dip::test::write_file(dir / "empty.png", "");

  check_bad(dir, {"denoise", "--image", dir / "missing.png"}, "cannot open");
  check_bad(dir, {"denoise", "--image", dir / "notes.png"}, "not an image");
  check_bad(dir, {"denoise", "--image", dir / "cut.png"}, "truncated");
  check_bad(dir, {"denoise", "--image", dir / "empty.png"}, "empty");
  check_bad(dir, {"denoise", "--image", dir.path()}, "directory");
  check_bad(dir, {"denoise", "--image", dir / "small.png"}, "at least 64 px");
  check_bad(dir, {"denoise", "--image", dir / "mid.png"}, "at least 64 px");
  check_bad(dir, {"denoise", "--image", img, "--size", "40"}, "raise --size");
  check_bad(dir, {"inpaint", "--image", img, "--mask", dir / "other.png"}, "same size");
  check_bad(dir, {"flash", "--flash", img, "--noflash", dir / "other.png"}, "same size");
  check_bad(dir, {"inpaint", "--image", img, "--mask-kind", "random:2"}, "0 < P < 1");
  check_bad(dir, {"denoise", "--image", img, "--bogus", "1"}, "unknown option '--bogus'");
  check_bad(dir, {"denoise", "--image", img, "--sigma", "-3"}, "out of range");
  check_bad(dir, {"denoise", "--image", img, "--iters", "0"}, "out of range");
  check_bad(dir, {"denoise", "--image", img, "--lr", "fast"}, "not a number");
  check_bad(dir, {"denoise", "--image", img, "--stop", "foo"}, "not one of fixed, wmv, emv");
  check_bad(dir, {"denoise", "--image", img, "--stop-window", "0"}, "out of range");
  check_bad(dir, {"denoise", "--image", img, "--stop-window", "15"}, "multiple of the check interval");
  check_bad(dir, {"denoise", "--image", img, "--stop-patience", "-5"}, "out of range");
  check_bad(dir, {"denoise", "--image", img, "--tv", "-0.1"}, "out of range");
  check_bad(dir, {"sr", "--image", img, "--factor", "3"}, "not one of 2, 4, 8");
  check_bad(dir, {"denoise", "--image", img, "--device", "tpu"}, "not one of auto, cpu, cuda");
  check_bad(dir, {"denoise"}, "give either --image");
  check_bad(dir, {"denoise", "--image", img, "--noisy", img}, "give either --image");
  check_bad(dir, {"sr", "--factor", "4"}, "give either --image");
  check_bad(dir, {"flash", "--flash", img}, "--noflash is required");
  check_bad(dir, {"jpeg", "--image", img, "--quality", "101"}, "out of range");
  check_bad(dir, {"segment", "--image", img}, "unknown task 'segment'");
  check_bad(dir, {"denoise", "--image", img, "--size", "100000"}, "out of range");
  check_bad(dir, {"denoise", "--image", img, "--size", "16384"}, "too large for memory");
  check_bad(dir, {"denoise", "--image", img, "--patch", "4"}, "use it with --net vit");
  check_bad(dir, {"denoise", "--image", img, "--net", "vit-na", "--neighborhood", "4"}, "must be odd");
  check_bad(dir, {"denoise", "--image", img, "--net", "vit-ms", "--neighborhood", "3"}, "give one");
  check_bad(dir, {"denoise", "--image", img, "--net", "vit", "--stages", "3"}, "multi-scale");
  check_bad(dir, {"denoise", "--image", img, "--net", "vit-ms", "--stage-widths", "32,32"}, "for 5 stages");
  check_bad(dir, {"denoise", "--image", img, "--net", "vit-ms", "--stage-depths", "1,x,1,1,1"}, "not an integer");
  check_bad(dir, {"denoise", "--image", img, "--net", "vit", "--width", "30", "--heads", "4"},
            "cannot build the vit network");
  // An --out that is someone else's directory is refused before any work.
  std::filesystem::create_directory(dir / "out");
  dip::test::write_file(dir / "out/keep.txt", "mine");
  std::string error;
  CHECK(run_cli({"denoise", "--image", img, "--out", dir / "out", "--quiet"}, &error) == 2);
  CHECK(error.find("not a dip output directory") != std::string::npos);
  CHECK(dip::test::read_file(dir / "out/keep.txt") == "mine");
}

TEST_CASE("apps cli: help texts") {
  const std::string h = task_help("denoise");
  for (const char* s : {"--image PATH", "--sigma S", "--noisy PATH", "--device auto|cpu|cuda", "--iters N",
                        "--every N", "--threads N", "--quiet", "--size N", "3000 iterations", "--patch P",
                        "--neighborhood K", "--stage-widths"})
    CHECK_MESSAGE(h.find(s) != std::string::npos, s);
  CHECK(task_help("inpaint").find("random:P") != std::string::npos);
  CHECK(general_help().find("jpeg") != std::string::npos);
}

TEST_CASE("apps cli: Ctrl-C stops the run and saves the outputs so far in OUT.partial (exit 130)") {
  ScratchDir dir;
  const std::string img = write_test_png(dir / "img.png", 64, 64);
  std::atomic<bool> done{false};
  // SIGINT once the run has written its first snapshot (i.e. it is training).
  std::thread interrupter([&] {
    while (!done) {
      if (std::filesystem::exists(dir / "out.partial/snapshots/iter_00000.png")) {
        std::raise(SIGINT);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const int status = run_cli({"jpeg", "--image", img, "--iters", "100000", "--device", "cpu", "--quiet", "--out",
                              dir / "out"});
  done = true;
  interrupter.join();
  std::signal(SIGINT, SIG_DFL);
  CHECK(status == 130);
  CHECK(!std::filesystem::exists(dir / "out"));  // only a finished run appears as OUT
  check_outputs(dir / "out.partial", {"observed.png", "output.png", "metrics.json", "report.html", "curve.svg",
                                      "checkpoint.dip"});
  const std::string j = dip::test::read_file(dir / "out.partial/metrics.json");
  CHECK(j.find("\"interrupted\": true") != std::string::npos);
  CHECK(j.find("\"iters\": 100000") == std::string::npos);
}

TEST_CASE("apps cli: the dip program itself (real processes)") {
  const std::string dip = self_dir() + "/dip";
  if (!std::filesystem::exists(dip)) {
    MESSAGE("no dip binary next to the test binary (", dip, "); process tests skipped");
    return;
  }
  ScratchDir dir;
  const std::string img = write_test_png(dir / "img.png", 64, 64);
  auto sh = [](const std::string& cmd) {
    const int raw = std::system(cmd.c_str());
    return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  };
  CHECK(sh(dip + " denoise --image " + img + " --iters 2 --device cpu --quiet --out " + (dir / "ok")) == 0);
  check_outputs(dir / "ok", {"output.png", "metrics.json"});
  // stderr is exactly one line for a bad input, nothing on stdout.
  CHECK(sh(dip + " denoise --image " + (dir / "nope.png") + " --out " + (dir / "bad") + " >" + (dir / "o.txt") +
           " 2>" + (dir / "e.txt")) == 2);
  const std::string err = dip::test::read_file(dir / "e.txt");
  CHECK(err.find("nope.png") != std::string::npos);
  CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  CHECK(dip::test::read_file(dir / "o.txt").empty());
  CHECK(!std::filesystem::exists(dir / "bad"));
  CHECK(sh(dip + " sr --factor 5 --image " + img + " 2>/dev/null") == 2);
  CHECK(sh(dip + " --help >/dev/null") == 0);
  CHECK(sh(dip + " inpaint --help >" + (dir / "h.txt")) == 0);
  CHECK(dip::test::read_file(dir / "h.txt").find("--mask-kind KIND") != std::string::npos);
  CHECK(sh(dip + " 2>/dev/null") == 2);
}

TEST_CASE("apps cli: dip-bench (real processes): the ViT nets and bad flags") {
  const std::string bench = self_dir() + "/dip-bench";
  if (!std::filesystem::exists(bench)) {
    MESSAGE("no dip-bench binary next to the test binary (", bench, "); process tests skipped");
    return;
  }
  ScratchDir dir;
  auto sh = [](const std::string& cmd) {
    const int raw = std::system(cmd.c_str());
    return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  };
  // A tiny ViT, one iteration: the JSON line names the net and counts the parameters of the config
  // the flags describe (the variant's defaults with --patch/--width/--depth/--heads overridden).
  const std::string tiny = " --net vit --size 16 --patch 8 --width 16 --depth 1 --heads 2 --mlp-ratio 2";
  REQUIRE(sh(bench + tiny + " --device cpu --threads 1 --iters 1 --warmup 0 >" + (dir / "o.txt")) == 0);
  const std::string out = dip::test::read_file(dir / "o.txt");
  VitConfig cfg = vit_defaults("vit");
  cfg.image_height = cfg.image_width = 16;
  cfg.width = 16, cfg.depth = 1, cfg.heads = 2, cfg.mlp_ratio = 2;
  Rng rng(0);
  const auto net = make_vit(cfg, rng);
  for (const std::string& key : {std::string("\"net\":\"vit\""), "\"desc\":\"" + net->name() + "\"",
                                 "\"params\":" + std::to_string(net->num_parameters()) + ",",
                                 std::string("\"precision\":\"fp32\""), std::string("\"device\":\"cpu\"")})
    CHECK_MESSAGE(out.find(key) != std::string::npos, key, " in ", out);

  // Each bad command line: exit status 2, one line on stderr naming the problem.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {" --net vit --size 16 --device cpu --precision tf32", "tf32"},  // the CPU computes in fp32 only
      {" --net skip --precision fp16", "--precision"},
      {" --net vit --size 100", "multiple of 8"},
      {" --net vit-na --size 24", "multiple of 16"},
      {" --net skip --width 64", "--net vit"},
      {" --net skip --size 32", "at least 33"},
      {" --net transformer", "unknown network"},
      {" --net vit --size 16 --device cpu --width 30 --heads 4", "multiple of heads"},  // make_vit's check
  };
  for (const auto& [args, expect] : bad) {
    CHECK_MESSAGE(sh(bench + args + " >/dev/null 2>" + (dir / "e.txt")) == 2, args);
    const std::string err = dip::test::read_file(dir / "e.txt");
    CHECK_MESSAGE(err.find(expect) != std::string::npos, args, " -> ", err);
    CHECK_MESSAGE(std::count(err.begin(), err.end(), '\n') == 1, args, " -> ", err);
  }
}
