// CUDA kernels of tensor/batch_norm.h.
//
// Forward: per-channel statistics from the deterministic two-pass sums of gpu/channel_sum.cuh, then
// one fused normalise + affine pass. The sums are shifted by each channel's first value, K:
// var = E[(x-K)^2] - E[x-K]^2 keeps its precision when |mean| >> std (as the CPU kernel does).
// Backward: the sums of g and g * xhat per channel (which are grad_beta and grad_gamma), then
// grad_x in one pass. With the fused LeakyReLU (BatchNormActivation) the normalise pass applies it,
// and both backward passes recompute z with the forward's own ChannelAffine to take g's mask from it.
#include "gpu/channel_sum.cuh"
#include "gpu/cuda_context.cuh"
#include "tensor/batch_norm.h"

namespace dip::gpu {

namespace {

using gpu::SumPair;

constexpr int kThreads = 256;

using Nchw = BatchNormDims;

// Grid for the elementwise passes: x indexes the (n, c) planes, y the pieces of a plane (4 values
// per thread), so the channel of a block is one division per block, not per element.
dim3 plane_grid(const Nchw& d) {
  int64_t pieces = (d.hw + 4 * kThreads - 1) / (4 * kThreads);
  pieces = pieces < 1 ? 1 : (pieces > 65535 ? 65535 : pieces);
  return dim3(static_cast<unsigned>(d.n * d.c), static_cast<unsigned>(pieces));
}

// z = (x - mean) * scale + beta, scale = invstd * gamma, for channel c. The forward and the fused
// backward both build and apply it through this struct, so they compute the same z bit for bit.
struct ChannelAffine {
  float mean, scale, beta;
  __device__ __forceinline__ ChannelAffine(const float* m, const float* invstd, const float* gamma,
                                           const float* b, int64_t c)
      : mean(m[c]), scale(invstd[c] * gamma[c]), beta(b[c]) {}
  __device__ __forceinline__ float operator()(float x) const { return (x - mean) * scale + beta; }
};

// The LeakyReLU and its gradient as gpu/activation.cu has them: at z == 0 the slope side.
__device__ __forceinline__ float lrelu(float z, float slope) { return z > 0.f ? z : z * slope; }
__device__ __forceinline__ float lrelu_grad(float z, float g, float slope) {
  return z > 0.f ? g : g * slope;
}

// ---- forward ------------------------------------------------------------------

// x - K and (x - K)^2, K = the channel's first value x[0, c, 0, 0].
struct ShiftedMoments {
  const float* x;
  int64_t hw;
  __device__ SumPair<float> operator()(int64_t i, int c) const {
    const float v = x[i] - x[c * hw];
    return {v, v * v};
  }
};

struct WriteStatistics {
  const float* x;
  int64_t hw;
  double count;
  float eps;
  float* mean;
  float* invstd;
  __device__ void operator()(int c, SumPair<double> s) const {
    const double shift = x[c * hw];
    const double m = s.a / count;
    const double var = fmax(s.b / count - m * m, 0.0);  // biased, as in training
    mean[c] = static_cast<float>(shift + m);
    invstd[c] = static_cast<float>(1.0 / sqrt(var + double(eps)));
  }
};

// y = (x - mean) * invstd * gamma + beta, then lrelu(y) when Act.    x, y: (N, C, HW)
template <bool Act>
__global__ void normalize_kernel(const float* __restrict__ x, const float* __restrict__ mean,
                                 const float* __restrict__ invstd, const float* __restrict__ gamma,
                                 const float* __restrict__ beta, float* __restrict__ y, int64_t C,
                                 int64_t hw, float slope) {
  const int64_t plane = blockIdx.x;
  const ChannelAffine z(mean, invstd, gamma, beta, plane % C);
  const float* xp = x + plane * hw;
  float* yp = y + plane * hw;
  for (int64_t p = int64_t(blockIdx.y) * blockDim.x + threadIdx.x; p < hw;
       p += int64_t(gridDim.y) * blockDim.x) {
    const float v = z(xp[p]);
    yp[p] = Act ? lrelu(v, slope) : v;
  }
}

// ---- backward -----------------------------------------------------------------

// g and g * xhat, xhat = (x - mean) * invstd; when Act, g is dz = lrelu_grad(z, grad_y).
template <bool Act>
struct GradMoments {
  const float* g;
  const float* x;
  const float* mean;
  const float* invstd;
  const float* gamma;
  const float* beta;
  float slope;
  __device__ SumPair<float> operator()(int64_t i, int c) const {
    float gi = g[i];
    if (Act) gi = lrelu_grad(ChannelAffine(mean, invstd, gamma, beta, c)(x[i]), gi, slope);
    return {gi, gi * (x[i] - mean[c]) * invstd[c]};
  }
};

struct WriteAffineGrads {
  float* grad_gamma;
  float* grad_beta;
  __device__ void operator()(int c, SumPair<double> s) const {
    grad_beta[c] = static_cast<float>(s.a);
    grad_gamma[c] = static_cast<float>(s.b);
  }
};

// grad_x = gamma * invstd * (g - sum(g) / count - xhat * sum(g * xhat) / count), g as in
// GradMoments.   (N, C, HW)
template <bool Act>
__global__ void grad_input_kernel(const float* __restrict__ g, const float* __restrict__ x,
                                  const float* __restrict__ gamma, const float* __restrict__ beta,
                                  const float* __restrict__ mean, const float* __restrict__ invstd,
                                  const float* __restrict__ sum_g, const float* __restrict__ sum_gxhat,
                                  float* __restrict__ grad_x, int64_t C, int64_t hw, float inv_count,
                                  float slope) {
  const int64_t plane = blockIdx.x;
  const int64_t c = plane % C;
  const ChannelAffine z(mean, invstd, gamma, beta, c);
  const float m = mean[c], inv = invstd[c], k = gamma[c] * inv;
  const float mean_g = sum_g[c] * inv_count, mean_gxhat = sum_gxhat[c] * inv_count;
  const float* gp = g + plane * hw;
  const float* xp = x + plane * hw;
  float* out = grad_x + plane * hw;
  for (int64_t p = int64_t(blockIdx.y) * blockDim.x + threadIdx.x; p < hw;
       p += int64_t(gridDim.y) * blockDim.x) {
    const float xhat = (xp[p] - m) * inv;
    const float gi = Act ? lrelu_grad(z(xp[p]), gp[p], slope) : gp[p];
    out[p] = k * (gi - mean_g - xhat * mean_gxhat);
  }
}

// The backward's two passes for one choice of Act.
template <bool Act>
void backward_passes(const Nchw& d, const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                     const Tensor& beta, const Tensor& mean, const Tensor& invstd, float slope,
                     BatchNormBackward& out) {
  const int64_t count = d.n * d.hw;
  // grad_beta = sum g and grad_gamma = sum g * xhat are exactly the two sums grad_x needs.
  gpu::channel_sums(d.n, d.c, d.hw,
                    GradMoments<Act>{grad_y.data(), x.data(), mean.data(), invstd.data(), gamma.data(),
                                     beta.data(), slope},
                    WriteAffineGrads{out.grad_gamma.data(), out.grad_beta.data()});
  if (count == 0) return;
  grad_input_kernel<Act><<<plane_grid(d), kThreads, 0, gpu::stream()>>>(
      grad_y.data(), x.data(), gamma.data(), beta.data(), mean.data(), invstd.data(),
      out.grad_beta.data(), out.grad_gamma.data(), out.grad_x.data(), d.c, d.hw,
      1.f / static_cast<float>(count), slope);
  DIP_CUDA_CHECK_LAUNCH();
}

}  // namespace

BatchNormForward batch_norm2d_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      float eps, const BatchNormActivation& act) {
  const Nchw d = check_batch_norm2d_forward(x, gamma, beta, eps);
  const int64_t count = d.n * d.hw;  // values per channel

  BatchNormForward out{Tensor::empty(x.shape(), Device::CUDA), Tensor::empty({d.c}, Device::CUDA),
                       Tensor::empty({d.c}, Device::CUDA)};
  if (d.c == 0) return out;
  gpu::channel_sums(d.n, d.c, d.hw, ShiftedMoments{x.data(), d.hw},
                    WriteStatistics{x.data(), d.hw, double(count), eps, out.mean.data(),
                                    out.invstd.data()});
  auto normalize = act.leaky_relu ? normalize_kernel<true> : normalize_kernel<false>;
  normalize<<<plane_grid(d), kThreads, 0, gpu::stream()>>>(x.data(), out.mean.data(), out.invstd.data(),
                                                           gamma.data(), beta.data(), out.y.data(), d.c,
                                                           d.hw, act.slope);
  DIP_CUDA_CHECK_LAUNCH();
  return out;
}

BatchNormBackward batch_norm2d_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                        const Tensor& beta, const Tensor& mean, const Tensor& invstd,
                                        const BatchNormActivation& act) {
  const Nchw d = check_batch_norm2d_backward(grad_y, x, gamma, beta, mean, invstd);

  BatchNormBackward out{Tensor::empty(x.shape(), Device::CUDA), Tensor::empty({d.c}, Device::CUDA),
                        Tensor::empty({d.c}, Device::CUDA)};
  if (d.c == 0) return out;
  if (act.leaky_relu)
    backward_passes<true>(d, grad_y, x, gamma, beta, mean, invstd, act.slope, out);
  else
    backward_passes<false>(d, grad_y, x, gamma, beta, mean, invstd, act.slope, out);
  return out;
}

}  // namespace dip::gpu
