// Variable: a Tensor that remembers how it was computed, so gradients can flow back to it.
//
// An op on Variables computes its result Tensor and, when any input needs a gradient, records a
// Node: the inputs plus a closure that maps the gradient of the result to the gradients of the
// inputs. The closure captures only what that backward needs (e.g. conv2d keeps x and the weight;
// sigmoid keeps its output). backward() walks the Nodes in reverse topological order.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace dip {

struct Node;

struct VariableImpl {
  Tensor data;
  Tensor grad;                    // undefined until a backward pass reaches this variable
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;  // null for leaves (parameters, inputs)
};

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor data, bool requires_grad = false);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& data() const { return impl_->data; }
  Tensor& data() { return impl_->data; }
  const Tensor& grad() const { return impl_->grad; }
  const Shape& shape() const { return impl_->data.shape(); }
  int64_t size(int dim) const { return impl_->data.size(dim); }
  Device device() const { return impl_->data.device(); }
  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  void set_requires_grad(bool r) { impl_->requires_grad = r; }
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  float item() const { return impl_->data.item(); }

  // Forgets the accumulated gradient (the next backward starts from zero).
  void zero_grad() { impl_->grad = Tensor(); }
  // Back-propagates from this variable: a scalar (one element) gets seed 1, else pass the seed.
  // Defined with the rest of the engine in autograd/engine.cpp.
  void backward() const;
  void backward(const Tensor& seed) const;

  const std::shared_ptr<VariableImpl>& impl() const { return impl_; }

 private:
  std::shared_ptr<VariableImpl> impl_;
};

// Maps the gradient of a node's output to one gradient per input. `needs[i]` says whether input i
// wants one; return an undefined Tensor for the others (and skip the work).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output,
                                                     const std::vector<bool>& needs)>;

struct Node {
  const char* name;  // the op, for error messages and the profiler
  std::vector<std::shared_ptr<VariableImpl>> inputs;
  std::vector<bool> needs;
  BackwardFn backward;
  int profile_row = -1;  // the op's row in the active OpProfiler (autograd/profiler.h), if any

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Releases the inputs iteratively: dropping a graph that never ran backward() would otherwise
  // recurse once per op (Node -> input -> its Node -> ...) and overflow the stack on long chains.
  ~Node();
};

// Wraps an op's output. Records a Node when gradients are enabled and some input requires one;
// otherwise returns a plain Variable and drops `backward` (no graph in no_grad or inference).
Variable make_result(const char* name, Tensor output, const std::vector<Variable>& inputs,
                     BackwardFn backward);

// ---- gradient mode -----------------------------------------------------------
bool grad_enabled();

// Disables graph recording in its scope (evaluation, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace dip
