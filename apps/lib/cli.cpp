#include "apps/lib/cli.h"

#include <cstdio>
#include <exception>
#include <new>

#include "apps/lib/interrupt.h"
#include "apps/lib/run.h"
#include "apps/lib/tasks.h"
#include "apps/lib/user_error.h"
#include "apps/lib/vit_options.h"

namespace dip::apps {

std::string general_help() {
  std::string s =
      "dip: Deep Image Prior restoration (Ulyanov, Vedaldi, Lempitsky 2018)\n\n"
      "usage: dip TASK [options]        dip TASK --help for the task's options\n\ntasks:\n";
  for (const TaskInfo& t : all_tasks()) {
    std::string name = "  " + t.name;
    s += name + std::string(12 - name.size(), ' ') + t.summary + "\n";
  }
  s += "\nexample: dip denoise --image data/astronaut.png --sigma 25 --out out/denoise\n";
  return s;
}

std::string task_help(const std::string& name) {
  const TaskInfo* t = find_task(name);
  if (!t) return "";
  std::string s = "dip " + t->name + ": " + t->summary + "\n\nusage:\n" + t->usage + "\n" + t->name +
                  " options:\n" + format_options(t->options) + "\ncommon options:\n" +
                  format_options(common_options(*t)) +
                  "\nTransformer options (--net vit, vit-ms, vit-na; default: the variant's, see README):\n" +
                  format_options(vit_options()) + "\ndefaults (the authors' notebook):\n";
  // Indent the defaults block.
  std::string d = "  ";
  for (char c : t->defaults) d += c == '\n' ? std::string("\n  ") : std::string(1, c);
  s += d + "\n\noutputs in --out: observed.png, output.png, output_avg.png (EMA, where used),\n"
           "ground_truth.png, snapshots/iter_N.png, metrics.json, curve.svg, report.html\n";
  return s;
}

namespace {

int fail(int status, const std::string& message, std::string* error) {
  std::fprintf(stderr, "dip: %s\n", message.c_str());
  if (error) *error = message;
  return status;
}

}  // namespace

int run_cli(const std::vector<std::string>& args, std::string* error) {
  if (error) error->clear();
  if (args.empty()) {
    std::fputs(general_help().c_str(), stderr);
    return fail(2, "no task given (see dip --help)", error);
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(general_help().c_str(), stdout);
    return 0;
  }
  const TaskInfo* task = find_task(args[0]);
  if (!task) {
    std::string names;
    for (const TaskInfo& t : all_tasks()) names += (names.empty() ? "" : ", ") + t.name;
    return fail(2, "unknown task '" + args[0] + "' (tasks: " + names + ")", error);
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const std::string& a : rest)
    if (a == "--help" || a == "-h") {
      std::fputs(task_help(task->name).c_str(), stdout);
      return 0;
    }
  try {
    std::vector<OptionSpec> specs = task->options;
    for (const OptionSpec& s : common_options(*task)) specs.push_back(s);
    for (const OptionSpec& s : vit_options()) specs.push_back(s);
    const Args parsed = parse_options(specs, rest, "dip " + task->name);
    reset_interrupt();
    return run_task(*task, parsed);
  } catch (const UserError& e) {
    return fail(2, e.what(), error);
  } catch (const std::bad_alloc&) {
    return fail(1, "out of memory (try a smaller --size)", error);
  } catch (const std::exception& e) {
    return fail(1, std::string("error: ") + e.what(), error);
  }
}

int run_cli(int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return run_cli(args);
}

}  // namespace dip::apps
