#include "apps/lib/study_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "apps/lib/atomic_file.h"
#include "apps/lib/json.h"
#include "apps/lib/report.h"
#include "apps/lib/user_error.h"

namespace fs = std::filesystem;

namespace dip::apps {

const RuleResult& StreamResult::rule(const std::string& name) const {
  for (const RuleResult& r : rules)
    if (r.rule == name) return r;
  DIP_CHECK(false, "StreamResult: no rule '", name, "'");
  return rules.front();  // unreachable
}

int StudyReport::split_runs(const std::string& split) const {
  return int(std::count_if(runs.begin(), runs.end(), [&](const StudyRun& r) { return r.split == split; }));
}

namespace {

// ======== reading ========

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  DIP_USER_CHECK(f, "cannot read '", path, "'");
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

// A number, or nothing for null, a missing key or a non-finite value.
std::optional<double> optional_number(const JsonValue* v) {
  if (!v || v->is_null()) return std::nullopt;
  const double x = v->number();
  return std::isfinite(x) ? std::optional<double>(x) : std::nullopt;
}

int int_or(const JsonValue& object, const char* key, int fallback) {
  const JsonValue* v = object.find(key);
  return v && !v->is_null() ? v->integer() : fallback;
}

std::vector<std::string> strings_of(const JsonValue* v) {
  std::vector<std::string> out;
  if (v)
    for (const JsonValue& s : v->array()) out.push_back(s.text());
  return out;
}

// study.json's "stop" object; a missing key keeps StopOptions' default.
StopOptions read_stop_options(const JsonValue* j) {
  StopOptions o;
  if (!j) return o;
  o.window = int_or(*j, "window", o.window);
  o.patience = int_or(*j, "patience", o.patience);
  o.min_iter = int_or(*j, "min_iter", o.min_iter);
  o.check_every = int_or(*j, "check_every", o.check_every);
  if (auto a = optional_number(j->find("emv_alpha"))) o.emv_alpha = float(*a);
  return o;
}

StudySettings settings_from_json(const JsonValue& j) {
  StudySettings s;
  s.iters = j.at("iters").integer();
  s.task = j.find("task") ? j.at("task").text() : "";
  s.net = j.find("net") ? j.at("net").text() : "";
  s.size = int_or(j, "size", 0);
  s.every = int_or(j, "every", 0);
  s.paper_iters = int_or(j, "paper_iters", s.iters);
  s.planned_runs = int_or(j, "runs", 0);
  if (const JsonValue* seeds = j.find("seeds"))
    for (const JsonValue& v : seeds->array()) s.seeds.push_back(v.integer());
  if (const JsonValue* tv = j.find("tv"))
    for (const JsonValue& v : tv->array()) s.tv.push_back(v.number());
  s.stop = read_stop_options(j.find("stop"));
  if (const JsonValue* options = j.find("task_options"))
    for (const auto& [key, value] : options->members())
      s.task_options.emplace_back(key, value.is_number() ? json_number(value.number()) : value.text());
  s.train_images = strings_of(j.find("train"));
  s.test_images = strings_of(j.find("test"));
  return s;
}

StudySettings read_settings(const std::string& study_dir) {
  const std::string path = study_dir + "/study.json";
  DIP_USER_CHECK(fs::is_regular_file(path), "study report: '", study_dir,
                 "' has no study.json; give the directory `dip study` wrote");
  StudySettings s;
  try {
    s = settings_from_json(parse_json(read_text(path)));
  } catch (const JsonError& e) {  // malformed, or a key of the wrong type: name the file
    throw UserError(path + ": " + e.what());
  }
  DIP_USER_CHECK(s.iters >= 1 && s.paper_iters >= 1, path, ": \"iters\" and \"paper_iters\" must be at least 1");
  const std::string bad = check_stop_options(s.stop);
  DIP_USER_CHECK(bad.empty(), path, ": \"stop\": ", bad);
  return s;
}

TracePoint read_trace_point(const JsonValue& j) {
  TracePoint t;
  t.iter = j.at("iter").integer();
  t.loss = optional_number(j.find("loss")).value_or(0.0);
  t.psnr = optional_number(j.find("psnr"));
  t.psnr_avg = optional_number(j.find("psnr_avg"));
  t.mse = optional_number(j.find("mse"));
  t.mse_avg = optional_number(j.find("mse_avg"));
  t.wmv = optional_number(j.find("wmv"));
  t.emv = optional_number(j.find("emv"));
  return t;
}

StudyRun read_run(const JsonValue& j) {
  StudyRun r;
  r.id = j.at("id").text();
  r.split = j.at("split").text();
  DIP_USER_CHECK(r.split == "train" || r.split == "test", "split \"", r.split, "\" is neither train nor test");
  r.image = j.at("image").text();
  r.seed = j.at("seed").integer();
  r.tv = j.at("tv").number();
  const JsonValue& m = j.at("metrics");
  r.ms_per_iter = optional_number(m.find("ms_per_iter")).value_or(0.0);
  for (const JsonValue& p : m.at("trace").array()) {
    r.trace.push_back(read_trace_point(p));
    DIP_USER_CHECK(r.trace.size() == 1 || r.trace.back().iter > r.trace[r.trace.size() - 2].iter,
                   "the trace's iterations are not increasing at ", r.trace.back().iter);
  }
  DIP_USER_CHECK(!r.trace.empty(), "the trace is empty");
  return r;
}

// The finished runs in STUDY/runs/*.json, by file name; the others become warnings.
void read_runs(const std::string& study_dir, StudyReport& report) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(study_dir + "/runs", ec))
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    const std::string name = "runs/" + file.filename().string();
    try {
      const JsonValue j = parse_json(read_text(file.string()));
      const JsonValue* done = j.find("done");
      if (!done || done->type() != JsonValue::Type::Bool || !done->boolean()) {
        report.warnings.push_back("skipped " + name + ": not finished (no \"done\": true)");
        continue;
      }
      report.runs.push_back(read_run(j));
    } catch (const UserError& e) {  // JsonError included
      report.warnings.push_back("skipped " + name + ": " + e.what());
    }
  }
  // Runs whose input could not be used (`dip study run` wrote why).
  std::vector<fs::path> failed;
  for (const auto& e : fs::directory_iterator(study_dir + "/runs", ec))
    if (e.is_regular_file() && e.path().extension() == ".failed") failed.push_back(e.path());
  std::sort(failed.begin(), failed.end());
  for (const fs::path& file : failed) {
    std::string why = read_text(file.string());
    while (!why.empty() && why.back() == '\n') why.pop_back();
    report.warnings.push_back("failed " + file.stem().string() + ": " + why);
  }
}

// ======== analysis ========

// A run's stream: its points with a finite PSNR (MSE from the PSNR where the trace lacks it).
struct StreamPoint {
  int iter;
  double psnr, mse;
};
using StreamPoints = std::vector<StreamPoint>;

StreamPoints stream_points(const StudyRun& run, bool ema) {
  StreamPoints points;
  for (const TracePoint& t : run.trace) {
    const std::optional<double>& psnr = ema ? t.psnr_avg : t.psnr;
    const std::optional<double>& mse = ema ? t.mse_avg : t.mse;
    if (psnr) points.push_back({t.iter, *psnr, mse ? *mse : std::pow(10.0, -*psnr / 10.0)});
  }
  return points;
}

// The last point at or before `iter` (the first point when all come later).
const StreamPoint& point_at(const StreamPoints& points, int iter) {
  auto after = std::upper_bound(points.begin(), points.end(), iter,
                                [](int it, const StreamPoint& p) { return it < p.iter; });
  return after == points.begin() ? points.front() : *(after - 1);
}

// The oracle: the best PSNR (the earliest, on ties).
const StreamPoint& best_point(const StreamPoints& points) {
  return *std::max_element(points.begin(), points.end(),
                           [](const StreamPoint& a, const StreamPoint& b) { return a.psnr < b.psnr; });
}

RuleOnRun outcome(size_t run, const StreamPoints& points, const StreamPoint& out, int stop_iter) {
  return {run, out.psnr, out.mse, best_point(points).psnr - out.psnr, stop_iter, out.iter};
}

// wmv or emv replayed on the run's recorded signal: the output of t* (the last point without
// one); the run ends where the rule fires, or at its last iteration when it never does.
RuleOnRun replay_rule(const StudyRun& run, size_t index, const StreamPoints& points, const StopOptions& options,
                      bool emv) {
  std::vector<std::pair<int, double>> signal;
  for (const TracePoint& t : run.trace)
    if (const std::optional<double>& v = emv ? t.emv : t.wmv) signal.emplace_back(t.iter, *v);
  const StopReplay r = replay_stop_rule(options, signal);
  const StreamPoint& out = r.best_iter ? point_at(points, *r.best_iter) : points.back();
  return outcome(index, points, out, r.fired ? r.stopped_at : run.trace.back().iter);
}

// The runs of one setting that have the stream, as (index into report.runs, points).
using SettingRuns = std::vector<std::pair<size_t, StreamPoints>>;

// The mean PSNR per iteration over the split's runs, at the iterations all of them have.
std::vector<std::pair<int, double>> mean_curve(const StudyReport& report, const SettingRuns& runs,
                                               const std::string& split) {
  std::map<int, std::pair<double, int>> sums;  // iteration -> (PSNR sum, runs)
  int n = 0;
  for (const auto& [index, points] : runs) {
    if (report.runs[index].split != split) continue;
    ++n;
    for (const StreamPoint& p : points) sums[p.iter].first += p.psnr, sums[p.iter].second += 1;
  }
  std::vector<std::pair<int, double>> curve;
  for (const auto& [iter, sum] : sums)
    if (sum.second == n) curve.emplace_back(iter, sum.first / n);
  return curve;
}

// T*: where the curve peaks (the earliest peak on ties).
std::optional<int> curve_peak(const std::vector<std::pair<int, double>>& curve) {
  if (curve.empty()) return std::nullopt;
  return std::max_element(curve.begin(), curve.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
}

RuleSummary summarise(const StudyReport& report, const std::vector<RuleOnRun>& outcomes, const std::string& split) {
  const double n_fixed = report.fixed_iters;
  RuleSummary s;
  for (const RuleOnRun& o : outcomes) {
    const StudyRun& run = report.runs[o.run];
    if (run.split != split) continue;
    ++s.runs;
    s.psnr += o.psnr, s.mse += o.mse, s.gap += o.gap, s.stop_iter += o.stop_iter;
    s.within_1db += o.gap <= 1.0 + 1e-9;  // tolerance: gaps written to JSON and read back
    s.worst_gap = std::max(s.worst_gap, o.gap);
    s.saved_seconds += (n_fixed - (o.stop_iter + 1)) * run.ms_per_iter / 1000.0;
  }
  if (s.runs == 0) return s;
  for (double* mean : {&s.psnr, &s.mse, &s.gap, &s.within_1db, &s.stop_iter, &s.saved_seconds}) *mean /= s.runs;
  s.saved_pct = 100.0 * (1.0 - (s.stop_iter + 1.0) / n_fixed);
  return s;
}

std::string setting_name(double tv) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "tv%g", tv);
  return buf;
}

RuleResult rule_named(const std::string& rule, const std::string& label) {
  RuleResult r;
  r.rule = rule, r.label = label;
  return r;
}

StreamResult analyse_stream(const StudyReport& report, double tv, bool ema) {
  StreamResult s;
  s.tv = tv, s.setting = setting_name(tv), s.stream = ema ? "ema" : "raw";
  SettingRuns runs;
  for (size_t i = 0; i < report.runs.size(); ++i)
    if (report.runs[i].tv == tv)
      if (StreamPoints p = stream_points(report.runs[i], ema); !p.empty()) runs.emplace_back(i, std::move(p));
  s.train_curve = mean_curve(report, runs, "train");
  s.test_curve = mean_curve(report, runs, "test");
  s.t_star = curve_peak(s.train_curve);

  const int last = report.fixed_iters - 1;
  RuleResult fixed = rule_named("fixed", "fixed (" + std::to_string(report.fixed_iters) + ")");
  RuleResult learned =
      rule_named("learned", s.t_star ? "learned (T* = " + std::to_string(*s.t_star) + ")" : "learned (no T*)");
  RuleResult wmv = rule_named("wmv", "wmv"), emv = rule_named("emv", "emv"), oracle = rule_named("oracle", "oracle");
  for (const auto& [i, points] : runs) {
    fixed.runs.push_back(outcome(i, points, point_at(points, last), last));
    if (s.t_star) learned.runs.push_back(outcome(i, points, point_at(points, *s.t_star), *s.t_star));
    wmv.runs.push_back(replay_rule(report.runs[i], i, points, report.study.stop, false));
    emv.runs.push_back(replay_rule(report.runs[i], i, points, report.study.stop, true));
    const StreamPoint& best = best_point(points);
    oracle.runs.push_back(outcome(i, points, best, best.iter));
  }
  s.rules = {fixed, learned, wmv, emv, oracle};
  for (RuleResult& r : s.rules) {
    r.train = summarise(report, r.runs, "train");
    r.test = summarise(report, r.runs, "test");
  }
  return s;
}

// study.json's TV weights first, then any other a run used.
std::vector<double> settings_of(const StudyReport& report) {
  std::vector<double> tvs;
  for (double tv : report.study.tv)
    if (std::find(tvs.begin(), tvs.end(), tv) == tvs.end()) tvs.push_back(tv);
  for (const StudyRun& r : report.runs)
    if (std::find(tvs.begin(), tvs.end(), r.tv) == tvs.end()) tvs.push_back(r.tv);
  return tvs;
}

}  // namespace

StudyReport analyse_study(const std::string& study_dir, const StopOverrides& overrides) {
  StudyReport report;
  report.study = read_settings(study_dir);
  // The rules' patience and floor only matter when a trace is replayed: they can be changed here.
  if (overrides.patience) report.study.stop.patience = *overrides.patience;
  if (overrides.min_iter) report.study.stop.min_iter = *overrides.min_iter;
  report.fixed_iters = std::min(report.study.paper_iters, report.study.iters);
  read_runs(study_dir, report);
  DIP_USER_CHECK(!report.runs.empty(), "study report: no finished runs in '", study_dir, "/runs' (",
                 report.warnings.size(), " run files skipped)");
  bool has_ema = false;
  for (const StudyRun& r : report.runs)
    for (const TracePoint& t : r.trace) has_ema = has_ema || t.psnr_avg.has_value();
  for (double tv : settings_of(report))
    for (bool ema : {true, false}) {
      if (ema && !has_ema) continue;
      StreamResult s = analyse_stream(report, tv, ema);
      if (!s.rules.front().runs.empty()) report.results.push_back(std::move(s));  // the setting has runs
    }
  DIP_USER_CHECK(!report.results.empty(), "study report: no finished run in '", study_dir,
                 "' has PSNR values in its trace");
  return report;
}

namespace {

// ======== text: tables, CSV, JSON ========

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string numbers_text(const std::vector<double>& v) {
  std::vector<std::string> items;
  for (double x : v) items.push_back(fmt("%g", x));
  return join(items, ", ");
}

// The study in a few lines, for report.md and study.html.
std::vector<std::string> header_lines(const StudyReport& report) {
  const StudySettings& s = report.study;
  const StopOptions& o = s.stop;
  std::vector<std::string> options;
  for (const auto& [k, v] : s.task_options) options.push_back(k + "=" + v);
  std::vector<double> seeds(s.seeds.begin(), s.seeds.end());
  std::vector<std::string> lines = {
      "task: " + s.task + (options.empty() ? "" : " (" + join(options, ", ") + ")") + ", net " + s.net + ", " +
          std::to_string(s.size) + " px",
      "iterations: " + std::to_string(s.iters) + " per run, traced every " + std::to_string(s.every) +
          "; fixed count N = " + std::to_string(report.fixed_iters) +
          (s.paper_iters > s.iters ? " (the paper's " + std::to_string(s.paper_iters) + ", cut to the runs' length)"
                                   : " (the paper's)"),
      "stopping rules: window " + std::to_string(o.window) + ", patience " + std::to_string(o.patience) +
          ", floor " + std::to_string(o.min_iter) + ", checked every " + std::to_string(o.check_every) +
          ", emv alpha " + fmt("%g", o.emv_alpha),
      "settings: TV weight " + numbers_text(s.tv) + "; seeds " + numbers_text(seeds),
      "train images: " + join(s.train_images, ", ") + "; test images: " + join(s.test_images, ", "),
      "runs: " + std::to_string(s.planned_runs) + " planned, " + std::to_string(report.split_runs("train")) +
          " train and " + std::to_string(report.split_runs("test")) + " test finished, " +
          std::to_string(report.warnings.size()) + " skipped"};
  return lines;
}

const char* kLegend =
    "PSNR and MSE: means over the runs; gap: the run's best PSNR over the trace (the oracle) minus the rule's, "
    "dB; within 1 dB: the share of runs with a gap of at most 1 dB; stop: the mean iteration the run ends at; "
    "saved: time against running N iterations (share, then seconds per run).";

const std::vector<std::string> kSummaryColumns = {"PSNR", "MSE", "gap", "within 1 dB", "worst gap", "stop", "saved"};

std::vector<std::string> summary_cells(const RuleSummary& s) {
  if (s.runs == 0) return std::vector<std::string>(kSummaryColumns.size(), "-");
  return {fmt("%.2f", s.psnr),          fmt("%#.3g", s.mse),       fmt("%.2f", s.gap),
          fmt("%.0f%%", 100 * s.within_1db), fmt("%.2f", s.worst_gap), fmt("%.0f", s.stop_iter),
          fmt("%.0f%%", s.saved_pct) + " / " + fmt("%.0f s", s.saved_seconds)};
}

// One row per rule: the test columns, then the train columns.
std::vector<std::vector<std::string>> table(const StreamResult& s) {
  std::vector<std::string> head = {"rule"};
  for (const char* split : {"test", "train"})
    for (const std::string& c : kSummaryColumns) head.push_back(std::string(split) + " " + c);
  std::vector<std::vector<std::string>> rows = {head};
  for (const RuleResult& r : s.rules) {
    std::vector<std::string> row = {r.label};
    for (const RuleSummary* split : {&r.test, &r.train})
      for (std::string& c : summary_cells(*split)) row.push_back(std::move(c));
    rows.push_back(row);
  }
  return rows;
}

std::string t_star_text(const StreamResult& s) {
  if (!s.t_star) return "No T*: this setting has no finished train runs.";
  const RuleResult& l = s.rule("learned");
  std::string t = "T* = " + std::to_string(*s.t_star) + " learned on train (mean train PSNR " +
                  fmt("%.2f dB", l.train.psnr) + "); its gap to the oracle is " + fmt("%.2f dB", l.train.gap) +
                  " on train";
  if (l.test.runs == 0) return t + "; no test runs.";
  return t + " and " + fmt("%.2f dB", l.test.gap) + " on test (test - train: " +
         fmt("%+.2f dB", l.test.gap - l.train.gap) + ").";
}

std::string title(const StreamResult& s) { return s.setting + ", " + s.stream + " stream"; }

std::string report_markdown(const StudyReport& report) {
  std::ostringstream os;
  os << "# dip study report\n\n";
  for (const std::string& line : header_lines(report)) os << "- " << line << "\n";
  os << "\n" << kLegend << "\n";
  for (const StreamResult& s : report.results) {
    os << "\n## " << title(s) << "\n\n" << t_star_text(s) << "\n\n";
    const auto rows = table(s);
    for (size_t i = 0; i < rows.size(); ++i) {
      os << "| " << join(rows[i], " | ") << " |\n";
      if (i == 0) os << "|" << join(std::vector<std::string>(rows[0].size(), "---"), "|") << "|\n";
    }
  }
  if (!report.warnings.empty()) {
    os << "\n## Skipped run files\n\n";
    for (const std::string& w : report.warnings) os << "- " << w << "\n";
  }
  return os.str();
}

// One field of a results row: text, or a number (JSON's form; "null" when missing).
struct Cell {
  std::string key, value;
  bool is_text;
};
using Row = std::vector<Cell>;

Cell text_cell(const std::string& key, const std::string& v) { return {key, v, true}; }
Cell number_cell(const std::string& key, std::optional<double> v) { return {key, v ? json_number(*v) : "null", false}; }

std::vector<Row> result_rows(const StudyReport& report) {
  std::vector<Row> rows;
  for (const StreamResult& s : report.results)
    for (const RuleResult& r : s.rules)
      for (const char* split : {"train", "test"}) {
        const RuleSummary& m = std::string(split) == "train" ? r.train : r.test;
        auto value = [&](double v) { return m.runs ? std::optional<double>(v) : std::nullopt; };
        rows.push_back({text_cell("split", split), text_cell("setting", s.setting), number_cell("tv", s.tv),
                        text_cell("stream", s.stream), text_cell("rule", r.rule), text_cell("label", r.label),
                        number_cell("runs", m.runs), number_cell("psnr", value(m.psnr)),
                        number_cell("mse", value(m.mse)), number_cell("gap", value(m.gap)),
                        number_cell("within_1db", value(m.within_1db)), number_cell("worst_gap", value(m.worst_gap)),
                        number_cell("stop_iter", value(m.stop_iter)), number_cell("saved_pct", value(m.saved_pct)),
                        number_cell("saved_seconds", value(m.saved_seconds)),
                        number_cell("t_star", s.t_star ? std::optional<double>(*s.t_star) : std::nullopt)});
      }
  return rows;
}

std::vector<Row> run_rows(const StudyReport& report) {
  std::vector<Row> rows;
  for (const StreamResult& s : report.results)
    for (const RuleResult& r : s.rules)
      for (const RuleOnRun& o : r.runs) {
        const StudyRun& run = report.runs[o.run];
        rows.push_back({text_cell("split", run.split), text_cell("image", run.image), number_cell("seed", run.seed),
                        text_cell("setting", s.setting), text_cell("stream", s.stream), text_cell("rule", r.rule),
                        number_cell("psnr", o.psnr), number_cell("mse", o.mse), number_cell("gap", o.gap),
                        number_cell("stop_iter", o.stop_iter), number_cell("output_iter", o.output_iter)});
      }
  return rows;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string rows_csv(const std::vector<Row>& rows) {
  std::ostringstream os;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::vector<std::string> keys, values;
    for (const Cell& c : rows[i]) {
      keys.push_back(c.key);
      values.push_back(c.is_text ? csv_field(c.value) : c.value == "null" ? "" : c.value);
    }
    if (i == 0) os << join(keys, ",") << "\n";
    os << join(values, ",") << "\n";
  }
  return os.str();
}

std::string row_json(const Row& row) {
  std::vector<std::string> fields;
  for (const Cell& c : row) fields.push_back(json_quote(c.key) + ": " + (c.is_text ? json_quote(c.value) : c.value));
  return "{" + join(fields, ", ") + "}";
}

std::string curve_json(const std::vector<std::pair<int, double>>& curve) {
  std::vector<std::string> points;
  for (const auto& [iter, psnr] : curve) points.push_back("[" + std::to_string(iter) + ", " + json_number(psnr) + "]");
  return "[" + join(points, ", ") + "]";
}

std::string results_json(const StudyReport& report) {
  std::ostringstream os;
  const StudySettings& s = report.study;
  std::vector<std::string> warnings, rows, curves;
  for (const std::string& w : report.warnings) warnings.push_back(json_quote(w));
  for (const Row& row : result_rows(report)) rows.push_back(row_json(row));
  for (const StreamResult& r : report.results)
    curves.push_back("{\"setting\": " + json_quote(r.setting) + ", \"tv\": " + json_number(r.tv) +
                     ", \"stream\": " + json_quote(r.stream) +
                     ", \"t_star\": " + (r.t_star ? std::to_string(*r.t_star) : "null") +
                     ",\n     \"train\": " + curve_json(r.train_curve) +
                     ",\n     \"test\": " + curve_json(r.test_curve) + "}");
  os << "{\n  \"study\": {\"task\": " << json_quote(s.task) << ", \"net\": " << json_quote(s.net)
     << ", \"iters\": " << s.iters << ", \"fixed_iters\": " << report.fixed_iters
     << ", \"train_runs\": " << report.split_runs("train") << ", \"test_runs\": " << report.split_runs("test")
     << "},\n  \"warnings\": [" << join(warnings, ", ") << "],\n  \"results\": [\n    " << join(rows, ",\n    ")
     << "\n  ],\n  \"curves\": [\n    " << join(curves, ",\n    ") << "\n  ]\n}\n";
  return os.str();
}

// ======== plots (SVG by hand, as report.cpp does) ========

// escape_html and tick_step: apps/lib/report.h.

const char* rule_colour(const std::string& rule) {
  if (rule == "learned") return "#b03a2e";
  if (rule == "wmv") return "#6c3483";
  if (rule == "emv") return "#d68910";
  if (rule == "oracle") return "#117a65";
  return "#555555";
}

// A plot's frame: the drawing area [left, left + w] x [top, top + h] inside a W x H picture.
struct Frame {
  double W, H, left, top, w, h;
};

std::string svg_open(const Frame& f) {
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << f.W << "\" height=\"" << f.H << "\" viewBox=\"0 0 "
     << f.W << " " << f.H << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<rect x=\"" << f.left << "\" y=\"" << f.top
     << "\" width=\"" << f.w << "\" height=\"" << f.h << "\" fill=\"none\" stroke=\"#888\"/>\n";
  return os.str();
}

// Horizontal grid lines and labels for values lo..hi mapped by `y`, plus the axis title.
template <class Y>
std::string y_axis(const Frame& f, double lo, double hi, Y y, const std::string& label) {
  std::ostringstream os;
  const double step = tick_step(hi - lo, 6);
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9; v += step)
    os << "<line x1=\"" << f.left << "\" y1=\"" << y(v) << "\" x2=\"" << f.left + f.w << "\" y2=\"" << y(v)
       << "\" stroke=\"#eee\"/><text x=\"" << f.left - 6 << "\" y=\"" << y(v) + 4 << "\" text-anchor=\"end\">"
       << fmt("%g", v) << "</text>\n";
  os << "<text transform=\"translate(16," << f.top + f.h / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << label
     << "</text>\n";
  return os.str();
}

// A legend entry at the top, left to right.
std::string legend_entry(double& x, double y, const std::string& swatch, const std::string& label) {
  std::ostringstream os;
  os << "<g transform=\"translate(" << x << "," << y << ")\">" << swatch << "<text x=\"26\" y=\"4\">"
     << escape_html(label) << "</text></g>\n";
  x += 40 + 7 * label.size();
  return os.str();
}

std::string line_swatch(const char* colour, const char* dash) {
  return std::string("<line x1=\"0\" y1=\"0\" x2=\"22\" y2=\"0\" stroke=\"") + colour +
         "\" stroke-width=\"2\" stroke-dasharray=\"" + dash + "\"/>";
}

// The split whose mean stops the curve marks: test, or train when there is no test run.
const RuleSummary& marked_summary(const RuleResult& r) { return r.test.runs ? r.test : r.train; }

std::string curve_svg(const StreamResult& s, int last_iter) {
  const Frame f{720, 420, 60, 60, 640, 315};
  std::ostringstream os;
  os << svg_open(f);
  double lo = 1e300, hi = -1e300;
  for (const auto* c : {&s.train_curve, &s.test_curve})
    for (const auto& p : *c) lo = std::min(lo, p.second), hi = std::max(hi, p.second);
  if (lo > hi)
    return os.str() + "<text x=\"360\" y=\"200\" text-anchor=\"middle\">no common iterations</text>\n</svg>\n";
  const double pad = std::max(0.5, 0.05 * (hi - lo));
  lo = std::floor(lo - pad), hi = std::ceil(hi + pad);
  const double x_max = std::max(1, last_iter);
  auto px = [&](double it) { return f.left + f.w * it / x_max; };
  auto py = [&](double v) { return f.top + f.h * (1 - (v - lo) / (hi - lo)); };

  const double xs = tick_step(x_max, 8);
  for (double v = 0; v <= x_max + 1e-9; v += xs)
    os << "<text x=\"" << px(v) << "\" y=\"" << f.top + f.h + 16 << "\" text-anchor=\"middle\">" << v << "</text>\n";
  os << "<text x=\"" << f.left + f.w / 2 << "\" y=\"" << f.H - 8 << "\" text-anchor=\"middle\">iteration</text>\n"
     << y_axis(f, lo, hi, py, "mean PSNR (dB), " + s.stream + " stream");

  auto polyline = [&](const std::vector<std::pair<int, double>>& curve, const char* colour) {
    os << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"1.8\" points=\"";
    for (const auto& [iter, psnr] : curve) os << fmt("%.1f", px(iter)) << "," << fmt("%.1f", py(psnr)) << " ";
    os << "\"/>\n";
  };
  polyline(s.train_curve, "#1f5fbf");
  polyline(s.test_curve, "#e67e22");

  // T* and the rules' mean stops: vertical lines, labels stacked from the top.
  double dy = 14;
  auto vmark = [&](double iter, const char* colour, const std::string& label) {
    os << "<line x1=\"" << px(iter) << "\" y1=\"" << f.top << "\" x2=\"" << px(iter) << "\" y2=\"" << f.top + f.h
       << "\" stroke=\"" << colour << "\" stroke-width=\"1.3\" stroke-dasharray=\"5 3\"/><text x=\"" << px(iter) + 3
       << "\" y=\"" << f.top + dy << "\" fill=\"" << colour << "\">" << escape_html(label) << "</text>\n";
    dy += 14;
  };
  if (s.t_star) vmark(*s.t_star, rule_colour("learned"), "T* " + std::to_string(*s.t_star));
  for (const RuleResult& r : s.rules)
    if (r.rule != "learned" && marked_summary(r).runs)
      vmark(marked_summary(r).stop_iter, rule_colour(r.rule), r.rule + fmt(" %.0f", marked_summary(r).stop_iter));

  double lx = f.left;
  os << legend_entry(lx, 20, line_swatch("#1f5fbf", "none"), "train mean")
     << legend_entry(lx, 20, line_swatch("#e67e22", "none"), "test mean");
  const bool on_test = s.rules.front().test.runs > 0;
  os << legend_entry(lx, 20, line_swatch("#555555", "5 3"),
                     std::string("T*, and each rule's mean stop on ") + (on_test ? "test" : "train"));
  return os.str() + "</svg>\n";
}

std::string gaps_svg(const StudyReport& report, const StreamResult& s) {
  const Frame f{720, 380, 60, 50, 640, 280};
  std::ostringstream os;
  os << svg_open(f);
  double hi = 1.5;
  for (const RuleResult& r : s.rules)
    for (const RuleOnRun& o : r.runs) hi = std::max(hi, o.gap);
  hi *= 1.08;
  auto py = [&](double v) { return f.top + f.h * (1 - v / hi); };
  os << y_axis(f, 0, hi, py, "gap to the oracle (dB)") << "<line x1=\"" << f.left << "\" y1=\"" << py(1)
     << "\" x2=\"" << f.left + f.w << "\" y2=\"" << py(1) << "\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n";

  const double col = f.w / s.rules.size();
  for (size_t c = 0; c < s.rules.size(); ++c) {
    const RuleResult& r = s.rules[c];
    const double mid = f.left + col * (c + 0.5);
    os << "<text x=\"" << mid << "\" y=\"" << f.top + f.h + 18 << "\" text-anchor=\"middle\">" << escape_html(r.label)
       << "</text>\n";
    // Train runs left of the column's middle (hollow), test runs right (filled); a fixed jitter.
    int k = 0;
    for (const RuleOnRun& o : r.runs) {
      const bool train = report.runs[o.run].split == "train";
      const double x = mid + (train ? -0.2 : 0.2) * col + ((k++ * 7) % 11 - 5) * col * 0.015;
      os << "<circle cx=\"" << fmt("%.1f", x) << "\" cy=\"" << fmt("%.1f", py(o.gap)) << "\" r=\"3.5\" stroke=\""
         << rule_colour(r.rule) << "\" fill=\"" << (train ? "white" : rule_colour(r.rule)) << "\"/>\n";
    }
    for (const RuleSummary* m : {&r.train, &r.test})
      if (m->runs) {
        const double x = mid + (m == &r.train ? -0.2 : 0.2) * col;
        os << "<line x1=\"" << x - 0.12 * col << "\" y1=\"" << py(m->gap) << "\" x2=\"" << x + 0.12 * col
           << "\" y2=\"" << py(m->gap) << "\" stroke=\"black\" stroke-width=\"2\"/>\n";
      }
  }
  double lx = f.left;
  os << legend_entry(lx, 20, "<circle cx=\"11\" cy=\"0\" r=\"3.5\" stroke=\"#555\" fill=\"white\"/>", "train run")
     << legend_entry(lx, 20, "<circle cx=\"11\" cy=\"0\" r=\"3.5\" stroke=\"#555\" fill=\"#555\"/>", "test run")
     << legend_entry(lx, 20, line_swatch("black", "none"), "mean")
     << legend_entry(lx, 20, line_swatch("#999", "4 3"), "1 dB");
  return os.str() + "</svg>\n";
}

std::string plot_name(const char* kind, const StreamResult& s) {
  return std::string(kind) + "_" + s.setting + "_" + s.stream + ".svg";
}

// ======== study.html ========

std::string table_html(const std::vector<std::vector<std::string>>& rows) {
  std::ostringstream os;
  os << "<table>\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const char* cell = i == 0 ? "th" : "td";
    os << "<tr>";
    for (const std::string& c : rows[i]) os << "<" << cell << ">" << escape_html(c) << "</" << cell << ">";
    os << "</tr>\n";
  }
  return os.str() + "</table>\n";
}

std::string study_html(const StudyReport& report) {
  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>dip study report</title>\n<style>\n"
     << "body{font-family:sans-serif;margin:24px;color:#222}\n"
     << "table{border-collapse:collapse;margin:8px 0 16px}\n"
     << "th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}\n"
     << "th:first-child,td:first-child{text-align:left}\n"
     << "svg{margin:0 12px 12px 0;vertical-align:top}\n"
     << "</style></head><body>\n<h1>dip study report</h1>\n<ul>\n";
  for (const std::string& line : header_lines(report)) os << "<li>" << escape_html(line) << "</li>\n";
  os << "</ul>\n<p>" << escape_html(kLegend) << "</p>\n";
  const int last_iter = report.study.iters - 1;
  for (const StreamResult& s : report.results)
    os << "<h2>" << escape_html(title(s)) << "</h2>\n<p>" << escape_html(t_star_text(s)) << "</p>\n"
       << table_html(table(s)) << "<div>\n" << curve_svg(s, last_iter) << gaps_svg(report, s) << "</div>\n";
  if (!report.warnings.empty()) {
    os << "<h2>Skipped run files</h2>\n<ul>\n";
    for (const std::string& w : report.warnings) os << "<li>" << escape_html(w) << "</li>\n";
    os << "</ul>\n";
  }
  os << "<p>Numbers: <a href=\"results.csv\">results.csv</a>, <a href=\"results.json\">results.json</a>, "
     << "per run: <a href=\"runs.csv\">runs.csv</a></p>\n</body></html>\n";
  return os.str();
}

}  // namespace

void write_study_report(const std::string& study_dir, const StudyReport& report) {
  const std::string out = study_dir + "/report";
  std::error_code ec;
  fs::create_directories(out, ec);
  DIP_USER_CHECK(!ec, "cannot create '", out, "': ", ec.message());
  const int last_iter = report.study.iters - 1;
  // Each file replaced atomically (atomic_file.h): a reader never sees half a report file.
  for (const StreamResult& s : report.results) {
    write_file_atomic(out + "/" + plot_name("curve", s), curve_svg(s, last_iter));
    write_file_atomic(out + "/" + plot_name("gaps", s), gaps_svg(report, s));
  }
  write_file_atomic(out + "/results.csv", rows_csv(result_rows(report)));
  write_file_atomic(out + "/runs.csv", rows_csv(run_rows(report)));
  write_file_atomic(out + "/results.json", results_json(report));
  write_file_atomic(out + "/study.html", study_html(report));
  write_file_atomic(out + "/report.md", report_markdown(report));
}

}  // namespace dip::apps
