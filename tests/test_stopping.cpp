// Early stopping (apps/lib/stopping.h): the rule on synthetic signals with known answers, the
// streaming window variance against the definition, emv against its recurrence, and a short DIP
// run that stops by itself and returns the outputs of t*.
#include <doctest/doctest.h>

#include <cmath>
#include <deque>
#include <map>

#include "apps/lib/image.h"
#include "apps/lib/interrupt.h"
#include "apps/lib/metrics.h"
#include "apps/lib/stopping.h"
#include "apps/lib/trainer.h"
#include "nn/skip.h"
#include "tests/cuda_compare.h"
#include "tests/test_apps_util.h"

using namespace dip;
using namespace dip::apps;

namespace {

StopOptions rule_options(int patience, int min_iter = 0) {
  StopOptions o;
  o.kind = StopKind::Wmv;
  o.patience = patience;
  o.min_iter = min_iter;
  return o;
}

// (iteration, value) every 10 iterations from 0 to `last`.
std::vector<std::pair<int, double>> sampled(int last, double (*f)(int)) {
  std::vector<std::pair<int, double>> s;
  for (int it = 0; it <= last; it += 10) s.emplace_back(it, f(it));
  return s;
}

// The definition: mean over the window of each output's mean squared distance to the window mean.
double window_variance_reference(const std::deque<std::vector<float>>& window) {
  const size_t p = window.front().size();
  std::vector<double> mean(p, 0.0);
  for (const auto& x : window)
    for (size_t i = 0; i < p; ++i) mean[i] += x[i] / double(window.size());
  double total = 0;
  for (const auto& x : window)
    for (size_t i = 0; i < p; ++i) total += (x[i] - mean[i]) * (x[i] - mean[i]);
  return total / (double(window.size()) * double(p));
}

}  // namespace

TEST_CASE("stopping rule: a single minimum, a flat signal, an early false minimum before the floor") {
  // A U-shaped signal with its minimum at 400: t* = 400, the rule fires 300 iterations later.
  const StopReplay u = replay_stop_rule(rule_options(300), sampled(3000, [](int it) {
    return 1.0 + std::pow((it - 400) / 100.0, 2);
  }));
  CHECK(u.best_iter == 400);
  CHECK(u.fired);
  CHECK(u.stopped_at == 700);

  // Flat: the first value stays the minimum (ties are no improvement); it fires after the patience.
  const StopReplay flat = replay_stop_rule(rule_options(200), sampled(3000, [](int) { return 0.5; }));
  CHECK(flat.best_iter == 0);
  CHECK(flat.stopped_at == 200);

  // A dip at 50 (deeper than the real minimum at 900): without a floor it wins and the rule stops at
  // 50 + patience, far too early; the floor of 200 skips it and finds 900.
  auto false_min = [](int it) { return it == 50 ? 0.01 : 1.0 + std::pow((it - 900) / 300.0, 2); };
  const StopReplay early = replay_stop_rule(rule_options(500), sampled(3000, false_min));
  CHECK(early.best_iter == 50);
  CHECK(early.stopped_at == 550);
  const StopReplay floored = replay_stop_rule(rule_options(500, 200), sampled(3000, false_min));
  CHECK(floored.best_iter == 900);
  CHECK(floored.stopped_at == 1400);

  // Never firing within the signal: the run goes to the end, t* is still the best seen.
  const StopReplay capped = replay_stop_rule(rule_options(5000), sampled(1000, [](int it) { return 100.0 - it; }));
  CHECK(!capped.fired);
  CHECK(capped.stopped_at == 1000);
  CHECK(capped.best_iter == 1000);

  // Non-finite values never become t*.
  StopRule rule(rule_options(100));
  CHECK(!rule.observe(0, std::nan("")));
  CHECK(!rule.best_iter());
  CHECK(!rule.observe(10, 2.0));
  CHECK(rule.improved());
  CHECK(!rule.observe(20, INFINITY));
  CHECK(!rule.improved());
  CHECK(rule.best_iter() == 10);
}

TEST_CASE("stopping options: bad combinations are named") {
  StopOptions o;
  CHECK(check_stop_options(o).empty());
  o.window = 15;  // not a multiple of check_every = 10
  CHECK(check_stop_options(o).find("multiple") != std::string::npos);
  o.window = 0;
  CHECK(!check_stop_options(o).empty());
  o = StopOptions{};
  o.patience = 0;
  CHECK(!check_stop_options(o).empty());
  o = StopOptions{};
  o.emv_alpha = 1.f;
  CHECK(!check_stop_options(o).empty());
  CHECK(parse_stop_kind("wmv") == StopKind::Wmv);
  CHECK(parse_stop_kind("emv") == StopKind::Emv);
  CHECK(parse_stop_kind("fixed") == StopKind::Fixed);
  CHECK(!parse_stop_kind("foo"));
}

namespace {

// Feeds random drifting outputs; at every check compares the streaming wmv with the definition over
// the outputs of the last W iterations, and emv with its recurrence in double precision. Every
// seventh iteration's output is left out (a backtracked step) from both.
void check_signals_against_definitions(Device device) {
  const int K = 5, W = 20;
  StopOptions o;
  o.window = W;
  o.check_every = K;
  StopSignals signals(o);
  Rng rng(11);
  const Shape shape{1, 3, 6, 7};
  std::vector<float> drift(shape.numel(), 0.f);
  std::deque<std::pair<int, std::vector<float>>> recent;  // (iteration, output) of the last W iterations
  std::vector<double> e;
  double v = 0;
  int checks_with_value = 0;
  for (int it = 0; it <= 200; ++it) {
    if (it % 7 != 3) {  // iteration 0's output is left out by StopSignals itself
      Tensor noise = Tensor::normal(shape, 0.f, 0.05f, rng);
      std::vector<float> x = noise.to_vector();
      for (size_t i = 0; i < x.size(); ++i) x[i] += (drift[i] += 0.01f * (i % 3));
      signals.add(it, Tensor::from_vector(shape, x, device));
      if (it == 0) continue;
      recent.emplace_back(it, x);
      if (e.empty()) {
        e.assign(x.begin(), x.end());
      } else {
        double msd = 0;
        for (size_t i = 0; i < x.size(); ++i) msd += (x[i] - e[i]) * (x[i] - e[i]) / double(x.size());
        v = 0.9 * (v + 0.1 * msd);
        for (size_t i = 0; i < x.size(); ++i) e[i] += 0.1 * (x[i] - e[i]);
      }
    }
    CHECK(signals.is_check(it) == (it > 0 && it % K == 0));
    if (!signals.is_check(it)) continue;
    const StopSignals::Values got = signals.check();
    while (!recent.empty() && recent.front().first <= it - W) recent.pop_front();
    REQUIRE(got.emv.has_value());
    CHECK(*got.emv == doctest::Approx(v).epsilon(1e-4));
    if (it < W) {  // the window fills at iteration W
      CHECK_MESSAGE(!got.wmv, "no window yet at ", it);
      continue;
    }
    std::deque<std::vector<float>> window;
    for (const auto& [i, x] : recent) window.push_back(x);
    REQUIRE(got.wmv.has_value());
    CHECK_MESSAGE(*got.wmv == doctest::Approx(window_variance_reference(window)).epsilon(1e-4), "iteration ", it);
    ++checks_with_value;
  }
  CHECK(checks_with_value == (200 - W) / K + 1);
  // W/K + 1 images (the open block included) plus one scalar each, and emv's image + scalar.
  CHECK(signals.bytes() == int64_t((W / K + 1) * (shape.numel() + 1) + shape.numel() + 1) * 4);
}

}  // namespace

TEST_CASE("stopping signals: streaming wmv equals the window's variance, emv its recurrence") {
  check_signals_against_definitions(Device::CPU);
}

TEST_CASE("cuda stopping signals: the same values on the GPU" * dip::test::needs_gpu()) {
  check_signals_against_definitions(Device::CUDA);
}

TEST_CASE("stopping end to end: a short DIP run with wmv stops before the cap and returns t*'s outputs") {
  dip::test::SmallFit small = dip::test::small_fit();
  Module* net = small.net.get();
  const FitTarget& fit = small.target;
  TrainOptions opt;
  opt.iters = 2000;
  opt.every = 10;
  opt.lr = 0.01f;
  opt.reg_noise_std = 1.f / 30.f;
  opt.ema = true;
  opt.stop.kind = StopKind::Wmv;
  opt.stop.window = 20;
  opt.stop.patience = 40;
  opt.stop.min_iter = 50;
  Progress quiet(opt.iters, Progress::Style::Quiet, stderr);
  reset_interrupt();  // an earlier test's Ctrl-C must not end this run
  std::map<int, Image> snapshots;
  TrainResult r = train_dip(*net, fit, opt, quiet, [&](int it, const Image& img) { snapshots[it] = img; });
  std::string wmv_text;
  for (const TracePoint& p : r.trace)
    if (p.wmv) wmv_text += std::to_string(p.iter) + ":" + std::to_string(*p.wmv * 1e6) + " ";
  REQUIRE_MESSAGE(r.stopped_by_rule, wmv_text);
  CHECK(r.iters_done < opt.iters);
  REQUIRE(r.stop_iter.has_value());
  const int t = *r.stop_iter;
  CHECK(t >= opt.stop.min_iter);
  CHECK(t % opt.stop.check_every == 0);
  CHECK(r.iters_done - 1 == t + opt.stop.patience);  // fired exactly `patience` after t*
  // The returned output is the training output at t* (the snapshot there), not the last one.
  REQUIRE(snapshots.count(t));
  CHECK(clip01(r.output).pixels == snapshots[t].pixels);
  CHECK(clip01(r.output).pixels != snapshots.rbegin()->second.pixels);
  // The trace holds the signals at its check iterations; t* is the smallest wmv from the floor on.
  double best = INFINITY;
  int best_iter = -1;
  for (const TracePoint& p : r.trace) {
    CHECK(p.emv.has_value() == (p.iter > 0 && p.iter % 10 == 0));
    if (p.wmv && p.iter >= opt.stop.min_iter && *p.wmv < best) best = *p.wmv, best_iter = p.iter;
  }
  CHECK(best_iter == t);
}
