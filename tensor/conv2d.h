// 2-D convolution (cross-correlation, as PyTorch), NCHW, any kernel size, stride, groups.
//
//   x:      (N, C_in, H, W)
//   weight: (C_out, C_in / groups, KH, KW)
//   bias:   (C_out) or undefined
//   out:    (N, C_out, H_out, W_out), H_out = (H + 2*padding - KH) / stride + 1
//
// Padding is never materialised: the im2col gather maps an out-of-range coordinate to zero, to its
// mirror (reflect, no edge repeat, as torch's ReflectionPad2d) or to the nearest edge (replicate).
#pragma once
#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace dip {

enum class PaddingMode { Zeros, Reflect, Replicate };

struct Conv2dOptions {
  int stride = 1;
  int padding = 0;
  int groups = 1;
  PaddingMode padding_mode = PaddingMode::Zeros;
};

// Output shape of a convolution, with argument checks (reflect needs padding < H and < W).
Shape conv2d_output_shape(const Shape& x, const Shape& weight, const Conv2dOptions& opt);

// The kernels, the same in each backend: the CPU ones (tensor/cpu/conv2d.cpp) ...
namespace cpu {
Tensor conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                      const Conv2dOptions& opt);
// dL/dx: (N, C_in, H, W), with the gradient of padded positions folded back.
Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight,
                             const Shape& x_shape, const Conv2dOptions& opt);
// dL/dweight: (C_out, C_in / groups, KH, KW).
Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x,
                              const Shape& weight_shape, const Conv2dOptions& opt);
// dL/dbias: (C_out), the sum of grad_out over N, H, W.
Tensor conv2d_backward_bias(const Tensor& grad_out);
}  // namespace cpu
// ... and the CUDA ones (gpu/conv2d.cu), with the same contracts.
namespace gpu {
Tensor conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                      const Conv2dOptions& opt);
Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight,
                             const Shape& x_shape, const Conv2dOptions& opt);
Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x,
                              const Shape& weight_shape, const Conv2dOptions& opt);
Tensor conv2d_backward_bias(const Tensor& grad_out);
}  // namespace gpu

inline Tensor conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             const Conv2dOptions& opt) {
  check_same_device("conv2d", {&x, &weight, &bias});
  return DIP_DISPATCH(x.device(), conv2d_forward, x, weight, bias, opt);
}
inline Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& x_shape,
                                    const Conv2dOptions& opt) {
  check_same_device("conv2d_backward_input", {&grad_out, &weight});
  return DIP_DISPATCH(grad_out.device(), conv2d_backward_input, grad_out, weight, x_shape, opt);
}
inline Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape,
                                     const Conv2dOptions& opt) {
  check_same_device("conv2d_backward_weight", {&grad_out, &x});
  return DIP_DISPATCH(grad_out.device(), conv2d_backward_weight, grad_out, x, weight_shape, opt);
}
inline Tensor conv2d_backward_bias(const Tensor& grad_out) {
  return DIP_DISPATCH(grad_out.device(), conv2d_backward_bias, grad_out);
}

}  // namespace dip
