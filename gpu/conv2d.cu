// CUDA kernels of tensor/conv2d.h: im2col (padding folded into the gather, gpu/im2col.cuh) and a
// cuBLAS GEMM per group (gpu/gemm.cuh), in row-major terms for one image n and group g:
//
//   forward          out[n]_g  (C_out/g, P)    = W_g (C_out/g, K_g) * col[n]_g (K_g, P)
//   backward_input   col[n]_g  (K_g, P)        = W_g^T * grad_out[n]_g,  then col2im (a gather)
//   backward_weight  grad_W_g  (C_out/g, K_g) += grad_out[n]_g * col[n]_g^T   (beta = 1 after n = 0)
//
// with P = H_out * W_out and K_g = (C_in / groups) * KH * KW. A 1x1, stride-1, unpadded convolution
// needs no im2col: the input image is already its column matrix. Column buffers come from the
// caching allocator and hold as many images as fit a fixed budget; those images run as one
// strided-batched GEMM (the weight shared with stride 0).
#include <algorithm>
#include <climits>

#include "gpu/channel_sum.cuh"
#include "gpu/cuda_context.cuh"
#include "gpu/gemm.cuh"
#include "gpu/im2col.cuh"
#include "tensor/conv2d.h"

namespace dip::gpu {

namespace {

constexpr int kThreads = 256;
// Floats in one column buffer (256 MiB), unless a single image needs more.
constexpr int64_t kColumnBudget = int64_t(1) << 26;

// The shared sizes, plus how this backend cuts the work: `images` images per column buffer.
struct ConvPlan : ConvSizes {
  int64_t k_total;  // column rows of all groups: C_in * KH * KW
  int64_t images;   // images per column buffer
  gpu::ConvGeometry geometry;
};

ConvPlan make_plan(const Shape& x, const Shape& weight, const Conv2dOptions& opt) {
  ConvPlan p;
  static_cast<ConvSizes&>(p) = conv2d_sizes(x, weight, opt);
  DIP_CHECK(p.hw <= INT_MAX && p.p <= INT_MAX && p.kk * p.p <= INT_MAX && p.c_in <= INT_MAX,
            "conv2d (cuda): input ", x.str(), " with kernel ", p.kh, "x", p.kw,
            " is too large for 32-bit plane indexing; split the image");
  p.k_total = p.c_in * p.kk;
  const int64_t per_image = p.k_total * p.p;
  p.images = p.pointwise || per_image == 0 ? std::max<int64_t>(p.n, 1)
                                           : std::clamp<int64_t>(kColumnBudget / per_image, 1,
                                                                 std::max<int64_t>(p.n, 1));
  p.geometry = gpu::ConvGeometry{static_cast<int>(p.c_in), static_cast<int>(p.h), static_cast<int>(p.w),
                                 static_cast<int>(p.kh),   static_cast<int>(p.kw), opt.stride,
                                 opt.padding,              static_cast<int>(p.out_h),
                                 static_cast<int>(p.out_w), opt.padding_mode};
  return p;
}

// The column buffer for plan.images images: (images, C_in * KH * KW, P); none when pointwise.
Tensor column_buffer(const ConvPlan& p) {
  if (p.pointwise) return Tensor();
  return Tensor::empty({p.images * p.k_total * p.p}, Device::CUDA);
}

void fill_zero(const Tensor& t) {
  DIP_CUDA_CHECK(cudaMemsetAsync(t.data(), 0, t.numel() * sizeof(float), gpu::stream()));
}

// out[n, c, :] += bias[c].   out: (N, C, P). Grid: x over the (n, c) planes, y over pieces of a plane.
__global__ void add_bias_kernel(float* __restrict__ out, const float* __restrict__ bias, int64_t C,
                                int64_t P) {
  const int64_t plane = blockIdx.x;
  const float b = bias[plane % C];
  float* op = out + plane * P;
  for (int64_t i = int64_t(blockIdx.y) * blockDim.x + threadIdx.x; i < P;
       i += int64_t(gridDim.y) * blockDim.x)
    op[i] += b;
}

// The pair (g, 0) of every element: bias gradients are plain channel sums.
struct PlainValue {
  const float* g;
  __device__ gpu::SumPair<float> operator()(int64_t i, int) const { return {g[i], 0.f}; }
};
struct WriteSum {
  float* out;
  __device__ void operator()(int c, gpu::SumPair<double> s) const { out[c] = static_cast<float>(s.a); }
};

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                      const Conv2dOptions& opt) {
  const ConvPlan p = make_plan(x.shape(), weight.shape(), opt);
  Tensor out = Tensor::empty({p.n, p.c_out, p.out_h, p.out_w}, Device::CUDA);  // (N, C_out, H_out, W_out)
  if (out.numel() == 0) return out;

  if (p.k_g == 0) {
    fill_zero(out);
  } else {
    Tensor col = column_buffer(p);  // (images, C_in * KH * KW, P)
    for (int64_t n0 = 0; n0 < p.n; n0 += p.images) {
      const int64_t images = std::min(p.images, p.n - n0);
      const float* src = x.data() + n0 * p.c_in * p.hw;
      if (!p.pointwise) {
        gpu::im2col(src, col.data(), p.geometry, images);
        src = col.data();
      }
      float* dst = out.data() + n0 * p.c_out * p.p;
      for (int64_t g = 0; g < p.groups; ++g)
        gpu::gemm_strided_batched(false, false, p.c_out_g, p.p, p.k_g, 1.f,
                                  weight.data() + g * p.c_out_g * p.k_g, p.k_g, 0,  // W_g, shared
                                  src + g * p.k_g * p.p, p.p, p.k_total * p.p,       // col[n]_g
                                  0.f, dst + g * p.c_out_g * p.p, p.p, p.c_out * p.p, images);
    }
  }

  if (bias.defined()) {
    int64_t pieces = (p.p + 4 * kThreads - 1) / (4 * kThreads);
    pieces = std::clamp<int64_t>(pieces, 1, 65535);
    add_bias_kernel<<<dim3(static_cast<unsigned>(p.n * p.c_out), static_cast<unsigned>(pieces)), kThreads,
                      0, gpu::stream()>>>(out.data(), bias.data(), p.c_out, p.p);
    DIP_CUDA_CHECK_LAUNCH();
  }
  return out;
}

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& x_shape,
                             const Conv2dOptions& opt) {
  const ConvPlan p = make_plan(x_shape, weight.shape(), opt);
  Tensor grad_x = Tensor::empty(x_shape, Device::CUDA);  // (N, C_in, H, W)
  if (grad_x.numel() == 0) return grad_x;
  if (grad_out.numel() == 0) {  // no output reads the input
    fill_zero(grad_x);
    return grad_x;
  }

  Tensor col = column_buffer(p);  // (images, C_in * KH * KW, P)
  for (int64_t n0 = 0; n0 < p.n; n0 += p.images) {
    const int64_t images = std::min(p.images, p.n - n0);
    const float* g_out = grad_out.data() + n0 * p.c_out * p.p;
    float* x_grad = grad_x.data() + n0 * p.c_in * p.hw;
    // Pointwise: the column gradient is the input gradient itself.
    float* dst = p.pointwise ? x_grad : col.data();
    for (int64_t g = 0; g < p.groups; ++g)
      gpu::gemm_strided_batched(true, false, p.k_g, p.p, p.c_out_g, 1.f,
                                weight.data() + g * p.c_out_g * p.k_g, p.k_g, 0,   // W_g^T, shared
                                g_out + g * p.c_out_g * p.p, p.p, p.c_out * p.p,   // grad_out[n]_g
                                0.f, dst + g * p.k_g * p.p, p.p, p.k_total * p.p, images);
    if (!p.pointwise) gpu::col2im(col.data(), x_grad, p.geometry, images);
  }
  return grad_x;
}

Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape,
                              const Conv2dOptions& opt) {
  const ConvPlan p = make_plan(x.shape(), weight_shape, opt);
  Tensor grad_w = Tensor::empty(weight_shape, Device::CUDA);  // (C_out, C_in / groups, KH, KW)
  if (grad_w.numel() == 0) return grad_w;
  if (grad_out.numel() == 0) {  // an empty sum over images and pixels
    fill_zero(grad_w);
    return grad_w;
  }

  Tensor col = column_buffer(p);  // (images, C_in * KH * KW, P)
  for (int64_t n0 = 0; n0 < p.n; n0 += p.images) {
    const int64_t images = std::min(p.images, p.n - n0);
    const float* src = x.data() + n0 * p.c_in * p.hw;
    if (!p.pointwise) {
      gpu::im2col(src, col.data(), p.geometry, images);
      src = col.data();
    }
    // Images are summed in a fixed order (beta = 1 after the first): deterministic.
    for (int64_t i = 0; i < images; ++i) {
      const float* g_out = grad_out.data() + (n0 + i) * p.c_out * p.p;
      const float beta = n0 + i == 0 ? 0.f : 1.f;
      for (int64_t g = 0; g < p.groups; ++g)
        gpu::gemm(false, true, p.c_out_g, p.k_g, p.p, 1.f, g_out + g * p.c_out_g * p.p, p.p,
                  src + i * p.k_total * p.p + g * p.k_g * p.p, p.p, beta,
                  grad_w.data() + g * p.c_out_g * p.k_g, p.k_g);
    }
  }
  return grad_w;
}

Tensor conv2d_backward_bias(const Tensor& grad_out) {
  const int64_t n = grad_out.size(0), c = grad_out.size(1), pixels = grad_out.size(2) * grad_out.size(3);
  Tensor grad_b = Tensor::empty({c}, Device::CUDA);  // (C_out)
  gpu::channel_sums(n, c, pixels, PlainValue{grad_out.data()}, WriteSum{grad_b.data()});
  return grad_b;
}

}  // namespace dip::gpu
