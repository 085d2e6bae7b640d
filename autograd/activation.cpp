// Activations on Variables. Each backward keeps the one tensor its kernel needs: the input for
// leaky_relu and gelu, the output for sigmoid and tanh.
#include "autograd/functions.h"
#include "tensor/activation.h"

namespace dip {

namespace {

Variable leaky_relu_named(const char* name, const Variable& x, float slope) {
  Tensor tx = x.data();
  return make_result(name, leaky_relu(tx, slope), {x},
                     [tx, slope](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
                       return {leaky_relu_backward(tx, g, slope)};
                     });
}

}  // namespace

Variable leaky_relu(const Variable& x, float negative_slope) {
  return leaky_relu_named("leaky_relu", x, negative_slope);
}

Variable relu(const Variable& x) { return leaky_relu_named("relu", x, 0.f); }

Variable sigmoid(const Variable& x) {
  Tensor y = sigmoid(x.data());
  return make_result("sigmoid", y, {x}, [y](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
    return {sigmoid_backward(y, g)};
  });
}

Variable tanh(const Variable& x) {
  Tensor y = tanh(x.data());
  return make_result("tanh", y, {x}, [y](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
    return {tanh_backward(y, g)};
  });
}

Variable gelu(const Variable& x) {
  Tensor tx = x.data();
  return make_result("gelu", gelu(tx), {x}, [tx](const Tensor& g, const std::vector<bool>&) -> std::vector<Tensor> {
    return {gelu_backward(tx, g)};
  });
}

}  // namespace dip
