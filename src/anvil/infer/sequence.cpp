// SequenceState (see sequence.h): one step = mask padded rows -> sample -> stop id? -> accept -> stream
// decode -> stop strings -> limits; the order Generator always had, now shared with the Scheduler.
#include "anvil/infer/sequence.h"

#include <algorithm>
#include <cmath>

namespace anvil::infer {

const char* finish_reason_name(FinishReason r) { return r == FinishReason::kStop ? "stop" : "length"; }

int32_t find_eos_id(const tok::Tokenizer& tokenizer) {
  for (const char* name : {"<|endoftext|>", "</s>", "<|eot_id|>", "<|im_end|>"}) {
    const auto id = tokenizer.token_id(name);
    if (id && tokenizer.is_special(*id)) return static_cast<int32_t>(*id);
  }
  return -1;
}

Status validate_request(std::span<const int32_t> prompt, const SamplingOptions& opt, int64_t n_tok, const char* op,
                        int64_t min_tokens) {
  if (prompt.empty()) return invalid_argument("[{}] empty prompt", op);
  if (opt.max_tokens < min_tokens)
    return invalid_argument("[{}] max_tokens {} must be >= {}", op, opt.max_tokens, min_tokens);
  if (!(opt.temperature >= 0.0f) || !(opt.top_p > 0.0f && opt.top_p <= 1.0f) || opt.top_k < 0 ||
      !(opt.repetition_penalty > 0.0f) || !std::isfinite(opt.frequency_penalty) || !std::isfinite(opt.presence_penalty))
    return invalid_argument("[{}] need temperature >= 0 (got {}), top_p in (0, 1] (got {}), top_k >= 0 (got {}), "
                            "repetition_penalty > 0 (got {}), finite frequency/presence penalties (got {}, {})",
                            op, opt.temperature, opt.top_p, opt.top_k, opt.repetition_penalty, opt.frequency_penalty,
                            opt.presence_penalty);
  if (opt.top_logprobs < 0 || opt.top_logprobs > kMaxTopLogprobs || (opt.top_logprobs > 0 && !opt.logprobs))
    return invalid_argument("[{}] top_logprobs {} must be in [0, {}] and needs logprobs (logprobs = {})", op,
                            opt.top_logprobs, kMaxTopLogprobs, opt.logprobs);
  for (size_t i = 0; i < opt.logit_bias.size(); ++i) {
    const TokenBias& b = opt.logit_bias[i];
    if (b.id < 0 || b.id >= n_tok || !(std::abs(b.bias) <= kMaxLogitBias))
      return invalid_argument("[{}] logit_bias entry {}: token {} must be in [0, {}) and its bias {} in [-{}, {}]", op,
                              i, b.id, n_tok, b.bias, kMaxLogitBias, kMaxLogitBias);
    for (size_t j = 0; j < i; ++j)
      if (opt.logit_bias[j].id == b.id) return invalid_argument("[{}] logit_bias lists token {} twice", op, b.id);
  }
  for (size_t i = 0; i < prompt.size(); ++i)
    if (prompt[i] < 0 || prompt[i] >= n_tok)
      return invalid_argument("[{}] prompt id {} at index {} outside the tokenizer's vocabulary [0, {})", op, prompt[i],
                              i, n_tok);
  return ok_status();
}

SequenceState::SequenceState(const tok::Tokenizer& tokenizer, const SamplingOptions& opt, int64_t vocab_size,
                             int32_t eos_id, std::span<const int32_t> prompt)
    : tok_(&tokenizer), opt_(opt), stop_ids_(opt.stop_token_ids),
      // Rows past the tokenizer's tokens (a model's padded vocabulary) cannot be sampled: the sampler
      // never looks at them, as if they were -inf (they would add exp(-inf) = 0 to every sum).
      sampler_(opt, std::min(vocab_size, static_cast<int64_t>(tokenizer.vocab_size()))), stops_(opt.stop),
      stream_(tokenizer) {
  if (!opt.ignore_eos && eos_id >= 0) stop_ids_.push_back(eos_id);
  sampler_.reset(prompt);
}

Result<SeqStep> SequenceState::step(float* logits, int64_t pos, int64_t max_seq) {
  SampledToken s = sampler_.sample(logits);
  SeqStep out;
  out.id = s.id, out.logprob = s.logprob, out.top = std::move(s.top);
  if (std::find(stop_ids_.begin(), stop_ids_.end(), s.id) != stop_ids_.end()) {
    out.done = true, out.finish = finish_ = FinishReason::kStop;
    return out;
  }
  sampler_.accept(s.id);
  tokens_.push_back(s.id);
  if (opt_.logprobs) logprobs_.push_back(s.logprob);
  ANVIL_ASSIGN_OR_RETURN(std::string piece, stream_.push(static_cast<uint32_t>(s.id)));
  out.emitted = true;
  out.text = stops_.push(piece);
  const bool at_limit = static_cast<int64_t>(tokens_.size()) >= opt_.max_tokens || pos >= max_seq;
  if (stops_.stopped()) out.done = true, out.finish = finish_ = FinishReason::kStop;
  else if (at_limit) out.done = true, out.finish = finish_ = FinishReason::kLength;
  return out;
}

std::string SequenceState::finish_tail() {
  if (stops_.stopped()) return {};
  std::string tail = stops_.push(stream_.flush());
  if (!stops_.stopped()) tail += stops_.finish();
  else finish_ = FinishReason::kStop;
  return tail;
}

}  // namespace anvil::infer
