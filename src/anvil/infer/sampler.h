// Sampling the next token from a row of logits: penalties, then temperature, then top-k, then top-p
// (the HF LogitsProcessor / vLLM order), then a draw from the resulting distribution with a seeded Rng
// (deterministic for a seed). Semantics:
//   repetition_penalty r (HF/CTRL): for every token seen in prompt or output, logit > 0 ? logit / r : logit * r.
//   frequency_penalty f, presence_penalty p (OpenAI): logit -= count * f + (count > 0) * p, counts over the
//     generated tokens only.
//   temperature 0 = greedy (argmax, lowest id on ties; top-k/top-p do not matter then).
//   top_k k: keep the tokens whose logit is >= the k-th largest (ties at the boundary kept, as HF).
//   top_p q: over the renormalised top-k distribution sorted by probability, keep the shortest prefix whose
//     mass reaches q (a token is kept iff the mass strictly before it is < q; the top token always).
//   logit_bias (OpenAI): each listed token's bias is added to its logit after the penalties, before
//     temperature (so also before greedy's argmax); -100 bans a token in practice, +100 forces it.
// logprob: log-softmax of the RAW logits (before penalties, temperature and truncation) at the chosen
// token — the model's own probability, as OpenAI reports it. top_logprobs N > 0: the N most likely tokens
// of that same raw distribution (so the chosen token's entry, when it is among them, equals its logprob),
// found by one pass keeping the best N in a sorted buffer, never a full sort; N = 0 costs nothing.
// Scratch is sized once: no allocation per token unless top_logprobs > 0.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "anvil/base/rng.h"

namespace anvil::infer {

inline constexpr int64_t kMaxTopLogprobs = 20;  // OpenAI's limit (chat top_logprobs)
inline constexpr float kMaxLogitBias = 100.0f;  // OpenAI's range for logit_bias values: [-100, 100]

struct TokenBias {
  int32_t id = 0;
  float bias = 0.0f;
};

struct SamplingOptions {
  float temperature = 1.0f;          // 0 = greedy
  int64_t top_k = 0;                 // 0 = off
  float top_p = 1.0f;                // 1 = off
  float repetition_penalty = 1.0f;   // 1 = off
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0;
  int64_t max_tokens = 128;
  std::vector<std::string> stop = {};      // stop strings, matched on the decoded text, not emitted
  std::vector<int32_t> stop_token_ids = {};  // e.g. end-of-text; the token's text is not emitted
  bool ignore_eos = false;                 // Generator: do not add the tokenizer's end-of-text token
  bool logprobs = false;                   // report each chosen token's log-probability (one softmax over V)
  int64_t top_logprobs = 0;                // with logprobs: also the N most likely tokens, [0, kMaxTopLogprobs]
  std::vector<TokenBias> logit_bias = {};  // distinct ids, biases in [-kMaxLogitBias, kMaxLogitBias]
};

// One of the most likely tokens at a position, under the raw model distribution.
struct TopLogprob {
  int32_t id = 0;
  float logprob = 0.0f;
};

struct SampledToken {
  int32_t id = 0;
  float logprob = 0.0f;  // log p_model(id): log-softmax of the raw logits (0 unless opt.logprobs)
  // The top_logprobs most likely tokens of the raw distribution, most likely first (ties: lower id
  // first); fewer only when fewer tokens have a nonzero probability. Empty unless opt.top_logprobs > 0.
  std::vector<TopLogprob> top;
};

class Sampler {
 public:
  Sampler(const SamplingOptions& opt, int64_t vocab_size);

  // Starts a new sequence: the prompt's tokens count for the repetition penalty only.
  void reset(std::span<const int32_t> prompt);
  // Chooses the next token from logits (V); `logits` is used as scratch (its values are changed).
  SampledToken sample(float* logits);
  // The log-probability of a given token `id` under the raw distribution of `logits`, with the
  // top_logprobs most likely tokens (the values sample() would report had it chosen `id`); logits is
  // scratch, the sampler's state does not change. For scoring a prompt.
  SampledToken score(float* logits, int32_t id);
  // Records a generated token (for the penalties). sample() does not call it: the caller decides.
  void accept(int32_t id);

  // The distribution sample() draws from, after penalties, temperature, top-k and top-p (zeros for
  // masked tokens), written to probs (V); logits is scratch. For tests and for logprob reporting.
  void distribution(float* logits, float* probs);

 private:
  bool penalised() const;  // any of the three penalties set
  // The penalties, then logit_bias: every change sample() makes to the raw logits.
  void adjust_logits(float* logits) const;
  // log p(id) of the raw logits: (logit - max) - log(sum exp(logit - max)), set up by raw_log_softmax().
  float raw_logprob(float logit) const { return logit - raw_max_ - raw_log_sum_; }
  void raw_log_softmax(const float* logits);
  // The opt_.top_logprobs largest raw logits, as log-probabilities (before the penalties change them).
  void top_raw(const float* logits, std::vector<TopLogprob>& out) const;
  // probs (V) from logits already penalised; temperature > 0.
  void truncated_softmax(const float* logits, float* probs);

  SamplingOptions opt_;
  int64_t V_ = 0;
  Rng rng_;
  std::vector<int32_t> counts_;  // generated occurrences per token
  std::vector<uint8_t> seen_;    // in prompt or generated
  std::vector<int32_t> touched_;  // tokens with seen_ set (for penalties in O(touched))
  std::vector<float> probs_;
  std::vector<float> raw_touched_;  // raw logits of touched_ (as the penalties find them), for logprobs
  std::vector<float> raw_biased_;   // raw logits of opt_.logit_bias's tokens, for logprobs
  float raw_max_ = 0.0f, raw_log_sum_ = 0.0f;
  std::vector<int32_t> order_;
};

}  // namespace anvil::infer
