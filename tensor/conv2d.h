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

// The sizes of one convolution, the same for every backend (each backend's ConvPlan adds how it
// cuts the work). Per image and group g:  out_g (c_out_g, p) = W_g (c_out_g, k_g) * col_g (k_g, p).
struct ConvSizes {
  int64_t n, c_in, h, w;    // x: (N, C_in, H, W)
  int64_t c_out, kh, kw;    // weight: (C_out, C_in / groups, KH, KW)
  int64_t out_h, out_w;     // out: (N, C_out, H_out, W_out)
  int64_t groups;
  int64_t c_in_g, c_out_g;  // channels per group
  int64_t kk;               // KH * KW
  int64_t k_g;              // c_in_g * kk: GEMM depth per group (column-matrix rows)
  int64_t hw, p;            // input and output pixels per plane
  bool pointwise;           // 1x1, stride 1, no padding: the input is its own column matrix
};
// Checks the arguments as conv2d_output_shape does.
ConvSizes conv2d_sizes(const Shape& x, const Shape& weight, const Conv2dOptions& opt);

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

// The ops: they check their arguments (tensor/conv2d.cpp), then call a kernel; the kernels trust them.
Tensor conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt);
Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& x_shape,
                             const Conv2dOptions& opt);
Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape,
                              const Conv2dOptions& opt);
Tensor conv2d_backward_bias(const Tensor& grad_out);

}  // namespace dip
