// Built-in generators of verifiable reasoning tasks (arithmetic chains, word problems, ordering
// puzzles) for the quickstart corpus and the RL reward. Invariants: task i of (kind, difficulty, seed,
// split, style) is a pure function of those values (Rng(seed).fork(i)); a question belongs to the eval
// split iff xxh3_64(question) % kEvalOneIn == 0, so train and eval never share a question whatever
// their seeds. Text format (docs/data.md §synthetic): "Question: …\n<think>\n…\n</think>\nAnswer: X\n".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "anvil/base/rng.h"
#include "anvil/base/status.h"

namespace anvil::data {

enum class TaskKind { kArithmetic, kWord, kLogic, kMix };
enum class Style { kCot, kDirect };  // chain of thought in <think>…</think>, or the answer alone
enum class Split { kTrain, kEval, kAll };

inline constexpr uint64_t kEvalOneIn = 8;  // 1 question in 8 (by hash) is held out for eval
inline constexpr int kMinDifficulty = 1;
inline constexpr int kMaxDifficulty = 8;

struct SynthOptions {
  TaskKind kind = TaskKind::kArithmetic;
  int difficulty = 2;  // 1..8: digits and steps (arithmetic), steps (word), entities (logic)
  uint64_t seed = 1;
  Split split = Split::kTrain;
  Style style = Style::kCot;
  bool unique = false;  // generate(): no question twice in one set
};

struct Task {
  TaskKind kind = TaskKind::kArithmetic;  // never kMix
  int difficulty = 1;
  Style style = Style::kCot;
  std::string question = {};    // "What is 37 + 48 - 19?"
  std::string prompt = {};      // "Question: …\n" (cot) or "Question: …\nAnswer:" (direct)
  std::string completion = {};  // "<think>\n…\n</think>\nAnswer: 66\n" (cot) or " 66\n" (direct)
  std::string answer = {};      // "66"
  std::string text() const { return prompt + completion; }
};

// What one generator writes before the prompt/completion wrapping: the question, the reasoning lines
// (each without its newline) and the final answer.
struct TaskBody {
  std::string question = {};
  std::vector<std::string> steps;
  std::string answer = {};
};

TaskBody make_arithmetic(Rng& rng, int difficulty);
TaskBody make_word_problem(Rng& rng, int difficulty);
TaskBody make_logic_puzzle(Rng& rng, int difficulty);

bool is_eval_question(const std::string& question);

// The index-th task of the stream `opt` describes (rejection-samples until the split matches).
Result<Task> make_task(const SynthOptions& opt, uint64_t index);
// n tasks, indices 0, 1, …; with opt.unique, repeated questions are skipped.
Result<std::vector<Task>> generate(const SynthOptions& opt, size_t n);

// The JSONL document: {"id","text","source":"synthetic","prompt","answer","meta":{task,answer,…}}.
nlohmann::json task_to_json(const Task& task, const std::string& id, Split split);

const char* task_kind_name(TaskKind k);  // "arithmetic", "word", "logic", "mix"
const char* style_name(Style s);         // "cot", "direct"
const char* split_name(Split s);         // "train", "eval", "all"
Result<TaskKind> parse_task_kind(const std::string& s);
Result<Style> parse_style(const std::string& s);
Result<Split> parse_split(const std::string& s);

}  // namespace anvil::data
