// The test runner: doctest's main, plus a line saying which GEMM variant and GPU this run uses.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "gpu/runtime.h"
#include "tensor/cpu/gemm.h"

int main(int argc, char** argv) {
  std::printf("dip-tests: CPU GEMM %s, %d threads; GPU: %s\n", dip::cpu::gemm_variant(),
              dip::cpu::num_threads(), dip::gpu::available() ? dip::gpu::describe().c_str()
                                                               : "none (GPU tests skipped)");
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
