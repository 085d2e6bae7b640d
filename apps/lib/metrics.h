// Image quality numbers and the run summary written to DIR/metrics.json.
//
// PSNR = 10 log10(1 / MSE) over all pixels and channels, values in [0, 1]; the estimate is
// clipped to [0, 1] first (what a saved PNG would hold), the reference is used as it is.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "apps/lib/image.h"

namespace dip::apps {

double mse(const Image& estimate, const Image& reference);
double psnr(const Image& estimate, const Image& reference);
// "25.31 dB", or "-" when there is no value.
std::string db_text(const std::optional<double>& v);

struct TracePoint {
  int iter = 0;
  double loss = 0.0;
  std::optional<double> psnr, psnr_avg;  // empty without ground truth (or without the EMA)
  std::optional<double> mse, mse_avg;    // likewise
  std::optional<double> wmv, emv;        // the stopping signals, at check iterations (stopping.h)
};

// The stopping rule and what it returned against the best the trace saw. "Returned" and "oracle"
// compare one stream: the EMA output where the task uses one, else the raw output.
struct StopMetrics {
  std::string rule = "fixed";
  int window = 0, patience = 0, min_iter = 0, check_every = 0;
  double emv_alpha = 0.0;
  std::optional<int> stop_iter;  // t* (rules other than fixed)
  bool fired = false;            // the rule ended the run before the cap
  std::string stream;            // "ema" or "raw"
  std::optional<double> returned_psnr, returned_mse;
  std::optional<double> oracle_psnr;  // the best PSNR of `stream` over the trace
  int oracle_iter = -1;
  std::optional<double> gap_db() const {
    if (!returned_psnr || !oracle_psnr) return std::nullopt;
    return *oracle_psnr - *returned_psnr;
  }
};

struct RunMetrics {
  std::string task, net, device, precision;
  std::string network;  // the network's description (its layers' settings)
  int64_t parameters = 0;
  int iters = 0;  // iterations run (fewer than asked when interrupted)
  double seconds = 0.0, ms_per_iter = 0.0;
  int height = 0, width = 0;
  std::optional<double> final_psnr, avg_psnr, best_psnr, observed_psnr;
  int best_iter = -1;
  int seed = 0;
  int backtracks = 0;
  bool interrupted = false;
  double tv_weight = 0.0;
  StopMetrics stop;
  std::vector<TracePoint> trace;
};

// The best PSNR of the raw (`ema` false) or EMA output over a trace, and its iteration.
std::optional<std::pair<double, int>> trace_best_psnr(const std::vector<TracePoint>& trace, bool ema);

// The JSON text: {"task","net","device","precision","iters","seconds","ms_per_iter","size":[H,W],
// "final_psnr","avg_psnr","best_psnr","best_iter","trace":[{"iter","loss","psnr","psnr_avg"}]},
// plus "network", "parameters", "observed_psnr", "seed", "backtracks", "interrupted", "tv",
// "stop": {"rule","window","patience","min_iter","check_every","emv_alpha","t_star","fired"},
// "returned": {"stream","psnr","mse"}, "oracle": {"stream","psnr","iter"}, "gap_db", and per trace
// point "mse", "mse_avg", "wmv", "emv". Missing values are null.
std::string metrics_json(const RunMetrics& m);

}  // namespace dip::apps
