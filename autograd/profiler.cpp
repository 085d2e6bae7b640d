#include "autograd/profiler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "gpu/runtime.h"

namespace dip {

namespace {

OpProfiler* g_active = nullptr;

// Multiply-adds x 2 of the ops that dominate a step; 0 for the rest.
double forward_flops(const std::string& name, const Shape& out, const std::vector<Shape>& in) {
  if (name == "conv2d" && in.size() >= 2 && in[1].rank() == 4)
    return 2.0 * out.numel() * in[1][1] * in[1][2] * in[1][3];  // per output: C_in/groups x KH x KW
  if (name == "matmul" && in.size() >= 2 && out.numel() > 0) {
    // (.., M, K) x (.., K, N): |a| |b| / |out| = K^2, times the batch when both are batched.
    double k2 = double(in[0].numel()) * double(in[1].numel()) / double(out.numel());
    if (in[0].rank() == 3 && in[1].rank() == 3) k2 /= double(in[0][0]);
    return 2.0 * out.numel() * std::sqrt(std::max(0.0, k2));
  }
  return 0.0;
}

std::string shape_text(const Shape& s) { return s.str(); }

}  // namespace

OpProfiler::OpProfiler() {
  DIP_CHECK(g_active == nullptr, "OpProfiler: another profiler is active");
  g_active = this;
  mark();
}

OpProfiler::~OpProfiler() { g_active = nullptr; }

OpProfiler* OpProfiler::active() { return g_active; }

double OpProfiler::now_ms(Device device) {
  if (device == Device::CUDA) gpu::synchronize();
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

void OpProfiler::mark() { last_ms_ = now_ms(device_); }

int OpProfiler::record(const char* name, const Tensor& output, const std::vector<Variable>& inputs) {
  device_ = output.device();
  const double t = now_ms(device_);
  OpRecord r;
  r.name = name;
  r.output = output.shape();
  for (const Variable& v : inputs) r.inputs.push_back(v.defined() ? v.shape() : Shape());
  r.forward_ms = t - last_ms_;
  r.forward_flops = forward_flops(r.name, r.output, r.inputs);
  records_.push_back(std::move(r));
  last_ms_ = now_ms(device_);  // the bookkeeping above is not the next op's
  return static_cast<int>(records_.size()) - 1;
}

void OpProfiler::add_backward(int row, double ms) {
  if (row >= 0 && row < static_cast<int>(records_.size())) records_[row].backward_ms += ms;
}

std::string format_profile(const std::vector<OpRecord>& records, double step_ms) {
  std::string s;
  char line[256];
  auto gflops = [](double flops, double ms) -> std::string {
    if (flops <= 0.0 || ms <= 0.0) return "";
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", flops / (ms * 1e6));
    return b;
  };
  // The op column fits the longest name ("batch_norm2d_leaky_relu"), at least 14 wide.
  int w = 14;
  for (const OpRecord& r : records) w = std::max(w, static_cast<int>(r.name.size()));
  double fwd_total = 0.0, bwd_total = 0.0;
  std::snprintf(line, sizeof line, "%4s  %-*s %-22s %9s %9s %8s %8s %6s\n", "#", w, "op", "output", "fwd ms", "bwd ms",
                "fwd GF/s", "bwd GF/s", "share");
  s += line;
  for (size_t i = 0; i < records.size(); ++i) {
    const OpRecord& r = records[i];
    fwd_total += r.forward_ms;
    bwd_total += r.backward_ms;
    std::snprintf(line, sizeof line, "%4zu  %-*s %-22s %9.3f %9.3f %8s %8s %5.1f%%\n", i, w, r.name.c_str(),
                  shape_text(r.output).c_str(), r.forward_ms, r.backward_ms, gflops(r.forward_flops, r.forward_ms).c_str(),
                  gflops(2.0 * r.forward_flops, r.backward_ms).c_str(),
                  step_ms > 0 ? 100.0 * (r.forward_ms + r.backward_ms) / step_ms : 0.0);
    s += line;
  }
  // Per op kind, largest first.
  struct Sum {
    int count = 0;
    double fwd = 0, bwd = 0, flops = 0;
  };
  std::map<std::string, Sum> kinds;
  for (const OpRecord& r : records) {
    Sum& k = kinds[r.name];
    ++k.count;
    k.fwd += r.forward_ms;
    k.bwd += r.backward_ms;
    k.flops += r.forward_flops;
  }
  std::vector<std::pair<std::string, Sum>> sorted(kinds.begin(), kinds.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second.fwd + a.second.bwd > b.second.fwd + b.second.bwd; });
  std::snprintf(line, sizeof line, "\n%-*s %5s %9s %9s %8s %8s %6s\n", w, "op kind", "count", "fwd ms", "bwd ms",
                "fwd GF/s", "bwd GF/s", "share");
  s += line;
  for (const auto& [name, k] : sorted) {
    std::snprintf(line, sizeof line, "%-*s %5d %9.3f %9.3f %8s %8s %5.1f%%\n", w, name.c_str(), k.count, k.fwd, k.bwd,
                  gflops(k.flops, k.fwd).c_str(), gflops(2.0 * k.flops, k.bwd).c_str(),
                  step_ms > 0 ? 100.0 * (k.fwd + k.bwd) / step_ms : 0.0);
    s += line;
  }
  const double rest = step_ms - fwd_total - bwd_total;
  std::snprintf(line, sizeof line,
                "%-*s %5s %9.3f %9.3f %17s %5.1f%%\n%-*s %5s %19.3f %17s %5.1f%%\n%-*s %5s %19.3f\n", w, "ops", "",
                fwd_total, bwd_total, "", step_ms > 0 ? 100.0 * (fwd_total + bwd_total) / step_ms : 0.0,
                w, "rest", "", rest, "", step_ms > 0 ? 100.0 * rest / step_ms : 0.0, w, "step", "", step_ms);
  s += line;
  s += "(rest: the loss seed, gradient accumulation, Adam, the profiler's own synchronisation)\n";
  return s;
}

}  // namespace dip
