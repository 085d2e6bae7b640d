// DIP_VECTOR_CLONES: compile a hot loop for AVX-512, AVX2 and baseline x86-64 and pick the widest
// the CPU supports when the program loads (GCC function multiversioning). The binary stays
// portable, as the GEMM's run-time choice keeps it (tensor/cpu/gemm.h).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DIP_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DIP_VECTOR_CLONES
#endif
