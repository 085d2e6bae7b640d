// DIP_DISPATCH: call the CPU or the CUDA kernel of an op, by the device of its inputs.
//
// Every op family declares the same function in namespace dip::cpu and dip::cuda, e.g.
// cpu::conv2d_forward and cuda::conv2d_forward; the public dip::conv2d_forward picks one.
#pragma once
#include "tensor/check.h"
#include "tensor/device.h"

#ifdef DIP_WITH_CUDA
#define DIP_DISPATCH(device, fn, ...) \
  ((device) == ::dip::Device::CUDA ? ::dip::cuda::fn(__VA_ARGS__) : ::dip::cpu::fn(__VA_ARGS__))
#else
#define DIP_DISPATCH(device, fn, ...)                                                       \
  ((device) == ::dip::Device::CUDA                                                          \
       ? throw ::dip::Error(#fn ": this build has no CUDA backend; use --device cpu")       \
       : ::dip::cpu::fn(__VA_ARGS__))
#endif
