// Built instead of the CUDA sources when nvcc is absent: every GPU entry point says so clearly.
#include "gpu/runtime.h"
#include "tensor/check.h"

namespace dip::gpu {

namespace {
[[noreturn]] void no_cuda() {
  throw Error("this build has no CUDA backend (nvcc was not found at build time); use --device cpu");
}
}  // namespace

bool available() { return false; }
std::string describe() { return "no CUDA backend in this build"; }
void* device_alloc(size_t) { no_cuda(); }
void device_free(void*) {}
void copy_host_to_device(void*, const void*, size_t) { no_cuda(); }
void copy_device_to_host(void*, const void*, size_t) { no_cuda(); }
void copy_device_to_device(void*, const void*, size_t) { no_cuda(); }
void fill_device(float*, float, size_t) { no_cuda(); }
void synchronize() {}
size_t reserved_bytes() { return 0; }
size_t peak_reserved_bytes() { return 0; }
void set_precision(Precision) {}  // nothing to configure: the CPU GEMM is always FP32
Precision precision() { return Precision::FP32; }

}  // namespace dip::gpu
