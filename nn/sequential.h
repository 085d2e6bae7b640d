// Sequential: runs its children in order, each on the previous one's output.
//
//   auto net = std::make_shared<Sequential>();
//   net->add(std::make_shared<Conv2d>(3, 16, 3, 1, PaddingMode::Reflect, true, 1, rng));
//   net->add(std::make_shared<LeakyReLU>(0.2f));
//
// Children are named "0", "1", ... so parameter names read like "1.0.weight" (as PyTorch's).
#pragma once
#include <memory>
#include <string>

#include "nn/module.h"

namespace dip {

class Sequential : public Module {
 public:
  Sequential() = default;

  // Appends a module and returns it (so the caller can keep a typed handle).
  template <typename M>
  std::shared_ptr<M> add(std::shared_ptr<M> m) {
    DIP_CHECK(m != nullptr, "Sequential::add: null module");
    return register_module(std::to_string(children().size()), std::move(m));
  }

  Variable forward(const Variable& x) override;
  std::string name() const override;

  size_t size() const { return children().size(); }
  const ModulePtr& operator[](size_t i) const { return children().at(i).second; }
};

}  // namespace dip
