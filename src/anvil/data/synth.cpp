// Wraps the task generators (synth_arith/word/logic.cpp) into prompts and completions, assigns the
// train/eval split by question hash, and writes the JSONL form (docs/data.md §synthetic).
#include "anvil/data/synth.h"

#include <algorithm>
#include <unordered_set>

#include <xxhash.h>

namespace anvil::data {
namespace {

// Rejection sampling for the split draws fresh questions until one lands on the right side; with
// 1 in kEvalOneIn held out, this many failures in a row means the question space is exhausted.
constexpr int kMaxSplitAttempts = 4096;
// generate(unique=true) gives up after this many draws per requested task.
constexpr size_t kMaxDrawsPerUniqueTask = 64;

TaskBody make_body(TaskKind kind, Rng& rng, int difficulty) {
  switch (kind) {
    case TaskKind::kArithmetic: return make_arithmetic(rng, difficulty);
    case TaskKind::kWord: return make_word_problem(rng, difficulty);
    case TaskKind::kLogic: return make_logic_puzzle(rng, difficulty);
    case TaskKind::kMix: break;
  }
  return make_arithmetic(rng, difficulty);
}

}  // namespace

bool is_eval_question(const std::string& question) {
  return XXH3_64bits(question.data(), question.size()) % kEvalOneIn == 0;
}

Result<Task> make_task(const SynthOptions& opt, uint64_t index) {
  if (opt.difficulty < kMinDifficulty || opt.difficulty > kMaxDifficulty) {
    return invalid_argument("[synth] difficulty {} is outside [{}, {}]", opt.difficulty, kMinDifficulty,
                            kMaxDifficulty);
  }
  Rng rng = Rng(opt.seed).fork(index);
  TaskKind kind = opt.kind;
  if (kind == TaskKind::kMix) kind = static_cast<TaskKind>(rng.below(3));
  for (int attempt = 0; attempt < kMaxSplitAttempts; ++attempt) {
    TaskBody body = make_body(kind, rng, opt.difficulty);
    const bool eval = is_eval_question(body.question);
    if ((opt.split == Split::kTrain && eval) || (opt.split == Split::kEval && !eval)) continue;
    Task t;
    t.kind = kind, t.difficulty = opt.difficulty, t.style = opt.style;
    t.question = body.question, t.answer = body.answer;
    if (opt.style == Style::kCot) {
      t.prompt = "Question: " + body.question + "\n";
      t.completion = "<think>\n";
      for (const auto& s : body.steps) t.completion += s + "\n";
      t.completion += "</think>\nAnswer: " + body.answer + "\n";
    } else {
      t.prompt = "Question: " + body.question + "\nAnswer:";
      t.completion = " " + body.answer + "\n";
    }
    return t;
  }
  return out_of_range("[synth] no {} question found for task {} (difficulty {}) in {} draws", split_name(opt.split),
                      task_kind_name(kind), opt.difficulty, kMaxSplitAttempts);
}

Result<std::vector<Task>> generate(const SynthOptions& opt, size_t n) {
  std::vector<Task> out;
  out.reserve(n);
  std::unordered_set<std::string> seen;
  const size_t max_draws = opt.unique ? n * kMaxDrawsPerUniqueTask + kMaxDrawsPerUniqueTask : n;
  for (uint64_t i = 0; out.size() < n && i < max_draws; ++i) {
    ANVIL_ASSIGN_OR_RETURN(Task t, make_task(opt, i));
    if (opt.unique && !seen.insert(t.question).second) continue;
    out.push_back(std::move(t));
  }
  if (out.size() < n) {
    return out_of_range("[synth] only {} distinct {} questions of task {} at difficulty {} found in {} draws, "
                        "asked for {}",
                        out.size(), split_name(opt.split), task_kind_name(opt.kind), opt.difficulty, max_draws, n);
  }
  return out;
}

nlohmann::json task_to_json(const Task& t, const std::string& id, Split split) {
  return {{"id", id},
          {"text", t.text()},
          {"source", "synthetic"},
          {"prompt", t.prompt},
          {"answer", t.answer},
          {"meta",
           {{"task", task_kind_name(t.kind)},
            {"answer", t.answer},
            {"difficulty", t.difficulty},
            {"style", style_name(t.style)},
            {"split", split_name(split)}}}};
}

const char* task_kind_name(TaskKind k) {
  switch (k) {
    case TaskKind::kArithmetic: return "arithmetic";
    case TaskKind::kWord: return "word";
    case TaskKind::kLogic: return "logic";
    case TaskKind::kMix: return "mix";
  }
  return "unknown";
}
const char* style_name(Style s) { return s == Style::kCot ? "cot" : "direct"; }
const char* split_name(Split s) {
  switch (s) {
    case Split::kTrain: return "train";
    case Split::kEval: return "eval";
    case Split::kAll: return "all";
  }
  return "unknown";
}

Result<TaskKind> parse_task_kind(const std::string& s) {
  for (TaskKind k : {TaskKind::kArithmetic, TaskKind::kWord, TaskKind::kLogic, TaskKind::kMix}) {
    if (s == task_kind_name(k)) return k;
  }
  return invalid_argument("[synth] unknown task '{}' (expected arithmetic|word|logic|mix)", s);
}
Result<Style> parse_style(const std::string& s) {
  if (s == "cot") return Style::kCot;
  if (s == "direct") return Style::kDirect;
  return invalid_argument("[synth] unknown style '{}' (expected cot|direct)", s);
}
Result<Split> parse_split(const std::string& s) {
  for (Split k : {Split::kTrain, Split::kEval, Split::kAll}) {
    if (s == split_name(k)) return k;
  }
  return invalid_argument("[synth] unknown split '{}' (expected train|eval|all)", s);
}

}  // namespace anvil::data
