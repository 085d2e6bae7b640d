// The Deep Image Prior loop: fit a randomly initialised network's output f(z) so that its
// degraded version A(f(z)) matches the observation y, by Adam on mse(A(f(z)), y).
//
// Per iteration, as the authors' notebooks:
//   - reg-noise: the input is z + N(0, reg_noise_std^2), fresh noise every iteration;
//   - EMA: out_avg = w out_avg + (1 - w) out (w = 0.99), reported beside the raw output;
//   - backtracking: when the loss jumps by more than 5 dB (10 log10(loss / last_loss) > 5, i.e.
//     the notebook's PSNR-to-observation drop) the parameters go back to the last checkpoint and
//     the step is skipped. A checkpoint is taken every iteration that is not a multiple of 100.
//   - a loss that is not a finite number (NaN, inf) always rolls back, with or without
//     backtracking (without it, to a copy taken every 100 iterations); after 5 such rollbacks in
//     a row the run fails with an error rather than return garbage.
//   - TV: with tv_weight > 0 the loss is mse + tv_weight * isotropic_tv_loss(f(z)) (DIP-TV);
//   - stopping (stopping.h): with a rule other than `fixed`, the loop ends when the rule fires
//     (or at `iters`, the cap) and returns the outputs of the rule's t*, not the last ones.
// Every `every` iterations (and after the last) a trace point is recorded and `on_snapshot` is
// called with the current output. Ctrl-C (interrupt.h) ends the loop early; what was fitted so far
// is returned.
#pragma once
#include <functional>
#include <optional>
#include <vector>

#include "apps/lib/image.h"
#include "apps/lib/metrics.h"
#include "apps/lib/progress.h"
#include "apps/lib/stopping.h"
#include "autograd/variable.h"
#include "nn/module.h"

namespace dip::apps {

struct TrainOptions {
  int iters = 3000;
  float lr = 0.01f;
  float reg_noise_std = 0.f;
  bool ema = false;
  float ema_weight = 0.99f;
  bool backtrack = false;
  float backtrack_db = 5.f;
  int backtrack_every = 100;  // the notebook's show_every: no check or copy on its multiples
  int every = 100;             // trace and snapshot interval
  uint64_t seed = 0;           // for the reg-noise draws
  float tv_weight = 0.f;       // lambda of the TV regulariser (0: plain DIP)
  StopOptions stop;            // the stopping rule (fixed: run `iters` iterations)
  bool record_signals = true;  // compute the stopping signals for the trace even under `fixed`
};

// What the loop fits. Tensors live on the training device.
struct FitTarget {
  Tensor input;                                      // z: (1, D, H, W)
  Tensor observed;                                   // y: the shape of A(f(z))
  std::function<Variable(const Variable&)> degrade;  // A; identity when empty
  std::optional<Image> ground_truth;                 // (3, H, W) for PSNR, on the host
};

struct TrainResult {
  // The returned outputs. Fixed: f(z) after the last step, without reg-noise, and the EMA then.
  // A stopping rule: the output of the training step at t* and the EMA then (the last ones when
  // the rule found no t*).
  Image output;
  std::optional<Image> output_avg;  // the EMA, when enabled
  std::optional<int> stop_iter;     // t*, under a stopping rule
  bool stopped_by_rule = false;     // the rule fired before the cap
  std::vector<TracePoint> trace;
  int iters_done = 0;
  double seconds = 0.0;  // the loop only (no setup, no file writing)
  int backtracks = 0;
  bool interrupted = false;
};

using SnapshotFn = std::function<void(int iter, const Image& output)>;

// Checkpoints of the loop's whole state: the parameters and BatchNorm buffers, Adam's moments and
// step, the EMA, the backtracking copy, the stopping signals and rule with the outputs of t*, the
// trace, the counters and the next iteration (reg-noise is drawn from (seed, iteration), so there
// is no generator state). `save` gets them as the bytes of a state file (state_file.h) every
// `every` iterations and when the run is interrupted. A run continued from `resume` gives the same
// numbers as one that was never stopped (bit-identical on the CPU).
struct Checkpointing {
  int every = 0;  // 0: only when interrupted
  std::function<void(const std::string& bytes, int next_iter)> save;
  std::string resume;  // a saved state to continue from (empty: start afresh)
  std::vector<std::pair<std::string, std::string>> texts;  // written into each state as they are
};

TrainResult train_dip(Module& net, const FitTarget& target, const TrainOptions& options,
                      Progress& progress, const SnapshotFn& on_snapshot = {},
                      const Checkpointing& checkpointing = {});

// The iteration a saved state continues from (UserError for bytes that are not a state file).
int state_next_iter(const std::string& bytes, const std::string& what);

}  // namespace dip::apps
