// Upsample: enlarge (N, C, H, W) by an integer factor, nearest or bilinear (align_corners = false).
#pragma once
#include "autograd/functions.h"
#include "nn/module.h"

namespace dip {

class Upsample : public Module {
 public:
  Upsample(int scale, UpsampleMode mode);
  Variable forward(const Variable& x) override;  // (N, C, H, W) -> (N, C, H*scale, W*scale)
  std::string name() const override;

 private:
  int scale_;
  UpsampleMode mode_;
};

}  // namespace dip
