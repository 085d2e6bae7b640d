// Adam (Kingma & Ba) with bias correction, as torch.optim.Adam (weight decay L2-style, added to g).
//
//   Adam opt(net->parameters(), {.lr = 0.01f});
//   opt.zero_grad(); loss.backward(); opt.step();
//
// step() hands every parameter to one adam_update_ call (one CUDA launch on the GPU). The moment
// buffers m, v are allocated on the first step, on the parameter's device, so a network moved with
// Module::to() before training needs nothing else. The step count is shared by all parameters; a
// parameter without a gradient is left alone (its moments do not decay), as in PyTorch.
#pragma once
#include <vector>

#include "autograd/variable.h"
#include "tensor/adam.h"

namespace dip {

struct AdamOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.f;
};

class Adam {
 public:
  explicit Adam(std::vector<Variable> params, AdamOptions options = {});

  void step();
  void zero_grad();

  int steps_taken() const { return step_; }
  const AdamOptions& options() const { return opt_; }
  void set_lr(float lr) { opt_.lr = lr; }

  // The state a checkpoint needs: the step count and the moments, one per parameter (undefined
  // until that parameter's first update). load_state() puts a saved state back.
  const std::vector<Tensor>& first_moments() const { return m_; }
  const std::vector<Tensor>& second_moments() const { return v_; }
  void load_state(int step, std::vector<Tensor> m, std::vector<Tensor> v);

 private:
  std::vector<Variable> params_;
  std::vector<Tensor> m_, v_;  // first and second moments, one per parameter (same shape)
  std::vector<AdamSlot> slots_;  // reused between steps
  AdamOptions opt_;
  int step_ = 0;
};

}  // namespace dip
