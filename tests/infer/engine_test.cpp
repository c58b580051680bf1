// Engine (KV-cache inference forward) against Transformer::logits() on the same ids, for GPT-2 (learned
// positions, tied head), LLaMA + GQA (RoPE, untied head, biases), ALiBi and sliding-window configs:
// a whole-sequence prefill, a prefill + token-by-token decode, chunked prefill, two sequences decoded
// in one batch, and rewinding a slot must all give the full forward's logits (fp32 cache: to summation
// order; the default f16 cache: to the rounding of K and V). Plus input validation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "anvil/base/rng.h"
#include "anvil/infer/engine.h"
#include "support/temp_dir.h"

namespace anvil::infer {
namespace {

// fp32 end to end; only summation order differs (flash vs cache attention, gemm row blocking).
constexpr double kLogitsRelTol = 2e-5;
// f16 cache: K and V carry binary16 rounding (2^-11 relative); measured 0.8-3.7e-4 on these configs.
constexpr double kF16LogitsRelTol = 2e-3;
// int8 cache: K and V within max|row| / 254 per value; measured 2e-3 to 7e-3 on these configs.
constexpr double kI8LogitsRelTol = 2e-2;

double max_rel_error(const float* a, const float* b, int64_t n) {
  double diff = 0.0, scale = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return diff / std::max(scale, 1e-30);
}

struct EngineCase {
  const char* name;
  const char* config;
  int64_t T;
};

const EngineCase kCases[] = {
    {.name = "gpt2",
     .config = R"({"model_type":"gpt2","vocab_size":97,"n_positions":40,"n_embd":32,"n_layer":2,"n_head":4,
                   "initializer_range":0.1})",
     .T = 23},
    {.name = "llama_gqa",
     .config = R"({"model_type":"llama","vocab_size":101,"hidden_size":48,"intermediate_size":80,
                   "num_hidden_layers":3,"num_attention_heads":6,"num_key_value_heads":2,
                   "max_position_embeddings":64,"tie_word_embeddings":false,"attention_bias":true,
                   "initializer_range":0.1})",
     .T = 29},
    {.name = "gpt2_alibi",
     .config = R"({"model_type":"gpt2","vocab_size":61,"n_positions":32,"n_embd":24,"n_layer":2,"n_head":3,
                   "position_embedding_type":"alibi","activation_function":"gelu","initializer_range":0.1})",
     .T = 21},
    {.name = "llama_sliding",
     .config = R"({"model_type":"llama","vocab_size":83,"hidden_size":32,"intermediate_size":48,
                   "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":1,
                   "max_position_embeddings":48,"sliding_window":5,
                   "layer_types":["sliding_attention","full_attention"],"initializer_range":0.1})",
     .T = 27},
};

class EngineTest : public ::testing::TestWithParam<EngineCase> {};

model::Transformer make_model(const char* config) {
  auto cfg = model::parse_config(config, "test config");
  EXPECT_TRUE(cfg.ok()) << cfg.status().to_string();
  auto m = model::Transformer::create(*cfg);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  m->init_weights(4242);
  return std::move(*m);
}

std::vector<int32_t> random_ids(int64_t n, int64_t V, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& id : ids) id = static_cast<int32_t>(rng.below(static_cast<uint64_t>(V)));
  return ids;
}

// Transformer::logits for one sequence: (T, V).
std::vector<float> full_logits(model::Transformer& m, const std::vector<int32_t>& ids) {
  const auto T = static_cast<int64_t>(ids.size());
  EXPECT_TRUE(m.plan(1, T).ok());
  std::vector<float> out(static_cast<size_t>(T * m.config().vocab_size));
  m.logits(ids.data(), out.data(), Precision::kF32);
  return out;
}

TEST_P(EngineTest, PrefillAndDecodeMatchFullForward) {
  const EngineCase& c = GetParam();
  model::Transformer m = make_model(c.config);
  const int64_t V = m.config().vocab_size, T = c.T;
  const auto ids = random_ids(T, V, 7), ids_b = random_ids(T, V, 8);
  const auto want = full_logits(m, ids), want_b = full_logits(m, ids_b);

  auto eng = Engine::create(m, {.n_slots = 2, .max_seq = T + 3, .max_batch_tokens = T, .kv_dtype = DType::kF32});
  ASSERT_TRUE(eng.ok()) << eng.status().to_string();
  std::vector<float> got(static_cast<size_t>(T * V));

  // 1. The whole sequence as one prefill, every row's logits.
  std::vector<TokenInput> batch;
  for (int64_t t = 0; t < T; ++t) batch.push_back({.slot = 0, .token = ids[t], .pos = t});
  auto n = eng->forward(batch, LogitsFor::kAll, got.data());
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  EXPECT_EQ(*n, T);
  EXPECT_LT(max_rel_error(got.data(), want.data(), T * V), kLogitsRelTol) << "whole prefill";
  EXPECT_EQ(eng->cache().length(0), T);

  // 2. Rewind: prefill of P tokens (last row only), then one token at a time.
  const int64_t P = T / 3;
  ASSERT_TRUE(eng->prefill(0, std::span(ids.data(), static_cast<size_t>(P)), 0, got.data() + (P - 1) * V).ok());
  for (int64_t t = P; t < T; ++t) ASSERT_TRUE(eng->decode(0, ids[t], t, got.data() + t * V).ok());
  EXPECT_LT(max_rel_error(got.data() + (P - 1) * V, want.data() + (P - 1) * V, (T - P + 1) * V), kLogitsRelTol)
      << "prefill + decode";

  // 3. Two sequences at once: both prefilled in one batch (runs of 3 and 5), then decoded together.
  for (int64_t s : {0, 1}) eng->cache().clear(s);
  batch.clear();
  for (int64_t t = 0; t < 3; ++t) batch.push_back({.slot = 1, .token = ids_b[t], .pos = t});
  for (int64_t t = 0; t < 5; ++t) batch.push_back({.slot = 0, .token = ids[t], .pos = t});
  std::vector<float> two(static_cast<size_t>(2 * V));
  n = eng->forward(batch, LogitsFor::kLastOfRun, two.data());
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  ASSERT_EQ(*n, 2);
  EXPECT_LT(max_rel_error(two.data(), want_b.data() + 2 * V, V), kLogitsRelTol) << "batched prefill, slot 1";
  EXPECT_LT(max_rel_error(two.data() + V, want.data() + 4 * V, V), kLogitsRelTol) << "batched prefill, slot 0";
  // The same batch again (rewinding both slots) with marked rows: their logits, in batch order; none marked:
  // no rows, but the caches are filled all the same.
  for (TokenInput& in : batch) in.want_logits = false;
  n = eng->forward(batch, LogitsFor::kMarked, two.data());
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  EXPECT_EQ(*n, 0);
  EXPECT_EQ(eng->cache().length(0), 5);
  EXPECT_EQ(eng->cache().length(1), 3);
  batch[1].want_logits = batch[5].want_logits = batch[7].want_logits = true;  // slot 1 pos 1, slot 0 pos 2 and 4
  std::vector<float> marked(static_cast<size_t>(3 * V));
  n = eng->forward(batch, LogitsFor::kMarked, marked.data());
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  ASSERT_EQ(*n, 3);
  EXPECT_LT(max_rel_error(marked.data(), want_b.data() + 1 * V, V), kLogitsRelTol) << "marked row 0";
  EXPECT_LT(max_rel_error(marked.data() + V, want.data() + 2 * V, V), kLogitsRelTol) << "marked row 1";
  EXPECT_LT(max_rel_error(marked.data() + 2 * V, want.data() + 4 * V, V), kLogitsRelTol) << "marked row 2";
  for (int64_t t = 5; t < T; ++t) {
    batch.clear();
    batch.push_back({.slot = 0, .token = ids[t], .pos = t});
    const int64_t tb = t - 2;  // slot 1 runs 2 positions behind
    batch.push_back({.slot = 1, .token = ids_b[tb], .pos = tb});
    n = eng->forward(batch, LogitsFor::kAll, two.data());
    ASSERT_TRUE(n.ok()) << n.status().to_string();
    EXPECT_LT(max_rel_error(two.data(), want.data() + t * V, V), kLogitsRelTol) << "batched decode slot 0 t=" << t;
    EXPECT_LT(max_rel_error(two.data() + V, want_b.data() + tb * V, V), kLogitsRelTol) << "batched decode slot 1 t=" << tb;
  }
}

// An engine packed from a checkpoint's mapping (Transformer::load_mapped, what generate / chat / serve
// load) gives the bits of one packed from the model in memory.
TEST_P(EngineTest, MappedCheckpointGivesTheSameLogits) {
  const EngineCase& c = GetParam();
  model::Transformer m = make_model(c.config);
  const auto dir = test::temp_root() / ("mapped_" + std::string(c.name));
  ASSERT_TRUE(m.save(dir.string()).ok());
  auto mapped = model::Transformer::load_mapped(dir.string());
  ASSERT_TRUE(mapped.ok()) << mapped.status().to_string();
  EXPECT_TRUE(mapped->mapped());
  const int64_t V = m.config().vocab_size, T = c.T;
  const auto ids = random_ids(T, V, 11);
  std::vector<float> want(static_cast<size_t>(V)), got(static_cast<size_t>(V));
  const EngineOptions opt{.n_slots = 1, .max_seq = T, .max_batch_tokens = T};
  auto a = Engine::create(m, opt);
  auto b = Engine::create(*mapped, opt);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->prefill(0, ids, 0, want.data()).ok());
  ASSERT_TRUE(b->prefill(0, ids, 0, got.data()).ok());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
  std::filesystem::remove_all(dir);
}

TEST_P(EngineTest, ChunkedPrefillMatches) {
  const EngineCase& c = GetParam();
  model::Transformer m = make_model(c.config);
  const int64_t V = m.config().vocab_size, T = c.T;
  const auto ids = random_ids(T, V, 9);
  const auto want = full_logits(m, ids);
  auto eng = Engine::create(m, {.n_slots = 1, .max_seq = T, .max_batch_tokens = 4, .kv_dtype = DType::kF32});
  ASSERT_TRUE(eng.ok()) << eng.status().to_string();
  std::vector<float> last(static_cast<size_t>(V));
  ASSERT_TRUE(eng->prefill(0, ids, 0, last.data()).ok());
  EXPECT_LT(max_rel_error(last.data(), want.data() + (T - 1) * V, V), kLogitsRelTol);
}

// A rounding cache against the full forward: the logits of rows P-1 .. T-1 (a prefill of P = T/3 tokens,
// then one token at a time) through a `kv_dtype` cache.
struct CachedRun {
  double rel_error = 0.0;          // max_rel_error against Transformer::logits
  int64_t rows = 0, same_argmax = 0;  // rows compared; rows whose largest logit is the full forward's
  size_t cache_bytes = 0;
  model::ModelConfig config;
};

CachedRun run_cached(const EngineCase& c, DType kv_dtype) {
  model::Transformer m = make_model(c.config);
  const int64_t V = m.config().vocab_size, T = c.T, P = T / 3;
  const auto ids = random_ids(T, V, 10);
  const auto want = full_logits(m, ids);
  CachedRun r{.rows = T - P + 1, .config = m.config()};
  auto eng = Engine::create(m, {.n_slots = 1, .max_seq = T, .max_batch_tokens = T, .kv_dtype = kv_dtype});
  EXPECT_TRUE(eng.ok()) << eng.status().to_string();
  if (!eng.ok()) return r;
  EXPECT_EQ(eng->cache().dtype(), kv_dtype);
  r.cache_bytes = eng->cache().bytes();
  std::vector<float> got(static_cast<size_t>(T * V));
  EXPECT_TRUE(eng->prefill(0, std::span(ids.data(), static_cast<size_t>(P)), 0, got.data() + (P - 1) * V).ok());
  for (int64_t t = P; t < T; ++t) EXPECT_TRUE(eng->decode(0, ids[t], t, got.data() + t * V).ok());
  r.rel_error = max_rel_error(got.data() + (P - 1) * V, want.data() + (P - 1) * V, r.rows * V);
  for (int64_t t = P - 1; t < T; ++t) {
    const float *g = got.data() + t * V, *w = want.data() + t * V;
    r.same_argmax += std::max_element(g, g + V) - g == std::max_element(w, w + V) - w;
  }
  return r;
}

TEST_P(EngineTest, F16CacheStaysCloseToFullForward) {
  EXPECT_EQ(EngineOptions{}.kv_dtype, DType::kF16);  // the default cache
  const CachedRun r = run_cached(GetParam(), DType::kF16);
  const model::ModelConfig& m = r.config;
  EXPECT_EQ(r.cache_bytes, 2 * sizeof(f16_t) * static_cast<size_t>(m.n_layer * GetParam().T * m.kv_dim()));
  EXPECT_LT(r.rel_error, kF16LogitsRelTol);
  EXPECT_GT(r.rel_error, kLogitsRelTol) << "an f16 cache that rounds nothing is not an f16 cache";
}

// An int8 cache: a quarter of fp32 plus a scale per (position, kv head) row, and logits within int8
// rounding of the full forward (further than f16's, but the same tokens win in these cases).
TEST_P(EngineTest, Int8CacheStaysCloseToFullForward) {
  const CachedRun r = run_cached(GetParam(), DType::kI8);
  const model::ModelConfig& m = r.config;
  const auto positions = static_cast<size_t>(m.n_layer * GetParam().T);
  EXPECT_EQ(r.cache_bytes, 2 * positions * (static_cast<size_t>(m.kv_dim()) + m.n_kv_head * sizeof(float)));
  EXPECT_LT(r.rel_error, kI8LogitsRelTol);
  EXPECT_GT(r.rel_error, kF16LogitsRelTol / 100) << "an int8 cache that rounds nothing is not an int8 cache";
  EXPECT_EQ(r.same_argmax, r.rows);
}

INSTANTIATE_TEST_SUITE_P(Configs, EngineTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(EngineErrors, RejectsBadBatches) {
  model::Transformer m = make_model(kCases[0].config);
  auto eng = Engine::create(m, {.n_slots = 2, .max_seq = 16, .max_batch_tokens = 4});
  ASSERT_TRUE(eng.ok());
  std::vector<float> logits(static_cast<size_t>(4 * m.config().vocab_size));
  auto fails = [&](std::vector<TokenInput> batch, const std::string& needle) {
    auto r = eng->forward(batch, LogitsFor::kAll, logits.data());
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  fails({{.slot = 2, .token = 1, .pos = 0}}, "slot 2 outside");
  fails({{.slot = 0, .token = 97, .pos = 0}}, "id 97 outside the vocabulary");
  fails({{.slot = 0, .token = 1, .pos = 16}}, "position 16 outside");
  fails({{.slot = 0, .token = 1, .pos = 3}}, "holds only 0");
  fails({{.slot = 0, .token = 1, .pos = 0}, {.slot = 0, .token = 1, .pos = 2}}, "does not follow");
  fails({{.slot = 0, .token = 1, .pos = 0}, {.slot = 1, .token = 1, .pos = 0}, {.slot = 0, .token = 1, .pos = 1}},
        "two runs");
  fails(std::vector<TokenInput>(5, TokenInput{}), "batch of 5 tokens");
  EXPECT_FALSE(Engine::create(m, {.max_seq = 41}).ok());  // beyond 40 learned positions
  auto bf16 = Engine::create(m, {.kv_dtype = DType::kBF16});  // the cache holds F32 or F16 only
  ASSERT_FALSE(bf16.ok());
  EXPECT_NE(bf16.status().message().find("expected F32, F16 or I8"), std::string::npos) << bf16.status().message();
}

}  // namespace
}  // namespace anvil::infer
