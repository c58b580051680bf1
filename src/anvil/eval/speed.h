// Speed measurement reported beside the quality numbers: time to first token, decode ms/token and
// tokens/s at batch 1 and at batch B, prefill tokens/s, peak RSS. Runs infer::Engine (KV cache) on
// deterministic random prompts: batch 1 = prefill of P tokens then N−1 single-token decodes; batch B =
// B prompts prefilled, then N−1 steps that decode one token of every sequence in one forward. Greedy
// (argmax) tokens are fed back, so the work equals real generation. Everything runs twice and the second
// (warm) pass is reported. Timings are wall clock.
#pragma once

#include <cstdint>
#include <string>

#include "anvil/base/status.h"
#include "anvil/model/transformer.h"

namespace anvil::eval {

struct SpeedOptions {
  int64_t prompt_tokens = 128;
  int64_t new_tokens = 32;
  int64_t batch = 4;
  uint64_t seed = 1;
};

struct SpeedResult {
  std::string engine = "infer::Engine (KV cache)";
  int64_t prompt_tokens = 0, new_tokens = 0, batch = 0;
  double ttft_ms = 0.0;               // batch 1: prefill + first token
  double prefill_tokens_per_s = 0.0;  // batch 1 prefill
  double ms_per_token = 0.0;          // batch 1 decode, per token after the first
  double tokens_per_s = 0.0;          // batch 1 decode
  double batch_tokens_per_s = 0.0;    // batch B decode, all sequences together
  double batch_prefill_tokens_per_s = 0.0;
  uint64_t peak_rss_bytes = 0;
};

Result<SpeedResult> measure_speed(const model::Transformer& model, const SpeedOptions& opt);

}  // namespace anvil::eval
