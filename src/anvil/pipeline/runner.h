// `anvil run`: plans and runs the steps synth → prep → tokenizer → tokenize → train → eval → report.
// Plan rules, in order, for each step (its hash chains its upstream step's hash, so a change reruns
// that step and every step after it):
//   --only S / --from S: steps before S are kept as they are (they must be completed); with --only,
//   steps after S are skipped; S (and with --from every later step) runs. --force runs every step.
//   no step.json → run; hash differs → run (the changed inputs are named); completed with every
//   recorded output present → reuse; an interrupted or failed train step with a checkpoint and the
//   same hash → resume from it; anything else → run (its folder is emptied first).
// A failing step is marked failed (interrupted, for a stop request) in its step.json; the folders of
// earlier steps are left as they are.
#pragma once

#include <atomic>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "anvil/base/context.h"
#include "anvil/base/status.h"
#include "anvil/pipeline/config.h"
#include "anvil/pipeline/step_record.h"

namespace anvil::pipeline {

enum class Action { kReuse, kRun, kResume, kKeep, kSkip };
const char* action_name(Action a);  // reuse, run, resume, keep, skip

struct StepPlan {
  StepKind kind = StepKind::kSynth;
  Action action = Action::kRun;
  std::string why;
  std::string hash;
  std::map<std::string, std::string> inputs;
  std::vector<std::string> missing_inputs;  // external files that do not exist (the step cannot run)
};

enum class Selection { kAll, kFrom, kOnly };

struct RunOptions {
  Selection selection = Selection::kAll;
  StepKind selected = StepKind::kSynth;  // the step of --from / --only
  bool force = false;
  bool dry_run = false;                   // plan only
  const std::atomic<bool>* stop = nullptr;  // set by SIGINT/SIGTERM: training checkpoints and stops; no
                                            // later step starts
  std::FILE* log = stderr;                  // progress lines
};

Result<std::vector<StepPlan>> plan_run(const PipelineConfig& cfg, const RunOptions& options);
// One line per step: "  3 tokenizer  reuse   unchanged (hash 1f2e…)".
std::string format_plan(const std::vector<StepPlan>& plan);

struct RunOutcome {
  std::vector<StepPlan> plan;
  std::vector<double> seconds;  // per step: time spent in this invocation (0 when not run)
};

// Runs the plan; a step to run whose input files are missing stops it before any step runs. Errors
// name the step: "step 'train' failed: ..." (code kCancelled when stopped).
Result<RunOutcome> run_pipeline(const PipelineConfig& cfg, const RunOptions& options, const Context& ctx);

}  // namespace anvil::pipeline
