#include "apps/lib/metrics.h"

#include "apps/lib/json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace dip::apps {

double mse(const Image& estimate, const Image& reference) {
  DIP_CHECK(estimate.channels == reference.channels && estimate.height == reference.height &&
                estimate.width == reference.width,
            "mse: ", estimate.channels, "x", estimate.height, "x", estimate.width, " vs ",
            reference.channels, "x", reference.height, "x", reference.width);
  double total = 0.0;
  for (size_t i = 0; i < estimate.pixels.size(); ++i) {
    const double d = std::clamp(estimate.pixels[i], 0.f, 1.f) - reference.pixels[i];
    total += d * d;
  }
  return estimate.pixels.empty() ? 0.0 : total / estimate.pixels.size();
}

double psnr(const Image& estimate, const Image& reference) {
  const double m = mse(estimate, reference);
  if (!std::isfinite(m)) return std::numeric_limits<double>::quiet_NaN();  // not a value to rank
  return m > 0.0 ? 10.0 * std::log10(1.0 / m) : std::numeric_limits<double>::infinity();
}

namespace {

// JSON has no infinity or NaN: both become null.
std::string number(double v, int digits = 6) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}
std::string number(const std::optional<double>& v, int digits = 6) {
  return v ? number(*v, digits) : "null";
}

}  // namespace

std::string db_text(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f dB", *v);
  return buf;
}

std::optional<std::pair<double, int>> trace_best_psnr(const std::vector<TracePoint>& trace, bool ema) {
  std::optional<std::pair<double, int>> best;
  for (const TracePoint& t : trace) {
    const std::optional<double>& v = ema ? t.psnr_avg : t.psnr;
    if (v && std::isfinite(*v) && (!best || *v > best->first)) best = std::make_pair(*v, t.iter);
  }
  return best;
}

std::string metrics_json(const RunMetrics& m) {
  const StopMetrics& s = m.stop;
  std::ostringstream os;
  os << "{\n"
     << "  \"task\": " << json_quote(m.task) << ",\n"
     << "  \"net\": " << json_quote(m.net) << ",\n"
     << "  \"network\": " << json_quote(m.network) << ",\n"
     << "  \"parameters\": " << m.parameters << ",\n"
     << "  \"device\": " << json_quote(m.device) << ",\n"
     << "  \"precision\": " << json_quote(m.precision) << ",\n"
     << "  \"iters\": " << m.iters << ",\n"
     << "  \"seconds\": " << number(m.seconds) << ",\n"
     << "  \"ms_per_iter\": " << number(m.ms_per_iter) << ",\n"
     << "  \"size\": [" << m.height << ", " << m.width << "],\n"
     << "  \"final_psnr\": " << number(m.final_psnr) << ",\n"
     << "  \"avg_psnr\": " << number(m.avg_psnr) << ",\n"
     << "  \"best_psnr\": " << number(m.best_psnr) << ",\n"
     << "  \"best_iter\": " << (m.best_psnr ? std::to_string(m.best_iter) : "null") << ",\n"
     << "  \"observed_psnr\": " << number(m.observed_psnr) << ",\n"
     << "  \"seed\": " << m.seed << ",\n"
     << "  \"backtracks\": " << m.backtracks << ",\n"
     << "  \"interrupted\": " << (m.interrupted ? "true" : "false") << ",\n"
     << "  \"tv\": " << number(m.tv_weight) << ",\n"
     << "  \"stop\": {\"rule\": " << json_quote(s.rule) << ", \"window\": " << s.window << ", \"patience\": "
     << s.patience << ", \"min_iter\": " << s.min_iter << ", \"check_every\": " << s.check_every
     << ", \"emv_alpha\": " << number(s.emv_alpha) << ", \"t_star\": "
     << (s.stop_iter ? std::to_string(*s.stop_iter) : "null") << ", \"fired\": " << (s.fired ? "true" : "false")
     << "},\n"
     << "  \"returned\": {\"stream\": " << json_quote(s.stream) << ", \"psnr\": " << number(s.returned_psnr)
     << ", \"mse\": " << number(s.returned_mse, 8) << "},\n"
     << "  \"oracle\": {\"stream\": " << json_quote(s.stream) << ", \"psnr\": " << number(s.oracle_psnr)
     << ", \"iter\": " << (s.oracle_psnr ? std::to_string(s.oracle_iter) : "null") << "},\n"
     << "  \"gap_db\": " << number(s.gap_db()) << ",\n"
     << "  \"trace\": [";
  for (size_t i = 0; i < m.trace.size(); ++i) {
    const TracePoint& t = m.trace[i];
    os << (i ? ",\n    " : "\n    ") << "{\"iter\": " << t.iter << ", \"loss\": " << number(t.loss, 8)
       << ", \"psnr\": " << number(t.psnr) << ", \"psnr_avg\": " << number(t.psnr_avg)
       << ", \"mse\": " << number(t.mse, 8) << ", \"mse_avg\": " << number(t.mse_avg, 8)
       << ", \"wmv\": " << number(t.wmv, 8) << ", \"emv\": " << number(t.emv, 8) << "}";
  }
  os << (m.trace.empty() ? "]\n" : "\n  ]\n") << "}\n";
  return os.str();
}

}  // namespace dip::apps
