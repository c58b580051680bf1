// Speed measurement through infer::Engine (speed.h).
#include "anvil/eval/speed.h"

#include <algorithm>

#include "anvil/base/rng.h"
#include "anvil/base/sysinfo.h"
#include "anvil/infer/engine.h"

namespace anvil::eval {
namespace {

int32_t argmax(const float* x, int64_t n) { return static_cast<int32_t>(std::max_element(x, x + n) - x); }

}  // namespace

Result<SpeedResult> measure_speed(const model::Transformer& model, const SpeedOptions& opt) {
  const auto& c = model.config();
  if (opt.prompt_tokens < 1 || opt.new_tokens < 2 || opt.batch < 1) {
    return invalid_argument("[eval.speed] need prompt_tokens >= 1, new_tokens >= 2, batch >= 1 (got {}, {}, {})",
                            opt.prompt_tokens, opt.new_tokens, opt.batch);
  }
  if (opt.prompt_tokens + opt.new_tokens > c.max_seq) {
    return invalid_argument("[eval.speed] prompt {} + new tokens {} exceed the model's context {}", opt.prompt_tokens,
                            opt.new_tokens, c.max_seq);
  }
  const int64_t V = c.vocab_size, B = opt.batch, P = opt.prompt_tokens, N = opt.new_tokens;
  ANVIL_ASSIGN_OR_RETURN(infer::Engine engine,
                         infer::Engine::create(model, {.n_slots = B, .max_seq = P + N, .max_batch_tokens = std::max(P, B)}));
  Rng rng(opt.seed);
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(B));
  for (auto& p : prompts) {
    for (int64_t i = 0; i < P; ++i) p.push_back(static_cast<int32_t>(rng.below(static_cast<uint64_t>(V))));
  }
  std::vector<float> logits(static_cast<size_t>(B * V));
  SpeedResult r{.prompt_tokens = P, .new_tokens = N, .batch = B};

  // Two passes; the first warms up (GEMM primitive creation for each new shape, first-touch pages) and
  // only the second is reported.
  for (int pass = 0; pass < 2; ++pass) {
    // Batch 1.
    double t0 = wall_seconds();
    ANVIL_RETURN_IF_ERROR(engine.prefill(0, prompts[0], 0, logits.data()));
    int32_t tok = argmax(logits.data(), V);
    const double t1 = wall_seconds();
    for (int64_t s = 1; s < N; ++s) {
      ANVIL_RETURN_IF_ERROR(engine.decode(0, tok, P + s - 1, logits.data()));
      tok = argmax(logits.data(), V);
    }
    const double t2 = wall_seconds();
    r.ttft_ms = (t1 - t0) * 1e3;
    r.prefill_tokens_per_s = static_cast<double>(P) / std::max(t1 - t0, 1e-9);
    r.ms_per_token = (t2 - t1) * 1e3 / static_cast<double>(N - 1);
    r.tokens_per_s = static_cast<double>(N - 1) / std::max(t2 - t1, 1e-9);

    // Batch B.
    std::vector<int32_t> toks(static_cast<size_t>(B));
    t0 = wall_seconds();
    for (int64_t b = 0; b < B; ++b) {
      ANVIL_RETURN_IF_ERROR(engine.prefill(b, prompts[static_cast<size_t>(b)], 0, logits.data()));
      toks[static_cast<size_t>(b)] = argmax(logits.data(), V);
    }
    const double t3 = wall_seconds();
    std::vector<infer::TokenInput> batch(static_cast<size_t>(B));
    for (int64_t s = 1; s < N; ++s) {
      for (int64_t b = 0; b < B; ++b) batch[static_cast<size_t>(b)] = {.slot = b, .token = toks[static_cast<size_t>(b)], .pos = P + s - 1};
      ANVIL_ASSIGN_OR_RETURN(int64_t rows, engine.forward(batch, infer::LogitsFor::kLastOfRun, logits.data()));
      for (int64_t b = 0; b < rows; ++b) toks[static_cast<size_t>(b)] = argmax(logits.data() + b * V, V);
    }
    const double t4 = wall_seconds();
    r.batch_prefill_tokens_per_s = static_cast<double>(B * P) / std::max(t3 - t0, 1e-9);
    r.batch_tokens_per_s = static_cast<double>(B * (N - 1)) / std::max(t4 - t3, 1e-9);
  }
  r.peak_rss_bytes = memory_usage().peak_rss_bytes;
  return r;
}

}  // namespace anvil::eval
