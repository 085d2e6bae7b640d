// Progress of a long run: a redrawn bar with ETA, loss and PSNR on a terminal; plain periodic
// lines (about every tenth of the run) when stderr is a file or pipe; nothing when quiet.
#pragma once
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

namespace dip::apps {

class Progress {
 public:
  enum class Style { Bar, Lines, Quiet };
  // Style::Bar when `out` is a terminal, else Lines; Quiet when `quiet`.
  Progress(int total, bool quiet, std::FILE* out = stderr);
  Progress(int total, Style style, std::FILE* out);

  // After iteration `iter` (0-based) is done. PSNR values are the latest known (may be stale).
  void update(int iter, double loss, std::optional<double> psnr, std::optional<double> psnr_avg);
  // Ends the bar's line.
  void finish();
  // Text shown after the PSNR from now on (the stopping rule's signal and its t*).
  void set_note(std::string note) { note_ = std::move(note); }
  // After the first few iterations, print once how long the whole run will take at most (the
  // count is a cap when a stopping rule may end the run sooner: `capped`).
  void announce_estimate(bool capped) { estimate_ = capped ? Estimate::Cap : Estimate::Exact; }

  // "1h02m", "3m05s", "12s".
  static std::string format_duration(double seconds);

 private:
  std::string status_text(int done, double loss, std::optional<double> psnr,
                          std::optional<double> psnr_avg) const;

  int total_;
  Style style_;
  std::FILE* out_;
  int line_every_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
  std::string note_;
  enum class Estimate { None, Exact, Cap } estimate_ = Estimate::None;
  std::chrono::steady_clock::time_point first_done_;  // the end of the first iteration
};

}  // namespace dip::apps
