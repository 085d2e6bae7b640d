// The CUDA runtime of the framework (gpu/runtime.h) and the shared stream and cuBLAS handle
// (gpu/cuda_context.cuh).
//
// Everything runs on one non-blocking stream, created on first use (one stream keeps the order of
// the kernels, and would let a whole step be captured as a CUDA graph; nothing captures one yet). Host<->device copies synchronise that stream before they
// return (the host buffer is then usable); device-to-device copies and fills are only queued.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <string>

#include "gpu/caching_allocator.h"
#include "gpu/cuda_context.cuh"
#include "gpu/runtime.h"

namespace dip::gpu {

namespace {

// cuBLAS workspace handed over explicitly (32 MiB, NVIDIA's recommendation for Hopper), so cuBLAS
// never allocates memory itself (an allocation inside a step would also rule out CUDA-graph capture).
constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;

struct DeviceInfo {
  bool usable = false;
  int major = 0;
  std::string text;  // describe()
};

DeviceInfo query_device() noexcept {
  DeviceInfo info;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    info.text = cudaGetErrorString(err);  // e.g. "no CUDA-capable device is detected"
    return info;
  }
  if (count == 0) {
    info.text = "no GPU found";
    return info;
  }
  cudaDeviceProp prop;
  err = cudaGetDeviceProperties(&prop, 0);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    info.text = cudaGetErrorString(err);
    return info;
  }
  char buf[320];
  std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %zu GiB)", prop.name, prop.major, prop.minor,
                static_cast<size_t>(prop.totalGlobalMem >> 30));
  info.usable = true;
  info.major = prop.major;
  info.text = buf;
  return info;
}

const DeviceInfo& device_info() {
  static const DeviceInfo info = query_device();
  return info;
}

// -1 until set_precision() is called; precision() then falls back to the device's default.
std::atomic<int> g_precision{-1};
std::atomic<cublasHandle_t> g_cublas{nullptr};

cublasMath_t math_mode(Precision p) {
  return p == Precision::TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
}

__global__ void fill_kernel(float* __restrict__ dst, float value, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) dst[i] = value;
}

}  // namespace

bool available() { return device_info().usable; }

std::string describe() { return device_info().text; }

cudaStream_t stream() {
  static const cudaStream_t s = [] {
    DIP_CHECK(available(), "CUDA: ", describe(), "; use --device cpu");
    cudaStream_t created = nullptr;
    DIP_CUDA_CHECK(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking));
    return created;
  }();
  return s;
}

cublasHandle_t cublas() {
  static const cublasHandle_t h = [] {
    cublasHandle_t created = nullptr;
    DIP_CUBLAS_CHECK(cublasCreate(&created));
    DIP_CUBLAS_CHECK(cublasSetStream(created, stream()));
    DIP_CUBLAS_CHECK(cublasSetWorkspace(created, allocator().allocate(kCublasWorkspaceBytes),
                                        kCublasWorkspaceBytes));
    DIP_CUBLAS_CHECK(cublasSetMathMode(created, math_mode(precision())));
    g_cublas.store(created);
    return created;
  }();
  return h;
}

void set_precision(Precision p) {
  g_precision.store(static_cast<int>(p));
  if (cublasHandle_t h = g_cublas.load()) DIP_CUBLAS_CHECK(cublasSetMathMode(h, math_mode(p)));
}

Precision precision() {
  const int p = g_precision.load();
  if (p >= 0) return static_cast<Precision>(p);
  // TF32 tensor cores exist from Ampere (sm_80) on, as PyTorch's default for convolutions.
  return available() && device_info().major >= 8 ? Precision::TF32 : Precision::FP32;
}

void* device_alloc(size_t bytes) {
  DIP_CHECK(available(), "CUDA: ", describe(), "; use --device cpu");
  return allocator().allocate(bytes);
}

void device_free(void* ptr) { allocator().release(ptr); }

void copy_host_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  DIP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()));
  DIP_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void copy_device_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  DIP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()));
  DIP_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void copy_device_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0 || dst == src) return;
  DIP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()));
}

void fill_device(float* dst, float value, size_t count) {
  if (count == 0) return;
  if (value == 0.f && !std::signbit(value)) {  // +0.0f is all zero bits
    DIP_CUDA_CHECK(cudaMemsetAsync(dst, 0, count * sizeof(float), stream()));
    return;
  }
  const int64_t n = static_cast<int64_t>(count);
  fill_kernel<<<blocks_for(n), 256, 0, stream()>>>(dst, value, n);
  DIP_CUDA_CHECK_LAUNCH();
}

void synchronize() {
  if (!available()) return;
  DIP_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

size_t reserved_bytes() { return allocator().reserved_bytes(); }
size_t peak_reserved_bytes() { return allocator().peak_reserved_bytes(); }

}  // namespace dip::gpu
