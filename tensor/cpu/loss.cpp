// CPU kernels of tensor/loss.h: fused one-pass losses, summed in double. Each sum runs in an order
// fixed by the sizes alone (fixed chunks or rows, one thread each, added in order afterwards), so a
// loss does not depend on the number of threads.
#include "tensor/loss.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "tensor/cpu/chunked_sum.h"

namespace dip::cpu {

namespace {

constexpr int64_t kParallelMin = 32768;

// The (1) upstream gradient of a loss (on the CPU), as a float.
float loss_grad_value(const Tensor& grad_loss) { return grad_loss.data()[0]; }

inline float sign(float v) { return float(v > 0.f) - float(v < 0.f); }  // sign(0) = 0, as PyTorch

// The terms of row i of a plane, from forward differences (0 past the last column / row):
//   r[j] = sqrt(dx[i, j]^2 + dy[i, j]^2 + eps), and, when ux is given, ux[j] = dx / r, uy[j] = dy / r.
// `below` is row i + 1, or nullptr for the last row. All (W). The square roots go through Eigen's
// packet sqrt: std::sqrt in a loop does not vectorise under -fmath-errno (the default), and the
// values are the same (IEEE sqrt either way).
void isotropic_tv_row_terms(const float* row, const float* below, int64_t w, float eps, float* r, float* ux = nullptr,
                            float* uy = nullptr) {
  using Array = Eigen::Array<float, Eigen::Dynamic, 1>;
  const int64_t m = w - 1;  // columns with a right neighbour
  Eigen::Map<const Array> x(row, w), right(row + 1, m);
  Eigen::Map<Array> rr(r, w);
  if (below) {
    Eigen::Map<const Array> down(below, w);
    rr.head(m) = ((right - x.head(m)).square() + (down.head(m) - x.head(m)).square() + eps).sqrt();
    rr[m] = std::sqrt((down[m] - x[m]) * (down[m] - x[m]) + eps);
  } else {
    rr.head(m) = ((right - x.head(m)).square() + eps).sqrt();
    rr[m] = std::sqrt(eps);
  }
  if (!ux) return;
#pragma omp simd
  for (int64_t j = 0; j < m; ++j) ux[j] = (row[j + 1] - row[j]) / r[j];
  ux[m] = 0.f;
  if (below) {
#pragma omp simd
    for (int64_t j = 0; j < w; ++j) uy[j] = (below[j] - row[j]) / r[j];
  } else {
    std::fill(uy, uy + w, 0.f);
  }
}

}  // namespace

Tensor mse_loss_forward(const Tensor& y, const Tensor& target) {
  const float* py = y.data();
  const float* pt = target.data();
  const int64_t n = y.numel();
  const double s = chunked_sum(n, n > kParallelMin, [py, pt](int64_t i) {
    const float d = py[i] - pt[i];
    return double(d) * d;
  });
  return Tensor::full({1}, static_cast<float>(s / double(n)), Device::CPU);
}

Tensor mse_loss_backward(const Tensor& y, const Tensor& target, const Tensor& grad_loss) {
  const float scale = 2.f * loss_grad_value(grad_loss) / static_cast<float>(y.numel());
  Tensor gy = Tensor::empty(y.shape(), Device::CPU);
  const float* py = y.data();
  const float* pt = target.data();
  float* pg = gy.data();
  const int64_t n = y.numel();
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) pg[i] = scale * (py[i] - pt[i]);
  return gy;
}

Tensor tv_loss_forward(const Tensor& x) {
  const ImagePlanes d = image_planes(x);
  const float* px = x.data();
  // Row i contributes its horizontal differences and the vertical ones down to row i + 1: one double
  // per row, added up in row order afterwards.
  std::vector<double> row_sums(static_cast<size_t>(d.planes * d.h));  // (planes * H)
#pragma omp parallel for collapse(2) schedule(static) if (x.numel() > kParallelMin)
  for (int64_t p = 0; p < d.planes; ++p)
    for (int64_t i = 0; i < d.h; ++i) {
      const float* row = px + (p * d.h + i) * d.w;  // (W)
      double acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t j = 1; j < d.w; ++j) acc += std::fabs(row[j] - row[j - 1]);
      if (i + 1 < d.h) {
        const float* below = row + d.w;
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < d.w; ++j) acc += std::fabs(below[j] - row[j]);
      }
      row_sums[p * d.h + i] = acc;
    }
  double s = 0;
  for (double rs : row_sums) s += rs;
  return Tensor::full({1}, static_cast<float>(s / double(x.numel())), Device::CPU);
}

Tensor tv_loss_backward(const Tensor& x, const Tensor& grad_loss) {
  const ImagePlanes d = image_planes(x);
  const float scale = loss_grad_value(grad_loss) / static_cast<float>(x.numel());
  Tensor gx = Tensor::empty(x.shape(), Device::CPU);
  const float* px = x.data();
  float* pg = gx.data();
  // x[i, j] appears in |x[i, j+1] - x[i, j]| (weight -sign), |x[i, j] - x[i, j-1]| (+sign), and
  // likewise with the rows above and below. Each thread writes whole rows of the gradient.
#pragma omp parallel for collapse(2) schedule(static) if (x.numel() > kParallelMin)
  for (int64_t p = 0; p < d.planes; ++p)
    for (int64_t i = 0; i < d.h; ++i) {
      const float* row = px + (p * d.h + i) * d.w;  // (W)
      float* q = pg + (p * d.h + i) * d.w;
      // A missing neighbour row is replaced by the row itself: its differences are 0, sign 0.
      const float* above = i > 0 ? row - d.w : row;
      const float* below = i + 1 < d.h ? row + d.w : row;
      auto vertical = [&](int64_t j) { return sign(row[j] - above[j]) - sign(below[j] - row[j]); };
      const int64_t w = d.w;
      if (w == 1) {
        q[0] = scale * vertical(0);
        continue;
      }
      q[0] = scale * (vertical(0) - sign(row[1] - row[0]));
#pragma omp simd
      for (int64_t j = 1; j < w - 1; ++j)
        q[j] = scale * (vertical(j) + sign(row[j] - row[j - 1]) - sign(row[j + 1] - row[j]));
      q[w - 1] = scale * (vertical(w - 1) + sign(row[w - 1] - row[w - 2]));
    }
  return gx;
}

Tensor isotropic_tv_loss_forward(const Tensor& x, float eps) {
  const ImagePlanes d = image_planes(x);
  const float* px = x.data();
  // One double per row, added up in row order afterwards: the result does not depend on the
  // number of threads.
  const int64_t rows = d.planes * d.h;
  std::vector<double> row_sums(static_cast<size_t>(rows));  // (planes * H)
#pragma omp parallel if (x.numel() > kParallelMin)
  {
    std::vector<float> r(static_cast<size_t>(d.w));  // (W) the terms of one row
#pragma omp for schedule(static)
    for (int64_t pr = 0; pr < rows; ++pr) {
      const int64_t i = pr % d.h;
      const float* row = px + pr * d.w;  // (W)
      isotropic_tv_row_terms(row, i + 1 < d.h ? row + d.w : nullptr, d.w, eps, r.data());
      double acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t j = 0; j < d.w; ++j) acc += r[j];
      row_sums[pr] = acc;
    }
  }
  double s = 0;
  for (double rs : row_sums) s += rs;
  return Tensor::full({1}, static_cast<float>(s / double(x.numel())), Device::CPU);
}

Tensor isotropic_tv_loss_backward(const Tensor& x, float eps, const Tensor& grad_loss) {
  const ImagePlanes d = image_planes(x);
  const float scale = loss_grad_value(grad_loss) / static_cast<float>(x.numel());
  Tensor gx = Tensor::empty(x.shape(), Device::CPU);
  const float* px = x.data();
  float* pg = gx.data();
  const int64_t rows = d.planes * d.h, w = d.w;
  // x[i, j] enters r[i, j] (through dx and dy, weight -1 each), r[i, j-1] (through dx[i, j-1], +1)
  // and r[i-1, j] (through dy[i-1, j], +1). Each thread gathers whole rows of the gradient from the
  // terms of its row and the row above; the row above's terms are kept from the previous iteration
  // when this thread computed them, else recomputed (the same arithmetic, so every element comes out
  // the same on any number of threads).
#pragma omp parallel if (x.numel() > kParallelMin)
  {
    std::vector<float> buf(static_cast<size_t>(5 * w));
    float* r = buf.data();           // (W) scratch: the terms' square roots
    float* ux = r + w;               // (W) dx / r of row i
    float* uy = ux + w;              // (W) dy / r of row i
    float* ux_above = uy + w;        // (W) dx / r of row i - 1 (computed, not needed)
    float* uy_above = ux_above + w;  // (W) dy / r of row i - 1; 0 in the first row
    int64_t done = -1;               // the row whose terms are in ux_above, uy_above
#pragma omp for schedule(static)
    for (int64_t pr = 0; pr < rows; ++pr) {
      const int64_t i = pr % d.h;
      const float* row = px + pr * w;  // (W)
      if (i > 0 && done != pr - 1) isotropic_tv_row_terms(row - w, row, w, eps, r, ux_above, uy_above);
      isotropic_tv_row_terms(row, i + 1 < d.h ? row + w : nullptr, w, eps, r, ux, uy);
      if (i == 0) std::fill(uy_above, uy_above + w, 0.f);  // no row above
      float* q = pg + pr * w;  // (W)
      q[0] = scale * (uy_above[0] - (ux[0] + uy[0]));
#pragma omp simd
      for (int64_t j = 1; j < w; ++j) q[j] = scale * (ux[j - 1] + uy_above[j] - (ux[j] + uy[j]));
      std::swap(ux, ux_above);
      std::swap(uy, uy_above);
      done = pr;
    }
  }
  return gx;
}

}  // namespace dip::cpu
