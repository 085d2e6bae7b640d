// Argument checks of tensor/loss.h, shared by the CPU and CUDA kernels.
#include "tensor/loss.h"

#include <cmath>

namespace dip {

namespace {

void check_image(const char* op, const Tensor& x) {
  DIP_CHECK(x.defined(), op, ": undefined tensor");
  DIP_CHECK(x.rank() >= 2, op, ": needs an image (N, C, H, W) or (H, W), got ", describe(x));
  DIP_CHECK(x.numel() > 0, op, ": empty input ", describe(x));
}

void check_pair(const char* op, const Tensor& y, const Tensor& target) {
  DIP_CHECK(y.defined() && target.defined(), op, ": undefined tensor");
  check_same_device(op, {&y, &target});
  DIP_CHECK(y.shape() == target.shape(), op, ": output ", describe(y), " vs target ", describe(target));
  DIP_CHECK(y.numel() > 0, op, ": empty input");
}

void check_grad_loss(const char* op, const Tensor& grad_loss, const Tensor& x) {
  DIP_CHECK(grad_loss.defined() && grad_loss.numel() == 1, op,
            ": the loss gradient must have one element, got ", describe(grad_loss));
  check_same_device(op, {&x, &grad_loss});
}

void check_eps(const char* op, float eps) {
  DIP_CHECK(eps > 0.f && std::isfinite(eps), op,
            ": eps must be a finite number > 0 (it keeps sqrt(dx^2 + dy^2 + eps) ",
            "differentiable where the image is flat), got ", eps);
}

}  // namespace

Tensor mse_loss_forward(const Tensor& y, const Tensor& target) {
  check_pair("mse_loss", y, target);
  return DIP_DISPATCH(y.device(), mse_loss_forward, y, target);
}

Tensor mse_loss_backward(const Tensor& y, const Tensor& target, const Tensor& grad_loss) {
  check_pair("mse_loss_backward", y, target);
  check_grad_loss("mse_loss_backward", grad_loss, y);
  return DIP_DISPATCH(y.device(), mse_loss_backward, y, target, grad_loss);
}

Tensor tv_loss_forward(const Tensor& x) {
  check_image("tv_loss", x);
  return DIP_DISPATCH(x.device(), tv_loss_forward, x);
}

Tensor tv_loss_backward(const Tensor& x, const Tensor& grad_loss) {
  check_image("tv_loss_backward", x);
  check_grad_loss("tv_loss_backward", grad_loss, x);
  return DIP_DISPATCH(x.device(), tv_loss_backward, x, grad_loss);
}

Tensor isotropic_tv_loss_forward(const Tensor& x, float eps) {
  check_image("isotropic_tv_loss", x);
  check_eps("isotropic_tv_loss", eps);
  return DIP_DISPATCH(x.device(), isotropic_tv_loss_forward, x, eps);
}

Tensor isotropic_tv_loss_backward(const Tensor& x, float eps, const Tensor& grad_loss) {
  check_image("isotropic_tv_loss_backward", x);
  check_eps("isotropic_tv_loss_backward", eps);
  check_grad_loss("isotropic_tv_loss_backward", grad_loss, x);
  return DIP_DISPATCH(x.device(), isotropic_tv_loss_backward, x, eps, grad_loss);
}

}  // namespace dip
