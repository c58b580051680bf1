// Generator::generate (see generator.h): encode -> prefill -> loop { sample -> stop token? -> stream
// decode -> stop strings -> decode step } with the model's logits beyond the tokenizer's vocabulary
// (padded embedding rows) masked to -inf so every sampled id can be decoded.
#include "anvil/infer/generator.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "anvil/infer/stop.h"

namespace anvil::infer {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

const char* finish_reason_name(FinishReason r) { return r == FinishReason::kStop ? "stop" : "length"; }

Result<Generator> Generator::create(model::Transformer model, tok::Tokenizer tokenizer, const GeneratorOptions& opt) {
  const auto n_tok = static_cast<int64_t>(tokenizer.vocab_size());
  if (n_tok > model.config().vocab_size)
    return invalid_argument("[infer.generator] the tokenizer has {} tokens but the model only {} embeddings", n_tok,
                            model.config().vocab_size);
  Generator g;
  g.model_ = std::make_unique<model::Transformer>(std::move(model));
  g.tok_ = std::make_unique<tok::Tokenizer>(std::move(tokenizer));
  ANVIL_ASSIGN_OR_RETURN(Engine e, Engine::create(*g.model_, {.n_slots = 1, .max_seq = opt.max_seq,
                                                              .max_batch_tokens = opt.max_batch_tokens}));
  g.engine_ = std::make_unique<Engine>(std::move(e));
  g.logits_.resize(static_cast<size_t>(g.model_->config().vocab_size));
  for (const char* name : {"<|endoftext|>", "</s>", "<|eot_id|>", "<|im_end|>"}) {
    const auto id = g.tok_->token_id(name);
    if (id && g.tok_->is_special(*id)) {
      g.eos_id_ = static_cast<int32_t>(*id);
      break;
    }
  }
  return g;
}

Result<GenerationResult> Generator::generate(std::string_view prompt, const SamplingOptions& opt,
                                             const TokenCallback& on_token) {
  std::vector<int32_t> ids;
  for (uint32_t id : tok_->encode(prompt)) ids.push_back(static_cast<int32_t>(id));
  if (ids.empty() && eos_id_ >= 0) ids.push_back(eos_id_);  // GPT-2 convention: condition on end-of-text
  return generate_ids(ids, opt, on_token);
}

Result<GenerationResult> Generator::generate_ids(std::span<const int32_t> prompt, const SamplingOptions& opt,
                                                 const TokenCallback& on_token) {
  const auto t0 = Clock::now();
  const int64_t max_seq = engine_->cache().max_seq(), V = model_->config().vocab_size;
  const auto n_tok = static_cast<int64_t>(tok_->vocab_size());
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt == 0) return invalid_argument("[infer.generate] empty prompt (and the tokenizer has no end-of-text token)");
  if (n_prompt >= max_seq)
    return out_of_range("[infer.generate] prompt of {} tokens leaves no room in a context of {}", n_prompt, max_seq);
  if (opt.max_tokens <= 0) return invalid_argument("[infer.generate] max_tokens {} must be > 0", opt.max_tokens);
  if (!(opt.temperature >= 0.0f) || !(opt.top_p > 0.0f && opt.top_p <= 1.0f) || opt.top_k < 0 ||
      !(opt.repetition_penalty > 0.0f))
    return invalid_argument("[infer.generate] need temperature >= 0 (got {}), top_p in (0, 1] (got {}), top_k >= 0 "
                            "(got {}), repetition_penalty > 0 (got {})",
                            opt.temperature, opt.top_p, opt.top_k, opt.repetition_penalty);
  for (int32_t id : prompt)
    if (id < 0 || id >= n_tok)
      return invalid_argument("[infer.generate] prompt id {} outside the tokenizer's vocabulary [0, {})", id, n_tok);

  std::vector<int32_t> stop_ids = opt.stop_token_ids;
  if (!opt.ignore_eos && eos_id_ >= 0) stop_ids.push_back(eos_id_);
  Sampler sampler(opt, V);
  sampler.reset(prompt);
  StopMatcher stops(opt.stop);
  tok::StreamDecoder stream(*tok_);
  GenerationResult res;
  res.n_prompt_tokens = n_prompt;

  engine_->cache().clear(0);
  ANVIL_RETURN_IF_ERROR(engine_->prefill(0, prompt, 0, logits_.data()));
  int64_t pos = n_prompt;
  Clock::time_point t_first;
  for (;;) {
    for (int64_t i = n_tok; i < V; ++i) logits_[static_cast<size_t>(i)] = -INFINITY;
    const SampledToken s = sampler.sample(logits_.data());
    if (res.tokens.empty()) {
      t_first = Clock::now();
      res.ttft_ms = ms_since(t0);
    }
    if (std::find(stop_ids.begin(), stop_ids.end(), s.id) != stop_ids.end()) {
      res.finish = FinishReason::kStop;
      break;
    }
    sampler.accept(s.id);
    res.tokens.push_back(s.id);
    if (opt.logprobs) res.logprobs.push_back(s.logprob);
    ANVIL_ASSIGN_OR_RETURN(std::string piece, stream.push(static_cast<uint32_t>(s.id)));
    const std::string out = stops.push(piece);
    const bool at_limit = static_cast<int64_t>(res.tokens.size()) >= opt.max_tokens || pos >= max_seq;
    if (on_token) on_token(TokenEvent{.id = s.id, .logprob = s.logprob, .text = out, .final = false});
    if (stops.stopped()) {
      res.finish = FinishReason::kStop;
      break;
    }
    if (at_limit) {
      res.finish = FinishReason::kLength;
      break;
    }
    ANVIL_RETURN_IF_ERROR(engine_->decode(0, s.id, pos, logits_.data()));
    ++pos;
  }
  // Release what is still held (an unfinished character, a partial stop-string prefix), unless stopped.
  std::string tail;
  if (!stops.stopped()) {
    tail = stops.push(stream.flush());
    if (!stops.stopped()) tail += stops.finish();
    else res.finish = FinishReason::kStop;
  }
  if (on_token) on_token(TokenEvent{.id = -1, .text = tail, .final = true});
  res.text = stops.text();
  res.n_tokens = static_cast<int64_t>(res.tokens.size());
  if (res.n_tokens > 1) res.decode_ms_per_token = ms_since(t_first) / static_cast<double>(res.n_tokens - 1);
  return res;
}

}  // namespace anvil::infer
