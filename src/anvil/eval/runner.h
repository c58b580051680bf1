// The eval runner behind `anvil eval`: parses task specs, loads the model and tokenizer once, runs
// every task (perplexity, multiple choice, generative) and the speed measurement, and assembles the
// report JSON (docs/eval.md). Task specs: "ppl:PATH", "mmlu:DIR[@split]", "ceval:DIR[@split]",
// "mcjsonl:FILE", "gsm8k:FILE[@SHOTS_FILE]", "synth:arithmetic|word|logic|mix".
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "anvil/base/status.h"
#include "anvil/eval/gen.h"
#include "anvil/eval/mc.h"
#include "anvil/eval/speed.h"

namespace anvil::eval {

enum class TaskKind { kPpl, kMmlu, kCeval, kMcJsonl, kGsm8k, kSynth };
enum class GenEngine { kAuto, kKvCache, kRecompute };  // auto = infer::Scheduler (batched), kv = infer::Generator

struct TaskSpec {
  TaskKind kind = TaskKind::kPpl;
  std::string arg = {};    // path, directory or synthetic task kind
  std::string split = {};  // mmlu / ceval: the evaluated split ("" = the default)
  std::string shot_pool = {};  // gsm8k: the file few-shot examples come from ("" = train.jsonl beside it)
  std::string name = {};   // the spec as written, for the report
};

Result<TaskSpec> parse_task_spec(const std::string& spec);

struct EvalConfig {
  std::string model_dir = {};
  std::string tokenizer_path = {};  // "" = <model_dir>/tokenizer.json
  std::vector<std::string> tasks = {};
  int shots = 5;
  int64_t limit = 0;  // items per subject (MC) / per task (generative); 0 = all (synthetic: 50)
  Precision precision = Precision::kF32;
  int64_t max_batch = 8;
  int64_t max_length = 0;  // 0 = the model's context
  int64_t ppl_window = 0, ppl_stride = 0, ppl_max_tokens = 0;
  McScoring mc_scoring = McScoring::kBoth;
  int64_t max_new_tokens = 256;
  double temperature = 0.0;
  int64_t n_samples = 1;
  std::vector<int64_t> pass_k = {1};
  int synth_difficulty = 2;
  data::Style synth_style = data::Style::kCot;
  uint64_t seed = 1;
  GenEngine engine = GenEngine::kAuto;
  bool speed = true;
  SpeedOptions speed_options = {};
  int n_worst = 10;
  bool progress = true;
};

// Runs everything; progress and one line per finished task go to `log` (may be null).
Result<nlohmann::json> run_eval(const EvalConfig& cfg, std::FILE* log);

// <out_dir>/eval_report.json and <out_dir>/eval_report.html, each written atomically.
Status write_report(const nlohmann::json& report, const std::string& out_dir);

}  // namespace anvil::eval
