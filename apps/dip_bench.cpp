// dip-bench: times whole DIP training iterations and prints one JSON line.
//
//   dip-bench --net skip --size 128 --device cpu --iters 20 --threads 2
//   {"net":"skip","size":128,"device":"cpu","threads":2,"iters":20,"median_ms":...,"min_ms":...,
//    "params":2217831,"peak_mib":...}
//
// One iteration is what DIP repeats thousands of times: zero_grad, forward of the skip net on the
// fixed noise input, mse_loss against a fixed target, backward, Adam step. On CUDA the clock is
// read after a synchronize, so a time covers the whole iteration's GPU work.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "gpu/runtime.h"
#include "nn/skip.h"
#include "optim/adam.h"
#include "tensor/cpu/gemm.h"

using namespace dip;

namespace {

const char* kUsage =
    "usage: dip-bench --net skip --size N [--device cpu|cuda|auto] [--iters K] [--warmup W]\n"
    "                 [--threads T]\n"
    "\n"
    "Times whole DIP training iterations (zero_grad, forward, mse_loss, backward, Adam step) of\n"
    "the standard skip network (input 32 channels, 5 scales of 128, skip 4, bilinear upsampling,\n"
    "reflection padding) on a (1, 32, N, N) noise input, and prints one JSON line with the median\n"
    "and minimum time over K iterations after W warm-up iterations.\n"
    "\n"
    "  --net skip        the network (vit is not available yet)\n"
    "  --size N          image side in pixels, at least 33 (default 128)\n"
    "  --device D        cpu, cuda, or auto = cuda when a GPU is usable (default auto)\n"
    "  --iters K         timed iterations (default 20)\n"
    "  --warmup W        untimed iterations first (default 2)\n"
    "  --threads T       CPU threads for the kernels (default: all cores)\n"
    "  --help            this text\n";

struct Args {
  std::string net = "skip";
  int size = 128;
  std::string device = "auto";
  int iters = 20;
  int warmup = 2;
  int threads = 0;  // 0: all cores
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

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) usage_error("missing value after " + flag);
    const char* value = argv[++i];
    if (flag == "--net")
      a.net = value;
    else if (flag == "--size")
      a.size = parse_int(flag, value, 33);  // five stride-2 scales must leave at least 2x2
    else if (flag == "--device")
      a.device = value;
    else if (flag == "--iters")
      a.iters = parse_int(flag, value, 1);
    else if (flag == "--warmup")
      a.warmup = parse_int(flag, value, 0);
    else if (flag == "--threads")
      a.threads = parse_int(flag, value, 1);
    else
      usage_error("unknown option '" + flag + "'");
  }
  if (a.net == "vit") usage_error("--net vit is not available yet; use --net skip");
  if (a.net != "skip") usage_error("unknown network '" + a.net + "'; use --net skip");
  if (a.device != "cpu" && a.device != "cuda" && a.device != "auto")
    usage_error("--device must be cpu, cuda or auto, got '" + a.device + "'");
  return a;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int run(const Args& args) {
  if (args.threads > 0) cpu::set_num_threads(args.threads);
  Device device = Device::CPU;
  if (args.device == "cuda" || (args.device == "auto" && gpu::available())) device = Device::CUDA;
  if (device == Device::CUDA && !gpu::available())
    throw Error("--device cuda: no usable GPU (" + gpu::describe() + "); use --device cpu");

  Rng rng(0);
  SkipConfig config;  // the standard DIP network
  auto net = skip(config, rng);
  net->to(device);
  const int n = args.size;
  Variable z(Tensor::uniform({1, config.in_channels, n, n}, 0.f, 0.1f, rng, device));  // (1, 32, N, N)
  Variable target(Tensor::uniform({1, config.out_channels, n, n}, 0.f, 1.f, rng, device));
  Adam opt(net->parameters(), {.lr = 0.01f});

  auto iteration = [&] {
    opt.zero_grad();
    Variable loss = mse_loss((*net)(z), target);
    loss.backward();
    opt.step();
  };
  auto sync = [&] {
    if (device == Device::CUDA) gpu::synchronize();
  };

  for (int i = 0; i < args.warmup; ++i) iteration();
  sync();
  std::vector<double> ms;
  for (int i = 0; i < args.iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    iteration();
    sync();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }

  double peak_mib;
  if (device == Device::CUDA) {
    peak_mib = double(gpu::peak_reserved_bytes()) / (1024.0 * 1024.0);
  } else {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    peak_mib = double(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
  }
  std::printf(
      "{\"net\":\"%s\",\"size\":%d,\"device\":\"%s\",\"threads\":%d,\"iters\":%d,"
      "\"median_ms\":%.3f,\"min_ms\":%.3f,\"params\":%lld,\"peak_mib\":%.1f}\n",
      args.net.c_str(), n, device_name(device), cpu::num_threads(), args.iters, median(ms),
      *std::min_element(ms.begin(), ms.end()), static_cast<long long>(net->num_parameters()), peak_mib);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dip-bench: error: %s\n", e.what());
    return 1;
  }
}
