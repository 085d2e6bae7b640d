// DIP_DISPATCH: call the CPU or the CUDA kernel of an op, by the device of its inputs.
//
// Every op family's header (tensor/conv2d.h, ...) declares its kernels twice, written out: in
// namespace dip::cpu (defined in tensor/cpu/conv2d.cpp) and in dip::gpu (gpu/conv2d.cu); the public
// dip::conv2d_forward checks its arguments and picks one with this macro. Without CUDA it never
// names a gpu:: function, so a CPU-only build needs no stubs.
#pragma once
#include "tensor/check.h"
#include "tensor/device.h"

#ifdef DIP_WITH_CUDA
#define DIP_DISPATCH(device, fn, ...) \
  ((device) == ::dip::Device::CUDA ? ::dip::gpu::fn(__VA_ARGS__) : ::dip::cpu::fn(__VA_ARGS__))
#else
#define DIP_DISPATCH(device, fn, ...)                                                       \
  ((device) == ::dip::Device::CUDA                                                          \
       ? throw ::dip::Error(#fn ": this build has no CUDA backend; use --device cpu")       \
       : ::dip::cpu::fn(__VA_ARGS__))
#endif
