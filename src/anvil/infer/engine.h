// Engine: the inference forward of a Transformer over KV caches — prefill (a run of prompt tokens) and
// decode (one token per sequence), for both config families (learned / RoPE half-split / ALiBi positions,
// GQA, sliding-window layers, tied or untied head). It takes the model's parameters by Hugging Face name
// at create() — every linear packed for packed_linear.h (packed_weight_bytes()), embeddings and norms
// copied — and keeps nothing of the model, which its owner may then free. It mirrors Transformer's
// training forward op for op, so with an fp32 KV cache its logits equal Transformer::logits() up to fp32
// summation order (the default f16 cache adds the rounding of K and V to binary16, ~1e-3 relative in
// attention; an int8 cache more, KvCache). One forward() takes a batch of TokenInputs from any number of slots: the dense layers run as
// one pass over all of them, attention runs per run of one slot over that slot's own cache (what
// continuous batching builds on), and a token's logits do not depend on what else is in its forward:
// decoded alone, batched with other sequences or inside a prefill chunk, the same bits. Buffers are planned
// at create(); forward() allocates nothing. Not thread-safe: one forward at a time.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/infer/kv_cache.h"
#include "anvil/infer/packed_linear.h"
#include "anvil/model/layers.h"
#include "anvil/model/transformer.h"

namespace anvil::infer {

struct EngineOptions {
  int64_t n_slots = 1;             // sequences whose caches are held at once
  int64_t max_seq = 0;             // positions per slot; 0 = the config's max_seq
  int64_t max_batch_tokens = 256;  // tokens per forward() (prefill() cuts longer prompts into chunks)
  DType kv_dtype = DType::kF16;    // KV cache storage: kF16 (half the memory and traffic), kF32 (exact) or
                                   // kI8 (a quarter of kF32, a scale per row; KvCache)
};

// One token to run: it is sequence `slot`'s token at absolute position `pos`.
struct TokenInput {
  int64_t slot = 0;
  int32_t token = 0;
  int64_t pos = 0;
  bool want_logits = false;  // LogitsFor::kMarked: this token's logits are wanted
};

// Which rows forward() computes logits for: every token | the last token of each run | the tokens whose
// want_logits is set (a scheduler's last rows plus every prompt row of a request that scores its prompt).
enum class LogitsFor : uint8_t { kAll, kLastOfRun, kMarked };

class Engine {
 public:
  // The engine copies what it needs of `model` (the linears packed, embeddings and norms as they are), so
  // the model may go once create() returns.
  static Result<Engine> create(const model::Transformer& model, const EngineOptions& opt);

  // Runs `batch` and writes logits (n_rows, V) row-major into `logits`; returns n_rows. A batch is a
  // list of runs: consecutive entries of one slot at consecutive positions. A run starting at position
  // p needs the slot's positions 0..p-1 in the cache (p <= length(slot); p < length overwrites, i.e.
  // rewinds); after it, length(slot) = its last position + 1. A slot appears in at most one run.
  // kLastOfRun gives one row per run, in run order; kMarked one per marked token, in batch order.
  Result<int64_t> forward(std::span<const TokenInput> batch, LogitsFor which, float* logits);

  // Runs ids at positions pos0.. of `slot` in chunks of max_batch_tokens; writes the last token's logits (V).
  Status prefill(int64_t slot, std::span<const int32_t> ids, int64_t pos0, float* last_logits);
  // One token of one sequence: logits (V).
  Status decode(int64_t slot, int32_t token, int64_t pos, float* logits);

  const model::ModelConfig& config() const { return config_; }
  int64_t vocab_size() const { return config_.vocab_size; }
  int64_t max_batch_tokens() const { return max_batch_; }
  int64_t packed_weight_bytes() const { return packed_bytes_; }  // the packed copies of the linear weights
  KvCache& cache() { return cache_; }
  const KvCache& cache() const { return cache_; }
  model::KernelTimer& timer() { return timer_; }

 private:
  struct LayerWeights {
    model::Norm norm1, norm2;
    PackedLinear qkv[3];  // GPT-2: c_attn (fused); LLaMA: q_proj, k_proj, v_proj
    int64_t qkv_col[3] = {};
    int n_qkv = 0;
    PackedLinear o;
    PackedLinear up[2];  // GPT-2: c_fc; LLaMA: gate_proj, up_proj
    int n_up = 0;
    PackedLinear down;
  };
  struct Run {
    int64_t begin, end, slot, pos0;  // batch rows [begin, end)
  };

  Engine() = default;
  Status bind_weights(const model::Transformer& model);
  Status split_runs(std::span<const TokenInput> batch);
  void layer_forward(int64_t l, int64_t N);
  template <typename T>
  void attention(int64_t l);  // the attention of every run over its slot's cache (T: the cache's type)

  model::ModelConfig config_;
  KvCache cache_;
  int64_t max_batch_ = 0;
  int64_t packed_bytes_ = 0;
  model::KernelTimer timer_;
  const float* wte_ = nullptr;
  const float* wpe_ = nullptr;
  PackedLinear lm_head_;
  model::Norm norm_f_;
  std::vector<LayerWeights> layers_;
  std::vector<std::vector<float>> owned_;  // copies of the embeddings and norm weights (stable data())
  std::vector<float> alibi_slopes_;
  std::vector<float> rope_cos_, rope_sin_;  // (max_seq, D/2) from position 0
  // Planned activations for max_batch_ rows.
  std::vector<float> x_, ln_, mean_, rstd_, qkv_, att_, act_, lnf_;
  std::vector<Run> runs_;
};

}  // namespace anvil::infer
