// The baseline build of the GEMM (see gemm_impl.inc; compile flags are set in CMakeLists.txt).
#include <cstdint>
#define Eigen dip_eigen_baseline
#define GEMM_VARIANT baseline
#include "tensor/cpu/gemm_impl.inc"
