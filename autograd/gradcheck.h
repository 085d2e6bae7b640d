// Finite-difference gradient checks: is an op's backward the derivative of its forward?
//
// For inputs x_1..x_k and an op y = f(x_1..x_k), the scalar loss L = sum(g * y) with a fixed random
// g makes one backward pass produce dL/dx_i for every input at once. Each checked element is then
// compared with the central difference (L(x + h) - L(x - h)) / 2h, where L is summed in double on
// the host so float32 rounding in the sum does not swamp the difference. Every op of the framework
// is tested this way (tests/gradcheck.h wraps these for doctest), and a new op written outside the
// library can be too (examples/custom_op.cpp).
//
//   GradCheckResult r = gradcheck([](const std::vector<Variable>& v) { return my_op(v[0], v[1]); },
//                                 {x, w});
//   if (!r.ok) std::puts(r.message.c_str());
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.h"

namespace dip {

struct GradCheck {
  float step = 1e-2f;      // h; float32 needs a large step (rounding error ~ 1e-7 |L| / h)
  float rtol = 1e-2f;      // |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|)
  float atol = 1e-3f;
  int max_elements = 48;   // elements checked per input (a seeded random sample beyond this)
  Device device = Device::CPU;
};

struct GradCheckResult {
  bool ok = true;
  std::string message;  // the first failure: input, element, analytic vs numeric, tolerance
  double worst = 0.0;   // the largest |analytic - numeric| / tolerance seen (<= 1 when ok)
  int checked = 0;      // elements compared
};

using GradCheckFn = std::function<Variable(const std::vector<Variable>&)>;

// Checks the gradient of every input of `op` on copies of `inputs` moved to opt.device; the inputs
// listed in `constant` get no gradient and are not checked.
GradCheckResult gradcheck(const GradCheckFn& op, const std::vector<Tensor>& inputs, const GradCheck& opt = {},
                          const std::vector<int>& constant = {});

// The core, for anything whose loss can be re-evaluated: compares `analytic` (dL/dvalue) with
// central differences of `loss` (evaluated with `value` edited in place, element by element;
// opt.max_elements of them, sampled from `rng` beyond that). `what` names the tensor in messages.
GradCheckResult gradcheck_tensor(const std::string& what, Tensor& value, const std::vector<float>& analytic,
                                 const std::function<double()>& loss, const GradCheck& opt, Rng& rng);

// L = sum(g * y) in double, for the checks above.
double weighted_sum(const Tensor& y, const std::vector<float>& g);

}  // namespace dip
