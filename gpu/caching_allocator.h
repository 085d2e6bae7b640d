// The caching allocator behind gpu::device_alloc / device_free.
//
// cudaMalloc and cudaFree are slow (cudaFree synchronises the device), and a DIP iteration
// allocates and frees the same few hundred buffers every step. Freed blocks therefore go to a free
// list of their size class and are handed out again; after the first iteration no call reaches
// cudaMalloc. Size classes: multiples of 512 B up to 4 KiB, then 8 classes per power of two
// (at most 12.5% padding). A block only serves requests of its own class (no splitting).
//
// Reuse is safe without events because every kernel and copy runs on the one framework stream:
// a block freed by the host while a queued kernel still reads it is only written by work queued
// later on the same stream.
#pragma once
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace dip::gpu {

// The size class (bytes actually reserved) of a request.
size_t allocation_class(size_t bytes);

class CachingAllocator {
 public:
  // A block of at least `bytes` (256-byte aligned, from cudaMalloc). On cudaMalloc failure the
  // cache is freed and the call retried once; then dip::Error "out of GPU memory allocating X MiB".
  void* allocate(size_t bytes);
  // Back to its free list. Never throws (called from destructors); unknown pointers are reported.
  void release(void* ptr) noexcept;
  // cudaFree of every cached (not in use) block, after the device finishes queued work.
  void empty_cache();

  size_t reserved_bytes() const;       // held from cudaMalloc: in use + cached
  size_t peak_reserved_bytes() const;  // high-water mark of reserved_bytes()
  size_t cached_bytes() const;         // free blocks waiting for reuse
  size_t cuda_malloc_calls() const;    // how often the cache missed (tests: steady state adds none)

 private:
  void empty_cache_locked();

  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // size class -> free blocks
  std::unordered_map<void*, size_t> in_use_;             // block -> its size class
  size_t reserved_ = 0, peak_ = 0, cached_ = 0, mallocs_ = 0;
};

// The process-wide allocator (never destroyed, so tensors freed at exit are still fine).
CachingAllocator& allocator();

// Scratch device memory for the duration of one op (partial sums, ...), from the cache.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : ptr_(allocator().allocate(bytes)) {}
  ~DeviceBuffer() { allocator().release(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_;
};

}  // namespace dip::gpu
