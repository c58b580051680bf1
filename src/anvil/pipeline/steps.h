// What each step of `anvil run` does, through the library calls the single-tool commands make:
//   synth     data::generate → NN-synth/<i>-<task>-<style>.jsonl
//   prep      data::run_prep over the synth files and [[input]]s → corpus.jsonl, prep_report.{json,html}
//   tokenizer tok::count_words + train_bpe → tokenizer.json, tokenizer_stats.json
//   tokenize  data::tokenize_corpus → train/*.tok, val/*.tok, tokenize_report.json
//   train     train::Trainer (checkpoints, resume) → metrics.jsonl, checkpoints/, report.html
//   eval      eval::run_eval once per style → <style>/eval_report.{json,html}
//   report    RUN_DIR/report.html + RUN_DIR/summary.json (report.h)
// A step reads only its upstream steps' folders and the files external_inputs() names.
#pragma once

#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "anvil/base/context.h"
#include "anvil/base/status.h"
#include "anvil/pipeline/config.h"
#include "anvil/pipeline/step_record.h"

namespace anvil::pipeline {

enum class TrainStart { kFresh, kResume };  // resume: continue from the step folder's latest checkpoint

struct StepContext {
  const PipelineConfig& cfg;
  const Context& ctx;
  std::FILE* log = stderr;
  const std::atomic<bool>* stop = nullptr;  // train: stop after the current step, with a checkpoint
  TrainStart train_start = TrainStart::kFresh;
};

struct StepOutput {
  std::vector<std::string> outputs;  // relative to the step folder
  nlohmann::json summary = nlohmann::json::object();
};

// Runs one step into step_dir(cfg.run_dir, k), which exists and (unless resuming) is empty.
Result<StepOutput> run_step(StepKind k, const StepContext& sc);

// Files a step reads that no step produces (their contents go into the step's hash).
std::vector<std::string> external_inputs(StepKind k, const PipelineConfig& cfg);

// Where the trained model is: the latest checkpoint of the train step (with tokenizer.json copied in).
Result<std::string> trained_model_dir(const PipelineConfig& cfg);

}  // namespace anvil::pipeline
