// One `dip TASK` run from parsed options to a committed output directory:
// device and profile -> task setup -> network -> DIP loop -> PNGs, metrics.json, curve.svg,
// report.html -> rename into place.
#pragma once
#include "apps/lib/options.h"
#include "apps/lib/tasks.h"

namespace dip::apps {

// The options every task takes (--net, --device, --iters, ...), with the task's defaults in the help.
std::vector<OptionSpec> common_options(const TaskInfo& task);

// Runs the task. Returns the exit status: 0 done, 130 interrupted (outputs saved). Throws
// UserError for bad input (before anything is written).
int run_task(const TaskInfo& task, const Args& args);

// Bytes the network's training step is estimated to need at h x w (for the "too large" check).
double estimate_training_bytes(int height, int width, int max_channels);

}  // namespace dip::apps
