// Generator: text in, streamed text out, for one sequence at a time — tokenizer + Engine + Sampler +
// StopMatcher. generate() encodes the prompt, prefills it, then samples and decodes one token at a time,
// streaming complete UTF-8 pieces (tok::StreamDecoder) with stop strings held back and never emitted.
// Finishes with kStop (a stop string or stop token, e.g. the tokenizer's end-of-text) or kLength
// (max_tokens, or the cache's max_seq reached). Timings: TTFT from the call to the first sampled token,
// decode ms/token over the rest. The per-token logic is SequenceState's (shared with the Scheduler, so
// both give the same tokens). Not thread-safe (one generate at a time; Scheduler batches many).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/infer/engine.h"
#include "anvil/infer/sampler.h"
#include "anvil/infer/sequence.h"
#include "anvil/model/transformer.h"
#include "anvil/tokenizer/tokenizer.h"

namespace anvil::infer {

struct GeneratorOptions {
  int64_t max_seq = 0;             // cache positions (prompt + completion); 0 = the model's max_seq
  int64_t max_batch_tokens = 256;  // prefill chunk
  DType kv_dtype = DType::kF16;    // KV cache storage (EngineOptions::kv_dtype)
};

// One sampled token and the text it releases (may be empty: an unfinished character, or text held back
// as a possible stop-string prefix). The last event of a generation has final = true (id = -1 when it
// only carries the flushed tail).
struct TokenEvent {
  int32_t id = -1;
  float logprob = 0.0f;
  std::string_view text;
  bool final = false;
  std::span<const TopLogprob> top = {};  // when SamplingOptions::top_logprobs > 0 (valid during the call)
};
using TokenCallback = std::function<void(const TokenEvent&)>;

struct GenerationResult {
  std::string text;               // the completion, without stop strings
  std::vector<int32_t> tokens;    // generated ids (a stop token is not included)
  std::vector<float> logprobs;    // per token, when SamplingOptions::logprobs
  int64_t n_prompt_tokens = 0;
  int64_t n_tokens = 0;           // generated tokens (= tokens.size())
  FinishReason finish = FinishReason::kLength;
  double ttft_ms = 0.0;           // call start -> first token sampled (encode + prefill + sample)
  double decode_ms_per_token = 0.0;  // mean over tokens after the first (0 when fewer than 2)
};

class Generator {
 public:
  static Result<Generator> create(model::Transformer model, tok::Tokenizer tokenizer, const GeneratorOptions& opt = {});

  Result<GenerationResult> generate(std::string_view prompt, const SamplingOptions& opt,
                                    const TokenCallback& on_token = {});
  Result<GenerationResult> generate_ids(std::span<const int32_t> prompt_ids, const SamplingOptions& opt,
                                        const TokenCallback& on_token = {});

  const tok::Tokenizer& tokenizer() const { return *tok_; }
  Engine& engine() { return *engine_; }
  // The tokenizer's end-of-text token (<|endoftext|>, </s>, <|eot_id|>, <|im_end|>), or -1.
  int32_t eos_id() const { return eos_id_; }

 private:
  Generator() = default;
  std::unique_ptr<tok::Tokenizer> tok_;
  std::unique_ptr<Engine> engine_;
  std::vector<float> logits_;
  int32_t eos_id_ = -1;
};

}  // namespace anvil::infer
