// The avx2 build of the GEMM (see gemm_impl.inc; compile flags are set in CMakeLists.txt).
#include <cstdint>
#define Eigen dip_eigen_avx2
#define GEMM_VARIANT avx2
#include "tensor/cpu/gemm_impl.inc"
