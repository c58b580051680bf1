// run_metrics.h: reading metrics.jsonl (synthetic run, torn lines, NaN/inf/null, wrong types, repeated
// steps) and the summary numbers the report leads with.
#include <cmath>

#include <gtest/gtest.h>

#include "anvil/report/run_metrics.h"
#include "synthetic_run.h"

namespace anvil::report {
namespace {

using testing::SyntheticRun;
using testing::synthetic_metrics;
using testing::synthetic_val_loss;

bool any_note_contains(const RunMetrics& m, const std::string& s) {
  for (const auto& n : m.notes()) {
    if (n.find(s) != std::string::npos) return true;
  }
  return false;
}

TEST(ParseMetrics, SyntheticRunReadsCleanly) {
  const RunMetrics m = parse_metrics(synthetic_metrics({}));
  EXPECT_EQ(m.train.size(), 2000u);
  EXPECT_EQ(m.val.size(), 20u);
  EXPECT_EQ(m.events.size(), 7u);  // start, warning, 4 checkpoints, stop
  EXPECT_TRUE(m.notes().empty());
  EXPECT_EQ(m.train[699].step, 700);
  EXPECT_DOUBLE_EQ(m.train[699].grad_norm, 40);
  EXPECT_EQ(m.events[1].event, "checkpoint");
  EXPECT_EQ(m.events[2].event, "warning");
  EXPECT_EQ(m.events[2].step, 700);
}

TEST(ParseMetrics, TornLastLineIsSkippedAndNoted) {
  std::string text = synthetic_metrics({.n_steps = 50});
  text += R"({"kind":"train","step":51,"loss":2.3,"l)";
  const RunMetrics m = parse_metrics(text);
  EXPECT_EQ(m.train.size(), 50u);
  ASSERT_EQ(m.bad_json_lines.size(), 1u);
  EXPECT_EQ(m.bad_json_lines[0], m.last_line);
  EXPECT_TRUE(any_note_contains(m, "torn last line"));
}

TEST(ParseMetrics, NonFiniteValuesBecomeMissingAndAreCounted) {
  const std::string text =
      "{\"kind\":\"train\",\"step\":1,\"loss\":3.0,\"grad_norm\":1.0}\n"
      "{\"kind\":\"train\",\"step\":2,\"loss\":null,\"grad_norm\":1.0}\n"            // nlohmann writes NaN as null
      "{\"kind\":\"train\",\"step\":3,\"loss\":NaN,\"grad_norm\":Infinity}\n"        // Python's json.dumps
      "{\"kind\":\"train\",\"step\":4,\"loss\":2.0,\"grad_norm\":-Infinity,\"note\":\"NaN stays\"}\n"
      "{\"kind\":\"val\",\"step\":4,\"val_loss\":NaN}\n";
  const RunMetrics m = parse_metrics(text);
  ASSERT_EQ(m.train.size(), 4u);
  EXPECT_TRUE(std::isnan(m.train[1].loss));
  EXPECT_TRUE(std::isnan(m.train[2].loss));
  EXPECT_TRUE(std::isnan(m.train[2].grad_norm));
  EXPECT_DOUBLE_EQ(m.train[3].loss, 2.0);
  EXPECT_EQ(m.non_finite.at("train.loss").count, 2);
  EXPECT_EQ(m.non_finite.at("train.loss").first_step, 2);
  EXPECT_EQ(m.non_finite.at("train.grad_norm").count, 2);
  EXPECT_EQ(m.non_finite.at("val.val_loss").count, 1);
  EXPECT_TRUE(any_note_contains(m, "train.loss: 2 NaN/inf value(s) skipped"));
  const RunSummary s = summarize(m);
  EXPECT_DOUBLE_EQ(s.final_loss, 2.0);
  EXPECT_TRUE(std::isnan(s.best_val_loss));
}

TEST(ParseMetrics, BadLinesAreSkippedWithTheirLineNumbers) {
  const std::string text =
      "{\"kind\":\"train\",\"step\":1,\"loss\":3.0,\"lr\":\"fast\"}\n"
      "\n"
      "[1,2,3]\n"
      "{\"kind\":\"train\",\"loss\":3.0}\n"
      "{\"kind\":\"histogram\",\"step\":5}\n"
      "{\"kind\":\"train\",\"step\":2.5,\"loss\":3.0}\n"
      "{\"kind\":\"train\",\"step\":2.0,\"loss\":2.9}\n";
  const RunMetrics m = parse_metrics(text);
  ASSERT_EQ(m.train.size(), 2u);
  EXPECT_EQ(m.train[1].step, 2);
  EXPECT_EQ(m.bad_json_lines, std::vector<int64_t>{3});
  EXPECT_EQ(m.no_step_lines, (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(m.unknown_kinds.at("histogram"), 1);
  EXPECT_EQ(m.wrong_type.at("train.lr").count, 1);
  EXPECT_FALSE(any_note_contains(m, "torn"));  // line 3 is not the last line
  EXPECT_EQ(m.notes().size(), 4u);
}

TEST(ParseMetrics, RepeatedStepKeepsTheLaterLine) {
  const std::string text =
      "{\"kind\":\"train\",\"step\":2,\"loss\":5.0}\n"
      "{\"kind\":\"train\",\"step\":1,\"loss\":6.0}\n"
      "{\"kind\":\"train\",\"step\":2,\"loss\":4.0}\n";
  const RunMetrics m = parse_metrics(text);
  ASSERT_EQ(m.train.size(), 2u);
  EXPECT_EQ(m.train[0].step, 1);
  EXPECT_DOUBLE_EQ(m.train[1].loss, 4.0);
  EXPECT_EQ(m.n_replaced_steps, 1);
}

TEST(ParseMetrics, EmptyAndMissing) {
  const RunMetrics m = parse_metrics("");
  EXPECT_TRUE(m.train.empty() && m.val.empty() && m.events.empty());
  EXPECT_EQ(summarize(m).last_step, -1);
  auto r = read_metrics("/nonexistent/dir/metrics.jsonl");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'/nonexistent/dir/metrics.jsonl'"), std::string::npos);
}

TEST(Summarize, SyntheticRun) {
  const SyntheticRun run;
  const RunSummary s = summarize(parse_metrics(synthetic_metrics(run)));
  EXPECT_EQ(s.last_step, 2000);
  EXPECT_EQ(s.n_train, 2000);
  EXPECT_EQ(s.n_val, 20);
  EXPECT_EQ(s.n_warnings, 1);
  EXPECT_DOUBLE_EQ(s.tokens_seen, 2000.0 * 4096);
  double best = INFINITY;
  int64_t best_step = -1;
  for (int step = run.val_every; step <= run.n_steps; step += run.val_every) {
    const double v = std::round(synthetic_val_loss(step) * 1e5) / 1e5;  // written with 5 decimals
    if (v < best) best = v, best_step = step;
  }
  EXPECT_NEAR(s.best_val_loss, best, 1e-9);
  EXPECT_EQ(s.best_val_step, best_step);
  EXPECT_EQ(s.final_val_step, 2000);
  EXPECT_NEAR(s.mean_tokens_per_s, 12000, 200);  // noise 600/sqrt(2000) plus the checkpoint dips
  EXPECT_NEAR(s.mean_mfu, 0.31, 0.01);
  EXPECT_NEAR(s.train_seconds, 2000 * 4096 / 12000.0, 30);
  EXPECT_GT(s.peak_rss_mib, 1150);
}

TEST(Summarize, LogIntervalCountsEveryStep) {
  // Lines every 10 steps, 0.5 s per step: 3 lines cover 30 steps = 15 s.
  const std::string text =
      "{\"kind\":\"train\",\"step\":10,\"step_s\":0.5}\n"
      "{\"kind\":\"train\",\"step\":20,\"step_s\":0.5}\n"
      "{\"kind\":\"train\",\"step\":30,\"step_s\":0.5}\n";
  EXPECT_DOUBLE_EQ(summarize(parse_metrics(text)).train_seconds, 15.0);
}

}  // namespace
}  // namespace anvil::report
