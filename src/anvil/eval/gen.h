// Generative tasks scored by exact match: GSM8K-style JSONL ({"question", "answer": "... #### N"};
// method-specs §9.3: prompt "Question: {q}\nAnswer:", k shots joined by "\n\n", greedy, stop at
// "Question:", "</s>", "<|im_end|>"; strict "#### N" and flexible last-number extraction, plus \boxed{};
// exact_match after removing ",", "$", everything through the last "#### ", a final ".", ignoring case),
// and the built-in synthetic reasoning tasks scored by their verifiers (data/verify.h). With n samples
// per problem (temperature > 0), pass@k uses the unbiased estimator 1 − C(n−c, k) / C(n, k) (Chen et al.
// 2021, "Evaluating Large Language Models Trained on Code" §2.1). Generation goes through CompleteFn, so
// any engine plugs in (infer::Generator with a KV cache, or recomputation for tiny models).
#pragma once

#include <cstdint>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/data/synth.h"

namespace anvil::eval {

struct GenParams {
  int64_t max_new_tokens = 256;
  double temperature = 0.0;  // 0 = greedy
  uint64_t seed = 0;
  std::vector<std::string> stop = {};  // the completion ends before the first of these (not included)
};

struct Completion {
  std::string text = {};
  int64_t n_prompt_tokens = 0, n_tokens = 0;
  double ttft_ms = 0.0, decode_ms_per_token = 0.0;  // 0 when the engine does not measure them
};

// The one thing generative tasks need from an engine: a completion of `prompt`.
using CompleteFn = std::function<Result<Completion>(const std::string& prompt, const GenParams& params)>;

// Many completions at once, results in request order: an engine with continuous batching runs them
// together (completer.h: scheduler_completer); one_at_a_time() adapts a CompleteFn.
struct CompletionRequest {
  std::string prompt;
  GenParams params;
};
using CompleteBatchFn = std::function<Result<std::vector<Completion>>(std::span<const CompletionRequest> requests)>;
CompleteBatchFn one_at_a_time(CompleteFn complete);

// --- GSM8K answer extraction and matching (method-specs §9.3) ---
// "#### (-?[0-9.,]+)", first match; "[invalid]" when none.
std::string extract_strict(std::string_view text);
// "(-?[$0-9.,]{2,})|(-?[0-9]+)", last match; "[invalid]" when none.
std::string extract_flexible(std::string_view text);
// Content of the last \boxed{...} (balanced braces); "[invalid]" when none.
std::string extract_boxed(std::string_view text);
// lm-eval exact_match normalisation: drop ",", "$", "(?s).*#### ", "\.$"; lower-case.
std::string normalize_answer(std::string_view s);

// pass@k from n samples with c correct (unbiased; 1 when n − c < k).
double pass_at_k(int64_t n, int64_t c, int64_t k);

struct GenItem {
  std::string question;  // the question (the prompt without shots)
  std::string target;    // the reference answer text (GSM8K: the full solution; synthetic: the answer)
  std::string gold = {};      // the normalised final answer
};

struct GenSample {
  std::string completion = {};
  std::string extracted;   // the answer taken from the completion (strict for GSM8K, verifier for synth)
  bool correct = false;
  bool correct_flexible = false;  // GSM8K flexible-extract; synth: the format reward
};

struct GenItemResult {
  std::string id = {}, prompt = {}, gold = {};
  std::vector<GenSample> samples = {};
  int64_t n_correct = 0;
};

struct GenOptions {
  int shots = 5;          // GSM8K: shots from shot_pool (seeded order), see run_gsm8k
  std::string shot_pool = {};  // GSM8K: JSONL the shots come from; "" = train.jsonl beside the file, if any
  int64_t limit = 0;      // items; 0 = all
  int64_t n_samples = 1;  // per item; > 1 needs temperature > 0
  std::vector<int64_t> pass_k = {1};
  GenParams params = {};
  bool progress = false;
};

struct GenResult {
  std::string task = {}, source = {};
  int64_t n = 0;
  double exact_match = 0.0;           // GSM8K strict-match | synth verifier accuracy (first sample)
  double exact_match_flexible = 0.0;  // GSM8K flexible-extract | synth format rate (first sample)
  std::vector<std::pair<int64_t, double>> pass_at = {};  // (k, pass@k) for k <= n_samples
  int64_t n_samples = 1;
  double temperature = 0.0;
  std::string shots_from = {};  // GSM8K: the file the few-shot examples came from
  std::vector<GenItemResult> items = {};
  int64_t n_generated_tokens = 0;
  double seconds = 0.0;
};

// GSM8K JSONL; errors name the file and line.
Result<std::vector<GenItem>> load_gsm8k(const std::string& path);
// The few-shot prompt for `item`: `shots` examples of `pool` in an order seeded by 1234 (lm-eval's
// default few-shot seed), skipping pool index `skip` (the item itself when the pool is the evaluated file).
std::string gsm8k_prompt(const std::vector<GenItem>& pool, const GenItem& item, int shots, size_t skip = SIZE_MAX);
// Shots come from opt.shot_pool; without one, from `train.jsonl` in the evaluated file's folder (the layout
// of openai/grade-school-math, as lm-eval's fewshot_split: train); without that, from the other items of
// the evaluated file. GenResult::shots_from says which.
Result<GenResult> run_gsm8k(const CompleteBatchFn& complete, const std::string& path, const GenOptions& opt);
Result<GenResult> run_gsm8k(const CompleteFn& complete, const std::string& path, const GenOptions& opt);

struct SynthTaskOptions {
  data::TaskKind kind = data::TaskKind::kArithmetic;
  int difficulty = 2;
  data::Style style = data::Style::kCot;
  uint64_t seed = 1;
  int64_t n = 50;  // problems (eval split)
};
Result<GenResult> run_synth(const CompleteBatchFn& complete, const SynthTaskOptions& task, const GenOptions& opt);
Result<GenResult> run_synth(const CompleteFn& complete, const SynthTaskOptions& task, const GenOptions& opt);

}  // namespace anvil::eval
