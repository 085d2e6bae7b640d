// Per-thread scratch buffers for the CPU kernels, reused across calls (they grow, never shrink).
// OpenMP's worker threads persist, so each keeps its buffers; a kernel's transient work space then
// costs no allocation (and no page faults) per call.
#pragma once
#include <cstddef>

namespace dip::cpu {

// The calling thread's buffer number `slot` (0 .. kScratchSlots - 1), of at least `count` floats,
// page-aligned. Its contents are undefined. A kernel that needs several buffers at once takes
// one slot for each.
constexpr int kScratchSlots = 6;
float* thread_scratch(int slot, size_t count);

}  // namespace dip::cpu
