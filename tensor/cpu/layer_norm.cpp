// CPU kernels of tensor/layer_norm.h. Threads split the rows; row statistics accumulate in double
// (shifted by the row's first value, so a large common offset does not cancel precision away).
#include "tensor/layer_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace dip::cpu {

namespace {

constexpr int64_t kParallelMin = 32768;
// The backward's chunks of rows for grad_gamma and grad_beta: at most kMaxChunks of at least
// kMinChunkRows rows, a function of the row count alone.
constexpr int64_t kMaxChunks = 64;
constexpr int64_t kMinChunkRows = 16;

}  // namespace

LayerNormForward layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  const int64_t dim = check_layer_norm_forward(x, gamma, beta, eps);
  const int64_t rows = x.numel() / dim;
  LayerNormForward out{Tensor::empty(x.shape(), Device::CPU), Tensor::empty({rows}, Device::CPU),
                       Tensor::empty({rows}, Device::CPU)};
  const float* px = x.data();
  const float* pg = gamma.data();
  const float* pb = beta.data();
  float* py = out.y.data();
  float* pmean = out.mean.data();
  float* prstd = out.rstd.data();

#pragma omp parallel for schedule(static) if (x.numel() > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = px + r * dim;  // (D)
    float* q = py + r * dim;
    const double shift = p[0];
    double s = 0, ss = 0;
#pragma omp simd reduction(+ : s, ss)
    for (int64_t i = 0; i < dim; ++i) {
      double v = double(p[i]) - shift;
      s += v;
      ss += v * v;
    }
    const double m = s / double(dim);
    const double var = std::max(ss / double(dim) - m * m, 0.0);  // biased, as PyTorch
    const float mu = static_cast<float>(shift + m);
    const float rstd = static_cast<float>(1.0 / std::sqrt(var + double(eps)));
    pmean[r] = mu;
    prstd[r] = rstd;
#pragma omp simd
    for (int64_t i = 0; i < dim; ++i) q[i] = (p[i] - mu) * rstd * pg[i] + pb[i];
  }
  return out;
}

LayerNormBackward layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                      const Tensor& mean, const Tensor& rstd) {
  const int64_t dim = check_layer_norm_backward(grad_y, x, gamma, mean, rstd);
  const int64_t rows = x.numel() / dim;
  LayerNormBackward out{Tensor::empty(x.shape(), Device::CPU), Tensor::empty({dim}, Device::CPU),
                        Tensor::empty({dim}, Device::CPU)};
  const float* pgy = grad_y.data();
  const float* px = x.data();
  const float* pgamma = gamma.data();
  const float* pmean = mean.data();
  const float* prstd = rstd.data();
  float* pgx = out.grad_x.data();

  // grad_gamma and grad_beta sum over rows. The rows are cut into chunks that depend only on the
  // row count; each chunk (one thread) accumulates its own (2, D) partial sums in row order, added
  // afterwards in chunk order, so the sums do not depend on the number of threads.
  const bool parallel = x.numel() > kParallelMin;
  const int64_t chunk_rows = std::max(kMinChunkRows, (rows + kMaxChunks - 1) / kMaxChunks);
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  std::vector<double> partial(static_cast<size_t>(chunks * 2 * dim), 0.0);  // (chunks, 2, D)

#pragma omp parallel for schedule(static) if (parallel && chunks > 1)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    double* acc_gamma = partial.data() + chunk * 2 * dim;  // (D)
    double* acc_beta = acc_gamma + dim;                    // (D)
    for (int64_t r = chunk * chunk_rows; r < std::min(rows, (chunk + 1) * chunk_rows); ++r) {
      const float* g = pgy + r * dim;  // (D)
      const float* p = px + r * dim;
      float* q = pgx + r * dim;
      const float mu = pmean[r], rs = prstd[r];
      // With gg = g * gamma and xhat = (x - mean) * rstd:
      //   grad_x = rstd * (gg - mean(gg) - xhat * mean(gg * xhat)).
      double s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
      for (int64_t i = 0; i < dim; ++i) {
        const float xhat = (p[i] - mu) * rs;
        const float gg = g[i] * pgamma[i];
        s1 += gg;
        s2 += double(gg) * xhat;
        acc_gamma[i] += double(g[i]) * xhat;
        acc_beta[i] += g[i];
      }
      const float m1 = static_cast<float>(s1 / double(dim));
      const float m2 = static_cast<float>(s2 / double(dim));
#pragma omp simd
      for (int64_t i = 0; i < dim; ++i) {
        const float xhat = (p[i] - mu) * rs;
        q[i] = rs * (g[i] * pgamma[i] - m1 - xhat * m2);
      }
    }
  }

  float* pgg = out.grad_gamma.data();
  float* pgb = out.grad_beta.data();
  for (int64_t i = 0; i < dim; ++i) {
    double sg = 0, sb = 0;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      sg += partial[size_t(chunk * 2 * dim + i)];
      sb += partial[size_t(chunk * 2 * dim + dim + i)];
    }
    pgg[i] = static_cast<float>(sg);
    pgb[i] = static_cast<float>(sb);
  }
  return out;
}

}  // namespace dip::cpu
