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

struct TaskSetup {
  Image observed;                       // saved as observed.png
  std::optional<double> observed_psnr;  // the observation against the ground truth, where comparable
  FitTarget fit;
  SkipConfig skip;     // the authors' network for this task (in_channels = input depth)
  TrainOptions train;  // the authors' loop settings (the CLI applies --iters, --lr, ... on top)
  std::string summary;  // one line describing the problem
};

struct TaskInfo {
  std::string name, summary;
  std::string usage;                // example command lines for --help
  std::vector<OptionSpec> options;  // the task's own options (the CLI adds the common ones)
  std::string defaults;             // the authors' settings, for --help
  int multiple = 32;
  int cpu_iters = 500;  // iterations of the quick CPU profile (--device auto without a GPU)
  TaskSetup (*build)(const Args& args, const TaskContext& ctx) = nullptr;
};

TaskInfo denoise_task();
TaskInfo sr_task();
TaskInfo inpaint_task();
TaskInfo flash_task();
TaskInfo jpeg_task();

const std::vector<TaskInfo>& all_tasks();
const TaskInfo* find_task(const std::string& name);

}  // namespace dip::apps
