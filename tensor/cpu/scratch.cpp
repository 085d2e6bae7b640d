// Per-thread scratch buffers (see scratch.h).
#include "tensor/cpu/scratch.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "tensor/check.h"

namespace dip::cpu {

float* thread_scratch(int slot, size_t count) {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  struct Buffer {
    std::unique_ptr<float, Free> data;
    size_t capacity = 0;
  };
  thread_local Buffer buffers[kScratchSlots];
  DIP_CHECK(slot >= 0 && slot < kScratchSlots, "thread_scratch: slot ", slot, " out of range");
  Buffer& b = buffers[slot];
  if (count > b.capacity) {
    b.data.reset();
    const size_t bytes = (std::max<size_t>(count, 1) * sizeof(float) + 63) / 64 * 64;
    b.data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    DIP_CHECK(b.data != nullptr, "out of host memory allocating ", bytes, " bytes of kernel scratch");
    b.capacity = count;
  }
  return b.data.get();
}

}  // namespace dip::cpu
