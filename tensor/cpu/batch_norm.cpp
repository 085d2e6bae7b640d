// CPU kernels of tensor/batch_norm.h.
//
// Threads split the channels. A channel is N contiguous planes of H*W floats; each kernel reads it
// once to gather the per-channel sums (in double), then once more to write its output — by then
// the channel (64 KiB at 128x128) is still in cache. The statistics use shifted sums: with K the
// first value of the channel, var = E[(x-K)^2] - E[x-K]^2 keeps full precision when |mean| >> std,
// where the textbook E[x^2] - E[x]^2 would cancel.
//
// With the fused LeakyReLU (BatchNormActivation) the loops are separate functions, so the plain ones
// stay as they were. The backward recomputes z = x * scale + bias from the same float statistics
// with the same helpers as the forward, so its mask is the forward's bit for bit.
#include "tensor/batch_norm.h"
#include "tensor/cpu/leaky_relu.h"
#include "tensor/cpu/simd.h"

#include <algorithm>
#include <cmath>

namespace dip::cpu {

namespace {

constexpr int64_t kParallelMin = 32768;

using Nchw = BatchNormDims;

// The per-channel affine map z = x * scale + bias, which folds (x - mean) * invstd * gamma + beta.
struct Affine {
  float scale, bias;
};

// From the float statistics the forward returns, in double, rounded once: the forward and the
// fused backward both call this one compiled copy, so they see the same (scale, bias).
[[gnu::noinline]] Affine fold_affine(float mean, float invstd, float gamma, float beta) {
  const double scale = double(gamma) * double(invstd);
  return {static_cast<float>(scale), static_cast<float>(double(beta) - double(mean) * scale)};
}

// z for one value; always inlined so every loop contracts it the same way (FMA or not).
[[gnu::always_inline]] inline float affine(float x, Affine a) { return x * a.scale + a.bias; }

// s += sum(x - shift), ss += sum((x - shift)^2) over one (H*W) plane, in double.
DIP_VECTOR_CLONES void plane_sums(const float* x, int64_t n, double shift, double& s, double& ss) {
  double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
  for (int64_t i = 0; i < n; ++i) {
    const double v = double(x[i]) - shift;
    a += v;
    b += v * v;
  }
  s += a;
  ss += b;
}

// y = x * scale + bias over one plane.
DIP_VECTOR_CLONES void plane_affine(const float* x, float* y, int64_t n, Affine a) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = affine(x[i], a);
}

// y = lrelu(x * scale + bias) over one plane.
DIP_VECTOR_CLONES void plane_affine_lrelu(const float* x, float* y, int64_t n, Affine a, float slope) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = lrelu(affine(x[i], a), slope);
}

// sg += sum(g), sgx += sum(g * (x - mean)) over one plane, in double.
DIP_VECTOR_CLONES void plane_grad_sums(const float* g, const float* x, int64_t n, float mean, double& sg,
                                       double& sgx) {
  double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
  for (int64_t i = 0; i < n; ++i) {
    a += g[i];
    b += double(g[i]) * double(x[i] - mean);
  }
  sg += a;
  sgx += b;
}

// The same with dz = lrelu_grad(z, g) for g, z recomputed from x.
DIP_VECTOR_CLONES void plane_grad_sums_lrelu(const float* g, const float* x, int64_t n, float mean,
                                             Affine af, float slope, double& sg, double& sgx) {
  double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
  for (int64_t i = 0; i < n; ++i) {
    const float dz = lrelu_grad(affine(x[i], af), g[i], slope);
    a += dz;
    b += double(dz) * double(x[i] - mean);
  }
  sg += a;
  sgx += b;
}

// grad_x = k * g + b * (x - mean) + c over one plane.
DIP_VECTOR_CLONES void plane_grad_x(const float* g, const float* x, float* gx, int64_t n, float k, float b,
                                    float mean, float c) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = k * g[i] + b * (x[i] - mean) + c;
}

// The same with dz for g, recomputed as in plane_grad_sums_lrelu.
DIP_VECTOR_CLONES void plane_grad_x_lrelu(const float* g, const float* x, float* gx, int64_t n, float k,
                                          float b, float mean, float c, Affine af, float slope) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float dz = lrelu_grad(affine(x[i], af), g[i], slope);
    gx[i] = k * dz + b * (x[i] - mean) + c;
  }
}

}  // namespace

BatchNormForward batch_norm2d_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      float eps, const BatchNormActivation& act) {
  const Nchw d = check_batch_norm2d_forward(x, gamma, beta, eps);
  const int64_t count = d.n * d.hw;  // values per channel

  BatchNormForward out{Tensor::empty(x.shape(), Device::CPU), Tensor::empty({d.c}, Device::CPU),
                       Tensor::empty({d.c}, Device::CPU)};
  const float* px = x.data();
  const float* pg = gamma.data();
  const float* pb = beta.data();
  float* py = out.y.data();
  float* pmean = out.mean.data();
  float* pinv = out.invstd.data();

#pragma omp parallel for schedule(static) if (x.numel() > kParallelMin)
  for (int64_t c = 0; c < d.c; ++c) {
    // Pass 1: shifted sum and sum of squares over the N planes of channel c.
    const double shift = px[c * d.hw];
    double s = 0, ss = 0;
    for (int64_t n = 0; n < d.n; ++n) plane_sums(px + (n * d.c + c) * d.hw, d.hw, shift, s, ss);
    const double m = s / double(count);
    const double var = std::max(ss / double(count) - m * m, 0.0);  // biased, as in training
    pmean[c] = static_cast<float>(shift + m);
    pinv[c] = static_cast<float>(1.0 / std::sqrt(var + double(eps)));

    // Pass 2: y = x * scale + bias (then the activation), normalisation and affine map folded.
    const Affine a = fold_affine(pmean[c], pinv[c], pg[c], pb[c]);
    for (int64_t n = 0; n < d.n; ++n) {
      const int64_t off = (n * d.c + c) * d.hw;
      if (act.leaky_relu)
        plane_affine_lrelu(px + off, py + off, d.hw, a, act.slope);
      else
        plane_affine(px + off, py + off, d.hw, a);
    }
  }
  return out;
}

BatchNormBackward batch_norm2d_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                        const Tensor& beta, const Tensor& mean, const Tensor& invstd,
                                        const BatchNormActivation& act) {
  const Nchw d = check_batch_norm2d_backward(grad_y, x, gamma, beta, mean, invstd);
  const int64_t count = d.n * d.hw;

  BatchNormBackward out{Tensor::empty(x.shape(), Device::CPU), Tensor::empty({d.c}, Device::CPU),
                        Tensor::empty({d.c}, Device::CPU)};
  const float* pgy = grad_y.data();
  const float* px = x.data();
  const float* pgamma = gamma.data();
  const float* pbeta = beta.data();
  const float* pmean = mean.data();
  const float* pinv = invstd.data();
  float* pgx = out.grad_x.data();
  float* pgg = out.grad_gamma.data();
  float* pgb = out.grad_beta.data();

  // With xhat = (x - mean) * invstd, g the gradient of z (dz = lrelu_grad(z, grad_y) when fused)
  // and sums over the channel:
  //   grad_beta = sum g,  grad_gamma = sum g * xhat,
  //   grad_x = gamma * invstd * (g - grad_beta / count - xhat * grad_gamma / count).
#pragma omp parallel for schedule(static) if (x.numel() > kParallelMin)
  for (int64_t c = 0; c < d.c; ++c) {
    const float mu = pmean[c];
    const Affine af = fold_affine(mu, pinv[c], pgamma[c], pbeta[c]);  // the forward's z
    // Pass 1: sum g and sum g * (x - mean).
    double sg = 0, sgx = 0;
    for (int64_t n = 0; n < d.n; ++n) {
      const int64_t off = (n * d.c + c) * d.hw;
      if (act.leaky_relu)
        plane_grad_sums_lrelu(pgy + off, px + off, d.hw, mu, af, act.slope, sg, sgx);
      else
        plane_grad_sums(pgy + off, px + off, d.hw, mu, sg, sgx);
    }
    const double inv = pinv[c];
    pgb[c] = static_cast<float>(sg);
    pgg[c] = static_cast<float>(sgx * inv);

    // Pass 2: grad_x = k * g + b * (x - mean) + c0, the per-channel terms hoisted.
    const double k = double(pgamma[c]) * inv;
    const float kf = static_cast<float>(k);
    const float b = static_cast<float>(-k * inv * inv * sgx / double(count));
    const float c0 = static_cast<float>(-k * sg / double(count));
    for (int64_t n = 0; n < d.n; ++n) {
      const int64_t off = (n * d.c + c) * d.hw;
      if (act.leaky_relu)
        plane_grad_x_lrelu(pgy + off, px + off, pgx + off, d.hw, kf, b, mu, c0, af, act.slope);
      else
        plane_grad_x(pgy + off, px + off, pgx + off, d.hw, kf, b, mu, c0);
    }
  }
  return out;
}

}  // namespace dip::cpu
