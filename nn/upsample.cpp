#include "nn/upsample.h"

namespace dip {

Upsample::Upsample(int scale, UpsampleMode mode) : scale_(scale), mode_(mode) {
  DIP_CHECK(scale >= 1, "Upsample: scale must be >= 1, got ", scale);
}

Variable Upsample::forward(const Variable& x) {
  DIP_CHECK(x.shape().rank() == 4, name(), ": expects (N, C, H, W), got ", x.shape().str());
  return upsample2d(x, scale_, mode_);
}

std::string Upsample::name() const {
  return "Upsample(x" + std::to_string(scale_) + ", " +
         (mode_ == UpsampleMode::Bilinear ? "bilinear" : "nearest") + ")";
}

}  // namespace dip
