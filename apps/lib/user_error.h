// UserError: a problem with what the user gave us (an option, a file), not a bug.
//
// The CLI prints its message as one line and exits with status 2; every other exception is a bug
// or a resource failure and exits with status 1.
#pragma once
#include <stdexcept>
#include <string>

#include "tensor/check.h"

namespace dip::apps {

struct UserError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace dip::apps

// Like DIP_CHECK, but the failure is the user's to fix (exit status 2).
#define DIP_USER_CHECK(cond, ...)                                                          \
  do {                                                                                     \
    if (!(cond)) throw ::dip::apps::UserError(::dip::detail::concat_message(__VA_ARGS__)); \
  } while (0)
