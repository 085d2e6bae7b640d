// `dip study report STUDY`: what a study's runs say about when to stop DIP.
//
// A study (`dip study`) runs DIP on train and test images x seeds x settings (the TV weight) and
// leaves STUDY/study.json and one STUDY/runs/<id>.json per finished run, each with its PSNR trace.
// The report replays every stopping rule on those traces, offline and in seconds:
//
//   fixed (N)   the paper's iteration count N = min(paper_iters, iters): the trace point at N-1
//   learned T*  the iteration where the mean PSNR of the TRAIN runs peaks, applied to every run;
//               its gap on test against train is the honest measure (T* is fitted on train)
//   wmv, emv    the early-stopping rules (stopping.h) on the recorded signals; the output is the
//               point at their t*, the run ends where the rule fires (or at the last iteration)
//   oracle      the run's best PSNR over the trace, which no rule can know; gap = oracle - rule
//
// each for every setting and output stream: "ema" (the EMA of the outputs, psnr_avg) when the
// runs have it, and "raw" (psnr). Results go to STUDY/report/ (see write_study_report).
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apps/lib/metrics.h"
#include "apps/lib/stopping.h"

namespace dip::apps {

// STUDY/study.json.
struct StudySettings {
  std::string task, net;
  int size = 0, iters = 0, every = 0, paper_iters = 0, planned_runs = 0;
  std::vector<int> seeds;
  std::vector<double> tv;
  StopOptions stop;
  std::vector<std::pair<std::string, std::string>> task_options;
  std::vector<std::string> train_images, test_images;
};

// One finished run, from STUDY/runs/<id>.json.
struct StudyRun {
  std::string id, split, image;  // split: "train" or "test"
  int seed = 0;
  double tv = 0.0;
  double ms_per_iter = 0.0;
  std::vector<TracePoint> trace;  // in increasing iteration order
};

// One rule applied to one run, in one stream.
struct RuleOnRun {
  size_t run = 0;          // index into StudyReport::runs
  double psnr = 0.0, mse = 0.0;
  double gap = 0.0;        // the run's oracle PSNR minus `psnr`, dB
  int stop_iter = 0;       // the last iteration the run needs under this rule
  int output_iter = 0;     // the trace point the output comes from
};

// A rule over the runs of one split. `runs` == 0: the split has none (the rest is meaningless).
struct RuleSummary {
  int runs = 0;
  double psnr = 0.0, mse = 0.0, gap = 0.0;  // means
  double within_1db = 0.0;                  // the share of runs (0..1) with a gap of at most 1 dB
  double worst_gap = 0.0;
  double stop_iter = 0.0;                   // mean
  double saved_pct = 0.0;                   // 100 (1 - mean(stop_iter + 1) / N)
  double saved_seconds = 0.0;               // mean per run, from each run's ms per iteration
};

struct RuleResult {
  std::string rule;   // "fixed", "learned", "wmv", "emv", "oracle"
  std::string label;  // for tables: "fixed (3000)", "learned (T* = 40)"
  std::vector<RuleOnRun> runs;  // both splits
  RuleSummary train, test;
};

// The results for one setting (TV weight) and stream.
struct StreamResult {
  double tv = 0.0;
  std::string setting;  // "tv0", "tv0.001": also used in file names
  std::string stream;   // "ema" or "raw"
  std::optional<int> t_star;  // learned on train; empty when the setting has no train runs
  // The mean PSNR per iteration over the split's runs, at the iterations every run has.
  std::vector<std::pair<int, double>> train_curve, test_curve;
  std::vector<RuleResult> rules;  // fixed, learned, wmv, emv, oracle
  const RuleResult& rule(const std::string& name) const;
};

struct StudyReport {
  StudySettings study;
  int fixed_iters = 0;                // N
  std::vector<StudyRun> runs;         // the finished runs, by file name
  std::vector<std::string> warnings;  // one line per run file that was skipped
  std::vector<StreamResult> results;  // by setting (study.json's order), then stream (ema first)
  int split_runs(const std::string& split) const;
};

// Reads STUDY/study.json and STUDY/runs/*.json and evaluates every rule. Run files that do not
// parse or are not done are skipped with a line in `warnings` (the caller prints them). UserError
// when study.json is missing or malformed, or no run has finished.
// The rules' patience and floor can be replayed with other values than study.json's (the signals
// themselves, and so the window, are fixed when the runs are made).
struct StopOverrides {
  std::optional<int> patience, min_iter;
};
StudyReport analyse_study(const std::string& study_dir, const StopOverrides& overrides = {});

// Writes STUDY/report/: report.md, study.html (the tables and the plots), results.csv and
// results.json (one row per split, setting, stream and rule), runs.csv (one row per run and rule),
// and per setting and stream curve_<setting>_<stream>.svg (mean PSNR against iterations, with T*
// and the rules' mean stops) and gaps_<setting>_<stream>.svg (each run's gap, per rule). Each file
// is replaced atomically.
void write_study_report(const std::string& study_dir, const StudyReport& report);

}  // namespace dip::apps
