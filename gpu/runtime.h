// The CUDA runtime as the rest of the framework sees it: memory, copies, the device.
// Implemented in gpu/runtime.cu when built with CUDA, and by gpu/no_cuda.cpp (clear errors) otherwise.
#pragma once
#include <cstddef>
#include <string>

namespace dip::gpu {

// True when the binary was built with CUDA and a usable GPU is present.
bool available();
// "NVIDIA H200 (sm_90, 139 GiB)" or why no GPU is usable.
std::string describe();

// Device memory through the caching allocator: steady-state training never calls cudaMalloc.
void* device_alloc(size_t bytes);
void device_free(void* ptr);

// Copies on the framework's stream; host<->device copies synchronise so the host buffer is usable.
void copy_host_to_device(void* dst, const void* src, size_t bytes);
void copy_device_to_host(void* dst, const void* src, size_t bytes);
void copy_device_to_device(void* dst, const void* src, size_t bytes);
void fill_device(float* dst, float value, size_t count);
void synchronize();

// Bytes currently held from cudaMalloc, and the high-water mark, by the caching allocator.
size_t reserved_bytes();
size_t peak_reserved_bytes();

// Matrix-product precision of cuBLAS (and of the kernels that honour it): TF32 tensor cores
// (10-bit mantissa inputs, float accumulation) or strict FP32. The default is TF32 on sm_80 and
// newer, FP32 elsewhere; set it before timing or comparing against a TF32/FP32 reference.
enum class Precision { FP32, TF32 };
void set_precision(Precision precision);
Precision precision();

}  // namespace dip::gpu
