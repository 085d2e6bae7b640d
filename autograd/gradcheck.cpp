#include "autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace dip {

double weighted_sum(const Tensor& y, const std::vector<float>& g) {
  const std::vector<float> v = y.to_vector();
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += double(v[i]) * double(g[i]);
  return s;
}

GradCheckResult gradcheck_tensor(const std::string& what, Tensor& value, const std::vector<float>& analytic,
                                 const std::function<double()>& loss, const GradCheck& opt, Rng& rng) {
  GradCheckResult r;
  std::vector<float> x = value.to_vector();
  const int64_t n = static_cast<int64_t>(x.size());
  for (int s = 0; s < std::min<int64_t>(n, opt.max_elements); ++s) {
    const int64_t k = n <= opt.max_elements ? s : rng.next_u32() % n;
    const float saved = x[k];
    auto loss_at = [&](float v) {
      x[k] = v;
      value.copy_(Tensor::from_vector(value.shape(), x));  // through the host: works on any device
      NoGradGuard no_grad;
      return loss();
    };
    const double numeric = (loss_at(saved + opt.step) - loss_at(saved - opt.step)) / (2.0 * opt.step);
    x[k] = saved;
    value.copy_(Tensor::from_vector(value.shape(), x));
    const double a = analytic[k], err = std::fabs(a - numeric);
    const double tol = opt.atol + opt.rtol * std::max(std::fabs(a), std::fabs(numeric));
    r.worst = std::max(r.worst, err / tol);
    ++r.checked;
    if (err > tol) {
      std::ostringstream os;
      os << what << " element " << k << ": analytic " << a << " vs numeric " << numeric << " (tolerance " << tol
         << ")";
      r.ok = false;
      r.message = os.str();
      return r;
    }
  }
  return r;
}

GradCheckResult gradcheck(const GradCheckFn& op, const std::vector<Tensor>& inputs, const GradCheck& opt,
                          const std::vector<int>& constant) {
  Rng rng(1234);
  std::vector<Variable> vars;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool is_const = std::find(constant.begin(), constant.end(), int(i)) != constant.end();
    vars.emplace_back(inputs[i].to(opt.device).clone(), !is_const);
  }
  Variable y = op(vars);
  const Tensor g = Tensor::uniform(y.shape(), -1.f, 1.f, rng, opt.device);
  const std::vector<float> g_host = g.to_vector();
  y.backward(g);

  GradCheckResult total;
  for (size_t i = 0; i < vars.size(); ++i) {
    if (!vars[i].requires_grad()) continue;
    const std::string what = "input " + std::to_string(i);
    if (!vars[i].grad().defined() || !(vars[i].grad().shape() == vars[i].shape())) {
      total.ok = false;
      total.message = what + (vars[i].grad().defined() ? " got a gradient of shape " + vars[i].grad().shape().str() +
                                                             " for " + vars[i].shape().str()
                                                       : " got no gradient");
      return total;
    }
    const GradCheckResult r = gradcheck_tensor(what, vars[i].data(), vars[i].grad().to_vector(),
                                               [&] { return weighted_sum(op(vars).data(), g_host); }, opt, rng);
    total.worst = std::max(total.worst, r.worst);
    total.checked += r.checked;
    if (!r.ok) {
      total.ok = false;
      total.message = r.message;
      return total;
    }
  }
  return total;
}

}  // namespace dip
