#include "apps/lib/run.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "apps/lib/atomic_file.h"
#include "apps/lib/image_io.h"
#include "apps/lib/interrupt.h"
#include "apps/lib/output_dir.h"
#include "apps/lib/progress.h"
#include "apps/lib/report.h"
#include "apps/lib/state_file.h"
#include "apps/lib/task_common.h"
#include "apps/lib/user_error.h"
#include "apps/lib/vit_options.h"
#include "gpu/runtime.h"
#include "nn/vit.h"
#include "tensor/cpu/gemm.h"

namespace dip::apps {

std::vector<OptionSpec> common_options(const TaskInfo& task) {
  std::vector<std::string> nets = {"skip"};
  for (const std::string& v : vit_variants()) nets.push_back(v);
  std::string net_list;
  for (const std::string& n : nets) net_list += (net_list.empty() ? "" : "|") + n;
  return {
      text_option("net", net_list, "generator network", "skip", nets),
      text_option("device", "auto|cpu|cuda",
                  "where to train; auto without a GPU runs a quick CPU profile (--size 128, --iters " +
                      std::to_string(task.cpu_iters) + ") unless --size or --iters is given",
                  "auto", {"auto", "cpu", "cuda"}),
      int_option("iters", "N", "iterations (default: the task's, see below)", 1, 1000000),
      float_option("lr", "LR", "Adam learning rate (default: the task's)", 0.0, 10.0, true),
      float_option("reg-noise", "STD", "std of the noise added to the input each iteration (default: the task's)",
                   0.0, 10.0, false),
      int_option("seed", "N", "seed for the noise, the network and the input", 0, 2147483647, "0"),
      text_option("out", "DIR", "output directory (replaced if it holds an earlier dip output)", "out/" + task.name),
      int_option("every", "N", "trace and snapshot interval in iterations", 1, 1000000, "100"),
      int_option("threads", "N", "CPU threads (default: all cores)", 1, 1024),
      int_option("size", "N", "resize the input so its longer side is N pixels first", 32, 16384),
      text_option("stop", "RULE",
                  "when to stop: fixed = run --iters; wmv / emv = stop at the minimum of the outputs' windowed / "
                  "exponential moving variance (--iters is the cap); default fixed, wmv in the quick CPU profile",
                  "", {"fixed", "wmv", "emv"}),
      int_option("stop-window", "W", "wmv: iterations in the variance window (a multiple of --stop-check)", 1, 100000,
                 "100"),
      int_option("stop-patience", "P", "iterations without a new minimum before the rule stops the run", 1, 1000000,
                 "1000"),
      int_option("stop-min-iter", "F", "the rule's floor: no stop point before iteration F", 0, 1000000, "0"),
      int_option("stop-check", "K", "evaluate the stopping signals every K iterations", 1, 10000, "10"),
      int_option("checkpoint-every", "N",
                 "save the run's whole state every N iterations into OUT.partial/ (it is always saved when the run "
                 "is interrupted), so a killed run can be continued",
                 1, 1000000),
      text_option("resume", "DIR",
                  "continue the unfinished run of --out DIR from its checkpoint, with its own settings (give only "
                  "--threads/--quiet); the result is the same as an uninterrupted run's"),
      float_option("tv", "LAMBDA", "weight of the isotropic total-variation regulariser (DIP-TV); 0 = plain DIP", 0.0,
                   1e6, false, "0"),
      flag_option("quiet", "print errors only"),
      flag_option("help", "show this help"),
  };
}

double estimate_training_bytes(int height, int width, int max_channels) {
  // DIP's skip net (128 channels) peaks at about 12 KB per output pixel during a training step on
  // the CPU (dip-bench: 188 MiB at 128x128); 16 KB leaves room for allocator slack and workspaces.
  // (PyTorch's CUDA caching allocator reached 35 KB per pixel: 9.3 GB at 512x512.)
  return 16e3 * height * width * std::max(1, max_channels) / 128.0;
}

void check_fits_memory(double need, double memory, const std::string& owner, const std::string& what,
                       const std::string& remedy) {
  if (memory <= 0 || need <= 0.8 * memory) return;
  char text[200];
  std::snprintf(text, sizeof text, "%s needs about %.1f GiB to train, more than 80%% of %s (%.1f GiB); %s",
                what.c_str(), need / (1 << 30), owner.c_str(), memory / (1 << 30), remedy.c_str());
  throw UserError(text);
}

double host_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * page : 0.0;
}

StopOptions stop_options_from(const Args& args, StopOptions o) {
  if (args.has("stop")) o.kind = *parse_stop_kind(args.text("stop"));
  o.window = args.integer("stop-window", o.window);
  o.patience = args.integer("stop-patience", o.patience);
  o.min_iter = args.integer("stop-min-iter", o.min_iter);
  o.check_every = args.integer("stop-check", o.check_every);
  const std::string problem = check_stop_options(o);
  DIP_USER_CHECK(problem.empty(), "--stop-window: ", problem);
  return o;
}

Device device_from(const Args& args) {
  const std::string device_arg = args.text("device", "auto");
  if (device_arg == "cuda") {
    DIP_USER_CHECK(gpu::available(), "--device cuda: no usable GPU (", gpu::describe(), ")");
    return Device::CUDA;
  }
  if (device_arg == "auto" && gpu::available()) return Device::CUDA;
  return Device::CPU;
}

PreparedRun prepare_run(const TaskInfo& task, const Args& args, const RunPlan& plan) {
  PreparedRun run;
  run.device = plan.device;
  const Device device = plan.device;
  const std::string net_name = run.net_name = args.text("net", "skip");
  TaskContext ctx;
  ctx.device = device;
  ctx.size = plan.size;
  ctx.size_shrinks_only = plan.size_shrinks_only;
  // A Transformer generator starts from its variant's own defaults; its token grids fix the multiple
  // the image sides must have.
  VitConfig vit_config;
  int net_multiple = 32;
  if (net_name != "skip") vit_config = vit_defaults(net_name);
  apply_vit_options(args, net_name, vit_config);
  if (net_name != "skip") net_multiple = std::max(32, vit_multiple(vit_config));
  ctx.multiple = std::max(task.multiple, net_multiple);
  // 5 stride-2 scales: the deepest feature map must stay >= 2x2 (BatchNorm needs more than one
  // value per channel, reflection padding needs more than one pixel).
  ctx.min_side = 64;
  ctx.seed = plan.seed;
  // Memory: what a training step of the widest network (128 channels) needs per pixel, against 80% of
  // the host's memory (CPU) or of the smallest supported GPU (80 GiB; the runtime reports no size).
  ctx.bytes_per_pixel = estimate_training_bytes(1, 1, net_name == "skip" ? 128 : 256);
  ctx.memory_bytes = device == Device::CUDA ? 80.0 * (1ull << 30) : host_memory_bytes();
  ctx.memory_owner = device == Device::CUDA ? "the GPU (80 GiB assumed)" : "the machine";
  ctx.note = plan.note;
  run.setup = task.build(args, ctx);
  TaskSetup& setup = run.setup;

  // The run's settings, in one place: the task's defaults (the notebook's, for this case), then the
  // network's own learning rate, then the options.
  const TaskDefaults& defaults = task_defaults(task, args);
  TrainOptions& train = run.train;
  train.iters = defaults.iters;
  train.lr = defaults.lr;
  train.reg_noise_std = defaults.reg_noise_std;
  train.ema = defaults.ema;
  train.backtrack = defaults.backtrack;
  if (plan.iters > 0) train.iters = plan.iters;
  // The ViTs train with the LR they were tuned with (nn/vit.h).
  if (net_name != "skip") train.lr = vit_learning_rate(net_name);
  if (args.has("lr")) train.lr = static_cast<float>(args.real("lr", train.lr));
  if (args.has("reg-noise")) train.reg_noise_std = static_cast<float>(args.real("reg-noise", 0.0));
  train.every = args.integer("every", 100);
  train.seed = stream_seed(ctx.seed, Stream::RegNoise);
  train.tv_weight = static_cast<float>(args.real("tv", 0.0));
  train.stop = plan.stop;

  const int height = static_cast<int>(setup.fit.input.size(2)), width = static_cast<int>(setup.fit.input.size(3));
  Rng net_rng(stream_seed(ctx.seed, Stream::Network));
  const int input_depth = static_cast<int>(setup.fit.input.size(1));
  // The network's own footprint (its parameters and activations at this size), checked before
  // anything is allocated: a network too large for the machine is refused with a message.
  VitConfig vc = vit_config;
  vc.in_channels = input_depth;
  vc.out_channels = 3;
  vc.image_height = height;
  vc.image_width = width;
  const double need =
      net_name == "skip" ? estimate_training_bytes(height, width, 128) : vit_footprint(vc).training_bytes();
  check_fits_memory(need, ctx.memory_bytes, ctx.memory_owner,
                    "the " + net_name + " network at " + std::to_string(height) + "x" + std::to_string(width),
                    net_name == "skip" ? "lower --size" : "lower --size, --width, --depth or --mlp-ratio");
  try {
    if (net_name == "skip") {
      SkipConfig skip_config = task.net;
      skip_config.in_channels = input_depth;
      run.net = skip(skip_config, net_rng);
    } else {
      run.net = make_vit(vc, net_rng);
    }
  } catch (const Error& e) {
    throw UserError(std::string("cannot build the ") + net_name + " network for this image: " + e.what());
  }
  run.net->to(device);
  return run;
}

std::string precision_name(Device device) {
  return device == Device::CUDA && gpu::precision() == gpu::Precision::TF32 ? "tf32" : "fp32";
}

RunMetrics summarize_run(const TaskInfo& task, const PreparedRun& run, const TrainResult& result,
                         const std::string& precision, uint64_t seed) {
  const TaskSetup& setup = run.setup;
  const TrainOptions& train = run.train;
  RunMetrics m;
  m.task = task.name;
  m.net = run.net_name;
  m.network = run.net->name();
  m.parameters = run.net->num_parameters();
  m.device = device_name(run.device);
  m.precision = precision;
  m.iters = result.iters_done;
  m.seconds = result.seconds;
  m.ms_per_iter = result.iters_done > 0 ? 1e3 * result.seconds / result.iters_done : 0.0;
  m.height = static_cast<int>(setup.fit.input.size(2));
  m.width = static_cast<int>(setup.fit.input.size(3));
  m.seed = static_cast<int>(seed);
  m.backtracks = result.backtracks;
  m.interrupted = result.interrupted;
  m.observed_psnr = setup.observed_psnr;
  m.trace = result.trace;
  m.tv_weight = train.tv_weight;
  StopMetrics& sm = m.stop;
  sm.rule = stop_kind_name(train.stop.kind);
  sm.window = train.stop.window;
  sm.patience = train.stop.patience;
  sm.min_iter = train.stop.min_iter;
  sm.check_every = train.stop.check_every;
  sm.emv_alpha = train.stop.emv_alpha;
  sm.stop_iter = result.stop_iter;
  sm.fired = result.stopped_by_rule;
  sm.stream = result.output_avg ? "ema" : "raw";
  if (setup.fit.ground_truth) {
    const Image& gt = *setup.fit.ground_truth;
    m.final_psnr = psnr(result.output, gt);
    if (result.output_avg) m.avg_psnr = psnr(*result.output_avg, gt);
    if (auto best = trace_best_psnr(result.trace, false)) m.best_psnr = best->first, m.best_iter = best->second;
    const Image& returned = result.output_avg ? *result.output_avg : result.output;
    sm.returned_psnr = psnr(returned, gt);
    sm.returned_mse = mse(returned, gt);
    if (auto oracle = trace_best_psnr(result.trace, result.output_avg.has_value()))
      sm.oracle_psnr = oracle->first, sm.oracle_iter = oracle->second;
  }
  return m;
}

namespace {

constexpr const char* kCheckpointFile = "checkpoint.dip";

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t at = 0;
  for (size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) lines.push_back(text.substr(at, nl - at));
  if (at < text.size()) lines.push_back(text.substr(at));
  return lines;
}

// The options a resumed run may set itself; every other setting comes from its checkpoint.
bool resume_may_set(const std::string& option) {
  return option == "resume" || option == "threads" || option == "quiet";
}

// `--resume DIR`: the run's settings as its checkpoint recorded them, and the checkpoint's bytes.
Args resumed_args(const TaskInfo& task, const Args& given, std::string& state) {
  const std::string dir = given.text("resume");
  for (const auto& [name, value] : given.values())
    DIP_USER_CHECK(resume_may_set(name), "--resume continues the run with the settings it was started with; drop --",
                   name, " (only --threads and --quiet may be given)");
  const std::string path = OutputDir::partial_path(dir) + "/" + kCheckpointFile;
  try {
    state = read_file_text(path);
  } catch (const std::exception&) {
    throw UserError("--resume: no checkpoint of an unfinished run of '" + dir + "' (" + path +
                    " cannot be read); runs save one when interrupted, or every --checkpoint-every N iterations");
  }
  const StateReader r(state, "'" + path + "'");
  DIP_USER_CHECK(r.text("run.task") == task.name, "--resume: '", dir, "' is an unfinished '", r.text("run.task"),
                 "' run, not '", task.name, "' (dip ", r.text("run.task"), " --resume ", dir, ")");
  Args a;
  for (const std::string& name : split_lines(r.text("run.options"))) a.set(name, r.text("option." + name));
  for (const auto& [name, value] : given.values())
    if (name != "resume") a.set(name, value);
  a.set("out", dir);
  return a;
}

}  // namespace

int run_task(const TaskInfo& task, const Args& given) {
  std::string resume_state;
  const bool resume = given.has("resume");
  const Args args = resume ? resumed_args(task, given, resume_state) : given;
  const bool quiet = args.flag("quiet");
  // Messages wait until the task is set up, so a run that fails on bad input prints its error alone.
  std::vector<std::string> pending;
  bool held = true;
  auto say = [&](const std::string& line) {
    if (quiet) return;
    if (held) return pending.push_back(line);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  const std::string out_path = args.text("out", "out/" + task.name);
  OutputDir::check_target(out_path);  // fail before any work

  // ---- device, threads, quick CPU profile ----
  const Device device = device_from(args);
  if (args.has("threads")) cpu::set_num_threads(args.integer("threads", 0));
  RunPlan plan;
  plan.device = device;
  plan.size = args.integer("size", 0);
  plan.iters = args.integer("iters", 0);
  plan.seed = static_cast<uint64_t>(args.integer("seed", 0));
  if (args.text("device", "auto") == "auto" && device == Device::CPU && !args.has("size") && !args.has("iters")) {
    plan.size = 128;
    plan.size_shrinks_only = true;
    plan.iters = task.cpu_iters;
    say("dip: no GPU (" + gpu::describe() + "): quick CPU profile --size 128 (shrinking only), --stop wmv "
        "with patience 300 and floor 200, at most " + std::to_string(task.cpu_iters) +
        " iterations (give --size/--iters, or --device cpu, for the full run)");
  }
  // The quick CPU profile stops automatically, with settings chosen on the study of README "The
  // study" (128 px, 1200 iterations): t* fell at 400-1000 there, so 300 iterations of patience end
  // most runs inside the cap, and the floor skips the blurry start. Elsewhere the notebooks' fixed
  // count is the default.
  StopOptions stop_defaults;
  if (plan.size_shrinks_only) {
    stop_defaults.kind = StopKind::Wmv;
    stop_defaults.patience = 300;
    stop_defaults.min_iter = 200;
  }
  plan.stop = stop_options_from(args, stop_defaults);
  plan.note = [&say](const std::string& s) { say("dip: " + s); };

  // ---- the task and the network ----
  PreparedRun run = prepare_run(task, args, plan);
  const std::string& net_name = run.net_name;
  TaskSetup& setup = run.setup;
  TrainOptions& train = run.train;
  std::shared_ptr<Module>& net = run.net;
  held = false;
  for (const std::string& line : pending) say(line);

  const std::string precision = precision_name(device);
  const std::string device_text =
      device == Device::CUDA ? "cuda (" + gpu::describe() + ")"
                             : "cpu (" + std::to_string(cpu::num_threads()) + " threads, " + cpu::gemm_variant() + ")";
  say("dip " + task.name + ": " + setup.summary);
  char loop[256];
  std::string stop_text = "";
  if (train.stop.kind != StopKind::Fixed)
    stop_text = std::string(", stop ") + stop_kind_name(train.stop.kind) +
                (train.stop.kind == StopKind::Wmv ? " (window " + std::to_string(train.stop.window) + ")" : "") +
                " with patience " + std::to_string(train.stop.patience) +
                (train.stop.min_iter > 0 ? ", floor " + std::to_string(train.stop.min_iter) : "");
  if (train.tv_weight > 0.f) {
    char tv[48];
    std::snprintf(tv, sizeof tv, ", TV %g", train.tv_weight);
    stop_text += tv;
  }
  std::snprintf(loop, sizeof loop, "%s%d iterations, lr %g, reg-noise %.4g%s%s%s",
                train.stop.kind == StopKind::Fixed ? "" : "at most ", train.iters, train.lr, train.reg_noise_std,
                train.ema ? ", EMA" : "", train.backtrack ? ", backtracking" : "", stop_text.c_str());
  say("dip: " + net_name + " net (" + std::to_string(net->num_parameters()) + " parameters) on " + device_text +
      ", " + loop);

  // ---- outputs: everything goes into DIR.partial until the run is complete ----
  install_interrupt_handler();  // from here on Ctrl-C / SIGTERM stop the run and save what it has
  std::vector<std::string> notes;
  OutputDir out(out_path, resume, &notes);
  for (const std::string& n : notes) say("dip: " + n);
  save_png(out.file("observed.png"), setup.observed);
  if (setup.fit.ground_truth) save_png(out.file("ground_truth.png"), *setup.fit.ground_truth);
  const std::string snapshot_dir = out.file("snapshots");
  if (::mkdir(snapshot_dir.c_str(), 0777) != 0 && errno != EEXIST)
    throw std::runtime_error("could not create '" + snapshot_dir + "': " + std::strerror(errno));

  // Checkpoints: the run's settings (so `--resume DIR` needs nothing else) and the loop's state.
  Checkpointing checkpointing;
  checkpointing.every = args.integer("checkpoint-every", 0);
  checkpointing.resume = resume_state;
  checkpointing.texts.emplace_back("run.task", task.name);
  {
    std::string names;
    for (const auto& [name, value] : args.values()) {
      if (resume_may_set(name)) continue;
      names += name + "\n";
      // --device auto resolves once: a resumed run trains where the first one did.
      checkpointing.texts.emplace_back("option." + name, name == "device" ? device_name(device) : value);
    }
    // The quick CPU profile is decided by what was *not* given; keep that decision too.
    if (plan.size_shrinks_only && !args.has("device")) {
      names += "device\n";
      checkpointing.texts.emplace_back("option.device", "auto");
    }
    checkpointing.texts.emplace_back("run.options", names);
  }
  const std::string checkpoint_path = out.file(kCheckpointFile);
  checkpointing.save = [&](const std::string& bytes, int) { write_file_atomic(checkpoint_path, bytes); };
  if (resume) say("dip: resuming " + out.work_path() + " at iteration " +
                  std::to_string(state_next_iter(resume_state, checkpoint_path)));

  Progress progress(train.iters, quiet);
  progress.announce_estimate(train.stop.kind != StopKind::Fixed);
  SnapshotFn snapshot = [&](int iter, const Image& img) {
    char name[64];
    std::snprintf(name, sizeof name, "/iter_%05d.png", iter);
    save_png(snapshot_dir + name, img);
  };
  TrainResult result;
  try {
    result = train_dip(*net, setup.fit, train, progress, snapshot, checkpointing);
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    // What was saved so far (snapshots, the last checkpoint) stays for inspection or --resume.
    out.keep();
    throw std::runtime_error(std::string(e.what()) + " (what was saved so far is in " + out.work_path() + "/)");
  }
  if (result.interrupted)
    say("dip: interrupted after " + std::to_string(result.iters_done) + " iterations; saving the outputs so far");

  // ---- results ----
  RunMetrics m = summarize_run(task, run, result, precision, plan.seed);
  const StopMetrics& sm = m.stop;
  try {
    save_png(out.file("output.png"), result.output);
    std::vector<ReportImage> images = {{"observed.png", task.name == "flash" ? "flash (input)" : "observed"},
                                       {"output.png", "output " + db_text(m.final_psnr)}};
    if (result.output_avg) {
      save_png(out.file("output_avg.png"), *result.output_avg);
      images.push_back({"output_avg.png", "EMA output " + db_text(m.avg_psnr)});
    }
    if (setup.fit.ground_truth)
      images.push_back({"ground_truth.png", task.name == "flash" ? "no-flash (target)" : "ground truth"});
    write_file_atomic(out.file("metrics.json"), metrics_json(m));
    CurveMarks marks;
    marks.t_star = sm.stop_iter;
    if (sm.oracle_psnr) marks.oracle_iter = sm.oracle_iter;
    if (train.stop.kind != StopKind::Fixed) marks.rule = sm.rule;
    write_file_atomic(out.file("curve.svg"), curve_svg(m.trace, marks));
    write_file_atomic(out.file("report.html"), report_html(m, setup.summary, images));
    if (result.interrupted) {
      out.keep();
    } else {
      std::remove(checkpoint_path.c_str());  // a finished run needs none
      out.commit();
    }
  } catch (const std::exception& e) {
    out.keep();
    throw std::runtime_error(std::string(e.what()) + " (the run finished, but its outputs could not all be saved; "
                             "what was saved is in " + out.work_path() + "/)");
  }

  std::string line = "dip " + task.name + ": " + std::to_string(m.iters) + " iterations in " +
                     Progress::format_duration(m.seconds);
  char ms[32];
  std::snprintf(ms, sizeof ms, " (%.1f ms/iter)", m.ms_per_iter);
  line += ms;
  if (setup.fit.ground_truth) {
    line += "; PSNR " + (m.observed_psnr ? "observed " + db_text(m.observed_psnr) + " -> " : std::string()) +
            "output " + db_text(m.final_psnr);
    if (m.avg_psnr) line += " (EMA " + db_text(m.avg_psnr) + ")";
  }
  say(line);
  if (sm.stop_iter)
    say("dip: " + sm.rule + " stopped at iteration " + std::to_string(m.iters - 1) + (sm.fired ? "" : " (the cap)") +
        " and returned the outputs of t* = " + std::to_string(*sm.stop_iter));
  if (auto gap = sm.gap_db()) {
    char g[200];
    std::snprintf(g, sizeof g,
                  "dip: returned %s output %.2f dB; best in the trace %.2f dB at iteration %d (gap %.2f dB)",
                  sm.stream == "ema" ? "EMA" : "raw", *sm.returned_psnr, *sm.oracle_psnr, sm.oracle_iter, *gap);
    say(g);
  }
  if (result.interrupted) {
    say("dip: unfinished outputs in " + out.work_path() + "/; continue with: dip " + task.name + " --resume " +
        out.final_path());
    return interrupt_exit_status();
  }
  say("dip: outputs in " + out.final_path() + "/ (report.html, output.png, metrics.json)");
  return 0;
}

}  // namespace dip::apps
