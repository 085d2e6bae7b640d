// The run's human-readable outputs: curve.svg (PSNR and loss against iterations) and report.html
// (observation, outputs and ground truth side by side, the curve, the numbers).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "apps/lib/metrics.h"

namespace dip::apps {

// Text safe inside HTML and SVG (<, >, &, ").
std::string escape_html(const std::string& s);
// "Nice" tick spacing for an axis: 1, 2 or 5 times a power of ten, about `count` ticks over `range`.
double tick_step(double range, int count);

// Marks on the curve: the stopping rule's t* and the trace's best PSNR (the oracle).
struct CurveMarks {
  std::optional<int> t_star, oracle_iter;
  std::string rule;  // the rule whose signal is drawn bold ("wmv", "emv"; empty: none)
};

// An SVG line chart: PSNR (left axis, dB) and loss (right axis, log scale) from the trace; below
// it, when the trace has them, the stopping signals on their own log axis. t* and the oracle are
// vertical lines through both panels.
std::string curve_svg(const std::vector<TracePoint>& trace, const CurveMarks& marks = {});

struct ReportImage {
  std::string file, caption;  // file name relative to the report
};

// A self-contained HTML page referencing the PNGs and curve.svg next to it.
std::string report_html(const RunMetrics& m, const std::string& summary, const std::vector<ReportImage>& images);

}  // namespace dip::apps
