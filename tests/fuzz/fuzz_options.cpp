// libFuzzer target: the command-line option parser with the specs of a real task, assembled as
// run_cli does (the task's options, common_options(task), vit_options()), then the ViT options'
// own parsing (apply_vit_options) as run_task does before anything is trained.
//
// Input: lines. The first names the task (any other text picks one by its bytes); each further line
// is one argument, except that a line "@" + byte + rest becomes "--" + (the byte-th option's name) +
// rest, so the fuzzer reaches real option names without guessing them. A UserError is the expected
// answer to bad arguments; anything else is a bug, and so is a parsed value its spec should refuse.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "apps/lib/options.h"
#include "apps/lib/run.h"
#include "apps/lib/tasks.h"
#include "apps/lib/user_error.h"
#include "apps/lib/vit_options.h"
#include "nn/vit.h"

using namespace dip;
using namespace dip::apps;

namespace {

[[noreturn]] void invariant_broken(const std::string& what) {
  std::fprintf(stderr, "fuzz_options: %s\n", what.c_str());
  std::abort();
}

const std::vector<OptionSpec>& specs_of(const TaskInfo& task) {
  static std::map<std::string, std::vector<OptionSpec>> cache;
  auto it = cache.find(task.name);
  if (it != cache.end()) return it->second;
  std::vector<OptionSpec> specs = task.options;  // as run_cli
  for (const OptionSpec& s : common_options(task)) specs.push_back(s);
  for (const OptionSpec& s : vit_options()) specs.push_back(s);
  return cache.emplace(task.name, std::move(specs)).first->second;
}

// What parse_options promises about the values it accepted.
void check_parsed(const std::vector<OptionSpec>& specs, const Args& args) {
  for (const OptionSpec& s : specs) {
    if (!args.has(s.name)) continue;
    const std::string text = args.text(s.name);
    if (s.type == OptionSpec::Type::Int) {
      char* end = nullptr;
      const long long v = std::strtoll(text.c_str(), &end, 10);
      if (v < s.min || v > s.max) invariant_broken("--" + s.name + " " + text + " accepted out of range");
      if (args.integer(s.name, 0) != v) invariant_broken("--" + s.name + " " + text + " does not fit an int");
    } else if (s.type == OptionSpec::Type::Float) {
      const double v = args.real(s.name, 0.0);
      const bool low_ok = s.min_exclusive ? v > s.min : v >= s.min;
      if (!std::isfinite(v) || !low_ok || v > s.max) invariant_broken("--" + s.name + " " + text + " accepted out of range");
    } else if (s.type == OptionSpec::Type::Text) {
      if (text.empty()) invariant_broken("--" + s.name + " accepted empty");
      if (!s.choices.empty()) {
        bool found = false;
        for (const std::string& c : s.choices) found = found || c == text;
        if (!found) invariant_broken("--" + s.name + " '" + text + "' accepted but is not a choice");
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> lines(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n')
      lines.emplace_back();
    else
      lines.back() += static_cast<char>(data[i]);
  }
  const std::vector<TaskInfo>& tasks = all_tasks();
  const TaskInfo* task = find_task(lines[0]);
  if (!task) {
    size_t h = 0;
    for (char c : lines[0]) h = h * 31 + static_cast<unsigned char>(c);
    task = &tasks[h % tasks.size()];
  }
  const std::vector<OptionSpec>& specs = specs_of(*task);
  std::vector<std::string> argv;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.size() >= 2 && l[0] == '@')
      argv.push_back("--" + specs[static_cast<unsigned char>(l[1]) % specs.size()].name + l.substr(2));
    else
      argv.push_back(l);
  }
  try {
    const Args args = parse_options(specs, argv, "dip " + task->name);
    check_parsed(specs, args);
    const std::string net = args.text("net", "skip");
    VitConfig cfg;
    if (net != "skip") cfg = vit_defaults(net);
    apply_vit_options(args, net, cfg);
  } catch (const UserError&) {
    // bad arguments, said in one line: fine
  }
  return 0;
}
