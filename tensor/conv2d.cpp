// Device-independent part of tensor/conv2d.h: the sizes, the output shape and the argument checks
// every backend relies on, then the dispatch to a kernel.
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

ConvSizes conv2d_sizes(const Shape& x, const Shape& weight, const Conv2dOptions& opt) {
  const Shape out = conv2d_output_shape(x, weight, opt);
  ConvSizes s;
  s.n = x[0], s.c_in = x[1], s.h = x[2], s.w = x[3];
  s.c_out = weight[0], s.kh = weight[2], s.kw = weight[3];
  s.out_h = out[2], s.out_w = out[3];
  s.groups = opt.groups;
  s.c_in_g = weight[1], s.c_out_g = s.c_out / opt.groups;
  s.kk = s.kh * s.kw;
  s.k_g = s.c_in_g * s.kk;
  s.hw = s.h * s.w, s.p = s.out_h * s.out_w;
  s.pointwise = s.kk == 1 && opt.stride == 1 && opt.padding == 0;
  return s;
}

namespace {

void check_defined(const char* op, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) DIP_CHECK(t->defined(), op, ": undefined tensor");
}

// grad_out must have the shape of the convolution's output.
void check_grad_out(const char* op, const Tensor& grad_out, const Shape& x, const Shape& weight,
                    const Conv2dOptions& opt) {
  const Shape expected = conv2d_output_shape(x, weight, opt);
  DIP_CHECK(grad_out.shape() == expected, op, ": gradient ", describe(grad_out),
            " does not match the convolution's output shape ", expected.str());
}

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt) {
  check_defined("conv2d", {&x, &weight});
  check_same_device("conv2d", {&x, &weight, &bias});
  conv2d_output_shape(x.shape(), weight.shape(), opt);
  if (bias.defined())
    DIP_CHECK(bias.rank() == 1 && bias.size(0) == weight.size(0), "conv2d: bias ", describe(bias), " must be (",
              weight.size(0), "), one value per output channel");
  return DIP_DISPATCH(x.device(), conv2d_forward, x, weight, bias, opt);
}

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& x_shape,
                             const Conv2dOptions& opt) {
  check_defined("conv2d_backward_input", {&grad_out, &weight});
  check_same_device("conv2d_backward_input", {&grad_out, &weight});
  check_grad_out("conv2d_backward_input", grad_out, x_shape, weight.shape(), opt);
  return DIP_DISPATCH(grad_out.device(), conv2d_backward_input, grad_out, weight, x_shape, opt);
}

Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape,
                              const Conv2dOptions& opt) {
  check_defined("conv2d_backward_weight", {&grad_out, &x});
  check_same_device("conv2d_backward_weight", {&grad_out, &x});
  check_grad_out("conv2d_backward_weight", grad_out, x.shape(), weight_shape, opt);
  return DIP_DISPATCH(grad_out.device(), conv2d_backward_weight, grad_out, x, weight_shape, opt);
}

Tensor conv2d_backward_bias(const Tensor& grad_out) {
  check_defined("conv2d_backward_bias", {&grad_out});
  DIP_CHECK(grad_out.rank() == 4, "conv2d_backward_bias: gradient must be (N, C_out, H_out, W_out), got ",
            describe(grad_out));
  return DIP_DISPATCH(grad_out.device(), conv2d_backward_bias, grad_out);
}

}  // namespace dip
