// SequenceState: the per-sequence half of generation, shared by Generator (one sequence) and Scheduler
// (many, batched): given the logits row that predicts the next token it masks the model's rows beyond
// the tokenizer's vocabulary, samples, checks stop ids (incl. end-of-text), streams UTF-8 pieces through
// tok::StreamDecoder and holds back possible stop-string prefixes (StopMatcher). Same request + same
// logits rows => same tokens, text and finish, whoever drives it. Holds references: the tokenizer must
// outlive it; not thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/infer/sampler.h"
#include "anvil/infer/stop.h"
#include "anvil/tokenizer/tokenizer.h"

namespace anvil::infer {

enum class FinishReason : uint8_t { kStop, kLength };
const char* finish_reason_name(FinishReason r);  // "stop" | "length"

// The tokenizer's end-of-text token (<|endoftext|>, </s>, <|eot_id|>, <|im_end|>, first special one
// found in that order), or -1.
int32_t find_eos_id(const tok::Tokenizer& tokenizer);

// Checks a request before any work: non-empty prompt with ids in [0, n_tok), max_tokens >= min_tokens,
// sampling values in range, top_logprobs in [0, kMaxTopLogprobs] and only with logprobs. `op` prefixes
// the message (e.g. "infer.generate"). Does not check the prompt length.
Status validate_request(std::span<const int32_t> prompt, const SamplingOptions& opt, int64_t n_tok, const char* op,
                        int64_t min_tokens = 1);

// What one sampled token did.
struct SeqStep {
  bool emitted = false;  // false: a stop id was sampled (it is not part of the output, no event)
  int32_t id = -1;
  float logprob = 0.0f;
  std::vector<TopLogprob> top;  // the most likely tokens at this position (when opt.top_logprobs > 0)
  std::string text;      // text released by this token (when emitted)
  bool done = false;     // the sequence ended with this step: no decode of `id` follows
  FinishReason finish = FinishReason::kLength;
};

class SequenceState {
 public:
  // vocab_size: the model's rows (V >= tokenizer size); eos_id < 0 or opt.ignore_eos: no implicit stop id.
  SequenceState(const tok::Tokenizer& tokenizer, const SamplingOptions& opt, int64_t vocab_size, int32_t eos_id,
                std::span<const int32_t> prompt);

  // Samples the token that goes at position `pos` (= positions already in the cache) from `logits` (the
  // model's V; the first tokenizer-size entries are read and used as scratch). The sequence is done at a
  // stop id or stop string (kStop), or when max_tokens tokens were generated or pos reached max_seq
  // (kLength); otherwise the caller decodes `id` at `pos` next.
  Result<SeqStep> step(float* logits, int64_t pos, int64_t max_seq);
  // Scores prompt token `id` from the logits row that predicts it (Sampler::score); changes nothing else.
  SampledToken score(float* logits, int32_t id) { return sampler_.score(logits, id); }
  // After the last step: the held-back text still to release (empty when a stop string ended it). May turn
  // finish() into kStop when the flushed tail completes a stop string.
  std::string finish_tail();

  FinishReason finish() const { return finish_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  const std::vector<float>& logprobs() const { return logprobs_; }
  const std::string& text() const { return stops_.text(); }  // the completion released so far

 private:
  const tok::Tokenizer* tok_;
  SamplingOptions opt_;
  std::vector<int32_t> stop_ids_;
  Sampler sampler_;
  StopMatcher stops_;
  tok::StreamDecoder stream_;
  std::vector<int32_t> tokens_;
  std::vector<float> logprobs_;
  FinishReason finish_ = FinishReason::kLength;
};

}  // namespace anvil::infer
