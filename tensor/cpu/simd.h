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
