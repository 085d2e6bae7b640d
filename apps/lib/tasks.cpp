#include "apps/lib/tasks.h"

#include <cmath>
#include <cstdio>

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

const TaskDefaults& task_defaults(const TaskInfo& task, const Args& args) {
  const size_t i = task.pick ? task.pick(args) : 0;
  DIP_CHECK(i < task.cases.size(), task.name, ": no defaults case ", i);
  return task.cases[i];
}

namespace {

std::string channels_text(const std::vector<int>& v) {
  bool same = !v.empty();
  for (int c : v) same = same && c == v[0];
  if (same) return std::to_string(v[0]) + "x" + std::to_string(v.size());
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

const char* mode_text(UpsampleMode m) { return m == UpsampleMode::Nearest ? "nearest" : "bilinear"; }

std::string lr_text(float lr) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", lr);
  return b;
}

std::string loop_text(const TaskDefaults& d) {
  std::string s = std::to_string(d.iters) + " iterations, Adam lr " + lr_text(d.lr) + ", reg-noise " +
                  reg_noise_text(d.reg_noise_std);
  if (d.ema) s += ", EMA 0.99 of the outputs";
  if (d.backtrack) s += ", backtracking";
  return s;
}

}  // namespace

std::string reg_noise_text(float std) {
  if (std <= 0.f) return "0";
  char b[32];
  std::snprintf(b, sizeof b, "%g", std);
  const double inverse = 1.0 / std;
  // 1/30 reads better than 0.0333333; 0.05 and 0.03 stay as they are.
  if (std::string(b).size() > 5 && std::fabs(inverse - std::round(inverse)) < 1e-3)
    return "1/" + std::to_string(static_cast<int>(std::round(inverse)));
  return b;
}

std::string describe_skip(const SkipConfig& c) {
  std::string s = "skip " + channels_text(c.channels_down);
  if (c.channels_up != c.channels_down) s += ", up " + channels_text(c.channels_up);
  s += ", skip " + channels_text(c.channels_skip) + ", ";
  if (c.upsample_modes.empty()) {
    s += mode_text(c.upsample_mode);
  } else {
    s += "upsampling ";
    for (size_t i = 0; i < c.upsample_modes.size(); ++i) s += std::string(i ? "," : "") + mode_text(c.upsample_modes[i]);
    s += " (finest first)";
  }
  return s + (c.pad == PaddingMode::Reflect ? ", reflect" : ", zero padding");
}

std::string describe_defaults(const TaskInfo& t) {
  std::string s = "network: " + describe_skip(t.net) + "\ninput: " + t.input + "\n";
  for (const TaskDefaults& d : t.cases) s += (d.when.empty() ? std::string() : d.when + ": ") + loop_text(d) + "\n";
  if (!t.notes.empty()) s += t.notes + "\n";
  return s;
}

std::string defaults_markdown_table() {
  std::string s =
      "| task | case | network | input | LR | iterations | reg-noise | EMA 0.99 | backtracking |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const TaskInfo& t : all_tasks())
    for (const TaskDefaults& d : t.cases)
      s += "| " + t.name + " | " + (d.when.empty() ? std::string("") : d.when) + " | " + describe_skip(t.net) + " | " +
           t.input + " | " + lr_text(d.lr) + " | " + std::to_string(d.iters) + " | " + reg_noise_text(d.reg_noise_std) +
           " | " + (d.ema ? "yes" : "no") + " | " + (d.backtrack ? "yes" : "no") + " |\n";
  return s;
}

}  // namespace dip::apps
