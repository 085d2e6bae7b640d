#include "apps/lib/tasks.h"

namespace dip::apps {

const std::vector<TaskInfo>& all_tasks() {
  static const std::vector<TaskInfo> tasks = {denoise_task(), sr_task(), inpaint_task(), flash_task(),
                                              jpeg_task()};
  return tasks;
}

const TaskInfo* find_task(const std::string& name) {
  for (const TaskInfo& t : all_tasks())
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace dip::apps
