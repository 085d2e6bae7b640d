#include "autograd/variable.h"

#include "autograd/profiler.h"

namespace dip {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

Node::~Node() {
  // While an outer ~Node is draining, inner ones hand their inputs to its queue and return.
  static thread_local std::vector<std::shared_ptr<VariableImpl>>* pending = nullptr;
  if (pending) {
    for (auto& in : inputs)
      if (in) pending->push_back(std::move(in));
    return;
  }
  std::vector<std::shared_ptr<VariableImpl>> queue;
  for (auto& in : inputs)
    if (in) queue.push_back(std::move(in));
  pending = &queue;
  while (!queue.empty()) {
    std::shared_ptr<VariableImpl> v = std::move(queue.back());
    queue.pop_back();
    v.reset();  // may destroy a Node, which appends its inputs to the queue
  }
  pending = nullptr;
}

Variable::Variable(Tensor data, bool requires_grad) : impl_(std::make_shared<VariableImpl>()) {
  impl_->data = std::move(data);
  impl_->requires_grad = requires_grad;
}

Variable make_result(const char* name, Tensor output, const std::vector<Variable>& inputs,
                     BackwardFn backward) {
  Variable result(std::move(output));
  if (!g_grad_enabled) return result;
  std::vector<bool> needs(inputs.size());
  bool any = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    needs[i] = inputs[i].defined() && inputs[i].requires_grad();
    any = any || needs[i];
  }
  if (!any) return result;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->needs = std::move(needs);
  node->backward = std::move(backward);
  node->inputs.reserve(inputs.size());
  for (const Variable& v : inputs) node->inputs.push_back(v.defined() ? v.impl() : nullptr);
  if (OpProfiler* prof = OpProfiler::active()) node->profile_row = prof->record(name, result.data(), inputs);
  result.set_requires_grad(true);
  result.impl()->grad_fn = std::move(node);
  return result;
}

}  // namespace dip
