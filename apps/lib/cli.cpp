#include "apps/lib/cli.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <new>

#include "apps/lib/atomic_file.h"
#include "apps/lib/interrupt.h"
#include "apps/lib/run.h"
#include "apps/lib/study_report.h"
#include "apps/lib/study_run.h"
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
  s += "  study       learn the iteration count on a training set, test it and the stopping rules\n"
       "              (dip study run ..., dip study report STUDY; see dip study --help)\n";
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
  const std::string defaults = describe_defaults(*t);
  for (size_t i = 0; i < defaults.size(); ++i)
    d += defaults[i] == '\n' && i + 1 < defaults.size() ? std::string("\n  ") : std::string(1, defaults[i]);
  s += d + "\noutputs in --out: observed.png, output.png, output_avg.png (EMA, where used),\n"
           "ground_truth.png, snapshots/iter_N.png, metrics.json, curve.svg, report.html; an unfinished\n"
           "(interrupted) run stays in OUT.partial/ with checkpoint.dip (continue it with --resume OUT)\n";
  return s;
}

namespace {

int fail(int status, const std::string& message, std::string* error) {
  std::fprintf(stderr, "dip: %s\n", message.c_str());
  if (error) *error = message;
  return status;
}

}  // namespace

// The exit status of `body`, with every failure turned into one line on stderr.
template <typename Body>
int guarded(Body body, std::string* error) {
  try {
    reset_interrupt();
    return body();
  } catch (const UserError& e) {
    return fail(2, e.what(), error);
  } catch (const std::bad_alloc&) {
    return fail(1, "out of memory (try a smaller --size)", error);
  } catch (const std::exception& e) {
    return fail(1, std::string("error: ") + e.what(), error);
  }
}

// `dip study report STUDY [--stop-patience P] [--stop-min-iter F]`: the tables and plots into
// STUDY/report/, the tables on stdout.
int study_report_main(const std::vector<std::string>& argv) {
  DIP_USER_CHECK(!argv.empty() && argv[0].rfind("--", 0) != 0,
                 "dip study report: give the study folder first (dip study report STUDY [options])");
  const std::string dir = argv[0];
  const Args a = parse_options(
      {int_option("stop-patience", "P", "replay the rules with this patience", 1, 1000000),
       int_option("stop-min-iter", "F", "replay the rules with this floor", 0, 1000000)},
      std::vector<std::string>(argv.begin() + 1, argv.end()), "dip study report");
  StopOverrides overrides;
  if (a.has("stop-patience")) overrides.patience = a.integer("stop-patience", 0);
  if (a.has("stop-min-iter")) overrides.min_iter = a.integer("stop-min-iter", 0);
  const StudyReport report = analyse_study(dir, overrides);
  for (const std::string& w : report.warnings) std::fprintf(stderr, "study: warning: %s\n", w.c_str());
  write_study_report(dir, report);
  std::fputs(read_file_text(dir + "/report/report.md").c_str(), stdout);
  std::printf("\nstudy: report in %s/report/ (study.html, report.md, results.csv, results.json, runs.csv)\n",
              dir.c_str());
  return 0;
}

// `dip study run ...` and `dip study report STUDY`.
int study_cli(const std::vector<std::string>& args, std::string* error) {
  const std::string sub = args.empty() ? "" : args[0];
  const std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
  const bool help = std::find(rest.begin(), rest.end(), "--help") != rest.end() ||
                    std::find(rest.begin(), rest.end(), "-h") != rest.end();
  if (sub == "--help" || sub == "-h" || sub == "help" || (help && (sub == "run" || sub == "report"))) {
    std::fputs(study_run_help().c_str(), stdout);
    return 0;
  }
  if (sub == "run") return guarded([&] { return study_run_main(rest); }, error);
  if (sub == "report")
    return guarded([&] { return study_report_main(rest); }, error);
  return fail(2, sub.empty() ? "dip study: run or report? (see dip study --help)"
                             : "dip study: unknown command '" + sub + "' (run or report)", error);
}

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
  if (args[0] == "study") return study_cli(std::vector<std::string>(args.begin() + 1, args.end()), error);
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
  return guarded([&] {
    std::vector<OptionSpec> specs = task->options;
    for (const OptionSpec& s : common_options(*task)) specs.push_back(s);
    for (const OptionSpec& s : vit_options()) specs.push_back(s);
    const Args parsed = parse_options(specs, rest, "dip " + task->name);
    return run_task(*task, parsed);
  }, error);
}

int run_cli(int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return run_cli(args);
}

}  // namespace dip::apps
