#include "nn/sequential.h"

namespace dip {

Variable Sequential::forward(const Variable& x) {
  Variable y = x;
  for (const auto& [name, child] : children()) y = child->forward(y);
  return y;
}

std::string Sequential::name() const { return "Sequential(" + std::to_string(size()) + ")"; }

}  // namespace dip
