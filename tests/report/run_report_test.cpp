// run_report.h: the page for a synthetic run (one <svg> per chart with the expected series, summary,
// events, escaped config, nothing external) and the robustness cases: empty metrics, only events, NaN,
// no val lines, missing run.toml, missing metrics.jsonl or run dir.
#include <filesystem>

#include <gtest/gtest.h>

#include "anvil/base/file.h"
#include "anvil/report/run_report.h"
#include "synthetic_run.h"

namespace anvil::report {
namespace {

namespace fs = std::filesystem;
using testing::fresh_dir;
using testing::write_synthetic_run;

constexpr size_t kMaxPageBytes = 1500000;  // a long run stays attachable (downsampled)

int count(const std::string& s, const std::string& needle) {
  int n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

// The number of series polylines in each <svg> of the page, in order.
std::vector<int> series_per_chart(const std::string& page) {
  std::vector<int> out;
  for (size_t p = page.find("<svg"); p != std::string::npos; p = page.find("<svg", p + 1)) {
    const size_t end = page.find("</svg>", p);
    out.push_back(count(page.substr(p, end - p), "<polyline class=\"series\""));
  }
  return out;
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

std::string page_of(const fs::path& dir) {
  auto r = write_run_report({.run_dir = dir.string()});
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) return "";
  EXPECT_EQ(r->path, (dir / "report.html").string());
  auto page = read_file(r->path);
  EXPECT_TRUE(page.ok());
  return page.ok() ? *page : "";
}

TEST(RunReport, SyntheticRunHasEveryChartAndSection) {
  const fs::path dir = fresh_dir("synthetic");
  ASSERT_TRUE(write_synthetic_run(dir).ok());
  const std::string page = page_of(dir);
  EXPECT_EQ(count(page, "<svg"), 5);
  EXPECT_EQ(series_per_chart(page), (std::vector<int>{2, 1, 1, 2, 2}));
  for (const char* title : {">Loss<", ">Learning rate<", ">Gradient norm (before clipping)<", ">Throughput<", ">Memory<"})
    EXPECT_TRUE(contains(page, title)) << title;
  EXPECT_TRUE(contains(page, "data-series=\"val loss\""));
  EXPECT_TRUE(contains(page, "loss (log)"));  // 10 → 2 is worth a log axis
  EXPECT_EQ(count(page, "class=\"band\""), 1);
  EXPECT_EQ(count(page, "class=\"marker\""), 2);  // the warning and the stop
  // Summary table.
  EXPECT_TRUE(contains(page, "<th>steps done</th><td>2000 (2000 train lines, 20 val, 7 events)</td>"));
  EXPECT_TRUE(contains(page, "<th>tokens seen</th><td>8.192M</td>"));
  EXPECT_TRUE(contains(page, "<th>latest checkpoint</th><td>step 2000 (step-00002000)</td>"));
  const size_t best = page.find("<th>best val loss</th><td>2.1");
  ASSERT_NE(best, std::string::npos);
  EXPECT_NE(page.find(" (step ", best), std::string::npos);
  // Events and config.
  EXPECT_TRUE(contains(page, "<li class=\"ev-warning\"><span class=\"ev-step\">step 700</span>"));
  EXPECT_TRUE(contains(page, "grad_norm 40.0 above 10"));
  EXPECT_EQ(count(page, "class=\"ev-checkpoint\""), 4);
  EXPECT_TRUE(contains(page, "note = &quot;&lt;b&gt;not bold&lt;/b&gt; &amp; friends&quot;"));
  EXPECT_FALSE(contains(page, "<b>not bold"));
  EXPECT_FALSE(contains(page, "class=\"notes\""));  // a clean run has nothing to note
  // Self-contained: no script, no external resource.
  EXPECT_FALSE(contains(page, "<script"));
  EXPECT_FALSE(contains(page, "src="));
  EXPECT_FALSE(contains(page, "href="));
  EXPECT_FALSE(contains(page, "url("));
  EXPECT_FALSE(contains(page, "@import"));
  EXPECT_EQ(count(page, "http"), 5);  // only the five SVG namespace URIs
  fs::remove_all(dir);
}

TEST(RunReport, NoValLinesDropsTheValSeries) {
  const fs::path dir = fresh_dir("noval");
  ASSERT_TRUE(write_synthetic_run(dir, {.n_steps = 300, .val_every = 1000000}).ok());
  const std::string page = page_of(dir);
  EXPECT_EQ(series_per_chart(page), (std::vector<int>{1, 1, 1, 2, 2}));
  EXPECT_TRUE(contains(page, "— (no val lines)"));
  fs::remove_all(dir);
}

TEST(RunReport, EmptyMetricsGivesAPageOfEmptyCharts) {
  const fs::path dir = fresh_dir("empty");
  ASSERT_TRUE(write_file_atomic((dir / "metrics.jsonl").string(), "").ok());
  const std::string page = page_of(dir);
  EXPECT_EQ(count(page, "<svg"), 5);
  EXPECT_EQ(count(page, ">no data<"), 5);
  EXPECT_EQ(count(page, "<polyline"), 0);
  EXPECT_TRUE(contains(page, "<th>steps done</th><td>none yet</td>"));
  EXPECT_TRUE(contains(page, "no train lines yet"));
  EXPECT_TRUE(contains(page, "run.toml&#39; not found"));  // missing run.toml is a note, not an error
  EXPECT_TRUE(contains(page, "No events."));
  fs::remove_all(dir);
}

TEST(RunReport, OnlyEvents) {
  const fs::path dir = fresh_dir("events");
  ASSERT_TRUE(write_file_atomic((dir / "metrics.jsonl").string(),
                                "{\"kind\":\"event\",\"step\":0,\"event\":\"start\",\"message\":\"go\"}\n"
                                "{\"kind\":\"event\",\"step\":3,\"event\":\"stop\",\"message\":\"SIGINT <ctrl-c>\"}\n")
                  .ok());
  const std::string page = page_of(dir);
  EXPECT_EQ(count(page, ">no data<"), 5);
  EXPECT_TRUE(contains(page, "Events (2)"));
  EXPECT_TRUE(contains(page, "SIGINT &lt;ctrl-c&gt;"));
  EXPECT_TRUE(contains(page, "<th>steps done</th><td>3 (0 train lines, 0 val, 2 events)</td>"));
  fs::remove_all(dir);
}

TEST(RunReport, NanValuesAreSkippedAndNoted) {
  const fs::path dir = fresh_dir("nan");
  std::string text = testing::synthetic_metrics({.n_steps = 200});
  text += "{\"kind\":\"train\",\"step\":201,\"loss\":NaN,\"lr\":1e-4,\"grad_norm\":Infinity}\n";
  text += "{\"kind\":\"train\",\"step\":202,\"loss\":null,\"lr\":1e-4,\"grad_norm\":null}\n";
  text += "{\"kind\":\"train\",\"step\":203,\"lo";
  ASSERT_TRUE(write_file_atomic((dir / "metrics.jsonl").string(), text).ok());
  const std::string page = page_of(dir);
  EXPECT_TRUE(contains(page, "train.loss: 2 NaN/inf value(s) skipped in the charts and summary, first at step 201"));
  EXPECT_TRUE(contains(page, "train.grad_norm: 2 NaN/inf"));
  EXPECT_TRUE(contains(page, "torn last line"));
  EXPECT_EQ(count(page, "<svg"), 5);
  for (const char* bad : {"nan", "inf,", "NaN"}) EXPECT_EQ(count(page.substr(page.find("<svg")), bad), 0) << bad;
  fs::remove_all(dir);
}

TEST(RunReport, MalformedLatestCheckpointIsANote) {
  const fs::path dir = fresh_dir("badlatest");
  ASSERT_TRUE(write_synthetic_run(dir, {.n_steps = 100}).ok());
  ASSERT_TRUE(write_file_atomic((dir / "checkpoints" / "latest.json").string(), "{\"step\": \"x\"").ok());
  const std::string page = page_of(dir);
  EXPECT_TRUE(contains(page, "latest.json&#39; is not a JSON object with an integer &quot;step&quot;"));
  EXPECT_TRUE(contains(page, "<th>latest checkpoint</th><td>none</td>"));
  fs::remove_all(dir);
}

TEST(RunReport, MissingMetricsOrRunDirIsAnErrorNamingTheFile) {
  const fs::path dir = fresh_dir("nometrics");
  auto r = write_run_report({.run_dir = dir.string()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(r.status().message(), (dir / "metrics.jsonl").string())) << r.status().message();
  EXPECT_FALSE(fs::exists(dir / "report.html"));
  r = write_run_report({.run_dir = (dir / "nope").string()});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.status().message(), (dir / "nope").string())) << r.status().message();
  fs::remove_all(dir);
}

TEST(RunReport, OutPathAndLongRunStaysSmall) {
  const fs::path dir = fresh_dir("long");
  ASSERT_TRUE(write_synthetic_run(dir, {.n_steps = 30000, .val_every = 1000, .checkpoint_every = 10000}).ok());
  auto r = write_run_report({.run_dir = dir.string(), .out_path = (dir / "custom.html").string()});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->path, (dir / "custom.html").string());
  EXPECT_FALSE(fs::exists(dir / "report.html"));
  const auto page = read_file(r->path);
  ASSERT_TRUE(page.ok());
  EXPECT_LT(page->size(), kMaxPageBytes);
  EXPECT_EQ(series_per_chart(*page), (std::vector<int>{2, 1, 1, 2, 2}));
  EXPECT_TRUE(contains(*page, "<th>steps done</th><td>30000 "));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace anvil::report
