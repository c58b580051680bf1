// Scheduler: continuous batching over one Engine. Requests are submitted from any thread; one scheduler
// thread loops { admit waiting requests into free slots; build one batch = one decode token for every
// running sequence + a chunk of at most prefill_chunk prompt tokens for sequences still prefilling
// (so a long prompt never stalls decoding); Engine::forward; sample per sequence; stream events }.
// Invariants: a sequence's tokens and logprobs are what Generator::generate_ids gives for the same request,
// bit for bit, alone or batched (both drive one SequenceState per sequence, and the engine's logits do not
// depend on what else is in a forward: packed_linear.h); the waiting queue and the slots
// are bounded (submit() fails fast with kResourceExhausted instead of growing); a sink returning false
// cancels its request at once and frees its slot (the sink still gets the one final event).
// A sequence whose prompt starts with at least kMinSharedPrefix tokens of an earlier running sequence's
// prompt copies those positions from that one's cache (KvCache::copy_prefix) instead of prefilling them,
// waiting for them if that one is still prefilling (n choices of one prompt, a shared system prompt);
// and a finished sequence's cache stays in its slot, taken by a later request whose prompt starts the same
// way (the next chat turn), which then prefills only the rest. Either way the positions hold the bits a
// prefill would write, so outputs do not change.
// Follows vLLM / Orca iteration-level scheduling (Yu et al., OSDI '22) with chunked prefill (Sarathi).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/infer/generator.h"
#include "anvil/infer/sampler.h"
#include "anvil/model/transformer.h"
#include "anvil/tokenizer/tokenizer.h"

namespace anvil::infer {

// Shared prompt tokens worth copying from (and, if need be, waiting for) another sequence's cache.
inline constexpr int64_t kMinSharedPrefix = 16;

struct SchedulerOptions {
  int64_t max_running = 8;         // sequences decoding at once (= engine slots)
  int64_t max_queue = 64;          // requests waiting for a slot; beyond it submit() -> kResourceExhausted
  int64_t max_seq = 0;             // positions per sequence (prompt + completion); 0 = the model's max_seq
  int64_t prefill_chunk = 64;      // prompt tokens one sequence may prefill per step
  int64_t max_batch_tokens = 256;  // tokens per Engine::forward (decode tokens first, then prefill chunks)
  DType kv_dtype = DType::kF16;    // KV cache storage (EngineOptions::kv_dtype)
};

struct ScheduledRequest {
  std::vector<int32_t> prompt_ids;  // already encoded (the caller applies any chat template); non-empty
  SamplingOptions sampling;         // as for Generator (stop strings, stop ids, max_tokens, logprobs, seed);
                                    // max_tokens 0: prefill only (the final event follows the prompt)
  // Also score the prompt (OpenAI's echo with logprobs): each prompt token after the first gets its
  // log-probability given the tokens before it, with sampling.top_logprobs alternatives (as a generated
  // token's). Needs sampling.logprobs. Every prefill row then computes logits, not only a chunk's last. The
  // prompt rows scored in one step are at most prefill_chunk over all such requests (the others wait for
  // the next step), so the scheduler's logits buffer stays within (max_running + prefill_chunk) x vocab
  // floats, whatever max_batch_tokens is.
  bool prompt_logprobs = false;
};

// What a request's sink receives, on the scheduler thread (keep the sink cheap; never block in it).
// Exactly one event has final = true; it carries finish (or error when !error.ok()) and the totals.
struct StreamEvent {
  uint64_t request_id = 0;
  int32_t token = -1;          // the sampled id (-1 on a final event that only carries the tail / error)
  float logprob = 0.0f;        // when sampling.logprobs
  std::vector<TopLogprob> top_logprobs;  // when sampling.top_logprobs > 0: most likely first (Sampler)
  std::string text;            // text released by this token (may be empty: held back for UTF-8 / stop)
  // prompt_logprobs requests, on the first event after the prompt is in: prompt tokens 1.. in order, each
  // scored given the tokens before it (id = the prompt token).
  std::vector<SampledToken> prompt_logprobs;
  bool final = false;
  FinishReason finish = FinishReason::kLength;
  Status error;                // on a final event: why the request failed (e.g. prompt too long)
  int64_t n_prompt_tokens = 0;
  int64_t n_tokens = 0;        // tokens generated so far
  double queue_ms = 0.0;       // submit -> admitted into a slot (set on every event)
  double ttft_ms = 0.0;        // submit -> first token sampled (set from the first token on)
};
// Returns false when the consumer is gone (client disconnected): the request is cancelled.
using StreamSink = std::function<bool(const StreamEvent&)>;

struct SchedulerStats {
  int64_t waiting = 0;           // queue depth
  int64_t running = 0;           // sequences holding a slot
  int64_t kv_used_tokens = 0;    // positions held in the cache over all slots
  int64_t kv_capacity_tokens = 0;
  int64_t last_batch_tokens = 0; // tokens in the latest forward
  int64_t max_logits_rows = 0;   // the most logits rows one forward has computed (<= max_running + prefill_chunk)
  uint64_t n_forwards = 0;
  uint64_t n_completed = 0, n_cancelled = 0, n_failed = 0;
  uint64_t n_prefill_tokens = 0;        // prompt positions run through the engine
  uint64_t n_prefix_tokens_reused = 0;  // prompt positions copied from another sequence's cache instead
};

class Scheduler {
 public:
  // Starts the scheduler thread. The model and tokenizer are owned by the scheduler. The forward uses as
  // many OpenMP threads as the calling thread would (omp_get_max_threads() at create()).
  static Result<std::unique_ptr<Scheduler>> create(model::Transformer model, tok::Tokenizer tokenizer,
                                                   const SchedulerOptions& opt);
  ~Scheduler();  // stops the thread; requests still in flight get a final event with kCancelled
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request; returns its id. Fails now (no event is sent) with kInvalidArgument for a bad
  // request (empty prompt, ids outside the vocabulary, prompt too long for max_seq, bad sampling values),
  // kResourceExhausted when the queue is full, kUnavailable after drain() began.
  Result<uint64_t> submit(ScheduledRequest request, StreamSink sink);
  // Cancels a request wherever it is (queued or running); its sink gets a final event with kCancelled.
  void cancel(uint64_t request_id);
  // Stops admitting new requests and blocks until every accepted request has finished.
  void drain();

  SchedulerStats stats() const;
  const tok::Tokenizer& tokenizer() const;
  const model::ModelConfig& config() const;
  int32_t eos_id() const;  // as Generator::eos_id()

 private:
  struct Impl;
  explicit Scheduler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace anvil::infer
