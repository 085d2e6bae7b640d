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
};

}  // namespace dip::apps
