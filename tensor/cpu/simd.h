// DIP_VECTOR_CLONES: compile a hot loop for the x86-64 levels v4 (AVX-512), v3 (AVX2 + FMA) and
// baseline x86-64 and pick the widest the CPU supports when the program loads (GCC function
// multiversioning). The binary stays portable, as the GEMM's run-time choice keeps it
// (tensor/cpu/gemm.h). The levels, not bare "avx2": that clone would lack FMA, and a*b + c would
// stay a multiply and an add (measured: the 128x128 Winograd forward with its micro-kernel took
// 17.6-20.3 ms without FMA, 12.6-13.0 ms with it).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DIP_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DIP_VECTOR_CLONES
#endif

#include <cstring>
#include <type_traits>
#include <utility>

// Helpers for code inside DIP_VECTOR_CLONES functions (tensor/cpu/winograd.cpp, panel_product.cpp).
// Everything such a function calls must be inlined into it, so that it runs in the function's
// vector clone: an out-of-line helper would be compiled for baseline x86-64 only.
#define DIP_INLINE inline __attribute__((always_inline))
#define DIP_INLINE_LAMBDA __attribute__((always_inline))

namespace dip::cpu::simd {

// 8 floats (GCC vector extension): one AVX2 register, two SSE ones.
constexpr int kLanes = 8;
using Vec = float __attribute__((vector_size(4 * kLanes)));

// Passing such a vector by value changes the ABI without AVX; GCC's note (-Wpsabi) about it
// concerns no call that is ever made, since the helpers are always inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
DIP_INLINE Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Stores the first `count` lanes of x at p.
DIP_INLINE void store(float* p, Vec x, int count = kLanes) {
  if (count == kLanes) {
    std::memcpy(p, &x, sizeof x);
    return;
  }
  float lanes[kLanes];
  std::memcpy(lanes, &x, sizeof x);
  for (int l = 0; l < count; ++l) p[l] = lanes[l];
}
#pragma GCC diagnostic pop

// Calls f(std::integral_constant<int, i>) for i = 0 .. N-1: loops whose index must be a constant
// (e.g. to keep an array of accumulators in registers).
template <class Fn, int... I>
DIP_INLINE void static_for_impl(Fn& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
template <int N, class Fn>
DIP_INLINE void static_for(Fn f) {
  static_for_impl(f, std::make_integer_sequence<int, N>{});
}

}  // namespace dip::cpu::simd
