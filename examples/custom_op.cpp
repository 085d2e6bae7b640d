// A new op written outside the library: softplus(x) = log(1 + exp(x)), with its backward
// sigmoid(x), added to the autograd engine without touching its code, then checked against finite
// differences with the library's gradient checker.
//
// An op is two things: the forward on Tensors, and make_result(), which records a Node holding the
// backward closure (what the gradient of the output turns into for each input). The closure captures
// only what the backward needs: here the input x.
#include <cstdio>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "tensor/activation.h"
#include "tensor/elementwise.h"

using namespace dip;

Variable softplus(const Variable& x) {
  const Tensor tx = x.data();
  // Forward: log(1 + exp(x)), from Tensor ops (no graph is recorded at this level).
  Tensor out = log(add_scalar(exp(tx), 1.f));
  return make_result("softplus", out, {x}, [tx](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
    return {mul(g, sigmoid(tx))};  // d softplus / dx = sigmoid(x)
  });
}

int main() {
  Rng rng(7);
  const Tensor x = Tensor::uniform({4, 5}, -3.f, 3.f, rng);

  // Use it like any other op: in a loss, then backward.
  Variable v(x, /*requires_grad=*/true);
  Variable loss = mean(softplus(v));
  loss.backward();
  std::printf("mean softplus = %.6f, d/dx[0] = %.6f\n", loss.item(), v.grad().to_vector()[0]);

  // Finite differences against the backward, on every element.
  const GradCheckResult r = gradcheck([](const std::vector<Variable>& in) { return softplus(in[0]); }, {x});
  std::printf("gradient check: %s (%d elements, worst error %.3f of the tolerance)%s%s\n", r.ok ? "passed" : "FAILED",
              r.checked, r.worst, r.ok ? "" : ": ", r.message.c_str());
  return r.ok ? 0 : 1;
}
