// The caching allocator: size-class free lists over cudaMalloc (see gpu/caching_allocator.h).
#include "gpu/caching_allocator.h"

#include <cstdio>

#include "gpu/cuda_context.cuh"

namespace dip::gpu {

namespace {
constexpr size_t kMiB = size_t(1) << 20;
constexpr size_t kSmallStep = 512;     // granularity of the small classes
constexpr size_t kSmallLimit = 4096;   // above this, 8 classes per power of two
}  // namespace

size_t allocation_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= kSmallLimit) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  // Round up to a multiple of 2^(floor(log2 bytes) - 3): 8 classes between 2^k and 2^(k+1).
  const int top = 63 - __builtin_clzll(static_cast<unsigned long long>(bytes));
  const size_t step = size_t(1) << (top - 3);
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = allocation_class(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = free_.find(size);
  if (it != free_.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= size;
    in_use_.emplace(p, size);
    return p;
  }
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, size);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // the failure is not sticky; clear it so later checks do not see it
    empty_cache_locked();
    err = cudaMalloc(&p, size);
  }
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    DIP_CHECK(err != cudaErrorMemoryAllocation, "out of GPU memory allocating ",
              (size + kMiB - 1) / kMiB, " MiB (this process already holds ", reserved_ / kMiB,
              " MiB); use a smaller image or --device cpu");
    throw Error(detail::concat_message("cudaMalloc of ", size, " bytes failed: ", cudaGetErrorString(err)));
  }
  ++mallocs_;
  reserved_ += size;
  if (reserved_ > peak_) peak_ = reserved_;
  in_use_.emplace(p, size);
  return p;
}

void CachingAllocator::release(void* ptr) noexcept {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = in_use_.find(ptr);
  if (it == in_use_.end()) {
    std::fprintf(stderr, "dip: device_free of %p, which the caching allocator did not hand out\n", ptr);
    return;
  }
  const size_t size = it->second;
  in_use_.erase(it);
  free_[size].push_back(ptr);
  cached_ += size;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  empty_cache_locked();
}

void CachingAllocator::empty_cache_locked() {
  if (cached_ == 0) return;
  // Queued kernels may still use blocks the host already freed.
  DIP_CUDA_CHECK(cudaDeviceSynchronize());
  for (auto& [size, blocks] : free_) {
    for (void* p : blocks) {
      DIP_CUDA_CHECK(cudaFree(p));
      reserved_ -= size;
    }
    blocks.clear();
  }
  free_.clear();
  cached_ = 0;
}

size_t CachingAllocator::reserved_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reserved_;
}

size_t CachingAllocator::peak_reserved_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_;
}

size_t CachingAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cached_;
}

size_t CachingAllocator::cuda_malloc_calls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return mallocs_;
}

CachingAllocator& allocator() {
  static CachingAllocator* instance = new CachingAllocator();  // leaked on purpose: see the header
  return *instance;
}

}  // namespace dip::gpu
