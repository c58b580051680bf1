// The steps of `anvil run` and their records. Each step lives in RUN_DIR/<nn>-<name>/ with a step.json:
//   {"step", "hash", "inputs": {"settings": h, "step:<upstream>": h, "file:<path>": h}, "outputs": [...],
//    "status": running|completed|failed|interrupted, "started", "finished", "seconds", "error", "summary"}
// Invariant: hash = xxh3_64 of the sorted "key=value" lines of inputs, so a step whose inputs (its
// settings, its upstream step's hash, the contents of the files it reads) are unchanged has the same hash.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "anvil/base/status.h"

namespace anvil::pipeline {

enum class StepKind { kSynth, kPrep, kTokenizer, kTokenize, kTrain, kEval, kReport };
inline constexpr int kNumSteps = 7;

const char* step_name(StepKind k);                    // "synth", "prep", ...
std::string step_dir_name(StepKind k);                // "01-synth", "02-prep", ...
std::string step_dir(const std::string& run_dir, StepKind k);
Result<StepKind> parse_step_name(const std::string& name);

enum class StepStatus { kRunning, kCompleted, kFailed, kInterrupted };
const char* step_status_name(StepStatus s);
Result<StepStatus> parse_step_status(const std::string& s);

struct StepRecord {
  std::string step;
  std::string hash;
  std::map<std::string, std::string> inputs;
  std::vector<std::string> outputs;  // paths relative to the step folder
  StepStatus status = StepStatus::kRunning;
  std::string started, finished;     // UTC, ISO 8601
  double seconds = 0;
  std::string error;
  nlohmann::json summary = nlohmann::json::object();  // the step's headline numbers
};

nlohmann::json to_json(const StepRecord& r);
Result<StepRecord> step_record_from_json(const nlohmann::json& j, const std::string& path);
Result<StepRecord> read_step_record(const std::string& path);  // not_found when absent
Status write_step_record(const std::string& path, const StepRecord& r);  // atomic

// 16 lowercase hex digits.
std::string hash_hex(uint64_t h);
uint64_t hash_bytes(std::string_view data);
// xxh3_64 of a file's bytes (streamed); of a directory: of its regular files' relative names and contents.
Result<uint64_t> hash_path(const std::string& path);
// The step hash over its inputs (see the file comment).
std::string combine_inputs(const std::map<std::string, std::string>& inputs);

std::string utc_now_iso();

}  // namespace anvil::pipeline
