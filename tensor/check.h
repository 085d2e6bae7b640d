// DIP_CHECK: precondition checks whose message says what went wrong and what to do.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace dip {

// Thrown for bad arguments: wrong shapes, mixed devices, out-of-range options.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Args>
std::string concat_message(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace dip

#define DIP_CHECK(cond, ...)                                          \
  do {                                                                \
    if (!(cond)) throw ::dip::Error(::dip::detail::concat_message(__VA_ARGS__)); \
  } while (0)
