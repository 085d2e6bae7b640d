// What every CUDA source of the backend shares: error checks, the framework's stream, the cuBLAS
// handle, and launch-size helpers. Only .cu files (and gpu/*.cpp) include this.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "tensor/check.h"

namespace dip::gpu {

// Every CUDA runtime call is checked; the message names the call and the CUDA error.
#define DIP_CUDA_CHECK(call)                                                                  \
  do {                                                                                        \
    cudaError_t err_ = (call);                                                                \
    DIP_CHECK(err_ == cudaSuccess, "CUDA error in ", #call, ": ", cudaGetErrorString(err_)); \
  } while (0)

#define DIP_CUBLAS_CHECK(call)                                                   \
  do {                                                                           \
    cublasStatus_t st_ = (call);                                                 \
    DIP_CHECK(st_ == CUBLAS_STATUS_SUCCESS, "cuBLAS error ", int(st_), " in ", #call); \
  } while (0)

// After every kernel launch: catches bad launch configurations at the launch site.
#define DIP_CUDA_CHECK_LAUNCH() DIP_CUDA_CHECK(cudaGetLastError())

// The one stream all kernels and copies run on (so a whole iteration can be captured as a graph).
cudaStream_t stream();
cublasHandle_t cublas();

// Blocks for a 1-D grid-stride launch over n elements.
inline int blocks_for(int64_t n, int threads = 256) {
  int64_t b = (n + threads - 1) / threads;
  return static_cast<int>(b < 65535 * 8 ? (b > 0 ? b : 1) : 65535 * 8);
}

}  // namespace dip::gpu
