// `dip study run` (apps/lib/study_run.h): the run plan, shards (option and Slurm variables),
// deterministic corruption, resuming after a kill, the union of shards, refusing a resume with
// other settings, and bad input (empty folder; an unreadable image among good ones). Tiny studies
// on generated 64x64 images, a few iterations each. (The report's arithmetic: test_study_report.cpp;
// the study on a real Slurm cluster: tests/slurm/test_study.sh.)
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "apps/lib/atomic_file.h"
#include "apps/lib/cli.h"
#include "apps/lib/run.h"
#include "apps/lib/study_run.h"
#include "apps/lib/tasks.h"
#include "apps/lib/user_error.h"
#include "tests/test_apps_util.h"

using namespace dip;
using namespace dip::apps;
using dip::test::ScratchDir;
namespace fs = std::filesystem;

namespace {

// The test picture mirrored left to right.
Image mirrored(const Image& img) {
  Image out = img;
  for (int c = 0; c < img.channels; ++c)
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < img.width; ++x) out.at(c, y, x) = img.at(c, y, img.width - 1 - x);
  return out;
}

// Two train and one test picture, different from each other.
void make_images(const ScratchDir& dir) {
  fs::create_directories(dir / "train");
  fs::create_directories(dir / "test");
  dip::test::write_test_png(dir / "train/a.png", 64, 64);
  save_png(dir / "train/b.png", mirrored(dip::test::test_picture(64, 64)));
  dip::test::write_test_png(dir / "test/c.png", 96, 96);  // shrunk to 64 by --size
}

std::vector<std::string> study_args(const ScratchDir& dir, const std::string& out) {
  return {"study", "run", "--task", "denoise", "--train", dir / "train", "--test", dir / "test", "--out", out,
          "--size", "64", "--iters", "8", "--every", "4", "--stop-window", "4", "--stop-patience", "4",
          "--seeds", "0,1", "--device", "cpu", "--quiet"};
}

// Starts `dip ARGS...` as a child process; its pid (negative when fork failed).
pid_t spawn(const std::string& dip, std::vector<std::string> args) {
  args.insert(args.begin(), dip);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    execv(dip.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// The finished runs' files: name -> content without the timing fields (seconds, ms_per_iter).
std::map<std::string, std::string> run_files(const std::string& study) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(study + "/runs")) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() != ".json") continue;
    std::string text = read_file_text(e.path().string()), kept;
    std::stringstream ss(text);
    std::string line;
    while (std::getline(ss, line))
      if (line.find("\"seconds\"") == std::string::npos && line.find("\"ms_per_iter\"") == std::string::npos)
        kept += line + "\n";
    out[name] = kept;
  }
  return out;
}

std::string self_dir() { return fs::canonical("/proc/self/exe").parent_path().string(); }

}  // namespace

TEST_CASE("study plan: fixed order, ids, shards from --shard or Slurm's array variables") {
  const std::vector<PlannedRun> runs = plan_study_runs({"/x/b.png", "/x/a b.png"}, {"/y/c.jpg"}, {0, 3}, {0, 0.001});
  REQUIRE(runs.size() == 12);
  CHECK(runs[0].id == "train-0000-b-s0-tv0");
  CHECK(runs[1].id == "train-0000-b-s0-tv0.001");
  CHECK(runs[2].id == "train-0000-b-s3-tv0");
  CHECK(runs[4].id == "train-0001-a_b-s0-tv0");
  CHECK(runs[8].id == "test-0000-c-s0-tv0");
  CHECK(runs[8].split == "test");
  CHECK(runs[11].index == 11);
  std::set<std::string> ids;
  for (const PlannedRun& r : runs) ids.insert(r.id);
  CHECK(ids.size() == runs.size());

  std::map<std::string, std::string> env;
  auto getenv = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  CHECK(study_shard(std::nullopt, getenv).count == 1);
  Shard s = study_shard(std::string("2/5"), getenv);
  CHECK(s.index == 2);
  CHECK(s.count == 5);
  env = {{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_COUNT", "3"}};
  s = study_shard(std::nullopt, getenv);
  CHECK(s.index == 1);
  CHECK(s.count == 3);
  env = {{"SLURM_ARRAY_TASK_ID", "12"}, {"SLURM_ARRAY_TASK_MIN", "10"}, {"SLURM_ARRAY_TASK_MAX", "13"}};
  s = study_shard(std::nullopt, getenv);
  CHECK(s.index == 2);
  CHECK(s.count == 4);
  CHECK(study_shard(std::string("1/2"), getenv).count == 2);  // the option wins over the environment
  CHECK_THROWS_AS(study_shard(std::string("3/3"), getenv), UserError);
  CHECK_THROWS_AS(study_shard(std::string("x"), getenv), UserError);
  env = {{"SLURM_ARRAY_TASK_ID", "1"}};
  CHECK_THROWS_AS(study_shard(std::nullopt, getenv), UserError);
}

TEST_CASE("study corruption: the same file and seed give the same input, bit for bit") {
  ScratchDir dir;
  make_images(dir);
  const std::string bytes = read_file_text(dir / "train/a.png");
  CHECK(study_run_seed(bytes, 0) == study_run_seed(bytes, 0));
  CHECK(study_run_seed(bytes, 0) != study_run_seed(bytes, 1));
  CHECK(study_run_seed(bytes, 0) != study_run_seed(read_file_text(dir / "train/b.png"), 0));
  CHECK(content_hash_hex("") == "cbf29ce484222325");  // FNV-1a 64's offset basis
  for (const char* task_name : {"denoise", "inpaint", "sr", "jpeg"}) {
    const TaskInfo& task = *find_task(task_name);
    Args args;
    args.set("image", dir / "train/a.png");
    args.set("mask-kind", "random:0.5");
    args.set("quality", "10");
    auto observed = [&](int seed) {
      RunPlan plan;
      plan.seed = study_run_seed(bytes, seed);
      plan.iters = 1;
      return prepare_run(task, args, plan).setup.observed.pixels;
    };
    CHECK_MESSAGE(observed(0) == observed(0), task_name);
    if (std::string(task_name) != "sr" && std::string(task_name) != "jpeg")  // deterministic operators
      CHECK_MESSAGE(observed(0) != observed(1), task_name);
  }
}

TEST_CASE("study run: resumes after a kill, shards add up, other settings are refused, bad input") {
  auto run = [&](std::vector<std::string> args) {
    std::string error;
    const int status = run_cli(args, &error);
    return std::make_pair(status, error);
  };
  // The reference: one uninterrupted study (2 + 1 images x 2 seeds = 6 runs), made once for all the
  // subcases (doctest re-enters the test case for each).
  static ScratchDir dir;
  static std::map<std::string, std::string> reference;
  const std::string whole = dir / "whole";
  if (reference.empty()) {
    make_images(dir);
    REQUIRE(run(study_args(dir, whole)).first == 0);
    reference = run_files(whole);
  }
  REQUIRE(reference.size() == 6);
  const std::string settings = read_file_text(whole + "/study.json");
  CHECK(settings.find("\"iters\": 8") != std::string::npos);
  CHECK(settings.find("\"paper_iters\": 3000") != std::string::npos);
  // Each run holds its trace with the signals, at the trace interval.
  const std::string one = reference.begin()->second;
  for (const char* key : {"\"done\": true", "\"split\": \"test\"", "\"image_hash\": ", "{\"iter\": 4, ", "\"wmv\": ",
                          "\"emv\": ", "\"mse_avg\": "})
    CHECK_MESSAGE(one.find(key) != std::string::npos, key);

  SUBCASE("the report, with the rules replayed under another patience; bad report commands") {
    const std::string copy = dir / "reported";
    fs::copy(whole, copy, fs::copy_options::recursive);
    REQUIRE(run({"study", "report", copy, "--stop-patience", "8", "--stop-min-iter", "4"}).first == 0);
    const std::string md = read_file_text(copy + "/report/report.md");
    CHECK_MESSAGE(md.find("patience 8, floor 4") != std::string::npos, md);
    CHECK(fs::exists(copy + "/report/study.html"));
    CHECK(fs::exists(copy + "/report/results.csv"));
    CHECK(run({"study", "report"}).first == 2);
    CHECK(run({"study", "report", dir / "nope"}).first == 2);
    CHECK(run({"study", "report", copy, "--stop-patience", "0"}).first == 2);
  }
  SUBCASE("a re-run does nothing; a re-run after losing runs redoes exactly those") {
    REQUIRE(run(study_args(dir, whole)).first == 0);
    CHECK(run_files(whole) == reference);
    const std::string copy = dir / "copy";
    fs::copy(whole, copy, fs::copy_options::recursive);
    fs::remove(copy + "/runs/" + reference.begin()->first);
    REQUIRE(run(study_args(dir, copy)).first == 0);
    CHECK(run_files(copy) == reference);
  }
  SUBCASE("killed mid-way (a real process, SIGKILL), then resumed: the same runs") {
    const std::string dip = self_dir() + "/dip";
    if (!fs::exists(dip)) {
      MESSAGE("no dip binary next to the test binary; kill test skipped");
      return;
    }
    const std::string killed = dir / "killed";
    const pid_t pid = spawn(dip, study_args(dir, killed));
    REQUIRE(pid >= 0);
    // Kill it once the first run is saved (while the second trains).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline &&
           (!fs::exists(killed + "/runs") || run_files(killed).empty()))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    const size_t saved = run_files(killed).size();
    CHECK(saved >= 1);
    CHECK(saved < 6);
    REQUIRE(run(study_args(dir, killed)).first == 0);
    CHECK(run_files(killed) == reference);
  }
  SUBCASE("preempted in the middle of a run (SIGTERM, as Slurm sends): the re-run continues it, same numbers") {
    const std::string dip = self_dir() + "/dip";
    if (!fs::exists(dip)) {
      MESSAGE("no dip binary next to the test binary; preemption test skipped");
      return;
    }
    const std::string preempted = dir / "preempted";
    std::vector<std::string> args = study_args(dir, preempted);
    args.push_back("--checkpoint-every");
    args.push_back("2");
    const pid_t pid = spawn(dip, args);
    REQUIRE(pid >= 0);
    auto checkpoints = [&] {
      std::vector<std::string> found;
      if (fs::exists(preempted + "/runs"))
        for (const auto& e : fs::directory_iterator(preempted + "/runs"))
          if (e.path().extension() == ".checkpoint") found.push_back(e.path().string());
      return found;
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline && checkpoints().empty())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK((WIFEXITED(status) ? WEXITSTATUS(status) : -1) == 143);
    CHECK(checkpoints().size() == 1);  // the run it was in, saved on the way out
    REQUIRE(run(study_args(dir, preempted)).first == 0);
    CHECK(run_files(preempted) == reference);
    CHECK(checkpoints().empty());
  }
  SUBCASE("three shards, each in its own folder: disjoint, and together the unsharded runs") {
    std::map<std::string, std::string> all;
    for (int i = 0; i < 3; ++i) {
      const std::string shard_dir = dir / ("shard" + std::to_string(i));
      std::vector<std::string> args = study_args(dir, shard_dir);
      args.push_back("--shard");
      args.push_back(std::to_string(i) + "/3");
      REQUIRE(run(args).first == 0);
      const auto files = run_files(shard_dir);
      CHECK(files.size() == 2);  // runs i and i + 3
      for (const auto& [name, text] : files) {
        CHECK_MESSAGE(!all.count(name), name, " done by two shards");
        all[name] = text;
      }
    }
    CHECK(all == reference);
  }
  SUBCASE("a resume with other settings is refused, naming the difference") {
    std::vector<std::string> args = study_args(dir, whole);
    args[13] = "20";  // --iters 8 -> 20
    const auto [status, error] = run(args);
    CHECK(status == 2);
    CHECK_MESSAGE(error.find("other settings") != std::string::npos, error);
    CHECK_MESSAGE(error.find("\"iters\": 8") != std::string::npos, error);
    CHECK(run_files(whole) == reference);  // nothing touched
  }
  SUBCASE("bad input: an empty folder; an unreadable image among good ones") {
    fs::create_directories(dir / "empty");
    std::vector<std::string> args = study_args(dir, dir / "e");
    args[7] = dir / "empty";  // --test
    const auto [status, error] = run(args);
    CHECK(status == 2);
    CHECK_MESSAGE(error.find("no images") != std::string::npos, error);
    CHECK(!fs::exists(dir / "e"));

    dip::test::write_file(dir / "test/broken.png", "not a png at all");
    const std::string mixed = dir / "mixed";
    REQUIRE(run(study_args(dir, mixed)).first == 0);
    const auto files = run_files(mixed);
    CHECK(files.size() == 6);  // every good run saved
    CHECK(fs::exists(mixed + "/runs/test-0000-broken-s0-tv0.failed"));
    CHECK(fs::exists(mixed + "/runs/test-0000-broken-s1-tv0.failed"));
    fs::remove(dir / "test/broken.png");
  }
  CHECK(run({"study", "run", "--task", "denoise"}).first == 2);
  CHECK(run({"study", "frobnicate"}).first == 2);
  CHECK(run({"study", "run", "--task", "jpeg", "--train", dir / "train", "--test", dir / "test", "--out",
             dir / "j"}).first == 2);  // jpeg needs --quality
}
