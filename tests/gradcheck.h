// Finite-difference gradient checks for doctest, shared by every op and layer test: the library's
// checker (autograd/gradcheck.h) with its failures reported as doctest checks.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/variable.h"
#include "nn/module.h"
#include "tensor/tensor.h"

namespace dip::test {

using dip::GradCheck;
using dip::weighted_sum;
using OpFn = GradCheckFn;

// Checks the gradient of every input of `op` (all inputs require grad unless listed in `constant`).
inline void check_gradients(const std::string& what, const OpFn& op, const std::vector<Tensor>& inputs,
                            const GradCheck& opt = {}, std::vector<int> constant = {}) {
  const GradCheckResult r = gradcheck(op, inputs, opt, constant);
  CHECK_MESSAGE(r.ok, "gradient check: ", what, ": ", r.message);
}

// Finite-difference check of every parameter of the module `m` (x held constant), with
// L = sum(g * m(x)) for a random g: one backward gives all analytic gradients, then up to
// opt.max_elements sampled elements of each parameter are compared with central differences
// (tolerances as check_gradients). Works on either device (the parameters are edited through the host).
inline void check_parameter_gradients(const std::string& what, Module& m, const Tensor& x,
                                      const GradCheck& opt = {}) {
  Rng rng(99);
  m.zero_grad();
  Variable y = m.forward(Variable(x));
  Tensor g = Tensor::uniform(y.shape(), -1.f, 1.f, rng, x.device());
  const std::vector<float> g_host = g.to_vector();
  y.backward(g);
  for (auto& [name, p] : m.named_parameters()) {
    REQUIRE_MESSAGE(p.grad().defined(), what, ": parameter ", name, " got no gradient");
    const GradCheckResult r = gradcheck_tensor(
        name + " " + p.shape().str(), p.data(), p.grad().to_vector(),
        [&] { return weighted_sum(m.forward(Variable(x)).data(), g_host); }, opt, rng);
    CHECK_MESSAGE(r.ok, "parameter gradient check: ", what, ": ", r.message);
  }
}

// Inputs drawn from U(lo, hi) with the given seed.
inline Tensor random_tensor(const Shape& s, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  Rng rng(seed);
  return Tensor::uniform(s, lo, hi, rng);
}

}  // namespace dip::test
