#include "apps/lib/options.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "apps/lib/user_error.h"

namespace dip::apps {

OptionSpec text_option(std::string name, std::string metavar, std::string help, std::string default_text,
                       std::vector<std::string> choices) {
  OptionSpec s;
  s.name = std::move(name);
  s.type = OptionSpec::Type::Text;
  s.metavar = std::move(metavar);
  s.help = std::move(help);
  s.default_text = std::move(default_text);
  s.choices = std::move(choices);
  return s;
}

OptionSpec int_option(std::string name, std::string metavar, std::string help, double min, double max,
                      std::string default_text) {
  OptionSpec s = text_option(std::move(name), std::move(metavar), std::move(help), std::move(default_text));
  s.type = OptionSpec::Type::Int;
  s.min = min;
  s.max = max;
  return s;
}

OptionSpec float_option(std::string name, std::string metavar, std::string help, double min, double max,
                        bool min_exclusive, std::string default_text) {
  OptionSpec s = int_option(std::move(name), std::move(metavar), std::move(help), min, max, std::move(default_text));
  s.type = OptionSpec::Type::Float;
  s.min_exclusive = min_exclusive;
  return s;
}

OptionSpec flag_option(std::string name, std::string help) {
  OptionSpec s = text_option(std::move(name), "", std::move(help));
  s.type = OptionSpec::Type::Flag;
  return s;
}

std::string Args::text(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

int Args::integer(const std::string& name, int fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : std::atoi(it->second.c_str());
}

double Args::real(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : std::strtod(it->second.c_str(), nullptr);
}

namespace {

std::string bound_text(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// Checks one value against its spec; returns it normalised (as given).
void check_value(const OptionSpec& s, const std::string& value, const std::string& context) {
  const std::string opt = context + ": --" + s.name;
  if (s.type == OptionSpec::Type::Int || s.type == OptionSpec::Type::Float) {
    errno = 0;
    char* end = nullptr;
    double v = 0.0;
    if (s.type == OptionSpec::Type::Int) {
      long long i = std::strtoll(value.c_str(), &end, 10);
      v = static_cast<double>(i);
    } else {
      v = std::strtod(value.c_str(), &end);
    }
    const bool parsed = !value.empty() && end && *end == '\0' && errno == 0 && std::isfinite(v);
    DIP_USER_CHECK(parsed, opt, ": '", value, "' is not ",
                   s.type == OptionSpec::Type::Int ? "an integer" : "a number");
    const bool low_ok = s.min_exclusive ? v > s.min : v >= s.min;
    if (!low_ok || v > s.max) {
      std::string range = (s.min_exclusive ? "greater than " + bound_text(s.min)
                                           : "at least " + bound_text(s.min));
      if (s.max < 1e300) range += " and at most " + bound_text(s.max);
      throw UserError(opt + ": " + value + " is out of range (must be " + range + ")");
    }
  } else if (s.type == OptionSpec::Type::Text && !s.choices.empty()) {
    if (std::find(s.choices.begin(), s.choices.end(), value) == s.choices.end()) {
      std::string list;
      for (const std::string& c : s.choices) list += (list.empty() ? "" : ", ") + c;
      throw UserError(opt + ": '" + value + "' is not one of " + list);
    }
  } else if (s.type == OptionSpec::Type::Text) {
    DIP_USER_CHECK(!value.empty(), opt, ": empty value");
  }
}

}  // namespace

Args parse_options(const std::vector<OptionSpec>& specs, const std::vector<std::string>& argv,
                   const std::string& context) {
  Args args;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    DIP_USER_CHECK(a.size() > 2 && a.compare(0, 2, "--") == 0, context, ": unexpected argument '", a,
                   "' (options start with --; see ", context, " --help)");
    std::string name = a.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    auto spec = std::find_if(specs.begin(), specs.end(), [&](const OptionSpec& s) { return s.name == name; });
    DIP_USER_CHECK(spec != specs.end(), context, ": unknown option '--", name, "' (see ", context, " --help)");
    DIP_USER_CHECK(!args.has(name), context, ": --", name, " given twice");
    if (spec->type == OptionSpec::Type::Flag) {
      DIP_USER_CHECK(!inline_value, context, ": --", name, " takes no value");
      args.set(name, "1");
      continue;
    }
    if (!inline_value) {
      DIP_USER_CHECK(i + 1 < argv.size(), context, ": --", name, " needs a value (", spec->metavar, ")");
      value = argv[++i];
    }
    check_value(*spec, value, context);
    args.set(name, value);
  }
  return args;
}

std::string format_options(const std::vector<OptionSpec>& specs) {
  std::vector<std::string> left;
  size_t width = 0;
  for (const OptionSpec& s : specs) {
    std::string l = "  --" + s.name + (s.type == OptionSpec::Type::Flag ? "" : " " + s.metavar);
    width = std::max(width, l.size());
    left.push_back(l);
  }
  std::string out;
  for (size_t i = 0; i < specs.size(); ++i) {
    out += left[i] + std::string(width + 2 - left[i].size(), ' ') + specs[i].help;
    if (!specs[i].default_text.empty()) out += " (default: " + specs[i].default_text + ")";
    out += "\n";
  }
  return out;
}

}  // namespace dip::apps
