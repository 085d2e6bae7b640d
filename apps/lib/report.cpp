#include "apps/lib/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace dip::apps {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

std::string escape_html(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// "Nice" tick spacing for a range: 1, 2 or 5 times a power of ten, about `count` ticks.
double tick_step(double range, int count) {
  if (range <= 0) return 1.0;
  const double raw = range / count, p = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / p;
  return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * p;
}

// "wmv (window 100, patience 1000, floor 0): t* = 850, fired", "fixed", plus the TV weight.
std::string stop_text(const RunMetrics& m) {
  const StopMetrics& s = m.stop;
  std::string t = s.rule;
  if (s.rule != "fixed") {
    t += " (" + (s.rule == "wmv" ? "window " + std::to_string(s.window) + ", " : std::string()) + "patience " +
         std::to_string(s.patience) + ", floor " + std::to_string(s.min_iter) + ", checked every " +
         std::to_string(s.check_every) + "): ";
    t += s.stop_iter ? "t* = " + std::to_string(*s.stop_iter) : std::string("no t*");
    t += s.fired ? ", the rule ended the run" : ", ran to the cap";
  }
  if (m.tv_weight > 0) t += fmt("; TV weight %g", m.tv_weight);
  return t;
}

std::string curve_svg(const std::vector<TracePoint>& trace, const CurveMarks& marks) {
  // The signal panel (stopping signals, log scale) sits below the PSNR/loss panel when present.
  bool has_signal = false;
  for (const TracePoint& t : trace)
    for (const auto& v : {t.wmv, t.emv}) has_signal = has_signal || (v && *v > 0);
  constexpr double W = 720, left = 60, right = 70, top = 30, bottom = 45, sig_h = 130, sig_gap = 40;
  const double H = 380 + (has_signal ? sig_h + sig_gap : 0);
  const double pw = W - left - right, ph = 380 - top - bottom;
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
     << "\" viewBox=\"0 0 " << W << " " << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (trace.empty()) {
    os << "<text x=\"" << W / 2 << "\" y=\"" << H / 2 << "\" text-anchor=\"middle\">no iterations</text>\n</svg>\n";
    return os.str();
  }
  const double x_max = std::max(1, trace.back().iter);
  auto px = [&](double it) { return left + pw * it / x_max; };

  // PSNR range over both series.
  double p_lo = 1e300, p_hi = -1e300;
  for (const TracePoint& t : trace)
    for (const auto& v : {t.psnr, t.psnr_avg})
      if (v && std::isfinite(*v)) p_lo = std::min(p_lo, *v), p_hi = std::max(p_hi, *v);
  const bool has_psnr = p_lo <= p_hi;
  if (has_psnr) {
    const double pad = std::max(0.5, 0.05 * (p_hi - p_lo));
    p_lo = std::floor(p_lo - pad), p_hi = std::ceil(p_hi + pad);
  }
  // Loss range, log10.
  double l_lo = 1e300, l_hi = -1e300;
  for (const TracePoint& t : trace)
    if (t.loss > 0) l_lo = std::min(l_lo, std::log10(t.loss)), l_hi = std::max(l_hi, std::log10(t.loss));
  const bool has_loss = l_lo <= l_hi;
  if (has_loss) l_lo = std::floor(l_lo), l_hi = std::max(std::ceil(l_hi), l_lo + 1);

  // Frame, x ticks.
  os << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
     << "\" fill=\"none\" stroke=\"#888\"/>\n";
  const double xs = tick_step(x_max, 8);
  const double sig_top = top + ph + sig_gap;  // the signal panel's frame, when drawn
  const double x_axis = has_signal ? sig_top + sig_h : top + ph;
  for (double v = 0; v <= x_max + 1e-9; v += xs)
    os << "<line x1=\"" << px(v) << "\" y1=\"" << top << "\" x2=\"" << px(v) << "\" y2=\"" << top + ph
       << "\" stroke=\"#eee\"/><text x=\"" << px(v) << "\" y=\"" << x_axis + 16
       << "\" text-anchor=\"middle\">" << v << "</text>\n";
  os << "<text x=\"" << left + pw / 2 << "\" y=\"" << H - 8 << "\" text-anchor=\"middle\">iteration</text>\n";

  auto polyline = [&](auto value, auto to_y, const char* colour, const char* dash) {
    std::string pts;
    for (const TracePoint& t : trace)
      if (auto v = value(t)) pts += fmt("%.1f", px(t.iter)) + "," + fmt("%.1f", to_y(*v)) + " ";
    if (!pts.empty())
      os << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"1.8\" stroke-dasharray=\"" << dash
         << "\" points=\"" << pts << "\"/>\n";
  };

  if (has_psnr) {
    auto py = [&](double v) { return top + ph * (1 - (v - p_lo) / (p_hi - p_lo)); };
    const double ys = tick_step(p_hi - p_lo, 6);
    for (double v = std::ceil(p_lo / ys) * ys; v <= p_hi + 1e-9; v += ys)
      os << "<line x1=\"" << left << "\" y1=\"" << py(v) << "\" x2=\"" << left + pw << "\" y2=\"" << py(v)
         << "\" stroke=\"#eee\"/><text x=\"" << left - 6 << "\" y=\"" << py(v) + 4
         << "\" text-anchor=\"end\" fill=\"#1f5fbf\">" << v << "</text>\n";
    os << "<text transform=\"translate(16," << top + ph / 2
       << ") rotate(-90)\" text-anchor=\"middle\" fill=\"#1f5fbf\">PSNR (dB)</text>\n";
    auto finite = [](std::optional<double> v) { return v && std::isfinite(*v) ? v : std::nullopt; };
    polyline([&](const TracePoint& t) { return finite(t.psnr); }, py, "#1f5fbf", "none");
    polyline([&](const TracePoint& t) { return finite(t.psnr_avg); }, py, "#2a9d4b", "none");
  }
  if (has_loss) {
    auto ly = [&](double v) { return top + ph * (1 - (v - l_lo) / (l_hi - l_lo)); };
    for (double e = l_lo; e <= l_hi + 1e-9; e += 1)
      os << "<text x=\"" << left + pw + 6 << "\" y=\"" << ly(e) + 4 << "\" fill=\"#c0392b\">1e" << e << "</text>\n";
    os << "<text transform=\"translate(" << W - 14 << "," << top + ph / 2
       << ") rotate(90)\" text-anchor=\"middle\" fill=\"#c0392b\">loss (log scale)</text>\n";
    polyline([&](const TracePoint& t) { return t.loss > 0 ? std::optional<double>(std::log10(t.loss)) : std::nullopt; },
             ly, "#c0392b", "4 3");
  }
  // Legend.
  double lx = left + 10;
  auto legend = [&](const char* colour, const char* dash, const char* label) {
    os << "<line x1=\"" << lx << "\" y1=\"" << top - 12 << "\" x2=\"" << lx + 22 << "\" y2=\"" << top - 12
       << "\" stroke=\"" << colour << "\" stroke-width=\"2\" stroke-dasharray=\"" << dash << "\"/><text x=\""
       << lx + 26 << "\" y=\"" << top - 8 << "\">" << label << "</text>\n";
    lx += 150;
  };
  if (has_psnr) legend("#1f5fbf", "none", "PSNR (output)");
  bool any_avg = false;
  for (const TracePoint& t : trace) any_avg = any_avg || t.psnr_avg.has_value();
  if (has_psnr && any_avg) legend("#2a9d4b", "none", "PSNR (EMA output)");
  if (has_loss) legend("#c0392b", "4 3", "loss");

  if (has_signal) {
    // Signal panel: wmv and emv on one log axis (both are mean squared changes of the output).
    double s_lo = 1e300, s_hi = -1e300;
    for (const TracePoint& t : trace)
      for (const auto& v : {t.wmv, t.emv})
        if (v && *v > 0) s_lo = std::min(s_lo, std::log10(*v)), s_hi = std::max(s_hi, std::log10(*v));
    s_lo = std::floor(s_lo), s_hi = std::max(std::ceil(s_hi), s_lo + 1);
    auto sy = [&](double v) { return sig_top + sig_h * (1 - (v - s_lo) / (s_hi - s_lo)); };
    os << "<rect x=\"" << left << "\" y=\"" << sig_top << "\" width=\"" << pw << "\" height=\"" << sig_h
       << "\" fill=\"none\" stroke=\"#888\"/>\n";
    for (double e = s_lo; e <= s_hi + 1e-9; e += 1)
      os << "<line x1=\"" << left << "\" y1=\"" << sy(e) << "\" x2=\"" << left + pw << "\" y2=\"" << sy(e)
         << "\" stroke=\"#eee\"/><text x=\"" << left - 6 << "\" y=\"" << sy(e) + 4
         << "\" text-anchor=\"end\" fill=\"#6c3483\">1e" << e << "</text>\n";
    os << "<text transform=\"translate(16," << sig_top + sig_h / 2
       << ") rotate(-90)\" text-anchor=\"middle\" fill=\"#6c3483\">signal</text>\n";
    auto log_of = [](std::optional<double> v) {
      return v && *v > 0 ? std::optional<double>(std::log10(*v)) : std::nullopt;
    };
    const bool wmv_bold = marks.rule != "emv";
    polyline([&](const TracePoint& t) { return log_of(t.wmv); }, sy, "#6c3483", wmv_bold ? "none" : "2 2");
    polyline([&](const TracePoint& t) { return log_of(t.emv); }, sy, "#d68910", wmv_bold ? "2 2" : "none");
    os << "<text x=\"" << left + 8 << "\" y=\"" << sig_top + 14 << "\" fill=\"#6c3483\">wmv"
       << (marks.rule == "wmv" ? " (the rule)" : "") << "</text><text x=\"" << left + 130 << "\" y=\""
       << sig_top + 14 << "\" fill=\"#d68910\">emv" << (marks.rule == "emv" ? " (the rule)" : "")
       << "</text>\n";
  }
  // t* and the oracle: vertical lines through both panels, labelled at the top.
  auto vmark = [&](int iter, const char* colour, const std::string& label, double dy) {
    os << "<line x1=\"" << px(iter) << "\" y1=\"" << top << "\" x2=\"" << px(iter) << "\" y2=\"" << x_axis
       << "\" stroke=\"" << colour << "\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/><text x=\""
       << px(iter) + 4 << "\" y=\"" << top + 14 + dy << "\" fill=\"" << colour << "\">" << label << "</text>\n";
  };
  if (marks.oracle_iter) vmark(*marks.oracle_iter, "#117a65", "best PSNR (" + std::to_string(*marks.oracle_iter) + ")", 0);
  if (marks.t_star) vmark(*marks.t_star, "#b03a2e", "t* (" + std::to_string(*marks.t_star) + ")", 16);
  os << "</svg>\n";
  return os.str();
}

std::string report_html(const RunMetrics& m, const std::string& summary, const std::vector<ReportImage>& images) {
  auto db = [](const std::optional<double>& v) { return v ? fmt("%.2f dB", *v) : std::string("&ndash;"); };
  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>dip " << escape_html(m.task)
     << "</title>\n<style>\n"
     << "body{font-family:sans-serif;margin:24px;color:#222}\n"
     << "figure{display:inline-block;margin:0 12px 12px 0;vertical-align:top}\n"
     << "figure img{width:320px;image-rendering:pixelated;border:1px solid #ccc}\n"
     << "figcaption{text-align:center;font-size:14px}\n"
     << "td{padding:2px 14px 2px 0}\n"
     << "</style></head><body>\n"
     << "<h1>dip " << escape_html(m.task) << "</h1>\n<p>" << escape_html(summary) << "</p>\n<div>\n";
  for (const ReportImage& im : images)
    os << "<figure><img src=\"" << escape_html(im.file) << "\" alt=\"" << escape_html(im.caption)
       << "\"><figcaption>" << escape_html(im.caption) << "</figcaption></figure>\n";
  os << "</div>\n<img src=\"curve.svg\" alt=\"PSNR and loss against iterations\">\n<table>\n"
     << "<tr><td>network</td><td>" << escape_html(m.net) << " (" << m.parameters << " parameters)</td></tr>\n"
     << "<tr><td>device</td><td>" << escape_html(m.device) << " (" << escape_html(m.precision) << ")</td></tr>\n"
     << "<tr><td>iterations</td><td>" << m.iters << (m.interrupted ? " (interrupted)" : "") << "</td></tr>\n"
     << "<tr><td>time</td><td>" << fmt("%.1f s", m.seconds) << ", " << fmt("%.1f ms/iteration", m.ms_per_iter)
     << "</td></tr>\n"
     << "<tr><td>size</td><td>" << m.width << "x" << m.height << "</td></tr>\n"
     << "<tr><td>observed PSNR</td><td>" << db(m.observed_psnr) << "</td></tr>\n"
     << "<tr><td>final PSNR</td><td>" << db(m.final_psnr) << "</td></tr>\n"
     << "<tr><td>EMA PSNR</td><td>" << db(m.avg_psnr) << "</td></tr>\n"
     << "<tr><td>best PSNR</td><td>" << db(m.best_psnr)
     << (m.best_psnr ? " at iteration " + std::to_string(m.best_iter) : std::string()) << "</td></tr>\n"
     << "<tr><td>stopping</td><td>" << escape_html(stop_text(m)) << "</td></tr>\n"
     << "<tr><td>returned (" << escape_html(m.stop.stream) << ")</td><td>" << db(m.stop.returned_psnr)
     << "</td></tr>\n"
     << "<tr><td>oracle</td><td>" << db(m.stop.oracle_psnr)
     << (m.stop.oracle_psnr ? " at iteration " + std::to_string(m.stop.oracle_iter) : std::string())
     << (m.stop.gap_db() ? fmt(" (gap %.2f dB)", *m.stop.gap_db()) : std::string()) << "</td></tr>\n"
     << "<tr><td>seed</td><td>" << m.seed << "</td></tr>\n"
     << "</table>\n<p>Numbers: <a href=\"metrics.json\">metrics.json</a></p>\n</body></html>\n";
  return os.str();
}

}  // namespace dip::apps
