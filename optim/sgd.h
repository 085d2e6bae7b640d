// Stochastic gradient descent with optional momentum, as torch.optim.SGD:
//   buf = momentum * buf + g   (buf = g on the first step);   p -= lr * buf
#pragma once
#include <vector>

#include "autograd/variable.h"

namespace dip {

class SGD {
 public:
  SGD(std::vector<Variable> params, float lr, float momentum = 0.f);

  void step();
  void zero_grad();

 private:
  std::vector<Variable> params_;
  std::vector<Tensor> buf_;  // momentum buffers, one per parameter (undefined until first used)
  float lr_, momentum_;
};

}  // namespace dip
