#include "optim/sgd.h"

#include "tensor/elementwise.h"

namespace dip {

SGD::SGD(std::vector<Variable> params, float lr, float momentum)
    : params_(std::move(params)), buf_(params_.size()), lr_(lr), momentum_(momentum) {
  DIP_CHECK(lr >= 0 && momentum >= 0, "SGD: lr and momentum must be non-negative, got ", lr, ", ",
            momentum);
}

void SGD::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Variable& p = params_[i];
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    const Tensor* update = &g;
    if (momentum_ != 0.f) {
      if (!buf_[i].defined()) {
        buf_[i] = g.clone();  // the gradient may be shared with the graph: never alias it
      } else {
        buf_[i] = add(mul_scalar(buf_[i], momentum_), g);
      }
      update = &buf_[i];
    }
    add_(p.data(), *update, -lr_);
  }
}

void SGD::zero_grad() {
  for (Variable& p : params_) p.zero_grad();
}

}  // namespace dip
