#include "apps/lib/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "apps/lib/interrupt.h"
#include "autograd/functions.h"
#include "optim/adam.h"
#include "tensor/elementwise.h"
#include "tensor/noise.h"

namespace dip::apps {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Copies of the parameter values, refreshed in place (no allocation after the first).
class Checkpoint {
 public:
  explicit Checkpoint(const std::vector<Variable>& params) : params_(params) {}
  void save() {
    if (saved_.empty())
      for (const Variable& p : params_) saved_.push_back(p.data().clone());
    else
      for (size_t i = 0; i < params_.size(); ++i) saved_[i].copy_(params_[i].data());
  }
  void restore() {
    for (size_t i = 0; i < params_.size(); ++i) params_[i].impl()->data.copy_(saved_[i]);
  }
  bool empty() const { return saved_.empty(); }

 private:
  std::vector<Variable> params_;
  std::vector<Tensor> saved_;
};

}  // namespace

TrainResult train_dip(Module& net, const FitTarget& target, const TrainOptions& opt,
                      Progress& progress, const SnapshotFn& on_snapshot) {
  DIP_CHECK(opt.iters >= 1 && opt.every >= 1, "train_dip: iters and every must be >= 1");
  const std::string stop_problem = check_stop_options(opt.stop);
  DIP_CHECK(stop_problem.empty(), "train_dip: ", stop_problem);
  const Device device = target.input.device();
  const std::vector<Variable> params = net.parameters();
  Adam adam(params, AdamOptions{opt.lr});
  Checkpoint checkpoint(params);
  const Variable observed(target.observed);

  // Stopping: the signals (also recorded under `fixed`, for the trace) and the rule reading one.
  const bool use_rule = opt.stop.kind != StopKind::Fixed;
  std::optional<StopSignals> signals;
  if (use_rule || opt.record_signals) signals.emplace(opt.stop);
  StopRule rule(opt.stop);
  Tensor best_out, best_avg;  // the outputs at t*, (1, C, H, W) on the device
  bool stop_now = false;

  TrainResult result;
  Tensor avg;  // EMA of the outputs, (1, C, H, W) on the device
  double last_loss = 0.0;
  std::optional<double> psnr_now, psnr_avg_now;
  const auto start = std::chrono::steady_clock::now();

  for (int it = 0; it < opt.iters; ++it) {
    if (interrupt_requested()) {
      result.interrupted = true;
      break;
    }
    Tensor z = target.input;
    if (opt.reg_noise_std > 0.f)
      // Drawn where z lives (tensor/noise.h): no host loop, no copy to the GPU.
      z = add(z, normal_noise(z.shape(), opt.reg_noise_std, opt.seed, static_cast<uint64_t>(it), device));

    adam.zero_grad();
    Variable out = net.forward(Variable(z));  // (1, C, H, W)
    Variable loss = mse_loss(target.degrade ? target.degrade(out) : out, observed);
    if (opt.tv_weight > 0.f) loss = add(loss, mul_scalar(isotropic_tv_loss(out), opt.tv_weight));
    loss.backward();
    const double loss_value = loss.item();

    bool collapsed = false;
    if (opt.backtrack && it % opt.checkpoint_every != 0) {
      if (!checkpoint.empty() && last_loss > 0.0 &&
          10.0 * std::log10(loss_value / last_loss) > opt.backtrack_db) {
        collapsed = true;
        checkpoint.restore();
        ++result.backtracks;
      } else {
        checkpoint.save();
        last_loss = loss_value;
      }
    }
    if (!collapsed) {
      if (opt.ema) {
        avg = avg.defined() ? add(mul_scalar(avg, opt.ema_weight), mul_scalar(out.data(), 1.f - opt.ema_weight))
                            : out.data().clone();
      }
      if (signals) signals->add(it, out.data());  // a collapsed step's output is not one the run keeps
      adam.step();
    }

    StopSignals::Values signal_values;
    if (signals && signals->is_check(it)) {
      signal_values = signals->check();
      const std::optional<double> v = opt.stop.kind == StopKind::Wmv ? signal_values.wmv : signal_values.emv;
      if (use_rule && v) {
        stop_now = rule.observe(it, *v);
        if (rule.improved()) {
          // Keep the outputs of the new t* (device copies, no allocation after the first).
          if (!best_out.defined()) best_out = out.data().clone();
          else best_out.copy_(out.data());
          if (avg.defined()) {
            if (!best_avg.defined()) best_avg = avg.clone();
            else best_avg.copy_(avg);
          }
        }
        char note[96];
        std::snprintf(note, sizeof note, "%s %.3g, best at %d", stop_kind_name(opt.stop.kind), *v,
                      rule.best_iter() ? *rule.best_iter() : -1);
        progress.set_note(rule.best_iter() ? note : std::string(stop_kind_name(opt.stop.kind)) + " (no t* yet)");
      }
    }

    const bool last = it + 1 == opt.iters || stop_now;
    if (it % opt.every == 0 || last) {
      Image out_img = tensor_to_image(out.data());
      TracePoint tp;
      tp.iter = it;
      tp.loss = loss_value;
      tp.wmv = signal_values.wmv;
      tp.emv = signal_values.emv;
      if (target.ground_truth) {
        tp.psnr = psnr_now = psnr(out_img, *target.ground_truth);
        tp.mse = mse(out_img, *target.ground_truth);
        if (avg.defined()) {
          const Image avg_img = tensor_to_image(avg);
          tp.psnr_avg = psnr_avg_now = psnr(avg_img, *target.ground_truth);
          tp.mse_avg = mse(avg_img, *target.ground_truth);
        }
      }
      result.trace.push_back(tp);
      if (on_snapshot) on_snapshot(it, clip01(out_img));
    }
    result.iters_done = it + 1;
    progress.update(it, loss_value, psnr_now, psnr_avg_now);
    if (stop_now) {
      result.stopped_by_rule = true;
      break;
    }
  }
  result.seconds = seconds_since(start);
  progress.finish();

  if (use_rule && best_out.defined()) {
    // The rule's choice: the outputs of t*.
    result.stop_iter = rule.best_iter();
    result.output = tensor_to_image(best_out);
    if (best_avg.defined()) result.output_avg = tensor_to_image(best_avg);
    return result;
  }
  // The final output: f(z) for the clean input, as the notebooks show it after the loop.
  {
    NoGradGuard no_grad;
    result.output = tensor_to_image(net.forward(Variable(target.input)).data());
  }
  if (avg.defined()) result.output_avg = tensor_to_image(avg);
  return result;
}

}  // namespace dip::apps
