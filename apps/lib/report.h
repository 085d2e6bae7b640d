// The run's human-readable outputs: curve.svg (PSNR and loss against iterations) and report.html
// (observation, outputs and ground truth side by side, the curve, the numbers).
#pragma once
#include <string>
#include <vector>

#include "apps/lib/metrics.h"

namespace dip::apps {

// An SVG line chart: PSNR (left axis, dB) and loss (right axis, log scale) from the trace.
std::string curve_svg(const std::vector<TracePoint>& trace);

struct ReportImage {
  std::string file, caption;  // file name relative to the report
};

// A self-contained HTML page referencing the PNGs and curve.svg next to it.
std::string report_html(const RunMetrics& m, const std::string& summary, const std::vector<ReportImage>& images);

}  // namespace dip::apps
