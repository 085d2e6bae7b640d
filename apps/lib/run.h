// One `dip TASK` run from parsed options to a committed output directory:
// device and profile -> task setup -> network -> DIP loop -> PNGs, metrics.json, curve.svg,
// report.html -> rename into place.
#pragma once
#include <functional>
#include <memory>

#include "apps/lib/options.h"
#include "apps/lib/stopping.h"
#include "apps/lib/tasks.h"

namespace dip::apps {

// The options every task takes (--net, --device, --iters, ...), with the task's defaults in the help.
std::vector<OptionSpec> common_options(const TaskInfo& task);

// --device as a Device (auto: CUDA when usable). UserError for cuda without a GPU.
Device device_from(const Args& args);

// How one run is set up around the task's own options.
struct RunPlan {
  Device device = Device::CPU;
  int size = 0;                    // --size (0: the file's size)
  bool size_shrinks_only = false;  // the quick CPU profile never enlarges
  int iters = 0;                   // the cap (0: the task's count)
  uint64_t seed = 0;               // seeds the corruption, the network, z and the reg-noise
  StopOptions stop;
  std::function<void(const std::string&)> note;  // messages for the user (may be empty)
};

// A run ready to train: the task's setup, the network on its device, the loop's settings (the
// task's, with --lr, --reg-noise, --every, --tv and the plan applied).
struct PreparedRun {
  TaskSetup setup;
  std::shared_ptr<Module> net;
  TrainOptions train;
  std::string net_name;
  Device device = Device::CPU;
};
PreparedRun prepare_run(const TaskInfo& task, const Args& args, const RunPlan& plan);

// The run's metrics.json content: settings, times, PSNRs, the stopping rule against the oracle.
RunMetrics summarize_run(const TaskInfo& task, const PreparedRun& run, const TrainResult& result,
                         const std::string& precision, uint64_t seed);

// "fp32" or "tf32": what the run's matrix products compute in.
std::string precision_name(Device device);

// Runs the task. Returns the exit status: 0 done, 130 interrupted (outputs saved). Throws
// UserError for bad input (before anything is written).
int run_task(const TaskInfo& task, const Args& args);

// The stopping rule from --stop, --stop-window, ... on top of `defaults` (what the options do not
// set). UserError for settings that do not fit together.
StopOptions stop_options_from(const Args& args, StopOptions defaults);

// Bytes the skip network's training step is estimated to need at h x w (for the "too large" check;
// the Transformers' come from nn/vit.h vit_footprint).
double estimate_training_bytes(int height, int width, int max_channels);

// The machine's memory in bytes (0 when unknown).
double host_memory_bytes();

// UserError "WHAT needs about N GiB to train, more than 80% of OWNER (M GiB); REMEDY" when `need`
// does not fit (nothing when `memory` is unknown).
void check_fits_memory(double need, double memory, const std::string& owner, const std::string& what,
                       const std::string& remedy);

}  // namespace dip::apps
