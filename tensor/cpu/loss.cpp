// CPU kernels of tensor/loss.h: fused one-pass losses, summed in double.
#include "tensor/loss.h"

#include <cmath>

namespace dip::cpu {

namespace {

constexpr int64_t kParallelMin = 32768;

// The (1) upstream gradient of a loss, as a host float.
float loss_grad_value(const char* op, const Tensor& grad_loss) {
  DIP_CHECK(grad_loss.numel() == 1, op, ": the loss gradient must have one element, got ",
            describe(grad_loss));
  return grad_loss.data()[0];
}

// An image viewed as planes of (H, W): every leading dimension is a plane index.
struct Planes {
  int64_t planes, h, w;
};

Planes check_image(const char* op, const Tensor& x) {
  DIP_CHECK(x.rank() >= 2, op, ": needs an image (N, C, H, W) or (H, W), got ", describe(x));
  DIP_CHECK(x.numel() > 0, op, ": empty input ", describe(x));
  const int64_t h = x.size(-2), w = x.size(-1);
  return {x.numel() / (h * w), h, w};
}

inline float sign(float v) { return float(v > 0.f) - float(v < 0.f); }  // sign(0) = 0, as PyTorch

}  // namespace

Tensor mse_loss_forward(const Tensor& y, const Tensor& target) {
  DIP_CHECK(y.shape() == target.shape(), "mse_loss: output ", describe(y), " vs target ", describe(target));
  DIP_CHECK(y.numel() > 0, "mse_loss: empty input");
  const float* py = y.data();
  const float* pt = target.data();
  const int64_t n = y.numel();
  double s = 0;
#pragma omp parallel for simd reduction(+ : s) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float d = py[i] - pt[i];
    s += double(d) * d;
  }
  return Tensor::full({1}, static_cast<float>(s / double(n)), Device::CPU);
}

Tensor mse_loss_backward(const Tensor& y, const Tensor& target, const Tensor& grad_loss) {
  DIP_CHECK(y.shape() == target.shape(), "mse_loss_backward: output ", describe(y), " vs target ",
            describe(target));
  const float scale = 2.f * loss_grad_value("mse_loss_backward", grad_loss) / static_cast<float>(y.numel());
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
  const Planes d = check_image("tv_loss", x);
  const float* px = x.data();
  double s = 0;
  // Row i contributes its horizontal differences and the vertical ones down to row i + 1.
#pragma omp parallel for collapse(2) reduction(+ : s) schedule(static) if (x.numel() > kParallelMin)
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
      s += acc;
    }
  return Tensor::full({1}, static_cast<float>(s / double(x.numel())), Device::CPU);
}

Tensor tv_loss_backward(const Tensor& x, const Tensor& grad_loss) {
  const Planes d = check_image("tv_loss_backward", x);
  const float scale = loss_grad_value("tv_loss_backward", grad_loss) / static_cast<float>(x.numel());
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

}  // namespace dip::cpu
