// config.json parsing: Hugging Face defaults, the anvil extensions, errors that name the field, the
// round trip through config_to_json, and parameter names/shapes/counts of built models.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include <gtest/gtest.h>

#include "anvil/core/safetensors.h"
#include "anvil/model/config.h"
#include "anvil/model/transformer.h"
#include "support/temp_dir.h"

namespace anvil::model {
namespace {

void expect_error(const std::string& json, const std::string& needle) {
  auto r = parse_config(json, "c.json");
  ASSERT_FALSE(r.ok()) << json;
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

TEST(ConfigTest, Gpt2DefaultsAndFields) {
  auto r = parse_config(R"({"model_type":"gpt2","n_embd":64,"n_layer":2,"n_head":4})");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->vocab_size, 50257);
  EXPECT_EQ(r->d_ff, 256);
  EXPECT_EQ(r->head_dim, 16);
  EXPECT_EQ(r->gelu, GeluApprox::kTanh);
  EXPECT_TRUE(r->tie_embeddings);
  EXPECT_EQ(r->position, PositionType::kLearned);
  EXPECT_FLOAT_EQ(r->resid_dropout, 0.1f);
  EXPECT_EQ(r->layer_types.size(), 2u);
}

TEST(ConfigTest, LlamaGqaSlidingRoundTrip) {
  const std::string text = R"({"model_type":"llama","vocab_size":100,"hidden_size":64,"intermediate_size":96,
      "num_hidden_layers":4,"num_attention_heads":8,"num_key_value_heads":2,"rope_theta":500000.0,
      "sliding_window":16,"layer_types":["sliding_attention","full_attention","sliding_attention","full_attention"]})";
  auto r = parse_config(text);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->n_kv_head, 2);
  EXPECT_FALSE(r->tie_embeddings);
  EXPECT_FALSE(r->attn_bias);
  EXPECT_EQ(r->window_of(0), 16);
  EXPECT_EQ(r->window_of(1), 0);
  auto again = parse_config(config_to_json(*r));
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(config_to_json(*again), config_to_json(*r));
  EXPECT_EQ(again->layer_types, r->layer_types);
  EXPECT_FLOAT_EQ(again->rope_theta, 500000.0f);
}

TEST(ConfigTest, ErrorsNameTheField) {
  expect_error(R"({"model_type":"bert"})", "model_type 'bert'");
  expect_error(R"({"model_type":"gpt2","n_embd":"64"})", "'n_embd' must be an integer");
  expect_error(R"({"model_type":"gpt2","n_embd":65,"n_head":4})", "n_embd 65 is not divisible by n_head 4");
  expect_error(R"({"model_type":"llama","hidden_size":64,"num_attention_heads":8,"num_key_value_heads":3})",
               "num_attention_heads 8 is not divisible by num_key_value_heads 3");
  expect_error(R"({"model_type":"llama","hidden_size":64,"num_attention_heads":8,"num_hidden_layers":2,
                   "layer_types":["full_attention"]})", "layer_types has 1 entries");
  expect_error(R"({"model_type":"llama","hidden_size":64,"num_attention_heads":8,"num_hidden_layers":1,
                   "layer_types":["sliding_attention"]})", "sliding_window is 0");
  expect_error(R"({"model_type":"gpt2","position_embedding_type":"xpos"})", "position_embedding_type 'xpos'");
  expect_error(R"({"model_type":"gpt2","activation_function":"relu"})", "activation_function 'relu'");
  expect_error(R"({"model_type":"gpt2","resid_pdrop":1.5})", "resid_pdrop must be in [0, 1)");
  expect_error("{not json", "not valid JSON");
}

TEST(ConfigTest, PresetsMatchTheTorchBenchModels) {
  auto s = preset_config("S");
  ASSERT_TRUE(s.ok());
  auto m = Transformer::create(*s);
  ASSERT_TRUE(m.ok());
  // nanoGPT S: 5.3M params with tied embeddings; FLOPs 6N + 12*L*d*T with N excluding wpe.
  const int64_t C = 256, V = 8192, L = 4, T = 256;
  const int64_t per_layer = 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + 2 * C + (C * 4 * C + 4 * C) + (4 * C * C + C);
  const int64_t expected = V * C + T * C + L * per_layer + 2 * C;
  EXPECT_EQ(m->n_params(), expected);
  EXPECT_DOUBLE_EQ(m->train_flops_per_token(T), 6.0 * (expected - T * C) + 12.0 * L * C * T);
  EXPECT_NE(m->find_param("h.3.mlp.c_proj.weight"), nullptr);
  EXPECT_EQ(m->find_param("lm_head.weight"), nullptr);
  EXPECT_EQ(m->find_param("h.0.attn.c_attn.weight")->shape, Shape({C, 3 * C}));
}

TEST(ConfigTest, LlamaParamNames) {
  auto c = preset_config("llama-S");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto m = Transformer::create(*c);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->find_param("model.layers.0.self_attn.k_proj.weight")->shape, Shape({128, 256}));
  EXPECT_EQ(m->find_param("model.layers.3.mlp.down_proj.weight")->shape, Shape({256, 688}));
  EXPECT_EQ(m->find_param("model.layers.0.self_attn.q_proj.bias"), nullptr);
}

TEST(ConfigTest, SaveLoadRoundTripAndLoadErrors) {
  auto c = parse_config(R"({"model_type":"gpt2","vocab_size":11,"n_positions":4,"n_embd":8,"n_layer":1,"n_head":2})");
  ASSERT_TRUE(c.ok());
  auto m = Transformer::create(*c);
  ASSERT_TRUE(m.ok());
  m->init_weights(9);
  const auto dir = test::temp_root() / "model_io";
  ASSERT_TRUE(m->save(dir.string()).ok());
  auto back = Transformer::load(dir.string());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  const Tensor a = m->flat_params(), b = back->flat_params();
  ASSERT_EQ(a.numel(), b.numel());
  EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0);
  // A model of another shape must not load these weights, and the error names the tensor.
  auto other = parse_config(R"({"model_type":"gpt2","vocab_size":12,"n_positions":4,"n_embd":8,"n_layer":1,"n_head":2})");
  ASSERT_TRUE(other.ok());
  auto wrong = Transformer::create(*other);
  ASSERT_TRUE(wrong.ok());
  Status st = wrong->load_weights((dir / "model.safetensors").string());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'wte.weight' has shape [11, 8]"), std::string::npos) << st.message();
  std::filesystem::remove_all(dir);
}

// load_mapped: the same parameters and forward as load(), with the F32 weights left in the checkpoint's
// mapping (no parameter lives in the model's own flat buffer), and a plan with bf16 buffers refused; a
// BF16 tensor among them is converted into the model's buffer.
TEST(ConfigTest, LoadMappedViewsTheCheckpoint) {
  auto c = parse_config(R"({"model_type":"llama","vocab_size":37,"hidden_size":16,"intermediate_size":24,
                            "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
                            "max_position_embeddings":8,"tie_word_embeddings":false})");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto m = Transformer::create(*c);
  ASSERT_TRUE(m.ok());
  m->init_weights(5);
  const auto dir = test::temp_root() / "model_mapped";
  ASSERT_TRUE(m->save(dir.string()).ok());
  auto loaded = Transformer::load(dir.string());
  auto mapped = Transformer::load_mapped(dir.string());
  ASSERT_TRUE(loaded.ok() && mapped.ok()) << mapped.status().to_string();
  EXPECT_FALSE(loaded->mapped());
  EXPECT_TRUE(mapped->mapped());
  const Tensor flat = mapped->flat_params();
  const auto* flat_begin = static_cast<const uint8_t*>(flat.raw_data());
  for (size_t i = 0; i < loaded->params().size(); ++i) {
    const Param &want = loaded->params()[i], &got = mapped->params()[i];
    ASSERT_EQ(want.name, got.name);
    ASSERT_EQ(got.value.shape(), want.value.shape()) << got.name;
    EXPECT_EQ(std::memcmp(got.value.raw_data(), want.value.raw_data(), want.value.nbytes()), 0) << got.name;
    const auto* at = static_cast<const uint8_t*>(got.value.raw_data());
    EXPECT_TRUE(at < flat_begin || at >= flat_begin + flat.nbytes()) << got.name << " was copied, not mapped";
  }
  const int32_t ids[] = {3, 1, 4, 1, 5, 9};
  std::vector<float> want(6 * 37), got(6 * 37);
  ASSERT_TRUE(loaded->plan(1, 6).ok());
  const Status refused = mapped->plan(1, 6);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("load_mapped"), std::string::npos) << refused.message();
  ASSERT_TRUE(mapped->plan(1, 6, {.bf16_buffers = false}).ok());
  loaded->logits(ids, want.data(), Precision::kF32);
  mapped->logits(ids, got.data(), Precision::kF32);
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);

  // A checkpoint with one BF16 tensor: that one is converted into the model's buffer, the rest mapped,
  // and the forward is load()'s.
  const std::string mixed_name = "model.layers.1.mlp.up_proj.weight";
  NamedTensors tensors;
  for (const Param& p : m->params())
    tensors.emplace_back(p.name, p.name == mixed_name ? p.value.to(DType::kBF16) : p.value);
  ASSERT_TRUE(save_safetensors((dir / "model.safetensors").string(), tensors, {}).ok());
  auto loaded_mixed = Transformer::load(dir.string());
  auto mapped_mixed = Transformer::load_mapped(dir.string());
  ASSERT_TRUE(loaded_mixed.ok() && mapped_mixed.ok()) << mapped_mixed.status().to_string();
  const Param* converted = mapped_mixed->find_param(mixed_name);
  ASSERT_NE(converted, nullptr);
  const auto* mixed_flat = static_cast<const uint8_t*>(mapped_mixed->flat_params().raw_data());
  const auto* conv_at = static_cast<const uint8_t*>(converted->value.raw_data());
  EXPECT_TRUE(conv_at >= mixed_flat && conv_at < mixed_flat + mapped_mixed->flat_params().nbytes())
      << "the BF16 tensor was not converted into the model's buffer";
  EXPECT_EQ(converted->value.dtype(), DType::kF32);
  ASSERT_TRUE(loaded_mixed->plan(1, 6).ok());
  ASSERT_TRUE(mapped_mixed->plan(1, 6, {.bf16_buffers = false}).ok());
  loaded_mixed->logits(ids, want.data(), Precision::kF32);
  mapped_mixed->logits(ids, got.data(), Precision::kF32);
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, ValidateBatchNamesTheBadToken) {
  auto c = parse_config(R"({"model_type":"gpt2","vocab_size":11,"n_positions":4,"n_embd":8,"n_layer":1,"n_head":2})");
  ASSERT_TRUE(c.ok());
  auto m = Transformer::create(*c);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->plan(1, 3).ok());
  const int32_t ids[] = {0, 10, 3}, bad_ids[] = {0, 11, 3};
  const int32_t targets[] = {1, -100, 2}, bad_targets[] = {1, -1, 2};
  EXPECT_TRUE(m->validate_batch(ids, targets).ok());
  EXPECT_NE(m->validate_batch(bad_ids, targets).message().find("token id 11 at position 1"), std::string::npos);
  EXPECT_NE(m->validate_batch(ids, bad_targets).message().find("target -1 at position 1"), std::string::npos);
  EXPECT_FALSE(m->plan(1, 5).ok());  // 5 > n_positions 4
}

}  // namespace
}  // namespace anvil::model
