// Module: a layer or a network. Owns named parameters and named child modules.
//
//   class MyLayer : public Module {
//     MyLayer() { weight_ = register_parameter("weight", Tensor::zeros({4})); }
//     Variable forward(const Variable& x) override;
//   };
//
// named_parameters() walks children depth-first, so names read like "1.conv.weight".
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"

namespace dip {

class Module {
 public:
  virtual ~Module() = default;
  virtual Variable forward(const Variable& x) = 0;
  Variable operator()(const Variable& x) { return forward(x); }

  // Every trainable parameter, in registration order (children after own).
  std::vector<Variable> parameters() const;
  std::vector<std::pair<std::string, Variable>> named_parameters() const;
  int64_t num_parameters() const;
  // Every buffer (BatchNorm's running statistics), named like the parameters; for checkpoints.
  std::vector<std::pair<std::string, Tensor*>> named_buffers() const;

  // Moves every parameter and buffer to `device` (in place: the Variables keep their identity).
  virtual void to(Device device);
  // Training mode (batch statistics in BatchNorm) or evaluation mode (running statistics).
  void train(bool on = true);
  bool is_training() const { return training_; }
  void zero_grad();

  // A short name for printing ("Conv2d(32, 128, k=3, s=2, reflect)").
  virtual std::string name() const = 0;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }

 protected:
  Variable register_parameter(const std::string& name, Tensor value);
  // Buffers move with to() but get no gradient (BatchNorm's running statistics).
  Tensor* register_buffer(const std::string& name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Variable>>& out) const;

  std::vector<std::pair<std::string, Variable>> params_;
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

using ModulePtr = std::shared_ptr<Module>;

}  // namespace dip
