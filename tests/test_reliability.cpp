// What dip promises a user (README "What dip promises"), each tried the way a clumsy or hostile
// user would: it never deletes what it did not write, never reports success with a broken output,
// never lets an interrupted run replace a finished one, survives NaNs, pipes and signals, and
// continues a stopped run with the same numbers as an uninterrupted one.
#include <doctest/doctest.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <limits>
#include <thread>

#include "apps/lib/atomic_file.h"
#include "apps/lib/cli.h"
#include "apps/lib/interrupt.h"
#include "apps/lib/output_dir.h"
#include "apps/lib/state_file.h"
#include "apps/lib/user_error.h"
#include "nn/vit.h"
#include "tests/test_apps_util.h"

using namespace dip;
using namespace dip::apps;
using dip::test::ScratchDir;
using dip::test::write_test_png;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kQuick = {"--device", "cpu", "--size", "64", "--quiet"};

// `dip TASK --image IMG --iters N --out OUT` plus the quick settings and `extra`, in process.
int run_dip(const std::string& img, int iters, const std::string& out, std::vector<std::string> extra = {},
            std::string* error = nullptr) {
  std::vector<std::string> args = {"denoise", "--image", img, "--iters", std::to_string(iters), "--out", out};
  args.insert(args.end(), kQuick.begin(), kQuick.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return run_cli(args, error);
}

// Raises SIGINT once `file` exists (the run is past its set-up), from another thread.
class InterruptWhen {
 public:
  explicit InterruptWhen(std::string file) : thread_([this, file] {
    while (!done_) {
      if (fs::exists(file)) {
        std::raise(SIGINT);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }) {}
  ~InterruptWhen() {
    done_ = true;
    thread_.join();
    std::signal(SIGINT, SIG_DFL);
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

std::string self_dir() { return fs::canonical("/proc/self/exe").parent_path().string(); }

// A shell command's exit status (128 + N when the shell saw signal N).
int sh(const std::string& cmd) {
  const int raw = std::system(("bash -c '" + cmd + "'").c_str());
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

bool every_png_decodes(const std::string& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".png") {
      try {
        load_image(e.path().string(), 3);
      } catch (const std::exception&) {
        return false;
      }
    }
  return true;
}

}  // namespace

TEST_CASE("reliability: dip never removes what it did not write") {
  ScratchDir dir;
  const std::string img = write_test_png(dir / "img.png", 64, 64);
  // A user's directory that merely holds a metrics.json (the reported case: p/ck/model.pt was deleted).
  fs::create_directories(dir / "p/ck");
  dip::test::write_file(dir / "p/metrics.json", "{}");
  dip::test::write_file(dir / "p/ck/model.pt", "weights");
  std::string error;
  CHECK(run_dip(img, 1, dir / "p", {}, &error) == 2);
  CHECK(error.find("not a dip output directory") != std::string::npos);
  CHECK(dip::test::read_file(dir / "p/ck/model.pt") == "weights");
  // A finished run the user added a file to is not dip's alone any more: refused, the file kept.
  REQUIRE(run_dip(img, 1, dir / "o") == 0);
  dip::test::write_file(dir / "o/notes.txt", "mine");
  CHECK(run_dip(img, 1, dir / "o", {}, &error) == 2);
  CHECK(error.find("'notes.txt', which dip did not write") != std::string::npos);
  CHECK(dip::test::read_file(dir / "o/notes.txt") == "mine");
  CHECK(!remove_dip_output(dir / "o"));
  CHECK(fs::exists(dir / "o/notes.txt"));
  // The same for an unfinished run's directory.
  fs::remove(dir / "o/notes.txt");
  fs::create_directory(dir / "o.partial");
  dip::test::write_file(dir / "o.partial/draft.txt", "mine");
  CHECK(run_dip(img, 1, dir / "o", {}, &error) == 2);
  CHECK(error.find("o.partial") != std::string::npos);
  CHECK(dip::test::read_file(dir / "o.partial/draft.txt") == "mine");
  // What counts as dip's.
  for (const char* ok : {"output.png", "snapshots", "snapshots/iter_00100.png", "metrics.json.tmp-a1B2c3",
                         ".dip-output", "checkpoint.dip"})
    CHECK_MESSAGE(is_dip_file(ok), ok);
  for (const char* foreign : {"model.pt", "snapshots/notes.txt", "ck/output.png", "output.png.bak",
                              "snapshots/iter_.png", "metrics.json.tmp-x"})
    CHECK_MESSAGE(!is_dip_file(foreign), foreign);
  // --out that names the current directory, or too long a name: refused before any work.
  CHECK(run_dip(img, 1, ".", {}, &error) == 2);
  CHECK(run_dip(img, 1, dir / std::string(250, 'x'), {}, &error) == 2);
  CHECK(error.find("too long") != std::string::npos);
}

TEST_CASE("reliability: a full disk fails the run (exit 1); no broken file is left as a result") {
  ScratchDir dir;
  const std::string img = write_test_png(dir / "img.png", 64, 64);
  // Writes fail (ENOSPC) after 3 KB: observed.png itself cannot be written.
  for (long long budget : {3000LL, 60000LL}) {
    CAPTURE(budget);
    fail_writes_after_for_testing(budget);
    std::string error;
    const int status = run_dip(img, 8, dir / "o", {"--every", "1"}, &error);
    fail_writes_after_for_testing(-1);
    CHECK(status == 1);
    CHECK(error.find("No space left on device") != std::string::npos);
    CHECK(!fs::exists(dir / "o"));
    // What was saved (if anything) is whole, and the message says where it is.
    if (fs::exists(dir / "o.partial")) {
      CHECK(error.find("o.partial") != std::string::npos);
      CHECK(every_png_decodes(dir / "o.partial"));
    }
  }
  // After the space comes back the same command works and replaces the unfinished directory.
  CHECK(run_dip(img, 3, dir / "o") == 0);
  CHECK(!fs::exists(dir / "o.partial"));
}

TEST_CASE("reliability: a real full disk (tmpfs) gives exit 1 and no output (real process)") {
  const std::string dip = self_dir() + "/dip";
  ScratchDir dir;
  const std::string img = write_test_png(dir / "img.png", 64, 64);
  const std::string tiny = dir / "tiny";
  fs::create_directory(tiny);
  if (!fs::exists(dip) || geteuid() != 0 || ::mount("tmpfs", tiny.c_str(), "tmpfs", 0, "size=48k") != 0) {
    MESSAGE("no dip binary or cannot mount a tmpfs here (not root?): the write-failure injection test covers it");
    return;
  }
  const int status = sh(dip + " denoise --image " + img + " --iters 8 --every 1 --device cpu --size 64 --quiet --out " +
                        tiny + "/o 2>" + (dir / "err.txt"));
  const bool partial = fs::exists(tiny + "/o.partial"), pngs_ok = !partial || every_png_decodes(tiny + "/o.partial");
  const bool finished = fs::exists(tiny + "/o");
  ::umount(tiny.c_str());
  CHECK(status == 1);
  CHECK(dip::test::read_file(dir / "err.txt").find("No space left on device") != std::string::npos);
  CHECK(!finished);
  CHECK(pngs_ok);
}

TEST_CASE("reliability: a NaN rolls back; a loss that stays non-finite fails the run") {
  for (bool backtrack : {true, false}) {
    CAPTURE(backtrack);
    dip::test::SmallFit small = dip::test::small_fit();
    TrainOptions opt;
    opt.iters = 40;
    opt.every = 10;
    opt.ema = true;
    opt.backtrack = backtrack;
    Progress quiet(opt.iters, Progress::Style::Quiet, stderr);
    // A NaN lands in a weight at iteration 10 (after that step's update).
    Variable w = small.net->parameters()[0];
    const TrainResult r = train_dip(*small.net, small.target, opt, quiet, [&](int iter, const Image&) {
      if (iter == 10) w.impl()->data.fill_(std::numeric_limits<float>::quiet_NaN());
    });
    CHECK(r.backtracks >= 1);
    CHECK(r.iters_done == 40);
    for (float v : r.output.pixels) REQUIRE(std::isfinite(v));
    for (const TracePoint& t : r.trace)
      if (t.psnr) CHECK(std::isfinite(*t.psnr));
    CHECK(trace_best_psnr(r.trace, false));
  }
  // An observation with a NaN: every loss is NaN, nothing to roll back to -> an error, not a result.
  dip::test::SmallFit small = dip::test::small_fit();
  small.target.observed.data()[7] = std::numeric_limits<float>::quiet_NaN();
  TrainOptions opt;
  opt.iters = 20;
  Progress quiet(opt.iters, Progress::Style::Quiet, stderr);
  CHECK_THROWS_WITH_AS(train_dip(*small.net, small.target, opt, quiet), doctest::Contains("not a finite number"),
                       std::runtime_error);
  // PSNR of a non-finite image is not a number to rank.
  Image bad = dip::test::test_picture(8, 8);
  const Image ref = bad;
  bad.pixels[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK(std::isnan(psnr(bad, ref)));
  std::vector<TracePoint> trace(2);
  trace[0].iter = 0, trace[0].psnr = 20.0;
  trace[1].iter = 10, trace[1].psnr = std::numeric_limits<double>::quiet_NaN();
  CHECK(trace_best_psnr(trace, false)->second == 0);
}

TEST_CASE("reliability: a resumed loop gives the numbers of an uninterrupted one, bit for bit") {
  TrainOptions opt;
  opt.iters = 60;
  opt.every = 10;
  opt.ema = true;
  opt.backtrack = true;
  opt.reg_noise_std = 1.f / 30.f;
  opt.seed = 3;
  opt.stop.kind = StopKind::Emv;
  opt.stop.patience = 1000;
  opt.stop.window = 20;
  Progress quiet(opt.iters, Progress::Style::Quiet, stderr);
  dip::test::SmallFit a = dip::test::small_fit();
  const TrainResult straight = train_dip(*a.net, a.target, opt, quiet);

  // The same run, stopped after iteration 30 (Ctrl-C), its state saved, then continued in a fresh
  // network (as a new process would) from the saved bytes.
  std::string saved;
  int saved_at = -1;
  Checkpointing ck;
  ck.every = 25;  // a periodic save at 25, then the interrupted one
  ck.save = [&](const std::string& bytes, int next) { saved = bytes, saved_at = next; };
  dip::test::SmallFit b = dip::test::small_fit();
  reset_interrupt();
  const TrainResult first = train_dip(*b.net, b.target, opt, quiet, [](int iter, const Image&) {
    if (iter == 30) request_interrupt();
  }, ck);
  reset_interrupt();
  CHECK(first.interrupted);
  CHECK(saved_at == 31);
  dip::test::SmallFit c = dip::test::small_fit();
  for (const Variable& p : c.net->parameters()) p.impl()->data.fill_(0.5f);  // all must come from the state
  Checkpointing resume;
  resume.resume = saved;
  const TrainResult second = train_dip(*c.net, c.target, opt, quiet, {}, resume);
  CHECK(second.iters_done == straight.iters_done);
  CHECK(second.output.pixels == straight.output.pixels);
  REQUIRE(second.output_avg);
  CHECK(second.output_avg->pixels == straight.output_avg->pixels);
  CHECK(second.stop_iter == straight.stop_iter);
  CHECK(second.backtracks == straight.backtracks);
  REQUIRE(second.trace.size() == straight.trace.size());
  for (size_t i = 0; i < straight.trace.size(); ++i) {
    CHECK(second.trace[i].iter == straight.trace[i].iter);
    CHECK(second.trace[i].loss == straight.trace[i].loss);
    CHECK(second.trace[i].psnr_avg == straight.trace[i].psnr_avg);
    CHECK(second.trace[i].emv == straight.trace[i].emv);
  }
  // A damaged state is refused by name, never half-loaded.
  for (size_t cut : {size_t{10}, saved.size() / 2, saved.size() - 1}) {
    Checkpointing bad;
    bad.resume = saved.substr(0, cut);
    dip::test::SmallFit d = dip::test::small_fit();
    CHECK_THROWS_AS(train_dip(*d.net, d.target, opt, quiet, {}, bad), UserError);
  }
  std::string flipped = saved;
  flipped[flipped.size() / 2] ^= 0x40;
  CHECK_THROWS_WITH_AS(StateReader(flipped, "x"), doctest::Contains("checksum"), UserError);
}

TEST_CASE("reliability: an interrupted run goes to OUT.partial, never over a finished one; --resume ends it") {
  ScratchDir dir;
  const std::string img = write_test_png(dir / "img.png", 64, 64);
  REQUIRE(run_dip(img, 12, dir / "straight", {"--every", "2"}) == 0);
  REQUIRE(run_dip(img, 3, dir / "o") == 0);
  const std::string finished = dip::test::read_file(dir / "o/metrics.json");
  int status = 0;
  {
    InterruptWhen ctrl_c(dir / "o.partial/snapshots/iter_00004.png");
    status = run_dip(img, 12, dir / "o", {"--every", "2"});
  }
  CHECK(status == 130);
  CHECK(dip::test::read_file(dir / "o/metrics.json") == finished);  // the finished run is untouched
  CHECK(dip::test::read_file(dir / "o.partial/metrics.json").find("\"interrupted\": true") != std::string::npos);
  CHECK(fs::exists(dir / "o.partial/checkpoint.dip"));

  std::string error;
  CHECK(run_cli({"denoise", "--resume", dir / "o", "--iters", "5"}, &error) == 2);  // settings are the run's
  CHECK(error.find("drop --iters") != std::string::npos);
  CHECK(run_cli({"sr", "--resume", dir / "o"}, &error) == 2);
  CHECK(error.find("not 'sr'") != std::string::npos);
  CHECK(run_cli({"denoise", "--resume", dir / "nothing"}, &error) == 2);
  CHECK(error.find("no checkpoint") != std::string::npos);

  REQUIRE(run_cli({"denoise", "--resume", dir / "o", "--quiet"}) == 0);
  CHECK(!fs::exists(dir / "o.partial"));
  CHECK(!fs::exists(dir / "o/checkpoint.dip"));
  // The same pictures as the run that was never interrupted (same thread count, same binary).
  for (const char* f : {"output.png", "output_avg.png", "snapshots/iter_00010.png"})
    CHECK_MESSAGE(dip::test::read_file(dir / "o/" + f) == dip::test::read_file(dir / "straight/" + f), f);
}

TEST_CASE("reliability: signals, pipes, killed runs and modes (real processes)") {
  const std::string dip = self_dir() + "/dip";
  if (!fs::exists(dip)) {
    MESSAGE("no dip binary next to the test binary; process tests skipped");
    return;
  }
  ScratchDir dir;
  const std::string img = write_test_png(dir / "img.png", 64, 64);
  const std::string run = dip + " denoise --image " + img + " --device cpu --size 64 --threads 1 ";
  // SIGTERM (timeout, Slurm) during training: outputs saved in OUT.partial, exit 143.
  CHECK(sh(run + "--iters 100000 --quiet --out " + (dir / "t") + " & p=$!; while [ ! -e " + (dir / "t.partial/snapshots") +
           " ]; do sleep 0.05; done; sleep 0.3; kill -TERM $p; wait $p") == 143);
  CHECK(fs::exists(dir / "t.partial/output.png"));
  // SIGTERM while blocked reading a FIFO: the process ends at once (nothing to save yet).
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(sh("mkfifo " + (dir / "fifo") + "; " + dip + " denoise --image " + (dir / "fifo") + " --quiet --out " +
           (dir / "f") + " & p=$!; sleep 0.3; kill -TERM $p; wait $p") == 143);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK(!fs::exists(dir / "f.partial"));
  // SIGKILL leaves OUT.partial behind; the next run into OUT clears it (it is dip's) and succeeds.
  CHECK(sh(run + "--iters 100000 --quiet --out " + (dir / "k") + " & p=$!; while [ ! -e " + (dir / "k.partial/snapshots") +
           " ]; do sleep 0.05; done; kill -KILL $p; wait $p") == 137);
  CHECK(fs::exists(dir / "k.partial"));
  CHECK(sh(run + "--iters 2 --out " + (dir / "k") + " >" + (dir / "k.txt")) == 0);
  CHECK(dip::test::read_file(dir / "k.txt").find("removed an unfinished earlier run") != std::string::npos);
  CHECK(!fs::exists(dir / "k.partial"));
  // stdout closed early (`| head -1`): the run still finishes and saves, exit 0.
  CHECK(sh("set -o pipefail; " + run + "--iters 3 --out " + (dir / "h") + " | head -1 >/dev/null") == 0);
  CHECK(fs::exists(dir / "h/output.png"));
  // The output directory gets the usual mode (umask 022 -> 0755), not mkdtemp's 0700.
  CHECK(sh("umask 022; " + run + "--iters 1 --quiet --out " + (dir / "m")) == 0);
  struct stat st {};
  REQUIRE(::stat((dir / "m").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0755);
}

TEST_CASE("reliability: a network too large for the machine is refused before it is built") {
  // The estimate follows the real networks: parameters within 30% for every variant's defaults.
  for (const std::string& variant : vit_variants()) {
    VitConfig cfg = vit_defaults(variant);
    cfg.image_height = cfg.image_width = 64;
    Rng rng(1);
    const double actual = static_cast<double>(make_vit(cfg, rng)->num_parameters());
    const VitFootprint f = vit_footprint(cfg);
    CAPTURE(variant);
    CHECK(f.parameters > 0.7 * actual);
    CHECK(f.parameters < 1.3 * actual);
    CHECK(f.training_bytes() < 2e9);  // the defaults fit any machine at 64x64
  }
  // The reported case: a 4096-wide, 64-deep ViT grabbed 5.7 GB before failing. Now: one line, at once.
  ScratchDir dir;
  const std::string img = write_test_png(dir / "img.png", 64, 64);
  std::string error;
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(run_dip(img, 1, dir / "o", {"--net", "vit", "--width", "4096", "--depth", "64", "--mlp-ratio", "16"}, &error) ==
        2);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(error.find("GiB to train, more than 80% of the machine") != std::string::npos);
  CHECK(dir.entries() == std::vector<std::string>{"img.png"});
}
