// Sequential: runs its children in order, each on the previous one's output.
//
//   auto net = std::make_shared<Sequential>();
//   net->add(std::make_shared<Conv2d>(3, 16, 3, 1, PaddingMode::Reflect, true, 1, rng));
//   net->add(std::make_shared<LeakyReLU>(0.2f));
//
// Children are named "0", "1", ... so parameter names read like "1.0.weight" (as PyTorch's).
//
// forward() fuses a BatchNorm2d child directly followed by a LeakyReLU child into one op
// (batch_norm2d with a BatchNormActivation): fewer passes over memory and no saved BN output. The
// children and parameter names stay as they are; set_fusion_enabled(false) runs them one by one.
#pragma once
#include <atomic>
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

  // Process-wide switch for the BatchNorm2d + LeakyReLU fusion (on by default); for tests and comparisons.
  static void set_fusion_enabled(bool on) { fusion_enabled_.store(on); }
  static bool fusion_enabled() { return fusion_enabled_.load(); }

 private:
  static inline std::atomic<bool> fusion_enabled_{true};
};

}  // namespace dip
