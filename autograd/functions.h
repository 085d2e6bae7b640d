// Every differentiable op, on Variables. Each is implemented in autograd/<family>.cpp next to its
// backward, on top of the kernels declared in tensor/<family>.h.
#pragma once
#include <array>
#include <vector>

#include "autograd/variable.h"
#include "tensor/batch_norm.h"
#include "tensor/conv2d.h"
#include "tensor/upsample.h"

namespace dip {

// ---- elementwise (autograd/elementwise.cpp); binary ops broadcast as NumPy ----
Variable add(const Variable& a, const Variable& b);
Variable sub(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
Variable div(const Variable& a, const Variable& b);
Variable add_scalar(const Variable& x, float s);
Variable mul_scalar(const Variable& x, float s);
Variable neg(const Variable& x);
Variable exp(const Variable& x);
Variable log(const Variable& x);
Variable sqrt(const Variable& x);
Variable abs(const Variable& x);
Variable pow_scalar(const Variable& x, float p);

// ---- reductions (autograd/reduce.cpp); results of sum/mean are (1) ----
Variable sum(const Variable& x);
Variable mean(const Variable& x);
Variable sum_dim(const Variable& x, int dim, bool keepdim = false);
Variable mean_dim(const Variable& x, int dim, bool keepdim = false);

// ---- activations (autograd/activation.cpp) ----
Variable leaky_relu(const Variable& x, float negative_slope);
Variable relu(const Variable& x);
Variable sigmoid(const Variable& x);
Variable tanh(const Variable& x);
Variable gelu(const Variable& x);

// ---- linear algebra (autograd/matmul.cpp); shapes as tensor/matmul.h ----
Variable matmul(const Variable& a, const Variable& b, bool trans_a = false, bool trans_b = false);

// ---- convolution (autograd/conv2d.cpp); bias may be an undefined Variable ----
Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, const Conv2dOptions& opt);

// ---- normalisation (autograd/batch_norm.cpp, autograd/layer_norm.cpp) ----
// Training-mode BatchNorm2d. When running_mean/var are given (CPU or same device) they are
// updated in place with `momentum` (unbiased variance, as PyTorch). With act.leaky_relu the
// LeakyReLU(act.slope) that follows is fused in (op name "batch_norm2d_leaky_relu").
Variable batch_norm2d(const Variable& x, const Variable& gamma, const Variable& beta, float eps,
                      Tensor* running_mean = nullptr, Tensor* running_var = nullptr,
                      float momentum = 0.1f, BatchNormActivation act = {});
Variable layer_norm(const Variable& x, const Variable& gamma, const Variable& beta, float eps);
Variable softmax(const Variable& x);  // over the last dimension (autograd/softmax.cpp)

// ---- attention (autograd/attention.cpp; shapes as tensor/attention.h) ----
// Fused multi-head self-attention: (B, L, 3D) packed q|k|v -> (B, L, D), softmax(scale q k^T) v per head.
// Where the device's kernel does not cover the head size (attention_supported), the composition below.
Variable attention(const Variable& qkv, int heads, float scale);
// The same attention composed of plain ops: the heads split out of the packed qkv by reshape/permute/
// narrow copies, scaled_dot_product_attention per head, the heads merged back. It stores the (B*H, L, L)
// scores: the reference the fused op is tested against.
Variable attention_composed(const Variable& qkv, int heads, float scale);
// softmax(scale * q k^T) v on (B, L, d) q, k, v.
Variable scaled_dot_product_attention(const Variable& q, const Variable& k, const Variable& v, float scale);

// ---- neighbourhood attention (autograd/neighborhood_attention.cpp; see tensor/neighborhood_attention.h) ----
// Each token of the row-major (grid_h, grid_w) grid attends to its clamped kernel x kernel window:
// qkv (N, T, 3D) packed [q | k | v], rpb (heads, 2k-1, 2k-1) -> (N, T, D); scale 1/sqrt(D / heads).
Variable neighborhood_attention(const Variable& qkv, const Variable& rpb, int grid_h, int grid_w, int heads,
                                int kernel);

// ---- resampling and layout (autograd/upsample.cpp, autograd/layout.cpp) ----
Variable upsample2d(const Variable& x, int scale, UpsampleMode mode);
Variable concat(const std::vector<Variable>& xs, int dim);
Variable narrow(const Variable& x, int dim, int64_t start, int64_t length);
// The centre (h, w) window of an (N, C, H, W) tensor (DIP's Concat crops inputs this way).
Variable crop_center(const Variable& x, int64_t h, int64_t w);
Variable reshape(const Variable& x, const Shape& shape);
Variable permute(const Variable& x, const std::array<int, 4>& perm);
Variable transpose(const Variable& x, int dim0, int dim1);

// ---- losses (autograd/loss.cpp) ----
Variable mse_loss(const Variable& y, const Variable& target);  // target gets no gradient
Variable tv_loss(const Variable& x);
// Isotropic TV (DIP-TV), per pixel: mean of sqrt(dx^2 + dy^2 + eps) (tensor/loss.h); eps > 0.
// Default eps = 1e-8: its smoothing scale sqrt(eps) = 1e-4 is 40x below one 8-bit grey level
// (1/255 = 3.9e-3) of a [0, 1] image, so every visible edge costs its gradient magnitude as in exact
// TV, while flat regions stay differentiable (gradient 0 there; |dL/dx| <= (2 + sqrt 2) / numel
// everywhere) and add only the constant 1e-4. A larger eps (1e-4, scale 1e-2) turns faint edges
// quadratic, i.e. blurs them; a smaller one only sharpens the curvature 1 / sqrt(eps) that the
// optimiser sees at flat patches, for no visible gain.
Variable isotropic_tv_loss(const Variable& x, float eps = 1e-8f);

}  // namespace dip
