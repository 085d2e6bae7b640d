// The `dip` command line: `dip TASK [options]`, `dip TASK --help`, `dip --help`.
//
// Exit status: 0 done (or help shown), 2 bad usage or input (one-line message, nothing written),
// 1 any other failure, 130 interrupted by Ctrl-C (outputs so far saved).
#pragma once
#include <string>
#include <vector>

namespace dip::apps {

// `args` excludes the program name. When `error` is given it receives the one-line message that
// was printed to stderr for a failed run (empty otherwise).
int run_cli(const std::vector<std::string>& args, std::string* error = nullptr);
int run_cli(int argc, const char* const* argv);

// The texts --help prints.
std::string general_help();
std::string task_help(const std::string& task);

}  // namespace dip::apps
