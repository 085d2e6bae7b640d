// The backward pass: reverse topological order over the recorded Nodes.
//
// 1. An iterative depth-first search from the root lists every variable that has a grad_fn, in
//    post-order (inputs before the ops that use them) — no recursion, so graph depth is unlimited.
// 2. Walking that list backwards, each variable's gradient is complete when it is reached (every op
//    that used it came later in the forward order); its Node's backward turns it into gradients for
//    its inputs, which are accumulated (out of place: a returned gradient may be shared).
// 3. Non-leaf gradients and the Nodes are released as soon as they are used; leaves keep theirs.
#include <unordered_set>
#include <utility>

#include "autograd/profiler.h"
#include "autograd/variable.h"
#include "tensor/elementwise.h"

namespace dip {

namespace {

void accumulate(VariableImpl& v, Tensor g) {
  DIP_CHECK(g.shape() == v.data.shape(), "backward: gradient ", g.shape().str(),
            " does not match its variable ", v.data.shape().str());
  if (!v.grad.defined())
    v.grad = std::move(g);
  else
    v.grad = add(v.grad, g);
}

// Variables with a grad_fn reachable from root, inputs before users. The list owns them: an
// intermediate is otherwise owned only by the Node of the op that used it, which backward frees
// before the intermediate's own turn comes.
std::vector<std::shared_ptr<VariableImpl>> topological_order(const std::shared_ptr<VariableImpl>& root) {
  std::vector<std::shared_ptr<VariableImpl>> order;
  std::unordered_set<VariableImpl*> visited;
  // (variable, index of the next input to visit)
  std::vector<std::pair<std::shared_ptr<VariableImpl>, size_t>> stack;
  if (root->grad_fn) {
    stack.emplace_back(root, 0);
    visited.insert(root.get());
  }
  while (!stack.empty()) {
    auto& [v, next] = stack.back();
    const auto& inputs = v->grad_fn->inputs;
    if (next < inputs.size()) {
      const std::shared_ptr<VariableImpl>& in = inputs[next++];
      if (in && in->grad_fn && visited.insert(in.get()).second) stack.emplace_back(in, 0);
    } else {
      order.push_back(std::move(v));
      stack.pop_back();
    }
  }
  return order;
}

}  // namespace

void Variable::backward() const {
  DIP_CHECK(impl_->data.numel() == 1, "backward(): ", describe(impl_->data),
            " is not a scalar; pass the seed gradient explicitly");
  backward(Tensor::full(impl_->data.shape(), 1.f, impl_->data.device()));
}

void Variable::backward(const Tensor& seed) const {
  DIP_CHECK(impl_->requires_grad, "backward(): this variable does not require a gradient "
            "(no input of its graph has requires_grad, or it was computed under no_grad)");
  std::vector<std::shared_ptr<VariableImpl>> order = topological_order(impl_);
  accumulate(*impl_, seed);
  NoGradGuard no_grad;  // the backward kernels themselves are not recorded
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    std::shared_ptr<VariableImpl> v = std::move(*it);  // released after its step, like its Node
    std::shared_ptr<Node> node = std::move(v->grad_fn);  // frees the graph as we go
    Tensor grad = std::move(v->grad);                     // a non-leaf keeps no gradient
    if (!grad.defined()) continue;                         // no path from the root carried one
    OpProfiler* prof = node->profile_row >= 0 ? OpProfiler::active() : nullptr;
    const double t0 = prof ? OpProfiler::now_ms(grad.device()) : 0.0;
    std::vector<Tensor> grads = node->backward(grad, node->needs);
    if (prof) prof->add_backward(node->profile_row, OpProfiler::now_ms(grad.device()) - t0);
    DIP_CHECK(grads.size() == node->inputs.size(), node->name, " backward returned ", grads.size(),
              " gradients for ", node->inputs.size(), " inputs");
    for (size_t i = 0; i < grads.size(); ++i)
      if (node->needs[i] && grads[i].defined()) accumulate(*node->inputs[i], std::move(grads[i]));
  }
}

}  // namespace dip
