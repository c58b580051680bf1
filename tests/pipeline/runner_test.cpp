// `anvil run` end to end on a tiny config: every step completes and writes its step.json, the report and
// summary hold the numbers; a second run reuses every step; a changed setting reruns that step and the
// ones after it only; --from / --only; a failing step keeps upstream outputs and names itself; an
// interrupted train step resumes from its checkpoint with the losses of an uninterrupted run.
#include "anvil/pipeline/runner.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "anvil/base/file.h"
#include "anvil/pipeline/report.h"
#include "anvil/report/run_metrics.h"
#include "tiny_run.h"

namespace anvil::pipeline {
namespace {

using testing::quiet_context;
using testing::temp_dir;
using testing::tiny_config;
using testing::write_text;
namespace fs = std::filesystem;

PipelineConfig config(const fs::path& dir, int steps = 20, std::vector<Override> o = {}, const std::string& extra = "") {
  auto c = parse_pipeline_config(tiny_config(dir, steps, extra), (dir / "tiny.toml").string(), o);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return *c;
}

std::vector<Action> actions(const std::vector<StepPlan>& plan) {
  std::vector<Action> a;
  for (const StepPlan& p : plan) a.push_back(p.action);
  return a;
}

RunOptions quiet() {
  RunOptions o;
  o.log = stderr;
  return o;
}

StepRecord record(const PipelineConfig& c, StepKind k) {
  auto r = read_step_record((fs::path(step_dir(c.run_dir, k)) / "step.json").string());
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : StepRecord{};
}

constexpr Action R = Action::kRun, U = Action::kReuse, K = Action::kKeep, S = Action::kSkip;

TEST(PipelineRun, FullRunThenEveryStepIsReused) {
  const auto dir = temp_dir("full");
  const PipelineConfig c = config(dir);
  const Context ctx = quiet_context();
  auto first = run_pipeline(c, quiet(), ctx);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(actions(first->plan), (std::vector<Action>{R, R, R, R, R, R, R}));
  for (int i = 0; i < kNumSteps; ++i) {
    const StepRecord r = record(c, static_cast<StepKind>(i));
    EXPECT_EQ(r.status, StepStatus::kCompleted) << i;
    EXPECT_EQ(r.hash.size(), 16u);
    EXPECT_FALSE(r.started.empty());
    EXPECT_GE(r.seconds, 0.0);
  }
  // Prep accounts for every document; the fortune-style input was split on "%" into 3 records.
  const StepRecord prep = record(c, StepKind::kPrep);
  EXPECT_EQ(prep.summary["docs_in"].get<uint64_t>(), 300u + 100u + 3u);
  EXPECT_EQ(prep.summary["docs_in"].get<uint64_t>(),
            prep.summary["docs_kept"].get<uint64_t>() + prep.summary["docs_dropped"].get<uint64_t>());
  auto summary = load_summary(c.run_dir);
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
  EXPECT_GT((*summary)["tokens"]["train"].get<double>(), 0);
  EXPECT_TRUE((*summary)["train"]["final_loss"].is_number());
  EXPECT_EQ((*summary)["train"]["steps"].get<int64_t>(), 20);
  for (const char* style : {"cot", "direct"}) {
    const double em = (*summary)["eval"]["held_out"][style]["exact_match"].get<double>();
    EXPECT_GE(em, 0.0);
    EXPECT_LE(em, 1.0);
  }
  auto html = read_file((fs::path(c.run_dir) / "report.html").string());
  ASSERT_TRUE(html.ok());
  for (const char* part : {"<svg", "prep_report.html", "05-train/report.html", "cot/eval_report.html", "direct/eval_report.html",
                           "notes.txt"}) {
    EXPECT_NE(html->find(part), std::string::npos) << part;
  }
  EXPECT_EQ(html->find("<script"), std::string::npos);
  for (const char* fetch : {"src=\"http", "href=\"http", "<link", "@import", "url("}) {
    EXPECT_EQ(html->find(fetch), std::string::npos) << fetch;
  }
  EXPECT_TRUE(fs::exists(fs::path(step_dir(c.run_dir, StepKind::kTrain)) / "run.toml"));
  EXPECT_NE(summary_table(*summary).find("held-out exact match, <think>"), std::string::npos);

  auto second = run_pipeline(c, quiet(), ctx);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(actions(second->plan), (std::vector<Action>{U, U, U, U, U, U, U}));
  for (double s : second->seconds) EXPECT_EQ(s, 0.0);
}

TEST(PipelineRun, ChangedSettingRerunsThatStepAndLaterOnly) {
  const auto dir = temp_dir("changed");
  const Context ctx = quiet_context();
  const PipelineConfig c = config(dir);
  ASSERT_TRUE(run_pipeline(c, quiet(), ctx).ok());
  const auto synth_file = fs::path(step_dir(c.run_dir, StepKind::kSynth)) / "0-arithmetic-cot-train.jsonl";
  const auto synth_time = fs::last_write_time(synth_file);

  const PipelineConfig changed = config(dir, 20, {Override{.path = "tokenize.val_fraction", .value = "0.2"}});
  auto plan = plan_run(changed, quiet());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(actions(*plan), (std::vector<Action>{U, U, U, R, R, R, R}));
  EXPECT_EQ((*plan)[3].why, "settings changed");
  EXPECT_EQ((*plan)[4].why, "upstream 'tokenize' changed");
  auto run = run_pipeline(changed, quiet(), ctx);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  EXPECT_EQ(fs::last_write_time(synth_file), synth_time);

  // An input file's contents are part of its step's hash.
  write_text(dir / "notes.txt", "A different note entirely, for the test.\n");
  plan = plan_run(changed, quiet());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(actions(*plan), (std::vector<Action>{U, R, R, R, R, R, R}));
  EXPECT_NE((*plan)[1].why.find("input changed"), std::string::npos) << (*plan)[1].why;

  // A missing output makes a completed step run again.
  fs::remove(fs::path(step_dir(c.run_dir, StepKind::kEval)) / "cot" / "eval_report.json");
  write_text(dir / "notes.txt", "The first note says the cat sat on the mat.\n%\nA second note, about the dog.\n%\n"
                                "Third: numbers like 12 and 34 appear here.\n");
  plan = plan_run(changed, quiet());
  ASSERT_TRUE(plan.ok());
  // (the report step's inputs are unchanged, so it is reused)
  EXPECT_EQ(actions(*plan), (std::vector<Action>{U, U, U, U, U, R, U}));
  EXPECT_EQ((*plan)[5].why, "output 'cot/eval_report.json' is missing");
}

TEST(PipelineRun, FromAndOnly) {
  const auto dir = temp_dir("from_only");
  const Context ctx = quiet_context();
  const PipelineConfig c = config(dir);

  RunOptions only = quiet();
  only.selection = Selection::kOnly;
  only.selected = StepKind::kTokenizer;
  auto missing = plan_run(c, only);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--only tokenizer needs step 'synth' completed first"), std::string::npos)
      << missing.status().message();

  ASSERT_TRUE(run_pipeline(c, quiet(), ctx).ok());
  auto run = run_pipeline(c, only, ctx);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  EXPECT_EQ(actions(run->plan), (std::vector<Action>{K, K, R, S, S, S, S}));

  RunOptions from = quiet();
  from.selection = Selection::kFrom;
  from.selected = StepKind::kEval;
  run = run_pipeline(c, from, ctx);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  EXPECT_EQ(actions(run->plan), (std::vector<Action>{K, K, K, K, K, R, R}));
  EXPECT_GT(run->seconds[5], 0.0);

  // Upstream outputs must be present, not just recorded.
  fs::remove(fs::path(step_dir(c.run_dir, StepKind::kPrep)) / "corpus.jsonl");
  auto gone = plan_run(c, from);
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.status().message().find("corpus.jsonl' is missing"), std::string::npos) << gone.status().message();

  RunOptions force = quiet();
  force.force = true;
  force.dry_run = true;
  auto plan = run_pipeline(c, force, ctx);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(actions(plan->plan), (std::vector<Action>{R, R, R, R, R, R, R}));
  EXPECT_NE(format_plan(plan->plan).find("--force"), std::string::npos);
}

TEST(PipelineRun, FailingStepKeepsUpstreamAndNamesItself) {
  const auto dir = temp_dir("failure");
  const Context ctx = quiet_context();
  write_text(dir / "broken.jsonl", "{\"text\": \"fine\"}\nnot json at all\n");
  std::string text = tiny_config(dir);
  // A strict JSONL input with a broken line stops the prep step.
  const std::string broken = "[[input]]\npath = \"" + (dir / "broken.jsonl").string() + "\"\nstrict = true\n";
  text.replace(text.find("[prep.dedup]"), 0, broken + "\n");
  auto c = parse_pipeline_config(text, "tiny.toml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto run = run_pipeline(*c, quiet(), ctx);
  ASSERT_FALSE(run.ok());
  EXPECT_NE(run.status().message().find("step 'prep' failed"), std::string::npos) << run.status().message();
  EXPECT_NE(run.status().message().find("broken.jsonl"), std::string::npos) << run.status().message();
  const StepRecord synth = record(*c, StepKind::kSynth);
  EXPECT_EQ(synth.status, StepStatus::kCompleted);
  for (const std::string& o : synth.outputs) EXPECT_TRUE(fs::exists(fs::path(step_dir(c->run_dir, StepKind::kSynth)) / o));
  const StepRecord prep = record(*c, StepKind::kPrep);
  EXPECT_EQ(prep.status, StepStatus::kFailed);
  EXPECT_NE(prep.error.find("broken.jsonl"), std::string::npos);
  EXPECT_FALSE(fs::exists(step_dir(c->run_dir, StepKind::kTokenizer)));
  auto plan = plan_run(*c, quiet());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ((*plan)[0].action, Action::kReuse);
  EXPECT_EQ((*plan)[1].why, "previous attempt failed");
}

TEST(PipelineRun, StopRequestStartsNoFurtherStep) {
  const auto dir = temp_dir("stop_first");
  const PipelineConfig c = config(dir);
  std::atomic<bool> stop{true};
  RunOptions o = quiet();
  o.stop = &stop;
  auto run = run_pipeline(c, o, quiet_context());
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), StatusCode::kCancelled);
  EXPECT_NE(run.status().message().find("stopped before step 'synth'"), std::string::npos) << run.status().message();
  EXPECT_FALSE(fs::exists(step_dir(c.run_dir, StepKind::kSynth)));
}

// Per-step train losses, the last line of each step winning (a resumed run rewrites nothing).
std::vector<double> losses(const PipelineConfig& c) {
  auto m = report::read_metrics((fs::path(step_dir(c.run_dir, StepKind::kTrain)) / "metrics.jsonl").string());
  EXPECT_TRUE(m.ok());
  std::vector<double> out;
  for (const report::TrainRow& r : m->train) out.push_back(r.loss);
  return out;
}

TEST(PipelineRun, InterruptedTrainingResumesFromItsCheckpoint) {
  constexpr int kSteps = 60;
  const Context ctx = quiet_context();
  const auto dir = temp_dir("resume");
  const PipelineConfig c = config(dir, kSteps);
  std::atomic<bool> stop{false};
  std::atomic<bool> done{false};
  const fs::path latest = fs::path(step_dir(c.run_dir, StepKind::kTrain)) / "checkpoints" / "latest.json";
  std::thread watcher([&] {
    while (!done.load() && !fs::exists(latest)) std::this_thread::sleep_for(std::chrono::microseconds(200));
    stop.store(true);
  });
  RunOptions o = quiet();
  o.stop = &stop;
  auto first = run_pipeline(c, o, ctx);
  done.store(true);
  watcher.join();
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), StatusCode::kCancelled);
  EXPECT_NE(first.status().message().find("step 'train' was interrupted"), std::string::npos) << first.status().message();
  EXPECT_EQ(record(c, StepKind::kTrain).status, StepStatus::kInterrupted);
  const size_t n_before = losses(c).size();
  ASSERT_LT(n_before, static_cast<size_t>(kSteps)) << "the run finished before the stop request";

  auto plan = plan_run(c, quiet());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ((*plan)[4].action, Action::kResume) << (*plan)[4].why;
  auto second = run_pipeline(c, quiet(), ctx);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(record(c, StepKind::kTrain).summary["resumed"].get<bool>(), true);
  const std::vector<double> resumed = losses(c);
  ASSERT_EQ(resumed.size(), static_cast<size_t>(kSteps));

  // The same run never interrupted gives the same per-step losses.
  const auto ref_dir = temp_dir("resume_reference");
  const PipelineConfig ref = config(ref_dir, kSteps);
  ASSERT_TRUE(run_pipeline(ref, quiet(), ctx).ok());
  const std::vector<double> straight = losses(ref);
  ASSERT_EQ(straight.size(), resumed.size());
  for (size_t i = 0; i < straight.size(); ++i) ASSERT_EQ(straight[i], resumed[i]) << "step " << i + 1;
}

}  // namespace
}  // namespace anvil::pipeline
