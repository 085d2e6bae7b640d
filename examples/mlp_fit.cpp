// The smallest complete training loop: a 1 -> 32 -> 32 -> 1 MLP fitted to y = sin(3x) on [-1, 1] with
// Adam. Tensor (the data), Variable (what autograd tracks), Module (the layers and their parameters),
// a loss, backward() and an optimizer step; it prints the loss every 100 steps.
//
//   mlp_fit [--steps N]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "autograd/functions.h"  // Variable ops: matmul, tanh, mse_loss, ...
#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/sequential.h"
#include "optim/adam.h"

using namespace dip;

int main(int argc, char** argv) {
  int steps = 1000;
  if (argc == 3 && std::strcmp(argv[1], "--steps") == 0) steps = std::atoi(argv[2]);
  if (steps < 1) {
    std::fprintf(stderr, "usage: mlp_fit [--steps N]\n");
    return 2;
  }

  // The data: 256 points of y = sin(3x), as (256, 1) tensors (rows are samples).
  const int n = 256;
  std::vector<float> xs(n), ys(n);
  for (int i = 0; i < n; ++i) {
    xs[i] = -1.f + 2.f * i / (n - 1);
    ys[i] = std::sin(3.f * xs[i]);
  }
  const Variable x(Tensor::from_vector({n, 1}, xs));  // inputs need no gradient
  const Variable y(Tensor::from_vector({n, 1}, ys));

  // The model: Linear layers own their weights as Variables with requires_grad.
  Rng rng(0);
  auto net = std::make_shared<Sequential>();
  net->add(std::make_shared<Linear>(1, 32, true, rng));
  net->add(std::make_shared<GELU>());
  net->add(std::make_shared<Linear>(32, 32, true, rng));
  net->add(std::make_shared<GELU>());
  net->add(std::make_shared<Linear>(32, 1, true, rng));
  Adam opt(net->parameters(), {.lr = 1e-2f});

  for (int step = 0; step < steps; ++step) {
    opt.zero_grad();                          // gradients accumulate: clear them first
    Variable loss = mse_loss(net->forward(x), y);  // records the graph as it computes
    loss.backward();                          // fills every parameter's grad()
    opt.step();                               // updates the parameters in place
    if (step % 100 == 0 || step + 1 == steps) std::printf("step %4d  loss %.6f\n", step, loss.item());
  }
  return 0;
}
