#include "apps/lib/study_run.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "apps/lib/atomic_file.h"
#include "apps/lib/interrupt.h"
#include "apps/lib/json.h"
#include "apps/lib/metrics.h"
#include "apps/lib/options.h"
#include "apps/lib/progress.h"
#include "apps/lib/run.h"
#include "apps/lib/tasks.h"
#include "apps/lib/user_error.h"
#include "apps/lib/vit_options.h"
#include "tensor/cpu/gemm.h"
#include "tensor/noise.h"

namespace dip::apps {

namespace fs = std::filesystem;

// ---- planning ----

namespace {

// "0.001" for 1e-3, "0" for 0: a setting's name in run ids and file names.
std::string setting_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Keeps letters, digits, '-', '_' and '.'; anything else becomes '_'.
std::string id_safe(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  return out;
}

bool has_image_extension(const std::string& name) {
  std::string ext = fs::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* e : {".png", ".jpg", ".jpeg", ".bmp", ".tga"})
    if (ext == e) return true;
  return false;
}

}  // namespace

std::vector<PlannedRun> plan_study_runs(const std::vector<std::string>& train_images,
                                      const std::vector<std::string>& test_images, const std::vector<int>& seeds,
                                      const std::vector<double>& tv_settings) {
  std::vector<PlannedRun> runs;
  for (const auto& [split, images] : {std::pair{"train", &train_images}, std::pair{"test", &test_images}}) {
    for (size_t i = 0; i < images->size(); ++i)
      for (int seed : seeds)
        for (double tv : tv_settings) {
          PlannedRun r;
          r.index = static_cast<int>(runs.size());
          r.split = split;
          r.path = (*images)[i];
          r.image = fs::path(r.path).filename().string();
          r.seed = seed;
          r.tv = tv;
          char num[24];
          std::snprintf(num, sizeof num, "%04zu", i);
          r.id = r.split + "-" + num + "-" + id_safe(fs::path(r.path).stem().string()) + "-s" + std::to_string(seed) +
                 "-tv" + setting_text(tv);
          runs.push_back(r);
        }
  }
  return runs;
}

std::vector<std::string> list_study_images(const std::string& dir, const std::string& option) {
  std::error_code ec;
  DIP_USER_CHECK(fs::is_directory(dir, ec), "--", option, ": '", dir, "' is not a folder");
  std::vector<std::string> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && has_image_extension(e.path().filename().string())) files.push_back(e.path().string());
  DIP_USER_CHECK(!ec, "--", option, ": cannot list '", dir, "': ", ec.message());
  DIP_USER_CHECK(!files.empty(), "--", option, ": no images in '", dir, "' (.png, .jpg, .jpeg, .bmp, .tga)");
  std::sort(files.begin(), files.end());
  return files;
}

Shard study_shard(const std::optional<std::string>& option,
                  const std::function<const char*(const char*)>& getenv) {
  Shard s;
  auto parse = [](const std::string& text, const char* what) {
    char* end = nullptr;
    const long v = std::strtol(text.c_str(), &end, 10);
    DIP_USER_CHECK(!text.empty() && *end == '\0' && v >= 0 && v < 1000000, what, ": '", text, "' is not a count");
    return static_cast<int>(v);
  };
  if (option) {
    const size_t slash = option->find('/');
    DIP_USER_CHECK(slash != std::string::npos, "--shard: '", *option, "' is not I/N (e.g. 0/4)");
    s.index = parse(option->substr(0, slash), "--shard");
    s.count = parse(option->substr(slash + 1), "--shard");
  } else if (const char* id = getenv("SLURM_ARRAY_TASK_ID")) {
    const int task = parse(id, "SLURM_ARRAY_TASK_ID");
    const char* count = getenv("SLURM_ARRAY_TASK_COUNT");
    const char* min = getenv("SLURM_ARRAY_TASK_MIN");
    const char* max = getenv("SLURM_ARRAY_TASK_MAX");
    const int lo = min ? parse(min, "SLURM_ARRAY_TASK_MIN") : 0;
    DIP_USER_CHECK(count || max, "SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_COUNT or _MAX");
    s.count = count ? parse(count, "SLURM_ARRAY_TASK_COUNT") : parse(max, "SLURM_ARRAY_TASK_MAX") - lo + 1;
    s.index = task - lo;
  }
  DIP_USER_CHECK(s.count >= 1 && s.index >= 0 && s.index < s.count, "shard ", s.index, "/", s.count,
                 " is not one of 0..", s.count - 1, " (array ids must be consecutive)");
  return s;
}

std::string content_hash_hex(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

uint64_t study_run_seed(const std::string& file_bytes, int seed) {
  const uint64_t h = std::strtoull(content_hash_hex(file_bytes).c_str(), nullptr, 16);
  return noise_detail::mix64(h ^ noise_detail::mix64(static_cast<uint64_t>(seed) + 1));
}

// ---- the command ----

namespace {

const std::vector<std::string> kStudyTasks = {"denoise", "sr", "inpaint", "jpeg"};

// The study's own options; the task's (minus its input files) and the Transformer ones follow.
std::vector<OptionSpec> study_options() {
  return {
      text_option("task", "TASK", "denoise, sr, inpaint or jpeg", "", kStudyTasks),
      text_option("train", "DIR", "training images: the iteration count T* is learned on them"),
      text_option("test", "DIR", "test images: T* and every stopping rule are evaluated on them"),
      text_option("out", "STUDY", "the study folder (created; a re-run resumes it)"),
      text_option("net", "NET", "generator network", "skip", {"skip", "vit", "vit-ms", "vit-na"}),
      int_option("size", "N", "resize each image so its longer side is N pixels first (CPU proxies)", 32, 16384),
      int_option("iters", "N", "iterations of every run, the cap of every rule (default: the task's)", 1, 1000000),
      int_option("every", "K", "trace interval: PSNR, MSE and the stopping signals every K iterations", 1, 10000,
                 "10"),
      text_option("seeds", "LIST", "seeds, comma-separated (each seeds the corruption, the network and z)", "0"),
      text_option("tv", "LIST", "TV weights to compare, comma-separated; 0 = plain DIP", "0"),
      float_option("lr", "LR", "Adam learning rate (default: the task's)", 0.0, 10.0, true),
      float_option("reg-noise", "STD", "input noise std (default: the task's)", 0.0, 10.0, false),
      int_option("stop-window", "W", "wmv's window, evaluated by the report (a multiple of --every)", 1, 100000,
                 "100"),
      int_option("stop-patience", "P", "the rules' patience in iterations, evaluated by the report", 1, 1000000,
                 "1000"),
      int_option("stop-min-iter", "F", "the rules' floor, evaluated by the report", 0, 1000000, "0"),
      int_option("checkpoint-every", "N",
                 "also save a run's state every N iterations (runs/ID.checkpoint; it is always saved when the job "
                 "is interrupted or preempted), so a killed job's re-run continues the run instead of restarting it",
                 1, 1000000),
      text_option("shard", "I/N", "do only the runs whose index is I mod N (default: from SLURM_ARRAY_TASK_ID)"),
      text_option("device", "auto|cpu|cuda", "where to train", "auto", {"auto", "cpu", "cuda"}),
      int_option("threads", "N", "CPU threads (default: all cores)", 1, 1024),
      flag_option("quiet", "print errors only"),
      flag_option("help", "show this help"),
  };
}

// The task's options that describe the corruption (sigma, factor, ...), not input files.
std::vector<OptionSpec> corruption_options(const TaskInfo& task) {
  std::vector<OptionSpec> out;
  for (const OptionSpec& s : task.options)
    if (s.metavar != "PATH") out.push_back(s);
  return out;
}

std::vector<OptionSpec> all_specs(const TaskInfo* task) {
  std::vector<OptionSpec> specs = study_options();
  if (task)
    for (const OptionSpec& s : corruption_options(*task)) specs.push_back(s);
  for (const OptionSpec& s : vit_options()) specs.push_back(s);
  return specs;
}

template <typename T>
std::vector<T> parse_list(const std::string& option, const std::string& text, T lo) {
  std::vector<T> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    DIP_USER_CHECK(!item.empty() && *end == '\0' && std::isfinite(v) && v >= lo &&
                       (std::is_floating_point_v<T> || v == std::floor(v)),
                   "--", option, ": '", item, "' is not ", std::is_floating_point_v<T> ? "a number" : "an integer",
                   " >= ", lo);
    DIP_USER_CHECK(std::find(out.begin(), out.end(), static_cast<T>(v)) == out.end(), "--", option, ": '", item,
                   "' is listed twice");
    out.push_back(static_cast<T>(v));
  }
  DIP_USER_CHECK(!out.empty() && text.back() != ',', "--", option, ": give a comma-separated list, got '", text, "'");
  return out;
}


std::string json_names(const std::vector<std::string>& paths) {
  std::string out = "[";
  for (size_t i = 0; i < paths.size(); ++i)
    out += (i ? ", " : "") + json_quote(fs::path(paths[i]).filename().string());
  return out + "]";
}

// study.json: everything that decides a run's result, one key per line so that a mismatch can be
// named. The device and thread count are not in it: they change speed, not what is computed.
std::string study_settings_json(const Args& a, const TaskInfo& task, int paper_iters, int iters,
                                const std::vector<int>& seeds, const std::vector<double>& tvs,
                                const std::vector<std::string>& train, const std::vector<std::string>& test,
                                size_t runs) {
  std::ostringstream os;
  os << "{\n  \"version\": 1,\n  \"task\": " << json_quote(task.name) << ",\n  \"net\": "
     << json_quote(a.text("net", "skip")) << ",\n  \"size\": " << a.integer("size", 0) << ",\n  \"iters\": " << iters
     << ",\n  \"every\": " << a.integer("every", 10) << ",\n  \"seeds\": [";
  for (size_t i = 0; i < seeds.size(); ++i) os << (i ? ", " : "") << seeds[i];
  os << "],\n  \"tv\": [";
  for (size_t i = 0; i < tvs.size(); ++i) os << (i ? ", " : "") << setting_text(tvs[i]);
  os << "],\n  \"paper_iters\": " << paper_iters << ",\n  \"stop\": {\"window\": " << a.integer("stop-window", 100)
     << ", \"patience\": " << a.integer("stop-patience", 1000) << ", \"min_iter\": " << a.integer("stop-min-iter", 0)
     << ", \"check_every\": " << a.integer("every", 10) << ", \"emv_alpha\": 0.1},\n  \"train_options\": {";
  // The options that change what a run computes, as given (task options, lr, reg-noise, ViT knobs).
  bool first = true;
  std::vector<OptionSpec> tuned = corruption_options(task);
  for (const char* name : {"lr", "reg-noise"}) tuned.push_back(text_option(name, "", ""));
  for (const OptionSpec& s : vit_options()) tuned.push_back(s);
  for (const OptionSpec& s : tuned)
    if (a.has(s.name)) os << (first ? "" : ", ") << json_quote(s.name) << ": " << json_quote(a.text(s.name)), first = false;
  os << "},\n  \"train\": " << json_names(train) << ",\n  \"test\": " << json_names(test) << ",\n  \"runs\": " << runs
     << "\n}\n";
  return os.str();
}

// The first line where two settings texts differ, for the refusal message.
std::string first_difference(const std::string& a, const std::string& b) {
  std::stringstream sa(a), sb(b);
  std::string la, lb;
  while (true) {
    const bool ga = static_cast<bool>(std::getline(sa, la)), gb = static_cast<bool>(std::getline(sb, lb));
    if (!ga && !gb) return "";
    if (!ga) la.clear();
    if (!gb) lb.clear();
    if (la != lb) {
      auto trim = [](std::string s) {
        s.erase(0, s.find_first_not_of(' '));
        if (!s.empty() && s.back() == ',') s.pop_back();
        return s.size() > 120 ? s.substr(0, 117) + "..." : s;
      };
      return "it has " + trim(la) + ", this command " + trim(lb);
    }
  }
}

void make_dir(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  DIP_USER_CHECK(!ec && fs::is_directory(path), "--out: cannot create '", path, "': ", ec.message());
}

// The iteration count the task's notebook uses for these options (sr: by factor).
int task_default_iters(const TaskInfo& task, const Args& a) { return task_defaults(task, a).iters; }

}  // namespace

std::string study_run_help() {
  return "dip study run: DIP over a training and a test folder, traced for every stopping rule\n\n"
         "usage:\n"
         "  dip study run --task denoise --train DIR --test DIR --out STUDY [--size 128 --iters 1200]\n"
         "  dip study report STUDY [--stop-patience P] [--stop-min-iter F]\n"
         "                            the tables and plots (seconds, no GPU); the rules can be\n"
         "                            replayed with another patience or floor than the study's\n\n"
         "study options:\n" +
         format_options(study_options()) +
         "\nthe task's own options (--sigma, --factor, --mask-kind, --quality) and the Transformer options\n"
         "(--patch, --width, ...) are taken as dip TASK takes them; jpeg needs --quality.\n\n"
         "A re-run of the same command resumes the study; under Slurm (a job array) each task does its\n"
         "share (see apps/slurm/study.sh).\n";
}

int study_run_main(const std::vector<std::string>& argv) {
  // The task decides which options exist, so find it first.
  const TaskInfo* task = nullptr;
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string name;
    if (argv[i] == "--task" && i + 1 < argv.size()) name = argv[i + 1];
    else if (argv[i].rfind("--task=", 0) == 0) name = argv[i].substr(7);
    if (!name.empty() && std::find(kStudyTasks.begin(), kStudyTasks.end(), name) != kStudyTasks.end())
      task = find_task(name);
  }
  const Args a = parse_options(all_specs(task), argv, "dip study run");
  DIP_USER_CHECK(task, "dip study run: --task is required (", "denoise, sr, inpaint or jpeg)");
  for (const char* required : {"train", "test", "out"})
    DIP_USER_CHECK(a.has(required), "dip study run: --", required, " is required (see dip study run --help)");
  DIP_USER_CHECK(task->name != "jpeg" || a.has("quality"),
                 "dip study run: a jpeg study needs --quality (the compression made from each clean image)");
  const bool quiet = a.flag("quiet");
  const int every = a.integer("every", 10);
  // The runs are traced at fixed count (the report replays every rule); the signals are checked
  // at every trace point, so the window must be a multiple of --every.
  StopOptions stop_defaults;
  stop_defaults.check_every = every;
  const StopOptions stop = stop_options_from(a, stop_defaults);
  const std::vector<int> seeds = parse_list<int>("seeds", a.text("seeds", "0"), 0);
  const std::vector<double> tvs = parse_list<double>("tv", a.text("tv", "0"), 0.0);
  const std::vector<std::string> train = list_study_images(a.text("train"), "train");
  const std::vector<std::string> test = list_study_images(a.text("test"), "test");
  const std::vector<PlannedRun> runs = plan_study_runs(train, test, seeds, tvs);
  const Shard shard = study_shard(a.has("shard") ? std::optional(a.text("shard")) : std::nullopt,
                                  [](const char* name) { return std::getenv(name); });

  const Device device = device_from(a);
  if (a.has("threads")) cpu::set_num_threads(a.integer("threads", 0));
  // The task's own count (the notebooks'): the report's "fixed" rule and the default cap.
  const int paper_iters = task_default_iters(*task, a);
  const int iters = a.integer("iters", paper_iters);

  // ---- the study folder: settings first, so that a mismatched resume is refused before any work ----
  const std::string out = a.text("out");
  make_dir(out + "/runs");
  const std::string settings =
      study_settings_json(a, *task, paper_iters, iters, seeds, tvs, train, test, runs.size());
  if (!create_file_exclusive(out + "/study.json", settings)) {
    const std::string existing = read_file_text(out + "/study.json");
    DIP_USER_CHECK(existing == settings, "dip study run: '", out, "' holds a study with other settings (",
                   first_difference(existing, settings), "); use another --out, or the same command to resume");
  }

  std::vector<const PlannedRun*> mine;
  int done_before = 0;
  for (const PlannedRun& r : runs) {
    if (r.index % shard.count != shard.index) continue;
    if (fs::exists(out + "/runs/" + r.id + ".json")) ++done_before;
    else mine.push_back(&r);
  }
  auto say = [&](const std::string& line) {
    if (quiet) return;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  say("study: " + std::to_string(runs.size()) + " runs (" + std::to_string(train.size()) + " train + " +
      std::to_string(test.size()) + " test images x " + std::to_string(seeds.size()) + " seeds x " +
      std::to_string(tvs.size()) + " settings), " + std::to_string(iters) + " iterations each" +
      (shard.count > 1 ? "; shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) : "") + ": " +
      std::to_string(mine.size()) + " to do, " + std::to_string(done_before) + " already done");

  // ---- the runs ----
  install_interrupt_handler();
  const auto start = std::chrono::steady_clock::now();
  int finished = 0, failed = 0;
  for (const PlannedRun* r : mine) {
    const std::string base = out + "/runs/" + r->id;
    std::string bytes;
    PreparedRun run;
    try {
      bytes = read_file_text(r->path);
      Args run_args = a;
      run_args.set("image", r->path);
      run_args.set("tv", setting_text(r->tv));
      RunPlan plan;
      plan.device = device;
      plan.size = a.integer("size", 0);
      plan.iters = iters;
      plan.seed = study_run_seed(bytes, r->seed);
      plan.stop = stop;
      run = prepare_run(*task, run_args, plan);
    } catch (const std::exception& e) {
      // One unusable image is reported and skipped; the others' runs go on.
      ++failed;
      write_file_atomic(base + ".failed", std::string(e.what()) + "\n");
      std::fprintf(stderr, "study: %s skipped: %s\n", r->id.c_str(), e.what());
      continue;
    }
    run.train.every = every;
    run.train.record_signals = true;
    // A preempted or interrupted run leaves its state in runs/ID.checkpoint; the next job continues
    // it (the study's settings are fixed by study.json, so the state fits) with the same numbers.
    Checkpointing checkpointing;
    const std::string checkpoint_path = base + ".checkpoint";
    checkpointing.every = a.integer("checkpoint-every", 0);
    checkpointing.save = [&](const std::string& state, int) { write_file_atomic(checkpoint_path, state); };
    if (fs::exists(checkpoint_path)) {
      try {
        checkpointing.resume = read_file_text(checkpoint_path);
        say("study: " + r->id + " continues from iteration " +
            std::to_string(state_next_iter(checkpointing.resume, checkpoint_path)));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "study: warning: %s; %s starts again\n", e.what(), r->id.c_str());
        checkpointing.resume.clear();
      }
    }
    Progress progress(run.train.iters, Progress::Style::Quiet, stderr);
    const TrainResult result = train_dip(*run.net, run.setup.fit, run.train, progress, {}, checkpointing);
    if (result.interrupted) {
      say("study: interrupted during " + r->id + " at iteration " + std::to_string(result.iters_done) +
          "; its state is in " + checkpoint_path + " and a re-run continues it");
      return interrupt_exit_status();
    }
    const RunMetrics m = summarize_run(*task, run, result, precision_name(device), r->seed);
    std::ostringstream os;
    os << "{\n\"id\": " << json_quote(r->id) << ",\n\"index\": " << r->index << ",\n\"split\": " << json_quote(r->split)
       << ",\n\"image\": " << json_quote(r->image) << ",\n\"image_hash\": " << json_quote(content_hash_hex(bytes))
       << ",\n\"seed\": " << r->seed << ",\n\"tv\": " << setting_text(r->tv) << ",\n\"done\": true,\n\"metrics\": "
       << metrics_json(m) << "}\n";
    write_file_atomic(base + ".json", os.str());
    std::remove((base + ".failed").c_str());
    std::remove(checkpoint_path.c_str());
    ++finished;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double eta = elapsed / (finished + failed) * (mine.size() - finished - failed);
    const auto best = trace_best_psnr(m.trace, m.avg_psnr.has_value());
    say("study: " + std::to_string(done_before + finished) + "/" + std::to_string(done_before + mine.size()) + " " +
        r->id + ": " + std::to_string(m.iters) + " iterations in " + Progress::format_duration(m.seconds) +
        ", final " + db_text(m.stop.returned_psnr) + ", best " +
        (best ? db_text(best->first) + " at " + std::to_string(best->second) : std::string("-")) + "; ETA " +
        Progress::format_duration(eta));
  }
  if (failed > 0)
    std::fprintf(stderr, "study: %d run(s) skipped for bad input (runs/*.failed); the others are saved\n", failed);
  say("study: done; `dip study report " + out + "` writes the tables");
  return 0;
}

}  // namespace dip::apps
