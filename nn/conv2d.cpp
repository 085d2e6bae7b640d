#include "nn/conv2d.h"

#include "nn/init.h"

namespace dip {

namespace {
const char* padding_name(PaddingMode m) {
  switch (m) {
    case PaddingMode::Zeros: return "zeros";
    case PaddingMode::Reflect: return "reflect";
    case PaddingMode::Replicate: return "replicate";
  }
  return "?";
}
}  // namespace

Conv2d::Conv2d(int in_channels, int out_channels, int kernel_size, int stride,
               PaddingMode padding_mode, bool bias, int groups, Rng& rng)
    : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {
  DIP_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0 && stride > 0 && groups > 0,
            "Conv2d: channels, kernel size, stride and groups must be positive (got in=", in_channels,
            ", out=", out_channels, ", k=", kernel_size, ", stride=", stride, ", groups=", groups, ")");
  DIP_CHECK(in_channels % groups == 0 && out_channels % groups == 0, "Conv2d: groups=", groups,
            " must divide both in_channels=", in_channels, " and out_channels=", out_channels);
  opt_.stride = stride;
  opt_.padding = (kernel_size - 1) / 2;
  opt_.groups = groups;
  opt_.padding_mode = padding_mode;
  const Shape wshape{out_channels, in_channels / groups, kernel_size, kernel_size};
  // Weight first, then bias: the order PyTorch's reset_parameters() draws them in.
  weight_ = register_parameter("weight", init::default_weight(wshape, rng));
  if (bias) bias_ = register_parameter("bias", init::default_bias(out_channels, init::fan_in(wshape), rng));
}

Variable Conv2d::forward(const Variable& x) {
  DIP_CHECK(x.shape().rank() == 4 && x.size(1) == in_channels_, name(), ": expects (N, ", in_channels_,
            ", H, W), got ", x.shape().str());
  return conv2d(x, weight_, bias_, opt_);
}

std::string Conv2d::name() const {
  std::string s = "Conv2d(" + std::to_string(in_channels_) + ", " + std::to_string(out_channels_) +
                  ", k=" + std::to_string(kernel_size_) + ", s=" + std::to_string(opt_.stride);
  if (opt_.groups != 1) s += ", groups=" + std::to_string(opt_.groups);
  return s + ", " + padding_name(opt_.padding_mode) + ")";
}

}  // namespace dip
