// Broadcast strides for the CPU kernels: a shape viewed as 4-D (leading 1s), with stride 0 where
// a dimension is broadcast.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/shape.h"

namespace dip::cpu {

// `s` padded on the left with 1s to rank 4.
inline std::array<int64_t, 4> dims4(const Shape& s) {
  std::array<int64_t, 4> d{1, 1, 1, 1};
  for (int i = 0; i < s.rank(); ++i) d[4 - s.rank() + i] = s[i];
  return d;
}

// Element strides of `s` (contiguous) when indexed by the 4-D coordinates of `out`: 0 on the
// dimensions where `s` has size 1 and `out` does not.
inline std::array<int64_t, 4> broadcast_strides(const Shape& s, const Shape& out) {
  std::array<int64_t, 4> ds = dims4(s), dout = dims4(out), st{};
  int64_t stride = 1;
  for (int i = 3; i >= 0; --i) {
    st[i] = (ds[i] == 1 && dout[i] != 1) ? 0 : stride;
    stride *= ds[i];
  }
  return st;
}

}  // namespace dip::cpu
