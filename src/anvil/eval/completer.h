// Engines behind CompleteFn (gen.h): recompute_completer re-runs Transformer::logits on the growing
// sequence through LmScorer (no KV cache: O(T²) per completion, correct and fine for tiny models);
// generator_completer drives infer::Generator (KV cache); scheduler_completer hands a whole batch of
// requests to infer::Scheduler (KV cache + continuous batching: the same tokens as the Generator, many
// sequences per forward). All stop at the tokenizer's end-of-text token
// and before the first stop string; temperature 0 is greedy (argmax, lowest id on ties). Text is
// decoded by tok::StreamDecoder (bytes of an invalid UTF-8 sequence become U+FFFD) in both.
#pragma once

#include "anvil/eval/gen.h"
#include "anvil/eval/lm.h"
#include "anvil/infer/generator.h"
#include "anvil/infer/scheduler.h"

namespace anvil::eval {

// `lm` must outlive the returned function.
CompleteFn recompute_completer(LmScorer& lm);
// `generator` must outlive the returned function.
CompleteFn generator_completer(infer::Generator& generator);
// Both KV-cache engines keep the last (context - max_new_tokens) tokens of a prompt too long for the
// model, as lm-evaluation-harness does for generation. Submits every request (waiting for a free queue place when the scheduler's queue is full) and returns
// when all have finished. `scheduler` must outlive the returned function.
CompleteBatchFn scheduler_completer(infer::Scheduler& scheduler);

}  // namespace anvil::eval
