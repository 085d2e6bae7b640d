// A register-blocked matrix product for operands already in the layout it reads: the CPU Winograd
// convolution's M[pos] = U[pos] V[pos] (tensor/cpu/winograd.cpp).
//
//   m (outs, cols) = u (outs, depth) * v (depth, cols)
//
// v is row-major as the caller wrote it (row stride ldv, read in place, cols a multiple of 8); u is
// packed once, in panels of kPanelRows rows stored depth-major:
//   u_packed[(p * depth + k) * kPanelRows + r] = u[p * kPanelRows + r][k]   (rows past outs: zero)
// A general GEMM (tensor/cpu/gemm.h) copies both operands into such panels on every call; here the
// caller's layout is the panel layout, so nothing is copied per product.
//
// Keep ldv off multiples of 128 bytes: the micro-kernel reads one row of v per step of the depth,
// and rows 512 bytes apart share an eighth of the L1 cache's sets and evict each other.
#pragma once
#include <cstdint>

namespace dip::cpu {

constexpr int kPanelRows = 4;  // rows of u (and m) per register block

// Runs on the calling thread. Each element of m is one fixed-order sum over k, whatever the sizes.
void panel_product(const float* u_packed, int64_t outs, int64_t depth, const float* v, int64_t ldv,
                   int64_t cols, float* m, int64_t ldm);

}  // namespace dip::cpu
