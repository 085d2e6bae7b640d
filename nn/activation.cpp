#include "nn/activation.h"

#include <sstream>

#include "autograd/functions.h"

namespace dip {

Variable LeakyReLU::forward(const Variable& x) { return leaky_relu(x, slope_); }

std::string LeakyReLU::name() const {
  std::ostringstream os;
  os << "LeakyReLU(" << slope_ << ")";
  return os.str();
}

Variable ReLU::forward(const Variable& x) { return relu(x); }
Variable Sigmoid::forward(const Variable& x) { return sigmoid(x); }
Variable GELU::forward(const Variable& x) { return gelu(x); }

}  // namespace dip
