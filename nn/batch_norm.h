// BatchNorm2d: per-channel normalisation of (N, C, H, W).
//
// Training mode normalises by the batch statistics and updates the running ones
//   running = (1 - momentum) * running + momentum * batch     (unbiased batch variance, as PyTorch)
// Evaluation mode uses the running statistics: y = (x - running_mean) / sqrt(running_var + eps) *
// gamma + beta. (DIP itself always trains in training mode, even with a batch of one image.)
#pragma once
#include "nn/module.h"
#include "tensor/batch_norm.h"

namespace dip {

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int channels, float eps = 1e-5f, float momentum = 0.1f);

  Variable forward(const Variable& x) override;
  // forward() then the activation `act`: one fused op in training mode, two ops in evaluation mode
  // (Sequential uses it for a BatchNorm2d followed by a LeakyReLU).
  Variable forward(const Variable& x, const BatchNormActivation& act);
  std::string name() const override;

  const Variable& weight() const { return gamma_; }
  const Variable& bias() const { return beta_; }
  const Tensor& running_mean() const { return *running_mean_; }
  const Tensor& running_var() const { return *running_var_; }

 private:
  Variable evaluate(const Variable& x);  // the evaluation-mode affine map

  int channels_;
  float eps_, momentum_;
  Variable gamma_, beta_;                 // (C), named "weight" and "bias" as in PyTorch
  Tensor* running_mean_ = nullptr;        // (C) buffer, starts at 0
  Tensor* running_var_ = nullptr;         // (C) buffer, starts at 1
};

}  // namespace dip
