#include "apps/lib/stopping.h"

#include "apps/lib/state_file.h"
#include "apps/lib/user_error.h"

#include <algorithm>
#include <cmath>

#include "tensor/elementwise.h"
#include "tensor/loss.h"

namespace dip::apps {

const char* stop_kind_name(StopKind kind) {
  switch (kind) {
    case StopKind::Wmv: return "wmv";
    case StopKind::Emv: return "emv";
    default: return "fixed";
  }
}

std::optional<StopKind> parse_stop_kind(const std::string& name) {
  for (StopKind k : {StopKind::Fixed, StopKind::Wmv, StopKind::Emv})
    if (name == stop_kind_name(k)) return k;
  return std::nullopt;
}

std::string check_stop_options(const StopOptions& o) {
  if (o.check_every < 1) return "the check interval must be at least 1, got " + std::to_string(o.check_every);
  if (o.window < 1 || o.window % o.check_every != 0)
    return "the window (" + std::to_string(o.window) + ") must be a positive multiple of the check interval (" +
           std::to_string(o.check_every) + ")";
  if (o.patience < 1) return "the patience must be at least 1 iteration, got " + std::to_string(o.patience);
  if (o.min_iter < 0) return "the floor must not be negative, got " + std::to_string(o.min_iter);
  if (!(o.emv_alpha > 0.f && o.emv_alpha < 1.f)) return "emv's alpha must be in (0, 1)";
  return "";
}

// ---- StopRule ----

StopRule::StopRule(const StopOptions& options) : patience_(options.patience), min_iter_(options.min_iter) {}

bool StopRule::observe(int iter, double signal) {
  improved_ = iter >= min_iter_ && std::isfinite(signal) && (!best_iter_ || signal < best_signal_);
  if (improved_) {
    best_iter_ = iter;
    best_signal_ = signal;
  }
  return best_iter_ && iter - *best_iter_ >= patience_;
}

StopReplay replay_stop_rule(const StopOptions& options, const std::vector<std::pair<int, double>>& signal) {
  StopRule rule(options);
  StopReplay r;
  for (const auto& [iter, value] : signal) {
    r.stopped_at = iter;
    if (rule.observe(iter, value)) {
      r.fired = true;
      break;
    }
  }
  r.best_iter = rule.best_iter();
  return r;
}

void StopRule::save_state(StateWriter& w, const std::string& prefix) const {
  w.integer(prefix + "best_iter", best_iter_ ? *best_iter_ : -1);
  w.real(prefix + "best_signal", best_signal_);
}

void StopRule::load_state(const StateReader& r, const std::string& prefix) {
  const int64_t best = r.integer(prefix + "best_iter");
  best_iter_ = best >= 0 ? std::optional<int>(static_cast<int>(best)) : std::nullopt;
  best_signal_ = r.real(prefix + "best_signal");
  improved_ = false;
}

// ---- WindowVariance ----

WindowVariance::WindowVariance(int window, int block) : blocks_(window / block), closed_(window / block) {
  DIP_CHECK(block >= 1 && window >= block && window % block == 0, "WindowVariance: window ", window,
            " is not a positive multiple of the block ", block);
}

void WindowVariance::add(const Tensor& x) {
  if (open_.count == 0) {
    // The block's first output is its mean; its deviation sum starts at 0.
    if (!open_.mean.defined()) {
      open_.mean = x.clone();
      open_.m2 = Tensor::zeros({1}, x.device());
    } else {
      open_.mean.copy_(x);
      open_.m2.fill_(0.f);
    }
    open_.count = 1;
    return;
  }
  // Welford: with d = x - mean and n the new count, mean += d / n and the sum of squared
  // deviations grows by d . (x - new mean) = |d|^2 (1 - 1/n); |d|^2 / P is mse(x, mean).
  const int n = ++open_.count;
  add_(open_.m2, mse_loss_forward(x, open_.mean), 1.f - 1.f / n);
  add_(open_.mean, sub(x, open_.mean), 1.f / n);
}

void WindowVariance::close_block() {
  std::swap(closed_[next_], open_);  // the evicted block's buffers are reused by the next open one
  open_.count = 0;
  next_ = (next_ + 1) % blocks_;
  closed_count_ = std::min(closed_count_ + 1, blocks_);
}

std::optional<double> WindowVariance::value() const {
  if (closed_count_ < blocks_) return std::nullopt;
  int total = 0;
  for (const Block& b : closed_) total += b.count;
  if (total == 0) return std::nullopt;
  // m = sum_k (n_k / N) m_k, then M2 / P = sum_k (M2_k / P + n_k mse(m_k, m)), summed on the device.
  Tensor mean;
  for (const Block& b : closed_) {
    if (b.count == 0) continue;
    const float w = static_cast<float>(b.count) / total;
    if (!mean.defined()) mean = mul_scalar(b.mean, w);
    else add_(mean, b.mean, w);
  }
  Tensor m2 = Tensor::zeros({1}, mean.device());
  for (const Block& b : closed_) {
    if (b.count == 0) continue;
    add_(m2, b.m2);
    add_(m2, mse_loss_forward(b.mean, mean), static_cast<float>(b.count));
  }
  return static_cast<double>(m2.item()) / total;
}

int64_t WindowVariance::bytes() const {
  int64_t n = open_.mean.defined() ? open_.mean.numel() + 1 : 0;
  for (const Block& b : closed_) n += b.mean.defined() ? b.mean.numel() + 1 : 0;
  return n * static_cast<int64_t>(sizeof(float));
}

namespace {
// An optional tensor: present or absent under `key`.
void save_optional(StateWriter& w, const std::string& key, const Tensor& t) {
  if (t.defined()) w.tensor(key, t);
}
Tensor load_optional(const StateReader& r, const std::string& key, Device device) {
  return r.has(key) ? r.tensor(key, device) : Tensor();
}
}  // namespace

void WindowVariance::save_state(StateWriter& w, const std::string& prefix) const {
  w.integer(prefix + "next", next_);
  w.integer(prefix + "closed_count", closed_count_);
  for (int k = 0; k <= blocks_; ++k) {
    const Block& b = k < blocks_ ? closed_[k] : open_;
    const std::string key = prefix + (k < blocks_ ? "block" + std::to_string(k) : std::string("open")) + ".";
    w.integer(key + "count", b.count);
    save_optional(w, key + "mean", b.mean);
    save_optional(w, key + "m2", b.m2);
  }
}

void WindowVariance::load_state(const StateReader& r, const std::string& prefix, Device device) {
  next_ = static_cast<int>(r.integer(prefix + "next"));
  closed_count_ = static_cast<int>(r.integer(prefix + "closed_count"));
  DIP_USER_CHECK(next_ >= 0 && next_ < blocks_ && closed_count_ >= 0 && closed_count_ <= blocks_,
                 "checkpoint: the wmv window does not match --stop-window/--stop-check");
  for (int k = 0; k <= blocks_; ++k) {
    Block& b = k < blocks_ ? closed_[k] : open_;
    const std::string key = prefix + (k < blocks_ ? "block" + std::to_string(k) : std::string("open")) + ".";
    b.count = static_cast<int>(r.integer(key + "count"));
    b.mean = load_optional(r, key + "mean", device);
    b.m2 = load_optional(r, key + "m2", device);
  }
}

// ---- ExponentialVariance ----

void ExponentialVariance::add(const Tensor& x) {
  if (!ema_.defined()) {
    ema_ = x.clone();
    var_ = Tensor::zeros({1}, x.device());
    return;
  }
  // d = x - e; v = (1 - a)(v + a mean(d^2)); e += a d  (mean(d^2) is mse(x, e) before e moves).
  const float a = alpha_;
  Tensor v = mul_scalar(var_, 1.f - a);
  add_(v, mse_loss_forward(x, ema_), (1.f - a) * a);
  var_ = v;
  add_(ema_, sub(x, ema_), a);
}

std::optional<double> ExponentialVariance::value() const {
  if (!var_.defined()) return std::nullopt;
  return static_cast<double>(var_.item());
}

int64_t ExponentialVariance::bytes() const {
  return ema_.defined() ? (ema_.numel() + 1) * static_cast<int64_t>(sizeof(float)) : 0;
}

void ExponentialVariance::save_state(StateWriter& w, const std::string& prefix) const {
  save_optional(w, prefix + "ema", ema_);
  save_optional(w, prefix + "var", var_);
}

void ExponentialVariance::load_state(const StateReader& r, const std::string& prefix, Device device) {
  ema_ = load_optional(r, prefix + "ema", device);
  var_ = load_optional(r, prefix + "var", device);
}

// ---- StopSignals ----

StopSignals::StopSignals(const StopOptions& options)
    : check_every_(options.check_every), wmv_(options.window, options.check_every), emv_(options.emv_alpha) {}

void StopSignals::save_state(StateWriter& w, const std::string& prefix) const {
  wmv_.save_state(w, prefix + "wmv.");
  emv_.save_state(w, prefix + "emv.");
}

void StopSignals::load_state(const StateReader& r, const std::string& prefix, Device device) {
  wmv_.load_state(r, prefix + "wmv.", device);
  emv_.load_state(r, prefix + "emv.", device);
}

StopSignals::Values StopSignals::check() {
  wmv_.close_block();
  return {wmv_.value(), emv_.value()};
}

}  // namespace dip::apps
