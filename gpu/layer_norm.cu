// CUDA kernels of tensor/layer_norm.h, on the (rows, D) view of x.
//   forward:  one block per row; mean, then the variance around it (two passes, no cancellation).
//   backward: grad_x one block per row; grad_gamma and grad_beta are column sums over the rows,
//             deterministic as gpu/reduce.cuh: a thread per (column, chunk of rows), then the
//             chunks' double partial sums added in order.
#include <algorithm>
#include <climits>

#include "gpu/reduce.cuh"
#include "tensor/layer_norm.h"

namespace dip::gpu {

namespace {

constexpr int64_t kParamGradTargetThreads = 65536;

int row_threads(int64_t dim) { return dim >= 256 ? 256 : static_cast<int>((dim + 31) / 32 * 32); }

// One block per row: the row count must fit the grid.
void check_rows_fit_grid(const char* op, const Tensor& x, int64_t dim) {
  DIP_CHECK(x.numel() / dim <= INT_MAX, op, ": ", x.numel() / dim, " rows exceed the CUDA grid");
}

__global__ void layer_norm_forward_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                          const float* __restrict__ beta, float eps, int64_t dim,
                                          float* __restrict__ y, float* __restrict__ mean,
                                          float* __restrict__ rstd) {
  const int64_t row = blockIdx.x;
  const float* xr = x + row * dim;  // (D)
  float* yr = y + row * dim;
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) s += xr[i];
  const float mu = block_reduce(s, SumOp{}, 0.f) / float(dim);
  float ss = 0.f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float d = xr[i] - mu;
    ss += d * d;
  }
  const float var = block_reduce(ss, SumOp{}, 0.f) / float(dim);  // biased, as PyTorch
  const float rs = 1.f / sqrtf(var + eps);
  if (threadIdx.x == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = (xr[i] - mu) * rs * gamma[i] + beta[i];
}

// With gg = grad_y * gamma and xhat = (x - mean) * rstd:
//   grad_x = rstd * (gg - mean(gg) - xhat * mean(gg * xhat))
__global__ void layer_norm_grad_x_kernel(const float* __restrict__ gy, const float* __restrict__ x,
                                         const float* __restrict__ gamma, const float* __restrict__ mean,
                                         const float* __restrict__ rstd, int64_t dim, float* __restrict__ gx) {
  const int64_t row = blockIdx.x;
  const int64_t base = row * dim;
  const float mu = mean[row], rs = rstd[row];
  float s1 = 0.f, s2 = 0.f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float gg = gy[base + i] * gamma[i];
    s1 += gg;
    s2 += gg * ((x[base + i] - mu) * rs);
  }
  const float m1 = block_reduce(s1, SumOp{}, 0.f) / float(dim);
  const float m2 = block_reduce(s2, SumOp{}, 0.f) / float(dim);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float xhat = (x[base + i] - mu) * rs;
    gx[base + i] = rs * (gy[base + i] * gamma[i] - m1 - xhat * m2);
  }
}

// Thread t = s * D + d sums grad_y * xhat and grad_y of column d over rows [s * chunk, (s+1) * chunk).
// One part: straight into grad_gamma / grad_beta; else into partial (2, parts, D).
__global__ void layer_norm_param_grad_kernel(const float* __restrict__ gy, const float* __restrict__ x,
                                             const float* __restrict__ mean, const float* __restrict__ rstd,
                                             int64_t rows, int64_t dim, int64_t chunk, int64_t parts,
                                             float* __restrict__ grad_gamma, float* __restrict__ grad_beta,
                                             double* __restrict__ partial) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= dim * parts) return;
  const int64_t d = t % dim, s = t / dim;
  const int64_t begin = s * chunk, end = begin + chunk < rows ? begin + chunk : rows;
  double acc_gamma = 0, acc_beta = 0;
  for (int64_t r = begin; r < end; ++r) {
    const float g = gy[r * dim + d];
    const float xhat = (x[r * dim + d] - mean[r]) * rstd[r];
    acc_gamma += double(g) * xhat;
    acc_beta += g;
  }
  if (partial) {
    partial[s * dim + d] = acc_gamma;
    partial[(parts + s) * dim + d] = acc_beta;
  } else {
    grad_gamma[d] = static_cast<float>(acc_gamma);
    grad_beta[d] = static_cast<float>(acc_beta);
  }
}

}  // namespace

}  // namespace dip::gpu

namespace dip::gpu {

LayerNormForward layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  const int64_t dim = check_layer_norm_forward(x, gamma, beta, eps);
  gpu::check_rows_fit_grid("layer_norm", x, dim);
  const int64_t rows = x.numel() / dim;
  LayerNormForward out{Tensor::empty(x.shape(), Device::CUDA), Tensor::empty({rows}, Device::CUDA),
                       Tensor::empty({rows}, Device::CUDA)};
  if (rows == 0) return out;
  gpu::layer_norm_forward_kernel<<<static_cast<unsigned>(rows), gpu::row_threads(dim), 0, gpu::stream()>>>(
      x.data(), gamma.data(), beta.data(), eps, dim, out.y.data(), out.mean.data(), out.rstd.data());
  DIP_CUDA_CHECK_LAUNCH();
  return out;
}

LayerNormBackward layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                      const Tensor& mean, const Tensor& rstd) {
  const int64_t dim = check_layer_norm_backward(grad_y, x, gamma, mean, rstd);
  gpu::check_rows_fit_grid("layer_norm_backward", x, dim);
  const int64_t rows = x.numel() / dim;
  LayerNormBackward out{Tensor::empty(x.shape(), Device::CUDA), Tensor::empty({dim}, Device::CUDA),
                        Tensor::empty({dim}, Device::CUDA)};
  if (rows == 0) {
    out.grad_gamma.fill_(0.f);
    out.grad_beta.fill_(0.f);
    return out;
  }
  gpu::layer_norm_grad_x_kernel<<<static_cast<unsigned>(rows), gpu::row_threads(dim), 0, gpu::stream()>>>(
      grad_y.data(), x.data(), gamma.data(), mean.data(), rstd.data(), dim, out.grad_x.data());
  DIP_CUDA_CHECK_LAUNCH();

  // Split the rows into chunks only when there are too few columns to keep the GPU busy.
  int64_t parts = 1;
  if (dim < gpu::kParamGradTargetThreads)
    parts = std::min((gpu::kParamGradTargetThreads + dim - 1) / dim, (rows + 31) / 32);
  parts = std::max<int64_t>(parts, 1);
  const int64_t chunk = (rows + parts - 1) / parts;
  parts = (rows + chunk - 1) / chunk;
  const int64_t threads = dim * parts;
  const unsigned blocks = static_cast<unsigned>((threads + gpu::kReduceThreads - 1) / gpu::kReduceThreads);
  if (parts == 1) {
    gpu::layer_norm_param_grad_kernel<<<blocks, gpu::kReduceThreads, 0, gpu::stream()>>>(
        grad_y.data(), x.data(), mean.data(), rstd.data(), rows, dim, chunk, parts, out.grad_gamma.data(),
        out.grad_beta.data(), nullptr);
    DIP_CUDA_CHECK_LAUNCH();
  } else {
    gpu::DeviceBuffer partial(sizeof(double) * 2 * parts * dim);  // (2, parts, D)
    gpu::layer_norm_param_grad_kernel<<<blocks, gpu::kReduceThreads, 0, gpu::stream()>>>(
        grad_y.data(), x.data(), mean.data(), rstd.data(), rows, dim, chunk, parts, out.grad_gamma.data(),
        out.grad_beta.data(), partial.as<double>());
    DIP_CUDA_CHECK_LAUNCH();
    gpu::finish_column_sums(partial.as<double>(), dim, parts, out.grad_gamma.data());
    gpu::finish_column_sums(partial.as<double>() + parts * dim, dim, parts, out.grad_beta.data());
  }
  return out;
}

}  // namespace dip::gpu
