#include "apps/lib/progress.h"

#include <algorithm>
#include <cmath>
#include <unistd.h>

namespace dip::apps {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

Progress::Progress(int total, bool quiet, std::FILE* out)
    : Progress(total, quiet ? Style::Quiet : (isatty(fileno(out)) ? Style::Bar : Style::Lines), out) {}

Progress::Progress(int total, Style style, std::FILE* out)
    : total_(std::max(total, 1)),
      style_(style),
      out_(out),
      line_every_(std::max(1, total_ / 10)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

std::string Progress::format_duration(double s) {
  char buf[32];
  const long t = std::lround(std::max(s, 0.0));
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

std::string Progress::status_text(int done, double loss, std::optional<double> psnr,
                                  std::optional<double> psnr_avg) const {
  const double elapsed = seconds_since(start_);
  const double eta = done > 0 ? elapsed / done * (total_ - done) : 0.0;
  char buf[256];
  int n = std::snprintf(buf, sizeof buf, "%d/%d  loss %.5f", done, total_, loss);
  if (psnr) n += std::snprintf(buf + n, sizeof buf - n, "  PSNR %.2f", *psnr);
  if (psnr_avg) n += std::snprintf(buf + n, sizeof buf - n, " (avg %.2f)", *psnr_avg);
  if (!note_.empty()) n += std::snprintf(buf + n, sizeof buf - n, "  %s", note_.c_str());
  std::snprintf(buf + n, sizeof buf - n, "  %s elapsed, ETA %s", format_duration(elapsed).c_str(),
                format_duration(eta).c_str());
  return buf;
}

void Progress::update(int iter, double loss, std::optional<double> psnr,
                      std::optional<double> psnr_avg) {
  const int done = iter + 1;
  if (style_ == Style::Quiet) return;
  // The estimate: the mean of iterations 2..6 (the first one also allocates and warms caches).
  constexpr int kTimed = 5;
  if (estimate_ != Estimate::None && done == 1) first_done_ = std::chrono::steady_clock::now();
  if (estimate_ != Estimate::None && done == 1 + kTimed && total_ > 2 * kTimed) {
    const double per_iter = seconds_since(first_done_) / kTimed;
    if (style_ == Style::Bar) std::fprintf(out_, "\r\033[K");
    std::fprintf(out_, "dip: %.0f ms/iteration: %s%s for %d iterations%s\n", 1e3 * per_iter,
                 estimate_ == Estimate::Cap ? "at most " : "about ", format_duration(per_iter * total_).c_str(),
                 total_, estimate_ == Estimate::Cap ? " (the stopping rule usually ends it sooner)" : "");
    estimate_ = Estimate::None;
  }
  if (style_ == Style::Lines) {
    if (done % line_every_ == 0 || done == total_)
      std::fprintf(out_, "  %s\n", status_text(done, loss, psnr, psnr_avg).c_str());
    std::fflush(out_);
    return;
  }
  // Redraw at most ten times a second, and always on the last iteration.
  if (done != total_ && drawn_ && seconds_since(last_draw_) < 0.1) return;
  last_draw_ = std::chrono::steady_clock::now();
  drawn_ = true;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(static_cast<long>(kWidth) * done / total_);
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  std::fprintf(out_, "\r\033[K[%s] %3d%%  %s", bar.c_str(), 100 * done / total_,
               status_text(done, loss, psnr, psnr_avg).c_str());
  std::fflush(out_);
}

void Progress::finish() {
  if (style_ == Style::Bar && drawn_) std::fprintf(out_, "\n");
  drawn_ = false;
}

}  // namespace dip::apps
