// CPU kernels of tensor/conv2d.h: im2col (padding folded into the gather) + GEMM.
//
// Per image and group g (m = C_out / groups output channels, k = (C_in / groups) * KH * KW):
//   forward          out_g (m, P)   = W_g (m, k) * col_g (k, P)
//   backward_input   dcol_g (k, P)  = W_g^T * dY_g (m, P), then col2im scatter-adds dcol into dx
//   backward_weight  dW_g^T (k, m) += col_g * dY_g^T   (this orientation runs faster in Eigen)
// with P = H_out * W_out taken in blocks of output rows so the column matrix stays cache-sized.
// A 1x1, stride-1, unpadded convolution needs no im2col: the image itself is the column matrix.
#include "tensor/conv2d.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <vector>

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/im2col.h"

namespace dip::cpu {

namespace {

// Floats of column matrix per block of output rows (4 MB): big enough for GEMMs that run near
// peak, small enough to stay in cache between im2col and the GEMM that reads it.
constexpr int64_t kColumnBudget = int64_t(1) << 20;

// The calling thread's scratch buffer, reused across calls (grows, never shrinks). Its size is
// bounded by kColumnBudget unless a single output row needs more.
float* scratch(size_t count) {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<float, Free> buffer;
  thread_local size_t capacity = 0;
  if (count > capacity) {
    buffer.reset();
    size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    buffer.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    DIP_CHECK(buffer != nullptr, "conv2d: out of host memory allocating ", bytes, " bytes of scratch");
    capacity = count;
  }
  return buffer.get();
}

bool is_pointwise(const ConvGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride == 1 && g.padding == 0;
}

// Output rows per im2col block.
int64_t block_rows(const ConvGeometry& g) {
  int64_t row_floats = g.col_rows() * g.out_w;
  return std::clamp<int64_t>(kColumnBudget / std::max<int64_t>(row_floats, 1), 1, g.out_h);
}

// Runs f(group) for every group, each a GEMM of `flops_per_group`. With at least as many groups as
// threads and enough work to pay for a parallel region, the groups run in parallel (each GEMM then
// stays single-threaded: Eigen does not nest); otherwise one after another, and the GEMM decides.
template <typename F>
void for_each_group(int64_t groups, int64_t flops_per_group, F f) {
  if (groups > 1 && groups >= num_threads() && groups * flops_per_group >= (int64_t(1) << 18)) {
#pragma omp parallel for schedule(static)
    for (int64_t g = 0; g < groups; ++g) f(g);
  } else {
    for (int64_t g = 0; g < groups; ++g) f(g);
  }
}

// Per-group GEMM sizes of a convolution.
struct GroupDims {
  int64_t groups, m, k, p;  // m output channels, depth k, p = H_out * W_out per group
};

GroupDims group_dims(const Shape& weight, const ConvGeometry& geo, int groups) {
  return {groups, weight[0] / groups, weight[1] * weight[2] * weight[3], geo.out_h * geo.out_w};
}

void check_grad_out(const char* op, const Tensor& grad_out, const Shape& x_shape, const Shape& w_shape,
                    const Conv2dOptions& opt) {
  Shape expected = conv2d_output_shape(x_shape, w_shape, opt);
  DIP_CHECK(grad_out.shape() == expected, op, ": grad_out ", grad_out.shape().str(),
            " does not match the convolution output ", expected.str());
}

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt) {
  Shape out_shape = conv2d_output_shape(x.shape(), weight.shape(), opt);
  const int64_t n_img = x.size(0), c_out = weight.size(0);
  if (bias.defined())
    DIP_CHECK(bias.rank() == 1 && bias.size(0) == c_out, "conv2d: bias must be (", c_out, "), got ",
              bias.shape().str());
  const ConvGeometry geo = make_conv_geometry(x.shape(), weight.size(2), weight.size(3), opt);
  const GroupDims d = group_dims(weight.shape(), geo, opt.groups);
  Tensor out = Tensor::empty(out_shape);  // (N, C_out, H_out, W_out)
  const float* pw = weight.data();
  float* po = out.data();

  // With a bias the output starts as the bias and the GEMM accumulates onto it (beta = 1).
  float beta = 0.f;
  if (bias.defined()) {
    const float* pb = bias.data();
#pragma omp parallel for schedule(static) if (out.numel() > 32768)
    for (int64_t nc = 0; nc < n_img * c_out; ++nc) std::fill_n(po + nc * d.p, d.p, pb[nc % c_out]);
    beta = 1.f;
  }

  const int64_t in_image = x.numel() / std::max<int64_t>(n_img, 1), out_image = c_out * d.p;
  for (int64_t n = 0; n < n_img; ++n) {
    const float* xn = x.data() + n * in_image;  // (C_in, H, W)
    float* on = po + n * out_image;              // (C_out, H_out, W_out)
    if (is_pointwise(geo)) {
      for_each_group(d.groups, 2 * d.m * d.p * d.k, [&](int64_t g) {
        gemm(false, false, d.m, d.p, d.k, 1.f, pw + g * d.m * d.k, d.k, xn + g * d.k * d.p, d.p, beta,
             on + g * d.m * d.p, d.p);
      });
      continue;
    }
    const int64_t rows = block_rows(geo);
    float* col = scratch(static_cast<size_t>(geo.col_rows() * rows * geo.out_w));
    for (int64_t oh0 = 0; oh0 < geo.out_h; oh0 += rows) {
      const int64_t oh1 = std::min(oh0 + rows, geo.out_h), pc = (oh1 - oh0) * geo.out_w;
      im2col(xn, geo, oh0, oh1, col);  // (groups * k, pc)
      for_each_group(d.groups, 2 * d.m * pc * d.k, [&](int64_t g) {
        gemm(false, false, d.m, pc, d.k, 1.f, pw + g * d.m * d.k, d.k, col + g * d.k * pc, pc, beta,
             on + g * d.m * d.p + oh0 * geo.out_w, d.p);
      });
    }
  }
  return out;
}

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& x_shape,
                             const Conv2dOptions& opt) {
  check_grad_out("conv2d_backward_input", grad_out, x_shape, weight.shape(), opt);
  const ConvGeometry geo = make_conv_geometry(x_shape, weight.size(2), weight.size(3), opt);
  const GroupDims d = group_dims(weight.shape(), geo, opt.groups);
  const int64_t n_img = x_shape[0];
  const bool pointwise = is_pointwise(geo);
  // The pointwise GEMM writes every element; col2im accumulates into zeros.
  Tensor dx = pointwise ? Tensor::empty(x_shape) : Tensor::zeros(x_shape);  // (N, C_in, H, W)
  const float* pw = weight.data();
  const int64_t in_image = geo.channels * geo.height * geo.width, out_image = weight.size(0) * d.p;

  for (int64_t n = 0; n < n_img; ++n) {
    const float* dyn = grad_out.data() + n * out_image;  // (C_out, H_out, W_out)
    float* dxn = dx.data() + n * in_image;                // (C_in, H, W)
    if (pointwise) {
      for_each_group(d.groups, 2 * d.m * d.p * d.k, [&](int64_t g) {
        gemm(true, false, d.k, d.p, d.m, 1.f, pw + g * d.m * d.k, d.k, dyn + g * d.m * d.p, d.p, 0.f,
             dxn + g * d.k * d.p, d.p);
      });
      continue;
    }
    const int64_t rows = block_rows(geo);
    float* col = scratch(static_cast<size_t>(geo.col_rows() * rows * geo.out_w));
    for (int64_t oh0 = 0; oh0 < geo.out_h; oh0 += rows) {
      const int64_t oh1 = std::min(oh0 + rows, geo.out_h), pc = (oh1 - oh0) * geo.out_w;
      for_each_group(d.groups, 2 * d.m * pc * d.k, [&](int64_t g) {
        gemm(true, false, d.k, pc, d.m, 1.f, pw + g * d.m * d.k, d.k, dyn + g * d.m * d.p + oh0 * geo.out_w,
             d.p, 0.f, col + g * d.k * pc, pc);
      });
      col2im_add(col, geo, oh0, oh1, dxn);
    }
  }
  return dx;
}

Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape,
                              const Conv2dOptions& opt) {
  check_grad_out("conv2d_backward_weight", grad_out, x.shape(), weight_shape, opt);
  const ConvGeometry geo = make_conv_geometry(x.shape(), weight_shape[2], weight_shape[3], opt);
  const GroupDims d = group_dims(weight_shape, geo, opt.groups);
  const int64_t n_img = x.size(0);
  Tensor dw = Tensor::empty(weight_shape);  // (C_out, C_in / groups, KH, KW)
  float* pdw = dw.data();
  const int64_t in_image = x.numel() / std::max<int64_t>(n_img, 1), out_image = weight_shape[0] * d.p;

  if (n_img == 0 || d.p == 0) {
    dw.fill_(0.f);
    return dw;
  }
  if (is_pointwise(geo)) {
    for (int64_t n = 0; n < n_img; ++n) {
      const float* xn = x.data() + n * in_image;
      const float* dyn = grad_out.data() + n * out_image;
      for_each_group(d.groups, 2 * d.m * d.p * d.k, [&](int64_t g) {
        gemm(false, true, d.m, d.k, d.p, 1.f, dyn + g * d.m * d.p, d.p, xn + g * d.k * d.p, d.p,
             n == 0 ? 0.f : 1.f, pdw + g * d.m * d.k, d.k);
      });
    }
    return dw;
  }

  // Accumulate dW^T (groups, k, m) over images and row blocks, then transpose into dw.
  std::vector<float> dwt(static_cast<size_t>(d.groups * d.k * d.m));
  const int64_t rows = block_rows(geo);
  float* col = scratch(static_cast<size_t>(geo.col_rows() * rows * geo.out_w));
  bool first = true;
  for (int64_t n = 0; n < n_img; ++n) {
    const float* xn = x.data() + n * in_image;
    const float* dyn = grad_out.data() + n * out_image;
    for (int64_t oh0 = 0; oh0 < geo.out_h; oh0 += rows) {
      const int64_t oh1 = std::min(oh0 + rows, geo.out_h), pc = (oh1 - oh0) * geo.out_w;
      im2col(xn, geo, oh0, oh1, col);
      const float beta = first ? 0.f : 1.f;
      for_each_group(d.groups, 2 * d.m * pc * d.k, [&](int64_t g) {
        gemm(false, true, d.k, d.m, pc, 1.f, col + g * d.k * pc, pc, dyn + g * d.m * d.p + oh0 * geo.out_w,
             d.p, beta, dwt.data() + g * d.k * d.m, d.m);
      });
      first = false;
    }
  }
  for (int64_t g = 0; g < d.groups; ++g)
    for (int64_t i = 0; i < d.m; ++i)
      for (int64_t j = 0; j < d.k; ++j) pdw[(g * d.m + i) * d.k + j] = dwt[(g * d.k + j) * d.m + i];
  return dw;
}

Tensor conv2d_backward_bias(const Tensor& grad_out) {
  DIP_CHECK(grad_out.rank() == 4, "conv2d_backward_bias: grad_out must be (N, C, H, W), got ",
            grad_out.shape().str());
  const int64_t n_img = grad_out.size(0), c = grad_out.size(1), p = grad_out.size(2) * grad_out.size(3);
  Tensor db = Tensor::empty({c});  // (C)
  const float* g = grad_out.data();
  float* pdb = db.data();
#pragma omp parallel for schedule(static) if (grad_out.numel() > 32768)
  for (int64_t ch = 0; ch < c; ++ch) {
    double total = 0;  // per-plane float sums, added in double across images
    for (int64_t n = 0; n < n_img; ++n) {
      const float* plane = g + (n * c + ch) * p;
      float s = 0.f;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < p; ++i) s += plane[i];
      total += s;
    }
    pdb[ch] = static_cast<float>(total);
  }
  return db;
}

}  // namespace dip::cpu
