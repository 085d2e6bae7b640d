// dip-bench: times whole DIP training iterations and prints one JSON line.
//
//   dip-bench --net skip --size 128 --device cpu --iters 20 --threads 2
//   {"net":"skip","desc":"...","size":128,"device":"cpu","precision":"fp32","threads":2,"iters":20,
//    "median_ms":...,"min_ms":...,"params":2217831,"peak_mib":...}
//
// One iteration is what DIP repeats thousands of times: zero_grad, forward of the generator (the
// skip net or a Transformer generator of nn/vit.h) on the fixed noise input, mse_loss against a
// fixed target, backward, Adam step. On CUDA the clock is read after a synchronize, so a time
// covers the whole iteration's GPU work.
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "apps/lib/run.h"
#include "apps/lib/stopping.h"
#include "apps/lib/user_error.h"
#include "apps/lib/vit_options.h"
#include "autograd/functions.h"
#include "autograd/profiler.h"
#include "gpu/runtime.h"
#include "nn/skip.h"
#include "nn/vit.h"
#include "optim/adam.h"
#include "tensor/conv2d.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/panel_product.h"
#include "tensor/cpu/winograd.h"

using namespace dip;

namespace {

const char* kUsage =
    "usage: dip-bench --net skip|vit|vit-ms|vit-na --size N [--device cpu|cuda|auto] [--iters K]\n"
    "                 [--warmup W] [--threads T] [--precision fp32|tf32] [--stop wmv|emv] [--profile]\n"
    "                 [Transformer options of dip: --patch P --width D --neighborhood K ...]\n"
    "\n"
    "Times whole DIP training iterations (zero_grad, forward, mse_loss, backward, Adam step) of a\n"
    "generator on a (1, 32, N, N) noise input U(0, 0.1) against a fixed (1, 3, N, N) target, and\n"
    "prints one JSON line with the median and minimum time over K iterations after W warm-up\n"
    "iterations, the parameter count, the network's description and the peak memory (on CUDA the\n"
    "caching allocator's peak of device memory held; on the CPU the process's peak resident set).\n"
    "\n"
    "  --net NET         skip:   the standard DIP network (5 scales of 128, skip 4, bilinear,\n"
    "                           reflection padding), Adam lr 0.01\n"
    "                    vit, vit-ms, vit-na: the Transformer generators of nn/vit.h with their\n"
    "                           defaults (vit: patch 8, width 256, depth 6, 8 heads, MLP ratio 4)\n"
    "                           and their tuned Adam lr (vit 1e-3, vit-ms 2e-3, vit-na 3e-3)\n"
    "  --size N          image side in pixels (default 128); skip: at least 33; vit: a multiple of\n"
    "                    the patch; vit-ms, vit-na: a multiple of patch x 2^(stages-1)\n"
    "  --device D        cpu, cuda, or auto = cuda when a GPU is usable (default auto)\n"
    "  --iters K         timed iterations (default 20)\n"
    "  --warmup W        untimed iterations first (default 2)\n"
    "  --threads T       CPU threads for the kernels (default: all cores)\n"
    "  --precision P     CUDA matrix products in fp32 or tf32 (default: the GPU's, tf32 on sm_80+);\n"
    "                    the CPU computes in fp32 only\n"
    "  --conv C          CPU convolutions: auto (default: Winograd F(2x2, 3x3) for the stride-1\n"
    "                    3x3 ones with enough channels and pixels, im2col + GEMM for the rest) or\n"
    "                    im2col (all of them, the baseline to compare against)\n"
    "  --stop RULE       also time iterations that feed dip's stopping signals (wmv or emv, with\n"
    "                    dip's defaults: window 100, checked every 10 iterations), alternating with\n"
    "                    plain ones in the same run; adds stop_median_ms, signal_ms (the signals'\n"
    "                    own cost per iteration, timed alone) and signal_pct (its share of an iteration)\n"
    "  --peak            instead of training: the CPU's FP32 FMA peak (a multiply-add loop on\n"
    "                    every thread), the GEMMs of the convolutions at the skip net's 128x128\n"
    "                    shapes against it (Eigen's at the im2col and Winograd shapes, and the\n"
    "                    Winograd forward's own panel product), and the 3x3 convolution's\n"
    "                    effective rate (direct-convolution flops per second, which Winograd can\n"
    "                    take past the peak) and\n"
    "                    its forward, backward-input and backward-weight times in ms, both ways\n"
    "  --profile         after the timing, one more iteration under the op profiler\n"
    "                    (autograd/profiler.h): every op in forward order with its output shape,\n"
    "                    forward and backward ms, GFLOP/s (conv2d, matmul) and share of the\n"
    "                    iteration, then the same per op kind; printed before the JSON line\n"
    "  --patch P, --width D, --depth L, --heads H, --mlp-ratio R, --window W, --neighborhood K,\n"
    "  --positional, --stages S, --stage-widths, --stage-depths, --noise-every-stage,\n"
    "  --pos-every-stage\n"
    "                    override the Transformer variant's defaults, exactly as `dip` takes them\n"
    "                    (dip denoise --help; --width alone keeps the head size width/heads)\n"
    "  --help            this text\n";

struct Args {
  std::string net = "skip";
  int size = 128;
  std::string device = "auto";
  int iters = 20;
  int warmup = 2;
  int threads = 0;        // 0: all cores
  std::string precision;  // "fp32", "tf32" or empty: the device's default
  std::string stop;       // "wmv", "emv" or empty: time the stopping signals too
  bool profile = false;   // print the op profile of one more iteration
  bool peak = false;      // measure the CPU's FMA peak and the GEMMs against it instead
  std::string conv = "auto";  // CPU convolutions: "auto" (Winograd where it applies) or "im2col"
  // Transformer options (--patch, --width, ...), exactly as dip takes them (apps/lib/vit_options.h).
  std::vector<std::string> vit_argv;
  apps::Args vit;
};

// Bad command lines end here: one line on stderr, exit status 2.
[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "dip-bench: %s (see --help)\n", msg.c_str());
  std::exit(2);
}

int parse_int(const std::string& flag, const char* text, int lo) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < lo || v > 1000000)
    usage_error(flag + " expects an integer >= " + std::to_string(lo) + ", got '" + text + "'");
  return static_cast<int>(v);
}

bool is_vit(const std::string& net) {
  const std::vector<std::string> variants = vit_variants();
  return std::find(variants.begin(), variants.end(), net) != variants.end();
}

// The variant's defaults with the command line's Transformer options applied as dip applies them.
VitConfig vit_config(const Args& a) {
  VitConfig cfg = vit_defaults(a.net);
  apps::apply_vit_options(a.vit, a.net, cfg);
  cfg.in_channels = 32;
  cfg.out_channels = 3;
  cfg.image_height = cfg.image_width = a.size;
  return cfg;
}

// The spec of a Transformer option ("--window" -> its OptionSpec), or null.
const apps::OptionSpec* vit_spec(const std::string& flag) {
  static const std::vector<apps::OptionSpec> specs = apps::vit_options();
  for (const apps::OptionSpec& s : specs)
    if (flag == "--" + s.name) return &s;
  return nullptr;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (flag == "--profile") {
      a.profile = true;
      continue;
    }
    if (flag == "--peak") {
      a.peak = true;
      continue;
    }
    if (const apps::OptionSpec* spec = vit_spec(flag)) {
      a.vit_argv.push_back(flag);
      if (spec->type != apps::OptionSpec::Type::Flag) {
        if (i + 1 >= argc) usage_error("missing value after " + flag);
        a.vit_argv.push_back(argv[++i]);
      }
      continue;
    }
    if (i + 1 >= argc) usage_error("missing value after " + flag);
    const char* value = argv[++i];
    if (flag == "--net") {
      a.net = value;
    } else if (flag == "--size") {
      a.size = parse_int(flag, value, 1);  // the net's own lower bound is checked below
    } else if (flag == "--device") {
      a.device = value;
    } else if (flag == "--iters") {
      a.iters = parse_int(flag, value, 1);
    } else if (flag == "--warmup") {
      a.warmup = parse_int(flag, value, 0);
    } else if (flag == "--threads") {
      a.threads = parse_int(flag, value, 1);
    } else if (flag == "--precision") {
      a.precision = value;
    } else if (flag == "--conv") {
      a.conv = value;
      if (a.conv != "auto" && a.conv != "im2col") usage_error("--conv must be auto or im2col, got '" + a.conv + "'");
    } else if (flag == "--stop") {
      a.stop = value;
      if (a.stop != "wmv" && a.stop != "emv" && a.stop != "fixed")
        usage_error("--stop must be fixed, wmv or emv, got '" + a.stop + "'");
      if (a.stop == "fixed") a.stop.clear();  // plain iterations only
    } else {
      usage_error("unknown option '" + flag + "'");
    }
  }
  if (a.net != "skip" && !is_vit(a.net))
    usage_error("unknown network '" + a.net + "'; use skip, vit, vit-ms or vit-na");
  if (a.device != "cpu" && a.device != "cuda" && a.device != "auto")
    usage_error("--device must be cpu, cuda or auto, got '" + a.device + "'");
  if (!a.precision.empty() && a.precision != "fp32" && a.precision != "tf32")
    usage_error("--precision must be fp32 or tf32, got '" + a.precision + "'");
  try {
    a.vit = apps::parse_options(apps::vit_options(), a.vit_argv, "dip-bench");
    if (a.net == "skip") {
      VitConfig unused;
      apps::apply_vit_options(a.vit, a.net, unused);  // refuses Transformer options with skip
    }
  } catch (const apps::UserError& e) {
    usage_error(e.what());
  }
  if (a.net == "skip") {
    if (a.size < 33) usage_error("--size must be at least 33 for the skip net (five stride-2 scales), got " +
                                 std::to_string(a.size));
  } else {
    const int multiple = vit_multiple(vit_config(a));
    if (multiple <= 0 || a.size % multiple != 0)
      usage_error("--size " + std::to_string(a.size) + " must be a multiple of " + std::to_string(multiple) +
                  " for " + a.net + " (its patch size" + (a.net == "vit" ? "" : " x 2^(stages-1)") + ")");
  }
  return a;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Text as a JSON string body (the networks' names hold no control characters).
std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

int run(const Args& args) {
  if (args.threads > 0) cpu::set_num_threads(args.threads);
  cpu::set_winograd_enabled(args.conv == "auto");
  Device device = Device::CPU;
  if (args.device == "cuda" || (args.device == "auto" && gpu::available())) device = Device::CUDA;
  if (device == Device::CUDA && !gpu::available())
    throw Error("--device cuda: no usable GPU (" + gpu::describe() + "); use --device cpu");
  if (device == Device::CPU && args.precision == "tf32")
    usage_error("--precision tf32 needs a GPU: the CPU computes in fp32 only (use --precision fp32 or --device cuda)");
  if (device == Device::CUDA && !args.precision.empty())
    gpu::set_precision(args.precision == "tf32" ? gpu::Precision::TF32 : gpu::Precision::FP32);
  const char* precision =
      device == Device::CUDA && gpu::precision() == gpu::Precision::TF32 ? "tf32" : "fp32";

  // The footprint first: a size the machine cannot hold is refused before anything is allocated.
  const double need = args.net == "skip" ? apps::estimate_training_bytes(args.size, args.size, 128)
                                         : vit_footprint(vit_config(args)).training_bytes();
  try {
    apps::check_fits_memory(need, device == Device::CUDA ? 80.0 * (1ull << 30) : apps::host_memory_bytes(),
                            device == Device::CUDA ? "the GPU (80 GiB assumed)" : "the machine",
                            "--net " + args.net + " at " + std::to_string(args.size) + "x" + std::to_string(args.size),
                            "lower --size");
  } catch (const apps::UserError& e) {
    usage_error(e.what());
  }

  Rng rng(0);
  std::shared_ptr<Module> net;
  std::string desc;
  float lr = 0.01f;  // DIP's rate for the skip net
  if (args.net == "skip") {
    net = skip(SkipConfig{}, rng);  // the standard DIP network: 32 channels in, 3 out
    desc = "skip(32 -> 3, 5 scales of 128, skip 4, bilinear, reflection)";  // its name() is only Sequential(n)
  } else {
    // A configuration make_vit rejects (e.g. width not a multiple of heads) is a command-line error.
    try {
      net = make_vit(vit_config(args), rng);
    } catch (const Error& e) {
      usage_error(e.what());
    }
    desc = net->name();
    lr = vit_learning_rate(args.net);
  }
  net->to(device);
  const int n = args.size;
  Variable z(Tensor::uniform({1, 32, n, n}, 0.f, 0.1f, rng, device));     // (1, 32, N, N)
  Variable target(Tensor::uniform({1, 3, n, n}, 0.f, 1.f, rng, device));  // (1, 3, N, N)
  Adam opt(net->parameters(), {.lr = lr});

  auto iteration = [&] {
    opt.zero_grad();
    Variable out = (*net)(z);  // (1, 3, N, N)
    Variable loss = mse_loss(out, target);
    loss.backward();
    opt.step();
    return out.data();
  };
  // The stopping signals as the trainer feeds them: every output in, a check every K iterations.
  apps::StopOptions stop_options;
  stop_options.kind = args.stop == "emv" ? apps::StopKind::Emv : apps::StopKind::Wmv;
  apps::StopSignals signals(stop_options);
  int signal_iter = 0;
  auto feed_signals = [&](const Tensor& out) {
    signals.add(++signal_iter, out);
    if (signals.is_check(signal_iter)) signals.check();
  };
  auto sync = [&] {
    if (device == Device::CUDA) gpu::synchronize();
  };

  auto since = [](std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  for (int i = 0; i < args.warmup; ++i) iteration();
  sync();
  std::vector<double> ms, stop_ms, signal_ms;
  for (int i = 0; i < args.iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    iteration();
    sync();
    ms.push_back(since(t0));
    if (args.stop.empty()) continue;
    // The same iteration followed by the signals' update, then the update alone on that output
    // (its cost is below the iterations' run-to-run spread, so it is also timed by itself).
    t0 = std::chrono::steady_clock::now();
    Tensor out = iteration();
    feed_signals(out);
    sync();
    stop_ms.push_back(since(t0));
    t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < 10; ++r) feed_signals(out);
    sync();
    signal_ms.push_back(since(t0) / 10);
  }

  if (args.profile) {
    // One more iteration, op by op (each op synchronised on a GPU, so it runs a little slower).
    OpProfiler prof;
    const auto t0 = std::chrono::steady_clock::now();
    prof.mark();
    iteration();
    sync();
    std::printf("op profile of one iteration (--net %s --size %d, %s, %d threads)\n%s\n", args.net.c_str(), n,
                device_name(device), cpu::num_threads(), format_profile(prof.records(), since(t0)).c_str());
  }

  double peak_mib;
  if (device == Device::CUDA) {
    peak_mib = double(gpu::peak_reserved_bytes()) / (1024.0 * 1024.0);
  } else {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    peak_mib = double(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
  }
  std::string stop_fields;
  if (!args.stop.empty()) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  ",\"stop\":\"%s\",\"stop_median_ms\":%.3f,\"signal_ms\":%.4f,\"signal_pct\":%.3f,"
                  "\"signal_mib\":%.2f",
                  args.stop.c_str(), median(stop_ms), median(signal_ms), 100.0 * median(signal_ms) / median(ms),
                  double(signals.bytes()) / (1024.0 * 1024.0));
    stop_fields = buf;
  }
  std::printf(
      "{\"net\":\"%s\",\"desc\":\"%s\",\"size\":%d,\"device\":\"%s\",\"precision\":\"%s\",\"threads\":%d,"
      "\"conv\":\"%s\",\"iters\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f,\"params\":%lld,\"peak_mib\":%.1f%s}\n",
      args.net.c_str(), json_escape(desc).c_str(), n, device_name(device), precision, cpu::num_threads(),
      args.conv.c_str(), args.iters, median(ms), *std::min_element(ms.begin(), ms.end()),
      static_cast<long long>(net->num_parameters()), peak_mib, stop_fields.c_str());
  return 0;
}

// Seconds of the fastest of `repeats` calls of f (after one warm-up call).
template <class F>
double best_seconds(int repeats, F f) {
  f();
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// dip-bench --peak: one JSON line with the machine's FP32 FMA peak on the kernels' threads, the
// convolution GEMMs' rates and their share of it, and the 3x3 convolution's effective rate.
int run_peak(const Args& args) {
  if (args.threads > 0) cpu::set_num_threads(args.threads);
  const int threads = cpu::num_threads();
  // The peak: every thread runs the multiply-add loop at once.
  constexpr int64_t kRounds = 20'000'000;
  double flops = 0;
  const double fma_s = best_seconds(3, [&] {
    double total = 0;
#pragma omp parallel reduction(+ : total)
    total += cpu::fma_flops(kRounds, 1.f);
    flops = total;
  });
  const double peak = flops / fma_s / 1e9;

  // The GEMMs: each thread multiplies its own matrices (as the convolutions' threads do), the
  // shapes of the skip net's decoder convolution at 128x128 (132 -> 128 channels):
  //   im2col    out block (128, 1024) = W (128, 1188) * columns (1188, 1024)
  //   winograd  M[pos] (128, 128)     = U[pos] (128, 132) * V[pos] (132, 128), one tile block
  struct Shape3 {
    const char* name;
    int64_t m, n, k;
  };
  const Shape3 shapes[] = {{"im2col", 128, 1024, 1188}, {"winograd", 128, 128, 132}};
  std::string gemm_fields;
  for (const Shape3& sh : shapes) {
    std::vector<std::vector<float>> a(threads), b(threads), c(threads);
    for (int t = 0; t < threads; ++t) {
      a[t].assign(size_t(sh.m * sh.k), 0.01f);
      b[t].assign(size_t(sh.k * sh.n), 0.02f);
      c[t].assign(size_t(sh.m * sh.n), 0.f);
    }
    const int reps = std::max<int64_t>(1, int64_t(2e8) / (sh.m * sh.n * sh.k));  // ~0.2 G multiply-adds
    const double s = best_seconds(5, [&] {
#pragma omp parallel num_threads(threads)
      {
        const int t = omp_get_thread_num();
        for (int r = 0; r < reps; ++r)
          cpu::gemm_serial(false, false, sh.m, sh.n, sh.k, 1.f, a[t].data(), sh.k, b[t].data(), sh.n, 0.f,
                           c[t].data(), sh.n);
      }
    });
    const double gf = 2.0 * sh.m * sh.n * sh.k * reps * threads / s / 1e9;
    char buf[160];
    std::snprintf(buf, sizeof buf, ",\"gemm_%s_gflops\":%.1f,\"gemm_%s_pct_peak\":%.1f", sh.name, gf, sh.name,
                  100.0 * gf / peak);
    gemm_fields += buf;
  }
  // The Winograd forward's own product (tensor/cpu/panel_product.h) at the same shape, as the
  // convolution runs it: U packed once, V (132, 128) read in place with a row stride of 136.
  {
    constexpr int64_t outs = 128, depth = 132, cols = 128, ldv = 136;
    std::vector<std::vector<float>> u(threads), v(threads), m(threads);
    for (int t = 0; t < threads; ++t) {
      u[t].assign(size_t(outs * depth), 0.01f);
      v[t].assign(size_t(depth * ldv), 0.02f);
      m[t].assign(size_t(outs * ldv), 0.f);
    }
    const int reps = int(2e8 / (outs * cols * depth));
    const double s = best_seconds(5, [&] {
#pragma omp parallel num_threads(threads)
      {
        const int t = omp_get_thread_num();
        for (int r = 0; r < reps; ++r)
          cpu::panel_product(u[t].data(), outs, depth, v[t].data(), ldv, cols, m[t].data(), ldv);
      }
    });
    const double gf = 2.0 * outs * cols * depth * reps * threads / s / 1e9;
    char buf[160];
    std::snprintf(buf, sizeof buf, ",\"panel_winograd_gflops\":%.1f,\"panel_winograd_pct_peak\":%.1f", gf,
                  100.0 * gf / peak);
    gemm_fields += buf;
  }

  // The convolution itself (132 -> 128 channels, 3x3, reflection padding, 128x128), with im2col and
  // with the CPU's choice (Winograd): the forward's direct-convolution flops per second, and the
  // best-of-5 milliseconds of each of the three kernels.
  Rng rng(0);
  const Tensor x = Tensor::uniform({1, 132, 128, 128}, -1.f, 1.f, rng);
  const Tensor w = Tensor::uniform({128, 132, 3, 3}, -0.1f, 0.1f, rng), bias = Tensor::zeros({128});
  const Tensor dy = Tensor::uniform({1, 128, 128, 128}, -1.f, 1.f, rng);
  Conv2dOptions opt;
  opt.padding = 1;
  opt.padding_mode = PaddingMode::Reflect;
  const double conv_flops = 2.0 * 128 * 132 * 9 * 128 * 128;
  std::string conv_fields;
  for (bool winograd : {false, true}) {
    cpu::set_winograd_enabled(winograd);
    const char* name = winograd ? "winograd" : "im2col";
    const double fwd = best_seconds(5, [&] { conv2d_forward(x, w, bias, opt); });
    const double bin = best_seconds(5, [&] { conv2d_backward_input(dy, w, x.shape(), opt); });
    const double bw = best_seconds(5, [&] { conv2d_backward_weight(dy, x, w.shape(), opt); });
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  ",\"conv3x3_%s_gflops\":%.1f,\"conv3x3_%s_pct_peak\":%.1f,\"conv3x3_%s_ms\":[%.2f,%.2f,%.2f]", name,
                  conv_flops / fwd / 1e9, name, 100.0 * conv_flops / fwd / 1e9 / peak, name, 1e3 * fwd, 1e3 * bin,
                  1e3 * bw);
    conv_fields += buf;
  }
  std::printf("{\"peak\":true,\"threads\":%d,\"variant\":\"%s\",\"fma_peak_gflops\":%.1f%s%s}\n", threads,
              cpu::gemm_variant(), peak, gemm_fields.c_str(), conv_fields.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  try {
    if (args.peak) return run_peak(args);
    return run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dip-bench: error: %s\n", e.what());
    return 1;
  }
}
