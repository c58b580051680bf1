// Multiple-choice evaluation by log-likelihood, as lm-evaluation-harness scores MMLU and C-Eval
// (method-specs §9.1, §9.2): context = description + k shots (first k dev items, each doc_to_text + " " +
// letter, joined by "\n\n") + "\n\n" + doc_to_text; each choice is scored as loglikelihood(context,
// " " + letter). acc = argmax over the letters. The full-answer-text variant scores " " + choice text:
// acc_text = its raw argmax, acc_norm = argmax of LL / len(choice text) with len in characters (UTF-8
// code points, as Python's len; lm-eval api/task.py). Per-item results keep what error analysis needs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/eval/lm.h"
#include "anvil/eval/mc_data.h"

namespace anvil::eval {

enum class McScoring { kLetters, kBoth };  // kBoth adds the full-answer-text requests (acc_norm)

struct McOptions {
  int shots = 5;
  int64_t limit = 0;  // items per subject; 0 = all
  McScoring scoring = McScoring::kBoth;
  bool progress = false;
};

struct McItemResult {
  std::string subject = {}, id = {}, prompt = {};
  int gold = -1;
  int chosen = -1;       // argmax of the letter log-likelihoods
  int chosen_norm = -1;  // argmax of text LL / length (-1 when not scored)
  int chosen_text = -1;  // argmax of raw text LL (-1 when not scored)
  std::vector<double> ll_letter = {}, ll_text = {};
  int64_t n_prompt_tokens = 0;
  bool truncated = false;  // the context was cut from the left to fit the model
  int n_shots = 0;
  // ll_letter[gold] − max over the other letters: < 0 means wrong, most negative = worst.
  double margin = 0.0;
};

struct McScore {
  int64_t n = 0;
  double acc = 0.0, acc_norm = 0.0, acc_text = 0.0;  // acc_norm/acc_text: NaN with kLetters
};

struct McSubjectScore {
  std::string name = {};
  McScore score = {};
};

struct McResult {
  std::string task = {};   // "mmlu", "ceval", "mcjsonl"
  std::string source = {}, split = {};
  int shots = 0;
  std::vector<McSubjectScore> subjects = {};
  McScore micro = {};  // over items (lm-eval's weight_by_size group average)
  McScore macro = {};  // mean over subjects
  std::vector<McItemResult> items = {};
  int64_t n_requests = 0;
  double seconds = 0.0;
};

// The description line of a subject ("" for a JSONL subject without a name).
std::string mc_description(McFormat format, const McSubject& s);
// doc_to_text of one item (ends with "Answer:" or "答案：").
std::string mc_doc_to_text(McFormat format, const McItem& item);
// The few-shot context for item `index` of s.eval: description, shots, doc_to_text. Shots come from
// s.dev (first k); a subject without dev items takes the first k other eval items. n_shots_used reports k.
std::string mc_context(McFormat format, const McSubject& s, size_t index, int shots, int* n_shots_used = nullptr);

Result<McResult> run_mc(LmScorer& lm, const McDataset& ds, const McOptions& opt);

// Python len() of a UTF-8 string: code points.
int64_t utf8_length(std::string_view s);

}  // namespace anvil::eval
