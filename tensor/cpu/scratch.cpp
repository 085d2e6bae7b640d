// Per-thread scratch buffers (see scratch.h).
//
// Buffers are mapped straight from the kernel (mmap), not taken from malloc: when one grows, the old
// pages go back to the system at once, and a buffer sized for the largest layer only holds the pages
// that a layer has touched. (From malloc, the freed smaller buffers stayed resident between the
// larger ones: 11 MiB more peak memory on the skip net at 128x128.)
#include "tensor/cpu/scratch.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tensor/check.h"

namespace dip::cpu {

namespace {

struct Buffer {
  void* data = nullptr;
  size_t bytes = 0;
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { release(); }
  void release() {
    if (data) munmap(data, bytes);
    data = nullptr;
    bytes = 0;
  }
};

}  // namespace

float* thread_scratch(int slot, size_t count) {
  thread_local Buffer buffers[kScratchSlots];
  DIP_CHECK(slot >= 0 && slot < kScratchSlots, "thread_scratch: slot ", slot, " out of range");
  Buffer& b = buffers[slot];
  const size_t bytes = std::max<size_t>(count, 1) * sizeof(float);
  if (bytes > b.bytes) {
    b.release();
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    DIP_CHECK(p != MAP_FAILED, "out of host memory mapping ", bytes, " bytes of kernel scratch: ",
              std::strerror(errno));
    b.data = p;
    b.bytes = bytes;
  }
  return static_cast<float*>(b.data);
}

}  // namespace dip::cpu
