// Generator::generate (see generator.h): encode -> prefill -> loop { SequenceState::step (mask padded
// rows, sample, stop token?, stream decode, stop strings, limits) -> decode step } -> flush the tail.
#include "anvil/infer/generator.h"

#include <chrono>

namespace anvil::infer {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

Result<Generator> Generator::create(model::Transformer model, tok::Tokenizer tokenizer, const GeneratorOptions& opt) {
  const auto n_tok = static_cast<int64_t>(tokenizer.vocab_size());
  if (n_tok > model.config().vocab_size)
    return invalid_argument("[infer.generator] the tokenizer has {} tokens but the model only {} embeddings", n_tok,
                            model.config().vocab_size);
  Generator g;
  g.tok_ = std::make_unique<tok::Tokenizer>(std::move(tokenizer));
  ANVIL_ASSIGN_OR_RETURN(Engine e, Engine::create(model, {.n_slots = 1, .max_seq = opt.max_seq,
                                                          .max_batch_tokens = opt.max_batch_tokens,
                                                          .kv_dtype = opt.kv_dtype}));
  g.engine_ = std::make_unique<Engine>(std::move(e));  // the model goes when create() returns
  g.logits_.resize(static_cast<size_t>(g.engine_->vocab_size()));
  g.eos_id_ = find_eos_id(*g.tok_);
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
  const int64_t max_seq = engine_->cache().max_seq();
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt == 0) return invalid_argument("[infer.generate] empty prompt (and the tokenizer has no end-of-text token)");
  if (n_prompt >= max_seq)
    return out_of_range("[infer.generate] prompt of {} tokens leaves no room in a context of {}", n_prompt, max_seq);
  ANVIL_RETURN_IF_ERROR(validate_request(prompt, opt, static_cast<int64_t>(tok_->vocab_size()), "infer.generate"));

  SequenceState seq(*tok_, opt, engine_->vocab_size(), eos_id_, prompt);
  GenerationResult res;
  res.n_prompt_tokens = n_prompt;
  engine_->cache().clear(0);
  ANVIL_RETURN_IF_ERROR(engine_->prefill(0, prompt, 0, logits_.data()));
  Clock::time_point t_first;
  for (int64_t pos = n_prompt;; ++pos) {
    ANVIL_ASSIGN_OR_RETURN(SeqStep s, seq.step(logits_.data(), pos, max_seq));
    if (pos == n_prompt) {
      t_first = Clock::now();
      res.ttft_ms = ms_since(t0);
    }
    if (s.emitted && on_token)
      on_token(TokenEvent{.id = s.id, .logprob = s.logprob, .text = s.text, .final = false, .top = s.top});
    if (s.done) break;
    ANVIL_RETURN_IF_ERROR(engine_->decode(0, s.id, pos, logits_.data()));
  }
  // Release what is still held (an unfinished character, a partial stop-string prefix), unless stopped.
  const std::string tail = seq.finish_tail();
  if (on_token) on_token(TokenEvent{.id = -1, .text = tail, .final = true});
  res.finish = seq.finish();
  res.tokens = seq.tokens();
  res.logprobs = seq.logprobs();
  res.text = seq.text();
  res.n_tokens = static_cast<int64_t>(res.tokens.size());
  if (res.n_tokens > 1) res.decode_ms_per_token = ms_since(t_first) / static_cast<double>(res.n_tokens - 1);
  return res;
}

}  // namespace anvil::infer
