// OpProfiler: what one training step is made of, op by op.
//
// While a profiler is alive, every op that records a Node (make_result) gets a row: its name, the
// shapes of its output and inputs, its forward time and its backward time. The forward pass runs
// ops one after another, so an op's forward time is the time since the previous recorded op (or
// since mark()): its own kernel plus the little glue before it. The backward time is the Node's
// closure, timed by the engine (autograd/engine.cpp). On a GPU every mark synchronises the device,
// so the times are the ops' own (and a profiled step is slower than a plain one).
//
//   OpProfiler prof;          // from here on ops are recorded
//   prof.mark();              // the forward clock starts
//   Variable loss = mse_loss(net(z), y);
//   loss.backward();
//   std::fputs(format_profile(prof.records(), step_ms).c_str(), stdout);
//
// Only ops that need a gradient are recorded (in no_grad nothing is), which in training is all of them.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "autograd/variable.h"

namespace dip {

struct OpRecord {
  std::string name;            // "conv2d", "batch_norm2d", ...
  Shape output;
  std::vector<Shape> inputs;   // undefined inputs (an absent bias) as rank-0 shapes
  double forward_ms = 0.0, backward_ms = 0.0;
  double forward_flops = 0.0;  // conv2d and matmul only (0 elsewhere); the backward does about 2x
};

class OpProfiler {
 public:
  OpProfiler();   // becomes the active profiler (one at a time)
  ~OpProfiler();  // stops recording
  OpProfiler(const OpProfiler&) = delete;
  OpProfiler& operator=(const OpProfiler&) = delete;

  void mark();  // (re)starts the forward clock: call right before the forward pass
  const std::vector<OpRecord>& records() const { return records_; }

  // The hooks (make_result and the engine): the active profiler or null; a new row (its index);
  // backward time for a row.
  static OpProfiler* active();
  int record(const char* name, const Tensor& output, const std::vector<Variable>& inputs);
  void add_backward(int row, double ms);
  // Milliseconds on a device-synchronised clock.
  static double now_ms(Device device);

 private:
  std::vector<OpRecord> records_;
  double last_ms_ = 0.0;
  Device device_ = Device::CPU;  // of the last op seen (what mark() synchronises)
};

// Two tables: every op in forward order (op, output shape, forward and backward ms, GFLOP/s where
// known, share of `step_ms`), then the same summed per op kind, largest first.
std::string format_profile(const std::vector<OpRecord>& records, double step_ms);

}  // namespace dip
