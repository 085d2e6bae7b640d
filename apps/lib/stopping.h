// When to stop a DIP run: the early-stopping signals, and the rule that reads them.
//
// DIP's output improves, peaks, then degrades as the network starts to fit the noise; the
// ground truth that would show the peak is unknown. The signals below track how much the raw
// outputs x_t still move; their minimum comes near the peak (Wang et al., "Early Stopping for Deep
// Image Prior", TMLR 2023):
//
//   wmv  windowed moving variance (ES-WMV): over the outputs of the last W iterations,
//        VAR_t = 1/W sum_w mean_p (x_w,p - m_p)^2,  m = the window's mean output.
//   emv  exponential moving variance (ES-EMV): d = x - e, e += a d, v = (1 - a)(v + a mean(d^2)),
//        a = 0.1, e starting at the first output and v at 0.
//
// Both are evaluated at check iterations, the multiples of K (`check_every`); emv is updated every
// iteration, wmv's window is exact at those iterations (see WindowVariance). A StopRule reads one
// signal: it remembers the check iteration t* with the smallest value at or after the floor
// (`min_iter`) and says stop once `patience` iterations have passed without a new minimum. The
// trainer then returns the output of t*. The same StopRule replays a recorded trace offline
// (`dip study report`), so a rule decides the same way online and offline.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace dip::apps {

class StateWriter;
class StateReader;

enum class StopKind { Fixed, Wmv, Emv };

const char* stop_kind_name(StopKind kind);  // "fixed", "wmv", "emv"
std::optional<StopKind> parse_stop_kind(const std::string& name);

struct StopOptions {
  StopKind kind = StopKind::Fixed;
  int window = 100;       // W: the outputs wmv's variance is taken over (a multiple of check_every)
  int patience = 1000;    // iterations without a new minimum before the rule stops the run
  int min_iter = 0;       // the floor: no t* before this iteration (early false minima)
  int check_every = 10;   // K: signals are evaluated at iterations that are multiples of K
  float emv_alpha = 0.1f;  // emv's smoothing factor a
};

// Bad settings (window not a positive multiple of K, K < 1, patience < 1, alpha outside (0, 1))
// as a one-line message, or empty when fine.
std::string check_stop_options(const StopOptions& options);

// The decision, from (iteration, signal) pairs in increasing iteration order.
class StopRule {
 public:
  explicit StopRule(const StopOptions& options);
  // The signal at check iteration `iter`; true when the run should stop now. Values before the
  // floor or not finite never become t*.
  bool observe(int iter, double signal);
  bool improved() const { return improved_; }  // the last observe set a new t*
  std::optional<int> best_iter() const { return best_iter_; }
  double best_signal() const { return best_signal_; }
  // For checkpoints (state_file.h): everything observe() depends on, under keys starting `prefix`.
  void save_state(StateWriter& w, const std::string& prefix) const;
  void load_state(const StateReader& r, const std::string& prefix);

 private:
  int patience_, min_iter_;
  std::optional<int> best_iter_;
  double best_signal_ = 0.0;
  bool improved_ = false;
};

// Replays a rule over a recorded signal: the iteration the run stops at (`stopped_at`; the last
// point when the rule never fires) and t* (empty when no value qualified).
struct StopReplay {
  std::optional<int> best_iter;
  int stopped_at = 0;
  bool fired = false;
};
StopReplay replay_stop_rule(const StopOptions& options, const std::vector<std::pair<int, double>>& signal);

// ES-WMV's variance without keeping W outputs: the window is cut into W/K blocks of K iterations,
// each kept as its mean and the sum of squared deviations from that mean (Welford's update, so no
// cancellation), and blocks combine exactly (Chan et al.'s pairwise formula):
//   M2 = sum_k M2_k + sum_k n_k |m_k - m|^2,   VAR = M2 / (N P),   N = sum_k n_k, P = pixels.
// Memory: W/K + 1 images (K = 10, W = 100: 11 images, 33 MB at 512x512 RGB) instead of W; with
// K = 1 it is the paper's per-iteration rule with W images. Everything stays on the outputs'
// device; value() reads back one scalar per block.
class WindowVariance {
 public:
  WindowVariance(int window, int block);
  void add(const Tensor& x);          // one output, (1, C, H, W), into the open block
  void close_block();                 // at a check iteration: the open block joins the window
  std::optional<double> value() const;  // VAR over the last W/K blocks, once that many are closed
  int64_t bytes() const;              // device memory held
  void save_state(StateWriter& w, const std::string& prefix) const;
  void load_state(const StateReader& r, const std::string& prefix, Device device);

 private:
  struct Block {
    Tensor mean;  // (1, C, H, W)
    Tensor m2;    // (1): sum of squared deviations from `mean`, divided by the pixel count P
    int count = 0;
  };
  int blocks_;                 // W / K
  std::vector<Block> closed_;  // a ring of the last W/K closed blocks
  int next_ = 0, closed_count_ = 0;
  Block open_;
};

// ES-EMV: O(image) memory, updated every iteration.
class ExponentialVariance {
 public:
  explicit ExponentialVariance(float alpha) : alpha_(alpha) {}
  void add(const Tensor& x);
  std::optional<double> value() const;  // v, once an output was seen
  int64_t bytes() const;
  void save_state(StateWriter& w, const std::string& prefix) const;
  void load_state(const StateReader& r, const std::string& prefix, Device device);

 private:
  float alpha_;
  Tensor ema_;  // e, (1, C, H, W)
  Tensor var_;  // v, (1)
};

// Both signals of a run, fed every output from iteration 1 on. The trainer evaluates them at check
// iterations (the multiples of K from K on).
class StopSignals {
 public:
  explicit StopSignals(const StopOptions& options);
  // The output of iteration `iter`. Iteration 0's (the untrained network's) is left out, so the
  // window at check t holds exactly the outputs of iterations t-W+1..t.
  void add(int iter, const Tensor& output) {
    if (iter == 0) return;
    wmv_.add(output);
    emv_.add(output);
  }
  bool is_check(int iter) const { return iter > 0 && iter % check_every_ == 0; }
  struct Values {
    std::optional<double> wmv, emv;
  };
  // At a check iteration: closes wmv's block and reads both values (two scalars to the host).
  Values check();
  int64_t bytes() const { return wmv_.bytes() + emv_.bytes(); }
  void save_state(StateWriter& w, const std::string& prefix) const;
  void load_state(const StateReader& r, const std::string& prefix, Device device);

 private:
  int check_every_;
  WindowVariance wmv_;
  ExponentialVariance emv_;
};

}  // namespace dip::apps
