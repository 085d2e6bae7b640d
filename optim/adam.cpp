#include "optim/adam.h"

namespace dip {

Adam::Adam(std::vector<Variable> params, AdamOptions options)
    : params_(std::move(params)), m_(params_.size()), v_(params_.size()), opt_(options) {
  DIP_CHECK(opt_.lr >= 0 && opt_.eps >= 0 && opt_.weight_decay >= 0,
            "Adam: lr, eps and weight_decay must be non-negative");
  DIP_CHECK(opt_.beta1 >= 0 && opt_.beta1 < 1 && opt_.beta2 >= 0 && opt_.beta2 < 1,
            "Adam: betas must lie in [0, 1), got ", opt_.beta1, ", ", opt_.beta2);
  for (size_t i = 0; i < params_.size(); ++i)
    DIP_CHECK(params_[i].defined() && params_[i].is_leaf(), "Adam: parameter ", i,
              " is not a leaf variable");
}

void Adam::step() {
  ++step_;
  slots_.clear();
  for (size_t i = 0; i < params_.size(); ++i) {
    const Variable& p = params_[i];
    if (!p.grad().defined()) continue;
    const Tensor& w = p.data();
    if (!m_[i].defined()) {  // first update of this parameter: zero moments on its device
      m_[i] = Tensor::zeros(w.shape(), w.device());
      v_[i] = Tensor::zeros(w.shape(), w.device());
    }
    DIP_CHECK(m_[i].device() == w.device(), "Adam: parameter ", i, " moved from ",
              device_name(m_[i].device()), " to ", device_name(w.device()),
              " during training; move the model with Module::to() before the first step");
    DIP_CHECK(p.grad().device() == w.device(), "Adam: parameter ", i, " on ",
              device_name(w.device()), " has its gradient on ", device_name(p.grad().device()));
    slots_.push_back({w, p.grad(), m_[i], v_[i]});
  }
  if (!slots_.empty()) {
    for (const AdamSlot& s : slots_)
      DIP_CHECK(s.param.device() == slots_[0].param.device(),
                "Adam: parameters on different devices; move the whole model with Module::to()");
    adam_update_(slots_, {opt_.lr, opt_.beta1, opt_.beta2, opt_.eps, opt_.weight_decay, step_});
  }
  slots_.clear();  // drop the references to this step's gradients
}

void Adam::load_state(int step, std::vector<Tensor> m, std::vector<Tensor> v) {
  DIP_CHECK(step >= 0 && m.size() == params_.size() && v.size() == params_.size(),
            "Adam::load_state: ", m.size(), " moments for ", params_.size(), " parameters");
  for (size_t i = 0; i < params_.size(); ++i)
    DIP_CHECK(m[i].defined() == v[i].defined() && (!m[i].defined() || (m[i].shape() == params_[i].data().shape() &&
                                                                      v[i].shape() == m[i].shape())),
              "Adam::load_state: the moments of parameter ", i, " do not match its shape");
  step_ = step;
  m_ = std::move(m);
  v_ = std::move(v);
}

void Adam::zero_grad() {
  for (Variable& p : params_) p.zero_grad();
}

}  // namespace dip
