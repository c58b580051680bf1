// Engines behind CompleteFn (gen.h): recompute_completer re-runs Transformer::logits on the growing
// sequence through LmScorer (no KV cache: O(T²) per completion, correct and fine for tiny models);
// generator_completer drives infer::Generator (KV cache). Both stop at the tokenizer's end-of-text token
// and before the first stop string; temperature 0 is greedy (argmax, lowest id on ties). Text is
// decoded by tok::StreamDecoder (bytes of an invalid UTF-8 sequence become U+FFFD) in both.
#pragma once

#include "anvil/eval/gen.h"
#include "anvil/eval/lm.h"
#include "anvil/infer/generator.h"

namespace anvil::eval {

// `lm` must outlive the returned function.
CompleteFn recompute_completer(LmScorer& lm);
// `generator` must outlive the returned function.
CompleteFn generator_completer(infer::Generator& generator);

}  // namespace anvil::eval
