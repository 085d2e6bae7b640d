// The avx512 build of the GEMM (see gemm_impl.inc; compile flags are set in CMakeLists.txt).
#include <cstdint>
#define Eigen dip_eigen_avx512
#define GEMM_VARIANT avx512
#include "tensor/cpu/gemm_impl.inc"
