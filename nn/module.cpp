#include "nn/module.h"

namespace dip {

Variable Module::register_parameter(const std::string& name, Tensor value) {
  Variable p(std::move(value), /*requires_grad=*/true);
  params_.emplace_back(name, p);
  return p;  // shares its VariableImpl with the registered copy
}

Tensor* Module::register_buffer(const std::string& name, Tensor value) {
  buffers_.emplace_back(name, std::make_unique<Tensor>(std::move(value)));
  return buffers_.back().second.get();  // stable: the Tensor lives on the heap
}

void Module::collect(const std::string& prefix,
                     std::vector<std::pair<std::string, Variable>>& out) const {
  for (const auto& [name, p] : params_) out.emplace_back(prefix + name, p);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<std::pair<std::string, Variable>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Variable>> out;
  collect("", out);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (const auto& [name, b] : buffers_) out.emplace_back(name, b.get());
  for (const auto& [name, child] : children_)
    for (auto& [sub, b] : child->named_buffers()) out.emplace_back(name + "." + sub, b);
  return out;
}

std::vector<Variable> Module::parameters() const {
  std::vector<Variable> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Variable& p : parameters()) n += p.data().numel();
  return n;
}

void Module::to(Device device) {
  // The Variables stay the same objects (an optimizer holding them keeps working); only their
  // tensors are replaced. A gradient on the old device is meaningless there, so it is dropped.
  for (auto& [name, p] : params_) {
    if (p.device() == device) continue;
    p.data() = p.data().to(device);
    p.zero_grad();
  }
  for (auto& [name, b] : buffers_) *b = b->to(device);
  for (auto& [name, child] : children_) child->to(device);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (Variable& p : parameters()) p.zero_grad();
}

}  // namespace dip
