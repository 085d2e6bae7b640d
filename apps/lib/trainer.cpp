#include "apps/lib/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "apps/lib/interrupt.h"
#include "apps/lib/state_file.h"
#include "apps/lib/user_error.h"
#include "autograd/functions.h"
#include "optim/adam.h"
#include "tensor/elementwise.h"
#include "tensor/noise.h"

namespace dip::apps {

namespace {

constexpr int kMaxNonFiniteRollbacks = 5;  // in a row, before the run gives up

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Copies of the parameter values, refreshed in place (no allocation after the first).
class ParameterCopy {
 public:
  explicit ParameterCopy(const std::vector<Variable>& params) : params_(params) {}
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
  const std::vector<Tensor>& saved() const { return saved_; }
  void load(std::vector<Tensor> saved) { saved_ = std::move(saved); }

 private:
  std::vector<Variable> params_;
  std::vector<Tensor> saved_;
};

// A Tensor copy kept in place: the outputs of t*.
void keep_copy(Tensor& dst, const Tensor& src) {
  if (!dst.defined()) dst = src.clone();
  else dst.copy_(src);
}

bool all_finite(const Image& img) {
  for (float v : img.pixels)
    if (!std::isfinite(v)) return false;
  return true;
}

// A trace point's optional values as a fixed row of reals (NaN = absent), for the state file.
constexpr int kTraceFields = 8;
void append_trace_point(std::vector<double>& out, const TracePoint& t) {
  const double none = std::nan("");
  auto put = [&](const std::optional<double>& v) { out.push_back(v ? *v : none); };
  out.push_back(t.iter);
  out.push_back(t.loss);
  put(t.psnr);
  put(t.psnr_avg);
  put(t.mse);
  put(t.mse_avg);
  put(t.wmv);
  put(t.emv);
}
TracePoint trace_point_from(const double* v) {
  auto get = [](double x) { return std::isnan(x) ? std::nullopt : std::optional<double>(x); };
  TracePoint t;
  t.iter = static_cast<int>(v[0]);
  t.loss = v[1];
  t.psnr = get(v[2]);
  t.psnr_avg = get(v[3]);
  t.mse = get(v[4]);
  t.mse_avg = get(v[5]);
  t.wmv = get(v[6]);
  t.emv = get(v[7]);
  return t;
}

}  // namespace

int state_next_iter(const std::string& bytes, const std::string& what) {
  return static_cast<int>(StateReader(bytes, what).integer("loop.next_iter"));
}

TrainResult train_dip(Module& net, const FitTarget& target, const TrainOptions& opt, Progress& progress,
                      const SnapshotFn& on_snapshot, const Checkpointing& checkpointing) {
  DIP_CHECK(opt.iters >= 1 && opt.every >= 1, "train_dip: iters and every must be >= 1");
  const std::string stop_problem = check_stop_options(opt.stop);
  DIP_CHECK(stop_problem.empty(), "train_dip: ", stop_problem);
  const Device device = target.input.device();
  const std::vector<std::pair<std::string, Variable>> named_params = net.named_parameters();
  const std::vector<Variable> params = net.parameters();
  Adam adam(params, AdamOptions{opt.lr});
  ParameterCopy rollback(params);  // backtracking's checkpoint, and the copy a NaN rolls back to
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
  int non_finite_streak = 0;
  double seconds_before = 0.0;  // a resumed run's earlier time
  std::optional<double> psnr_now, psnr_avg_now;
  int first_iter = 0;

  // ---- checkpoints: the whole loop state at the start of iteration `next` ----
  auto save_state = [&](int next) {
    StateWriter w;
    for (const auto& [key, value] : checkpointing.texts) w.text(key, value);
    w.integer("loop.next_iter", next);
    for (const auto& [name, p] : named_params) w.tensor("param." + name, p.data());
    for (const auto& [name, b] : net.named_buffers()) w.tensor("buffer." + name, *b);
    w.integer("adam.step", adam.steps_taken());
    for (size_t i = 0; i < params.size(); ++i)
      if (adam.first_moments()[i].defined()) {
        w.tensor("adam.m." + std::to_string(i), adam.first_moments()[i]);
        w.tensor("adam.v." + std::to_string(i), adam.second_moments()[i]);
      }
    for (size_t i = 0; i < rollback.saved().size(); ++i) w.tensor("rollback." + std::to_string(i), rollback.saved()[i]);
    w.real("loop.last_loss", last_loss);
    w.integer("loop.non_finite_streak", non_finite_streak);
    if (avg.defined()) w.tensor("loop.ema", avg);
    if (signals) signals->save_state(w, "signals.");
    rule.save_state(w, "rule.");
    if (best_out.defined()) w.tensor("rule.best_out", best_out);
    if (best_avg.defined()) w.tensor("rule.best_avg", best_avg);
    std::vector<double> trace;
    for (const TracePoint& t : result.trace) append_trace_point(trace, t);
    w.reals("loop.trace", trace);
    w.integer("loop.backtracks", result.backtracks);
    w.real("loop.seconds", result.seconds);
    checkpointing.save(w.finish(), next);
  };
  if (!checkpointing.resume.empty()) {
    const StateReader r(checkpointing.resume, "the checkpoint");
    first_iter = static_cast<int>(r.integer("loop.next_iter"));
    DIP_USER_CHECK(first_iter >= 1 && first_iter <= opt.iters, "the checkpoint is at iteration ", first_iter,
                   ", outside this run's 1..", opt.iters);
    for (const auto& [name, p] : named_params) r.copy_into("param." + name, p.impl()->data);
    for (const auto& [name, b] : net.named_buffers()) r.copy_into("buffer." + name, *b);
    std::vector<Tensor> m(params.size()), v(params.size());
    for (size_t i = 0; i < params.size(); ++i)
      if (r.has("adam.m." + std::to_string(i))) {
        m[i] = r.tensor("adam.m." + std::to_string(i), device);
        v[i] = r.tensor("adam.v." + std::to_string(i), device);
      }
    adam.load_state(static_cast<int>(r.integer("adam.step")), std::move(m), std::move(v));
    std::vector<Tensor> saved;
    for (size_t i = 0; r.has("rollback." + std::to_string(i)); ++i)
      saved.push_back(r.tensor("rollback." + std::to_string(i), device));
    rollback.load(std::move(saved));
    last_loss = r.real("loop.last_loss");
    non_finite_streak = static_cast<int>(r.integer("loop.non_finite_streak"));
    if (r.has("loop.ema")) avg = r.tensor("loop.ema", device);
    if (signals) signals->load_state(r, "signals.", device);
    rule.load_state(r, "rule.");
    if (r.has("rule.best_out")) best_out = r.tensor("rule.best_out", device);
    if (r.has("rule.best_avg")) best_avg = r.tensor("rule.best_avg", device);
    const std::vector<double> trace = r.reals("loop.trace");
    for (size_t i = 0; i + kTraceFields <= trace.size(); i += kTraceFields)
      result.trace.push_back(trace_point_from(&trace[i]));
    result.backtracks = static_cast<int>(r.integer("loop.backtracks"));
    seconds_before = r.real("loop.seconds");
    result.iters_done = first_iter;
  }
  const auto start = std::chrono::steady_clock::now();

  for (int it = first_iter; it < opt.iters; ++it) {
    if (interrupt_requested()) {
      result.interrupted = true;
      result.seconds = seconds_before + seconds_since(start);
      if (checkpointing.save) save_state(it);
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

    // Backtracking (the notebook's), and a rollback of any step whose loss is not a number.
    bool collapsed = false;
    if (!std::isfinite(loss_value)) {
      if (rollback.empty() || ++non_finite_streak > kMaxNonFiniteRollbacks)
        throw std::runtime_error("training diverged: the loss is not a finite number at iteration " +
                                 std::to_string(it) +
                                 (rollback.empty() ? std::string(" (nothing to roll back to)")
                                                   : " after " + std::to_string(kMaxNonFiniteRollbacks) +
                                                         " rollbacks in a row") +
                                 "; try a smaller --lr");
      collapsed = true;
      rollback.restore();
      ++result.backtracks;
    } else {
      non_finite_streak = 0;
      if (opt.backtrack && it % opt.backtrack_every != 0) {
        if (!rollback.empty() && last_loss > 0.0 && 10.0 * std::log10(loss_value / last_loss) > opt.backtrack_db) {
          collapsed = true;
          rollback.restore();
          ++result.backtracks;
        } else {
          rollback.save();
          last_loss = loss_value;
        }
      } else if (!opt.backtrack && it % opt.backtrack_every == 0) {
        rollback.save();  // only for the NaN rollback
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
          keep_copy(best_out, out.data());
          if (avg.defined()) keep_copy(best_avg, avg);
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
      if (target.ground_truth && !collapsed && all_finite(out_img)) {
        tp.psnr = psnr_now = psnr(out_img, *target.ground_truth);
        tp.mse = mse(out_img, *target.ground_truth);
        if (avg.defined()) {
          const Image avg_img = tensor_to_image(avg);
          tp.psnr_avg = psnr_avg_now = psnr(avg_img, *target.ground_truth);
          tp.mse_avg = mse(avg_img, *target.ground_truth);
        }
      }
      result.trace.push_back(tp);
      if (on_snapshot && !collapsed) on_snapshot(it, clip01(out_img));
    }
    result.iters_done = it + 1;
    progress.update(it, loss_value, psnr_now, psnr_avg_now);
    if (stop_now) {
      result.stopped_by_rule = true;
      break;
    }
    if (checkpointing.save && checkpointing.every > 0 && (it + 1) % checkpointing.every == 0 && !last) {
      result.seconds = seconds_before + seconds_since(start);
      save_state(it + 1);
    }
  }
  result.seconds = seconds_before + seconds_since(start);
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
