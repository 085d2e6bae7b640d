// Winograd F(4x4, 3x3): the CPU conv2d kernels' fast path for stride-1 3x3 convolutions (most of the
// DIP skip net's arithmetic), with 4x fewer multiplies than im2col + GEMM. See winograd.cpp.
#pragma once
#include "tensor/conv2d.h"

namespace dip::cpu {

// Whether tensor/cpu/conv2d.cpp computes this convolution with Winograd: a 3x3 kernel, stride 1, one
// group, and enough channels and pixels for the transforms to pay. Depends only on the sizes (never
// on the thread count), so results stay independent of it.
bool winograd_applies(const ConvSizes& s, const Conv2dOptions& opt);

// For benchmarks and tests: false sends every convolution down the im2col path (default true).
void set_winograd_enabled(bool on);
bool winograd_enabled();

// The kernels of tensor/conv2d.h for a convolution where winograd_applies, with the same contracts
// (raw (N, C, H, W) arrays; the sizes s of conv2d_sizes). Each opens its own parallel region.
void winograd_forward(const float* x, const float* weight, const float* bias, const ConvSizes& s,
                      const Conv2dOptions& opt, float* out);
void winograd_backward_input(const float* grad_out, const float* weight, const ConvSizes& s,
                             const Conv2dOptions& opt, float* grad_x);
void winograd_backward_weight(const float* grad_out, const float* x, const ConvSizes& s,
                              const Conv2dOptions& opt, float* grad_w);

}  // namespace dip::cpu
