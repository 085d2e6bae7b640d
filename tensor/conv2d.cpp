// Device-independent part of tensor/conv2d.h: the output shape and the argument checks every backend
// relies on.
#include "tensor/conv2d.h"

namespace dip {

Shape conv2d_output_shape(const Shape& x, const Shape& weight, const Conv2dOptions& opt) {
  DIP_CHECK(x.rank() == 4, "conv2d: input must be (N, C, H, W), got ", x.str());
  DIP_CHECK(weight.rank() == 4, "conv2d: weight must be (C_out, C_in / groups, KH, KW), got ",
            weight.str());
  DIP_CHECK(opt.stride >= 1, "conv2d: stride must be >= 1, got ", opt.stride);
  DIP_CHECK(opt.padding >= 0, "conv2d: padding must be >= 0, got ", opt.padding);
  DIP_CHECK(opt.groups >= 1, "conv2d: groups must be >= 1, got ", opt.groups);
  const int64_t c_in = x[1], h = x[2], w = x[3];
  const int64_t c_out = weight[0], kh = weight[2], kw = weight[3];
  DIP_CHECK(c_in % opt.groups == 0 && c_out % opt.groups == 0, "conv2d: groups = ", opt.groups,
            " must divide both input channels (", c_in, ") and output channels (", c_out, ")");
  DIP_CHECK(weight[1] * opt.groups == c_in, "conv2d: weight ", weight.str(), " expects ",
            weight[1] * opt.groups, " input channels (C_in / groups = ", weight[1],
            ") but the input ", x.str(), " has ", c_in);
  DIP_CHECK(kh >= 1 && kw >= 1, "conv2d: empty kernel ", weight.str());
  if (opt.padding_mode == PaddingMode::Reflect)
    DIP_CHECK(opt.padding < h && opt.padding < w, "conv2d: reflect padding ", opt.padding,
              " must be smaller than the input height and width ", x.str(),
              "; use replicate or zero padding, or a smaller padding");
  const int64_t hp = h + 2 * opt.padding, wp = w + 2 * opt.padding;
  DIP_CHECK(hp >= kh && wp >= kw, "conv2d: kernel ", kh, "x", kw, " is larger than the padded input ",
            hp, "x", wp);
  return Shape{x[0], c_out, (hp - kh) / opt.stride + 1, (wp - kw) / opt.stride + 1};
}

}  // namespace dip
