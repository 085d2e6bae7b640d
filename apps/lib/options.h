// Command-line options: a declarative table per task, parsed and range-checked in one place, so
// every task's --help and every error message come from the same description.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace dip::apps {

struct OptionSpec {
  enum class Type { Flag, Int, Float, Text };
  std::string name;     // without the leading dashes: "sigma"
  Type type = Type::Text;
  std::string metavar;  // "S", "PATH"
  std::string help;     // one line; the default is appended when `default_text` is set
  std::string default_text;
  double min = -1e300, max = 1e300;  // inclusive bounds for Int and Float
  bool min_exclusive = false;        // (min, max] instead of [min, max]
  std::vector<std::string> choices;  // Text: allowed values (empty: any)
};

// Builders for the option tables.
OptionSpec text_option(std::string name, std::string metavar, std::string help, std::string default_text = "",
                       std::vector<std::string> choices = {});
OptionSpec int_option(std::string name, std::string metavar, std::string help, double min, double max,
                      std::string default_text = "");
// (min, max] when min_exclusive, else [min, max].
OptionSpec float_option(std::string name, std::string metavar, std::string help, double min, double max,
                        bool min_exclusive, std::string default_text = "");
OptionSpec flag_option(std::string name, std::string help);

// Parsed values, as text; the parser has already checked types, ranges and choices.
class Args {
 public:
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::string text(const std::string& name, const std::string& fallback = "") const;
  int integer(const std::string& name, int fallback) const;
  double real(const std::string& name, double fallback) const;
  bool flag(const std::string& name) const { return has(name); }
  void set(const std::string& name, const std::string& value) { values_[name] = value; }
  void erase(const std::string& name) { values_.erase(name); }
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

// Parses "--name value", "--name=value" and "--flag". A UserError names the offending option:
// unknown, missing value, repeated, not a number, out of range, not one of the choices.
// `context` prefixes messages ("dip denoise").
Args parse_options(const std::vector<OptionSpec>& specs, const std::vector<std::string>& argv,
                   const std::string& context);

// The options block of a --help text, one aligned line each.
std::string format_options(const std::vector<OptionSpec>& specs);

}  // namespace dip::apps
