// The restoration tasks: each turns its options into what the DIP loop fits (observation,
// degradation operator, network input, ground truth) plus the authors' settings for it.
//
// One file per task: task_denoise.cpp, task_sr.cpp, task_inpaint.cpp, task_flash.cpp,
// task_jpeg.cpp. Defaults follow DmitryUlyanov/deep-image-prior's notebooks.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apps/lib/image.h"
#include "apps/lib/options.h"
#include "apps/lib/trainer.h"
#include "nn/skip.h"

namespace dip::apps {

struct TaskContext {
  Device device = Device::CPU;
  int size = 0;        // --size: longer side after resizing (0: keep the file's size)
  bool size_shrinks_only = false;  // the quick CPU profile's --size never enlarges an image
  int multiple = 32;   // sides are centre-cropped to a multiple of this
  int min_side = 64;   // the smallest side the network takes
  // The memory check: H*W*bytes_per_pixel must stay under 80% of memory_bytes (0: no check).
  double bytes_per_pixel = 0, memory_bytes = 0;
  std::string memory_owner;  // "the machine", "the GPU (80 GiB assumed)"
  uint64_t seed = 0;
  std::function<void(const std::string&)> note;  // a message for the user (silent when quiet)
};

// What a task's build() makes of its options and files: the problem only. The settings of the run
// (network, loop) are the task's defaults below, applied in one place (run.cpp prepare_run).
struct TaskSetup {
  Image observed;                       // saved as observed.png
  std::optional<double> observed_psnr;  // the observation against the ground truth, where comparable
  FitTarget fit;
  std::string summary;  // one line describing the problem
};

// The authors' loop settings for one case of a task (its notebook's).
struct TaskDefaults {
  std::string when;  // the case ("x8", "sigma >= 50"); empty for the first, general one
  int iters = 3000;
  float lr = 0.01f;
  float reg_noise_std = 0.f;
  bool ema = false;        // EMA 0.99 of the outputs
  bool backtrack = false;  // the notebook's 5 dB backtracking
};

// A task: its options, its problem (build) and its defaults, each written once. `dip TASK --help` and
// apps/README.md's table print the defaults from these fields (a test keeps the README in step).
struct TaskInfo {
  std::string name, summary;
  std::string usage;                // example command lines for --help
  std::vector<OptionSpec> options;  // the task's own options (the CLI adds the common ones)
  SkipConfig net;                   // the authors' network (in_channels comes from the input)
  std::string input;                // the network input, for --help ("32 channels of U(0, 0.1)")
  std::vector<TaskDefaults> cases;  // the loop settings; cases[0] unless `pick` chooses another
  size_t (*pick)(const Args& args) = nullptr;  // which case the options select (sr: by --factor)
  std::string notes;                // other facts for --help (the degradation, the crop multiple)
  int multiple = 32;
  int cpu_iters = 500;  // iterations of the quick CPU profile (--device auto without a GPU)
  TaskSetup (*build)(const Args& args, const TaskContext& ctx) = nullptr;
};

// The case of `task` the options select.
const TaskDefaults& task_defaults(const TaskInfo& task, const Args& args);
// The defaults block of `dip TASK --help` (network, input, each case, notes).
std::string describe_defaults(const TaskInfo& task);
// apps/README.md's defaults table, one row per case (a test compares the README with it).
std::string defaults_markdown_table();
// "skip 128x5, skip 4x5, bilinear, reflect": a SkipConfig in one line.
std::string describe_skip(const SkipConfig& c);
// "1/30" or "0.05": a reg-noise level as the notebooks write it.
std::string reg_noise_text(float std);

TaskInfo denoise_task();
TaskInfo sr_task();
TaskInfo inpaint_task();
TaskInfo flash_task();
TaskInfo jpeg_task();

const std::vector<TaskInfo>& all_tasks();
const TaskInfo* find_task(const std::string& name);

}  // namespace dip::apps
