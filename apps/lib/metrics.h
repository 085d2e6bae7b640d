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

struct TracePoint {
  int iter = 0;
  double loss = 0.0;
  std::optional<double> psnr, psnr_avg;  // empty without ground truth (or without the EMA)
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
  std::vector<TracePoint> trace;
};

// The JSON text: {"task","net","device","precision","iters","seconds","ms_per_iter","size":[H,W],
// "final_psnr","avg_psnr","best_psnr","best_iter","trace":[{"iter","loss","psnr","psnr_avg"}]},
// plus "network", "parameters", "observed_psnr", "seed", "backtracks", "interrupted". Missing values
// are null.
std::string metrics_json(const RunMetrics& m);

}  // namespace dip::apps
