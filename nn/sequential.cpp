#include "nn/sequential.h"

#include "nn/activation.h"
#include "nn/batch_norm.h"

namespace dip {

Variable Sequential::forward(const Variable& x) {
  const auto& kids = children();
  const bool fuse = fusion_enabled();
  Variable y = x;
  for (size_t i = 0; i < kids.size(); ++i) {
    Module* child = kids[i].second.get();
    // Peephole: BatchNorm2d then LeakyReLU runs as one op, and the LeakyReLU child is skipped.
    auto* bn = fuse ? dynamic_cast<BatchNorm2d*>(child) : nullptr;
    auto* act = bn && i + 1 < kids.size() ? dynamic_cast<LeakyReLU*>(kids[i + 1].second.get()) : nullptr;
    if (act) {
      y = bn->forward(y, BatchNormActivation{true, act->slope()});
      ++i;
    } else {
      y = child->forward(y);
    }
  }
  return y;
}

std::string Sequential::name() const { return "Sequential(" + std::to_string(size()) + ")"; }

}  // namespace dip
