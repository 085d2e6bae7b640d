// `dip study report` (apps/lib/study_report.h) on hand-made studies whose answers are known:
// quadratic PSNR curves put each run's peak, the train mean's peak (T*) and every rule's output
// where we choose, so T*, gaps, stops and savings are exact numbers. Also the JSON reader
// (apps/lib/json.h) the report is built on.
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <optional>

#include "apps/lib/json.h"
#include "apps/lib/study_report.h"
#include "tests/test_apps_util.h"

using namespace dip;
using namespace dip::apps;

namespace {

// ---- writing a study as `dip study` does ----

using Curve = std::function<double(int)>;
using Signal = std::function<std::optional<double>(int)>;

// A PSNR curve peaking at `peak` dB at iteration `at`.
Curve parabola(double peak, int at) {
  return [=](int it) { return peak - ((it - at) / 50.0) * ((it - at) / 50.0); };
}
// A stopping signal with its minimum at `at`, null before `from` (wmv's window not yet full).
Signal valley(int at, int from = 20) {
  return [=](int it) -> std::optional<double> {
    if (it < from) return std::nullopt;
    return 1.0 + ((it - at) / 10.0) * ((it - at) / 10.0);
  };
}
// A signal that keeps falling: its rule never fires.
Signal falling() {
  return [](int it) -> std::optional<double> { return 100.0 - it / 10.0; };
}

struct FakeStudy {
  int iters = 200, every = 10, paper_iters = 150;
  std::vector<double> tv = {0};
  int window = 20, patience = 50, min_iter = 20, check_every = 10;
};

struct FakeRun {
  std::string id, split, image;
  int seed = 0;
  double tv = 0;
  Curve psnr, psnr_avg;  // psnr_avg empty: the task has no EMA
  Signal wmv = valley(60), emv = falling();
  double ms_per_iter = 100;
};

std::string opt(std::optional<double> v) { return v ? json_number(*v) : "null"; }

void write_study_json(const test::ScratchDir& dir, const FakeStudy& s, int runs) {
  std::string tv;
  for (double t : s.tv) tv += (tv.empty() ? "" : ", ") + json_number(t);
  test::write_file(dir / "study.json",
                   "{\"version\": 1, \"task\": \"denoise\", \"net\": \"skip\", \"size\": 64, \"iters\": " +
                       std::to_string(s.iters) + ", \"every\": " + std::to_string(s.every) +
                       ", \"seeds\": [0, 1], \"tv\": [" + tv + "],\n \"paper_iters\": " +
                       std::to_string(s.paper_iters) + ", \"stop\": {\"window\": " + std::to_string(s.window) +
                       ", \"patience\": " + std::to_string(s.patience) + ", \"min_iter\": " +
                       std::to_string(s.min_iter) + ", \"check_every\": " + std::to_string(s.check_every) +
                       ", \"emv_alpha\": 0.1},\n \"task_options\": {\"sigma\": \"25\"}, \"train\": [\"a.png\", "
                       "\"b.png\"], \"test\": [\"c.png\"], \"runs\": " +
                       std::to_string(runs) + "}\n");
}

// Trace points every `every` iterations plus the last one, whose signals are null when it is not
// a check iteration.
std::string trace_json(const FakeStudy& s, const FakeRun& r) {
  std::vector<int> iters;
  for (int it = 0; it < s.iters; it += s.every) iters.push_back(it);
  if (iters.back() != s.iters - 1) iters.push_back(s.iters - 1);
  std::string out;
  for (int it : iters) {
    const bool check = it % s.every == 0;
    const double p = r.psnr(it);
    const std::optional<double> pa = r.psnr_avg ? std::optional<double>(r.psnr_avg(it)) : std::nullopt;
    const auto mse_of = [](std::optional<double> v) {
      return v ? std::optional<double>(std::pow(10.0, -*v / 10)) : std::nullopt;
    };
    out += std::string(out.empty() ? "" : ",\n    ") + "{\"iter\": " + std::to_string(it) +
           ", \"loss\": 0.01, \"psnr\": " + json_number(p) + ", \"psnr_avg\": " + opt(pa) +
           ", \"mse\": " + opt(mse_of(p)) + ", \"mse_avg\": " + opt(mse_of(pa)) +
           ", \"wmv\": " + opt(check ? r.wmv(it) : std::nullopt) +
           ", \"emv\": " + opt(check ? r.emv(it) : std::nullopt) + "}";
  }
  return out;
}

void write_run_json(const test::ScratchDir& dir, const FakeStudy& s, const FakeRun& r, bool done = true) {
  std::filesystem::create_directories(dir / "runs");
  test::write_file(dir / ("runs/" + r.id + ".json"),
                   "{\"id\": " + json_quote(r.id) + ", \"index\": 0, \"split\": " + json_quote(r.split) +
                       ", \"image\": " + json_quote(r.image) + ", \"image_hash\": \"9f1c\", \"seed\": " +
                       std::to_string(r.seed) + ", \"tv\": " + json_number(r.tv) +
                       ", \"done\": " + (done ? "true" : "false") +
                       ",\n \"metrics\": {\"task\": \"denoise\", \"iters\": " + std::to_string(s.iters) +
                       ", \"seconds\": 20.0, \"ms_per_iter\": " + json_number(r.ms_per_iter) +
                       ", \"device\": \"cpu\", \"best_psnr\": 30,\n  \"trace\": [\n    " + trace_json(s, r) + "]}}\n");
}

// The study most tests use: train runs a, b peaking at 30 and 50 (their mean at 40), test run c
// peaking at 100; the EMA stream is the same shape 20 iterations later.
void write_main_study(const test::ScratchDir& dir, bool with_ema = true, const FakeStudy& s = {}, int planned = 3) {
  write_study_json(dir, s, planned);
  auto ema = [&](double peak, int at) { return with_ema ? parabola(peak, at) : Curve(); };
  write_run_json(dir, s, {"train-a-s0-tv0", "train", "a.png", 0, 0, parabola(30, 30), ema(30, 50), valley(60)});
  write_run_json(dir, s, {"train-b-s0-tv0", "train", "b.png", 0, 0, parabola(31, 50), ema(31, 70), valley(60)});
  write_run_json(dir, s, {"test-c-s0-tv0", "test", "c.png", 0, 0, parabola(25, 100), ema(25, 120), valley(80)});
}

// ---- reading the report back ----

// The results.json row for (split, setting, stream, rule).
const JsonValue& result_row(const JsonValue& results, const std::string& split, const std::string& setting,
                            const std::string& stream, const std::string& rule) {
  for (const JsonValue& row : results.at("results").array())
    if (row.at("split").text() == split && row.at("setting").text() == setting &&
        row.at("stream").text() == stream && row.at("rule").text() == rule)
      return row;
  FAIL("no results row ", split, " ", setting, " ", stream, " ", rule);
  throw 0;
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields(1);
  for (char c : line) {
    if (c == ',') fields.emplace_back();
    else fields.back().push_back(c);
  }
  return fields;
}

// runs.csv as one map per row (the test data has no quoted fields).
std::vector<std::map<std::string, std::string>> read_csv(const std::string& path) {
  std::istringstream in(test::read_file(path));
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> head = split_csv_line(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    const std::vector<std::string> f = split_csv_line(line);
    REQUIRE(f.size() == head.size());
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < f.size(); ++i) row[head[i]] = f[i];
    rows.push_back(row);
  }
  return rows;
}

const StreamResult& stream_of(const StudyReport& r, const std::string& setting, const std::string& stream) {
  for (const StreamResult& s : r.results)
    if (s.setting == setting && s.stream == stream) return s;
  FAIL("no stream ", setting, " ", stream);
  throw 0;
}

}  // namespace

TEST_CASE("study report: T*, the rules' gaps and stops on a hand-made study") {
  test::ScratchDir dir;
  write_main_study(dir);
  const StudyReport report = analyse_study(dir.path());
  CHECK(report.warnings.empty());
  CHECK(report.fixed_iters == 150);
  CHECK(report.split_runs("train") == 2);
  CHECK(report.split_runs("test") == 1);
  REQUIRE(report.results.size() == 2);
  CHECK(report.results[0].stream == "ema");  // ema first
  CHECK(report.results[1].stream == "raw");

  // Mean train PSNR 30.5 - ((t-30)^2 + (t-50)^2) / 5000 peaks at 40 (raw), 60 for the EMA.
  const StreamResult& raw = stream_of(report, "tv0", "raw");
  CHECK(raw.t_star == 40);
  CHECK(stream_of(report, "tv0", "ema").t_star == 60);
  CHECK(raw.train_curve.size() == 21);  // 0, 10, ..., 190, and 199
  CHECK(raw.train_curve[4].first == 40);
  CHECK(raw.train_curve[4].second == doctest::Approx(30.46));

  // Learned T* = 40: 0.04 dB from each train run's best; test run c peaks at 100: (60/50)^2 = 1.44.
  const RuleResult& learned = raw.rule("learned");
  CHECK(learned.label == "learned (T* = 40)");
  CHECK(learned.train.gap == doctest::Approx(0.04));
  CHECK(learned.train.within_1db == 1.0);
  CHECK(learned.test.gap == doctest::Approx(1.44));
  CHECK(learned.test.within_1db == 0.0);
  CHECK(learned.test.psnr == doctest::Approx(23.56));
  CHECK(learned.test.mse == doctest::Approx(std::pow(10.0, -2.356)));
  CHECK(learned.test.stop_iter == 40);

  // Fixed N = 150: the point at 140; a: (110/50)^2, b: (90/50)^2, c: (40/50)^2.
  const RuleResult& fixed = raw.rule("fixed");
  CHECK(fixed.train.gap == doctest::Approx((4.84 + 3.24) / 2));
  CHECK(fixed.train.worst_gap == doctest::Approx(4.84));
  CHECK(fixed.test.gap == doctest::Approx(0.64));
  CHECK(fixed.train.stop_iter == 149);
  CHECK(fixed.train.saved_pct == doctest::Approx(0.0));

  // wmv: minimum at 60 (train) and 80 (test), patience 50: stops at 110 and 130; outputs of t*.
  const RuleResult& wmv = raw.rule("wmv");
  CHECK(wmv.train.stop_iter == 110);
  CHECK(wmv.train.gap == doctest::Approx((0.36 + 0.04) / 2));
  CHECK(wmv.train.saved_pct == doctest::Approx(100.0 * (1 - 111.0 / 150)));
  CHECK(wmv.train.saved_seconds == doctest::Approx((150 - 111) * 0.1));
  CHECK(wmv.test.stop_iter == 130);
  CHECK(wmv.test.gap == doctest::Approx(0.16));
  for (const RuleOnRun& o : wmv.runs) CHECK(o.output_iter == o.stop_iter - 50);

  // emv keeps falling to the last check iteration (190; 199's signal is null): it never fires, the
  // run goes to its last iteration and returns the output of 190.
  const RuleResult& emv = raw.rule("emv");
  CHECK(emv.train.stop_iter == 199);
  CHECK(emv.train.saved_pct == doctest::Approx(100.0 * (1 - 200.0 / 150)));
  for (const RuleOnRun& o : emv.runs) CHECK(o.output_iter == 190);
  CHECK(emv.test.gap == doctest::Approx(1.8 * 1.8));  // c's (90/50)^2 at 190

  // The oracle: the run's own best, at 30 and 50 (train), 100 (test).
  const RuleResult& oracle = raw.rule("oracle");
  CHECK(oracle.train.gap == 0.0);
  CHECK(oracle.train.stop_iter == 40);
  CHECK(oracle.test.stop_iter == 100);
  CHECK(oracle.test.psnr == doctest::Approx(25));
}

TEST_CASE("study report: the files, parsed back") {
  test::ScratchDir dir;
  write_main_study(dir);
  write_study_report(dir.path(), analyse_study(dir.path()));
  const std::string out = dir / "report";
  for (const char* f : {"report.md", "study.html", "results.csv", "results.json", "runs.csv", "curve_tv0_ema.svg",
                        "curve_tv0_raw.svg", "gaps_tv0_ema.svg", "gaps_tv0_raw.svg"})
    CHECK_MESSAGE(std::filesystem::exists(out + "/" + f), f);
  for (const auto& e : std::filesystem::directory_iterator(out))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);  // no temporary left behind

  const JsonValue results = read_json_file(out + "/results.json");
  CHECK(results.at("study").at("fixed_iters").integer() == 150);
  CHECK(results.at("results").array().size() == 2 * 2 * 5);  // streams x splits x rules
  const JsonValue& learned = result_row(results, "test", "tv0", "raw", "learned");
  CHECK(learned.at("t_star").integer() == 40);
  CHECK(learned.at("runs").integer() == 1);
  CHECK(learned.at("gap").number() == doctest::Approx(1.44));
  CHECK(result_row(results, "train", "tv0", "ema", "learned").at("t_star").integer() == 60);
  CHECK(result_row(results, "train", "tv0", "raw", "wmv").at("stop_iter").number() == 110);
  CHECK(result_row(results, "test", "tv0", "raw", "wmv").at("saved_seconds").number() == doctest::Approx(1.9));
  const JsonValue& curves = results.at("curves").array().at(1);
  CHECK(curves.at("stream").text() == "raw");
  CHECK(curves.at("train").array().at(4).array().at(1).number() == doctest::Approx(30.46));

  // results.csv holds the same numbers.
  const auto summary = read_csv(out + "/results.csv");
  CHECK(summary.size() == 20);
  for (const auto& row : summary)
    if (row.at("split") == "test" && row.at("stream") == "raw" && row.at("rule") == "learned")
      CHECK(std::stod(row.at("gap")) == doctest::Approx(1.44));

  // runs.csv: one row per run, rule and stream.
  const auto runs = read_csv(out + "/runs.csv");
  CHECK(runs.size() == 3 * 5 * 2);
  int seen = 0;
  for (const auto& row : runs)
    if (row.at("image") == "c.png" && row.at("stream") == "raw" && row.at("rule") == "wmv") {
      ++seen;
      CHECK(row.at("split") == "test");
      CHECK(row.at("setting") == "tv0");
      CHECK(std::stoi(row.at("stop_iter")) == 130);
      CHECK(std::stoi(row.at("output_iter")) == 80);
      CHECK(std::stod(row.at("gap")) == doctest::Approx(0.16));
    }
  CHECK(seen == 1);

  const std::string md = test::read_file(out + "/report.md");
  CHECK(md.find("## tv0, raw stream") != std::string::npos);
  CHECK(md.find("T* = 40 learned on train") != std::string::npos);
  CHECK(md.find("(test - train: +1.40 dB)") != std::string::npos);
  CHECK(md.find("| learned (T* = 40) | 23.56 |") != std::string::npos);
  const std::string html = test::read_file(out + "/study.html");
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("<td>learned (T* = 40)</td>") != std::string::npos);
  CHECK(test::read_file(out + "/curve_tv0_raw.svg").find("T* 40") != std::string::npos);

  // A second report replaces the first.
  write_study_report(dir.path(), analyse_study(dir.path()));
  CHECK(read_json_file(out + "/results.json").at("results").array().size() == 20);
}

TEST_CASE("study report: a raw-only study, N cut to the run length") {
  test::ScratchDir dir;
  FakeStudy s;
  s.paper_iters = 3000;  // longer than the runs: N = 200, the fixed rule reads the last point (199)
  write_study_json(dir, s, 2);
  write_run_json(dir, s, {"train-a", "train", "a.png", 0, 0, parabola(30, 30), Curve()});
  write_run_json(dir, s, {"test-c", "test", "c.png", 0, 0, parabola(25, 100), Curve()});
  const StudyReport report = analyse_study(dir.path());
  CHECK(report.fixed_iters == 200);
  REQUIRE(report.results.size() == 1);
  const StreamResult& raw = report.results[0];
  CHECK(raw.stream == "raw");
  CHECK(raw.t_star == 30);
  for (const RuleOnRun& o : raw.rule("fixed").runs) {
    CHECK(o.output_iter == 199);
    CHECK(o.stop_iter == 199);
  }
  CHECK(raw.rule("fixed").test.gap == doctest::Approx(std::pow(99 / 50.0, 2)));
  CHECK(raw.rule("learned").test.gap == doctest::Approx(std::pow(70 / 50.0, 2)));

  write_study_report(dir.path(), report);
  CHECK(std::filesystem::exists(dir / "report/curve_tv0_raw.svg"));
  CHECK(!std::filesystem::exists(dir / "report/curve_tv0_ema.svg"));
  const JsonValue results = read_json_file(dir / "report/results.json");
  for (const JsonValue& row : results.at("results").array()) CHECK(row.at("stream").text() == "raw");
  CHECK(test::read_file(dir / "report/report.md").find("cut to the runs' length") != std::string::npos);
}

TEST_CASE("study report: unfinished and corrupt run files are skipped with a warning") {
  test::ScratchDir dir;
  write_main_study(dir, false);
  const FakeStudy s;
  write_run_json(dir, s, {"train-d", "train", "d.png", 0, 0, parabola(20, 0), Curve()}, /*done=*/false);
  test::write_file(dir / "runs/train-e.json", "{\"id\": \"train-e\", \"done\": tru");
  test::write_file(dir / "runs/train-f.json", "{\"id\": \"train-f\", \"done\": true}");  // no metrics
  test::write_file(dir / "runs/train-g.json.tmp-1234", "half a file");                  // not a .json: ignored
  const StudyReport report = analyse_study(dir.path());
  CHECK(report.runs.size() == 3);
  REQUIRE(report.warnings.size() == 3);
  CHECK(report.warnings[0].find("runs/train-d.json: not finished") != std::string::npos);
  CHECK(report.warnings[1].find("runs/train-e.json: line 1") != std::string::npos);
  CHECK(report.warnings[2].find("runs/train-f.json") != std::string::npos);
  CHECK(stream_of(report, "tv0", "raw").t_star == 40);  // the skipped runs changed nothing

  write_study_report(dir.path(), report);
  const std::string md = test::read_file(dir / "report/report.md");
  CHECK(md.find("## Skipped run files") != std::string::npos);
  CHECK(md.find("3 skipped") != std::string::npos);
  CHECK(read_json_file(dir / "report/results.json").at("warnings").array().size() == 3);
}

TEST_CASE("study report: two settings, one without test runs") {
  test::ScratchDir dir;
  FakeStudy s;
  s.tv = {0, 0.001};
  write_main_study(dir, false, s, 4);
  write_run_json(dir, s, {"train-a-tv0.001", "train", "a.png", 0, 0.001, parabola(29, 70), Curve()});
  const StudyReport report = analyse_study(dir.path());
  REQUIRE(report.results.size() == 2);
  CHECK(report.results[1].setting == "tv0.001");
  CHECK(report.results[1].t_star == 70);
  CHECK(report.results[1].rule("learned").test.runs == 0);

  write_study_report(dir.path(), report);
  CHECK(std::filesystem::exists(dir / "report/curve_tv0.001_raw.svg"));
  CHECK(std::filesystem::exists(dir / "report/gaps_tv0.001_raw.svg"));
  const JsonValue results = read_json_file(dir / "report/results.json");
  CHECK(result_row(results, "test", "tv0.001", "raw", "learned").at("psnr").is_null());
  CHECK(result_row(results, "train", "tv0.001", "raw", "oracle").at("psnr").number() == doctest::Approx(29));
  const std::string md = test::read_file(dir / "report/report.md");
  CHECK(md.find("| learned (T* = 70) | - | - | - | - | - | - | - | 29.00 |") != std::string::npos);
  CHECK(md.find("no test runs") != std::string::npos);
}

TEST_CASE("study report: a missing study or no finished run is a UserError") {
  test::ScratchDir dir;
  CHECK_THROWS_AS(analyse_study(dir.path()), UserError);
  const FakeStudy s;
  write_study_json(dir, s, 1);
  CHECK_THROWS_AS(analyse_study(dir.path()), UserError);  // no runs/ at all
  write_run_json(dir, s, {"train-a", "train", "a.png", 0, 0, parabola(30, 30), Curve()}, /*done=*/false);
  CHECK_THROWS_WITH_AS(analyse_study(dir.path()), doctest::Contains("no finished runs"), UserError);
  test::write_file(dir / "study.json", "{\"iters\": 200,}");
  CHECK_THROWS_WITH_AS(analyse_study(dir.path()), doctest::Contains("study.json: line 1, column 15"), UserError);
  test::write_file(dir / "study.json", "{\"iters\": \"200\"}");
  CHECK_THROWS_WITH_AS(analyse_study(dir.path()), doctest::Contains("study.json: line 1, column 11: expected a number"),
                       UserError);
}

TEST_CASE("json: values, escapes, nesting") {
  const JsonValue v = parse_json(
      " {\"a\": [1, -2.5e2, 0.125, true, false, null], \"s\": \"q\\\"b\\\\s\\/n\\nt\\tu\\u00e9\\ud83d\\ude00\","
      "  \"o\": {\"deep\": [[{\"x\": []}]], \"empty\": {}}} ");
  REQUIRE(v.is_object());
  const std::vector<JsonValue>& a = v.at("a").array();
  REQUIRE(a.size() == 6);
  CHECK(a[0].integer() == 1);
  CHECK(a[1].number() == -250.0);
  CHECK(a[2].number() == 0.125);
  CHECK(a[3].boolean());
  CHECK(!a[4].boolean());
  CHECK(a[5].is_null());
  CHECK(v.at("s").text() == "q\"b\\s/n\nt\tu\xC3\xA9\xF0\x9F\x98\x80");
  CHECK(v.at("o").at("deep").array()[0].array()[0].at("x").array().empty());
  CHECK(v.at("o").at("empty").members().empty());
  CHECK(v.find("missing") == nullptr);
  CHECK(v.at("a").find("x") == nullptr);  // not an object: nothing found
  CHECK_THROWS_AS(v.at("missing"), JsonError);
  CHECK_THROWS_AS(v.at("s").number(), JsonError);
  CHECK_THROWS_AS(a[2].integer(), JsonError);

  // Writers: quoting and numbers read back exactly.
  const std::string tricky = "a\"b\\c\nd\x01";
  CHECK(parse_json(json_quote(tricky)).text() == tricky);
  for (double x : {0.1, 1.0 / 3.0, 1e-300, -12345.678, 30.46})
    CHECK(parse_json(json_number(x)).number() == x);
  CHECK(json_number(0.1) == "0.1");
  CHECK(json_number(std::nan("")) == "null");
  CHECK(json_number(INFINITY) == "null");
}

TEST_CASE("json: malformed input is an error with a line and column, not a crash") {
  for (const char* bad : {"", "   ", "{", "[1, 2", "[1, 2,]", "{\"a\": 1,}", "{\"a\" 1}", "{a: 1}", "01", "1.",
                          "-", "1e", ".5", "+1", "tru", "nul", "\"abc", "\"a\nb\"", "\"\\x\"", "\"\\u12g4\"",
                          "\"\\ud83d\"", "\"\\ude00\"", "[1] 2", "{\"a\": 1, \"a\": 2}", "NaN", "[Infinity]"}) {
    CAPTURE(std::string(bad));
    CHECK_THROWS_AS(parse_json(bad), JsonError);
  }
  CHECK_THROWS_AS(parse_json(std::string(100000, '[')), JsonError);  // too deep: an error, no stack overflow
  try {
    parse_json("{\n  \"a\": 1,\n  \"b\": [1, 2,, 3]\n}");
    FAIL("no error");
  } catch (const JsonError& e) {
    CHECK(e.line == 3);
    CHECK(e.column == 14);
    CHECK(std::string(e.what()).find("line 3, column 14") == 0);
  }
  CHECK_THROWS_AS(read_json_file("/nonexistent/x.json"), UserError);
}
