// Finite-difference gradient checks, shared by every op and layer test.
//
// For inputs x_1..x_k and an op y = f(x_1..x_k), the scalar loss L = sum(g * y) with a fixed random
// g makes one backward pass produce dL/dx_i for every input at once. Each checked element is then
// compared with the central difference (L(x + h) - L(x - h)) / 2h, where L is summed in double on
// the host so float32 rounding in the sum does not swamp the difference.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "nn/module.h"
#include "tensor/tensor.h"

namespace dip::test {

struct GradCheck {
  float step = 1e-2f;      // h; float32 needs a large step (rounding error ~ 1e-7 |L| / h)
  float rtol = 1e-2f;      // |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|)
  float atol = 1e-3f;
  int max_elements = 48;   // elements checked per input (a seeded random sample beyond this)
  Device device = Device::CPU;
};

using OpFn = std::function<Variable(const std::vector<Variable>&)>;

inline double weighted_sum(const Tensor& y, const std::vector<float>& g) {
  std::vector<float> v = y.to_vector();
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += double(v[i]) * double(g[i]);
  return s;
}

// Checks the gradient of every input of `op` (all inputs require grad unless listed in `constant`).
inline void check_gradients(const std::string& what, const OpFn& op, const std::vector<Tensor>& inputs,
                            const GradCheck& opt = {}, std::vector<int> constant = {}) {
  INFO("gradient check: ", what);
  Rng rng(1234);
  std::vector<Variable> vars;
  for (size_t i = 0; i < inputs.size(); ++i) {
    bool is_const = std::find(constant.begin(), constant.end(), int(i)) != constant.end();
    vars.emplace_back(inputs[i].to(opt.device).clone(), !is_const);
  }
  Variable y = op(vars);
  Tensor g = Tensor::uniform(y.shape(), -1.f, 1.f, rng, opt.device);
  std::vector<float> g_host = g.to_vector();
  y.backward(g);

  for (size_t i = 0; i < vars.size(); ++i) {
    if (!vars[i].requires_grad()) continue;
    REQUIRE_MESSAGE(vars[i].grad().defined(), what, ": input ", i, " got no gradient");
    REQUIRE_MESSAGE(vars[i].grad().shape() == vars[i].shape(), what, ": gradient shape of input ", i);
    std::vector<float> analytic = vars[i].grad().to_vector();
    std::vector<float> x = vars[i].data().to_vector();
    int64_t n = static_cast<int64_t>(x.size());
    std::vector<int64_t> idx;
    if (n <= opt.max_elements) {
      for (int64_t k = 0; k < n; ++k) idx.push_back(k);
    } else {
      for (int k = 0; k < opt.max_elements; ++k) idx.push_back(rng.next_u32() % n);
    }
    double worst = 0;
    for (int64_t k : idx) {
      float saved = x[k];
      auto loss_at = [&](float value) {
        x[k] = value;
        vars[i].data().copy_(Tensor::from_vector(vars[i].shape(), x));
        NoGradGuard no_grad;
        return weighted_sum(op(vars).data(), g_host);
      };
      double numeric = (loss_at(saved + opt.step) - loss_at(saved - opt.step)) / (2.0 * opt.step);
      x[k] = saved;
      vars[i].data().copy_(Tensor::from_vector(vars[i].shape(), x));
      double a = analytic[k];
      double err = std::fabs(a - numeric);
      double tol = opt.atol + opt.rtol * std::max(std::fabs(a), std::fabs(numeric));
      worst = std::max(worst, err / tol);
      if (err > tol) {
        FAIL_CHECK(what, ": input ", i, " element ", k, ": analytic ", a, " vs numeric ", numeric,
                   " (tolerance ", tol, ")");
        return;
      }
    }
    CHECK(worst <= 1.0);
  }
}

// Finite-difference check of every parameter of the module `m` (x held constant), with
// L = sum(g * m(x)) for a random g: one backward gives all analytic gradients, then up to
// opt.max_elements sampled elements of each parameter are compared with central differences
// (tolerances as check_gradients). Works on either device (the parameters are edited through the host).
inline void check_parameter_gradients(const std::string& what, Module& m, const Tensor& x,
                                      const GradCheck& opt = {}) {
  INFO("parameter gradient check: ", what);
  Rng rng(99);
  m.zero_grad();
  Variable y = m.forward(Variable(x));
  Tensor g = Tensor::uniform(y.shape(), -1.f, 1.f, rng, x.device());
  const std::vector<float> g_host = g.to_vector();
  y.backward(g);
  for (auto& [name, p] : m.named_parameters()) {
    INFO("parameter ", name, " ", p.shape().str());
    REQUIRE(p.grad().defined());
    const std::vector<float> analytic = p.grad().to_vector();
    std::vector<float> v = p.data().to_vector();
    const int64_t n = static_cast<int64_t>(v.size());
    for (int s = 0; s < std::min<int64_t>(n, opt.max_elements); ++s) {
      const int64_t k = n <= opt.max_elements ? s : rng.next_u32() % n;
      const float saved = v[k];
      auto loss_at = [&](float value) {
        v[k] = value;
        p.data().copy_(Tensor::from_vector(p.shape(), v));
        NoGradGuard no_grad;
        return weighted_sum(m.forward(Variable(x)).data(), g_host);
      };
      const double numeric = (loss_at(saved + opt.step) - loss_at(saved - opt.step)) / (2.0 * opt.step);
      v[k] = saved;
      p.data().copy_(Tensor::from_vector(p.shape(), v));
      const double a = analytic[k], err = std::fabs(a - numeric);
      const double tol = opt.atol + opt.rtol * std::max(std::fabs(a), std::fabs(numeric));
      CHECK_MESSAGE(err <= tol, name, " element ", k, ": analytic ", a, " vs numeric ", numeric);
      if (err > tol) return;
    }
  }
}

// Inputs drawn from U(lo, hi) with the given seed.
inline Tensor random_tensor(const Shape& s, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  Rng rng(seed);
  return Tensor::uniform(s, lo, hi, rng);
}

}  // namespace dip::test
