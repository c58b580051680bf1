// The `anvil run` config: one TOML file describes a whole run (examples/quickstart.toml documents every
// table). Parsing is strict (unknown or mistyped keys are errors naming the key path and line) and
// reuses the one parser of each tool: data/prep_config.h for [[input]], [prep], [mix] and [[balance]],
// train/train_config.h for the tables under [train]. `--set a.b=value` overrides are applied to the
// TOML tree before reading. Each step's settings are also kept as canonical JSON: what its hash covers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "anvil/base/status.h"
#include "anvil/data/prep.h"
#include "anvil/data/synth.h"
#include "anvil/train/trainer.h"

namespace anvil::pipeline {

// One [[synth]] table: a stream of built-in reasoning tasks written as JSONL documents.
struct SynthSource {
  data::SynthOptions options;
  size_t n = 1000;
  std::string group = "synthetic";  // mixing group of these documents
};

// One [[input]] table: prep.toml's keys, plus `split_on` (records separated by a line holding only
// this string, as fortune files use "%"): such a file is rewritten as JSONL before prep reads it.
struct InputSource {
  data::PrepInput input;
  std::string split_on;
};

struct TokenizerSettings {
  size_t vocab_size = 4096;
  uint64_t min_frequency = 2;
  size_t max_token_length = 0;
  std::vector<std::string> specials = {"<|endoftext|>", "<think>", "</think>"};
  std::string pattern = "gpt2";  // gpt2 | cl100k
  bool split_digits = false;
};

struct TokenizeSettings {
  double val_fraction = 0.01;
  std::string eos = "<|endoftext|>";
};

// Evaluation of the trained model: one eval report per synthetic style (the first also scores the
// other tasks, perplexity on the validation shards and speed).
struct EvalSettings {
  std::vector<std::string> tasks = {"synth:arithmetic"};  // anvil eval task specs
  std::vector<std::string> styles = {"cot", "direct"};     // styles of synth: tasks, each its own report
  int64_t limit = 200;                                     // items per task
  bool ppl = true;                                         // perplexity on the validation shards
  int64_t ppl_max_tokens = 0;                              // 0 = all of them
  int synth_difficulty = 2;
  int64_t max_new_tokens = 160;        // generation limit with <think>
  int64_t max_new_tokens_direct = 16;  // generation limit of direct answers
  bool speed = true;
  uint64_t seed = 1;
};

// What `anvil run` does after the last step when serving is on ([serve] enabled = true, or --serve):
// `anvil serve` on the trained model until Ctrl-C / SIGTERM. Not a hashed step: it makes nothing.
struct ServeSettings {
  bool enabled = false;
  std::string host = "127.0.0.1";
  int64_t port = 8080;        // 0 = any free port (printed)
  int64_t grpc_port = -1;     // -1 = no gRPC
  int64_t max_running = 8;    // sequences decoding at once
  std::string model_name;     // "" = the run directory's name
};

struct PipelineConfig {
  std::string source;   // the config file (for messages)
  std::string run_dir;  // every step's folder lives here
  uint64_t seed = 1337;
  std::vector<SynthSource> synth;
  std::vector<InputSource> inputs;
  data::PrepConfig prep;  // cleaning and mixing; inputs/output/work_dir/report are set by the pipeline
  TokenizerSettings tokenizer;
  TokenizeSettings tokenize;
  train::TrainOptions train;  // run_dir, train_data, val_data are set by the pipeline
  std::string model_config;   // train.model.config as written (preset or config.json path)
  std::string train_toml;     // the [train] tables as TOML (the train step writes them as run.toml)
  EvalSettings eval;
  ServeSettings serve;
  nlohmann::json settings;    // per step name: the TOML tables that step reads, as JSON
};

// "a.b.c=value": value is read as a TOML value (number, bool, string, array), else as a bare string.
struct Override {
  std::string path, value;
};
Result<Override> parse_override(const std::string& spec);

// Parses `text` (from `source`). Relative paths (run.dir, inputs, model config) are relative to the
// directory anvil runs in, as in `anvil train` configs.
Result<PipelineConfig> parse_pipeline_config(const std::string& text, const std::string& source,
                                             const std::vector<Override>& overrides = {});
Result<PipelineConfig> load_pipeline_config(const std::string& path, const std::vector<Override>& overrides = {});

}  // namespace anvil::pipeline
