// Helpers for the eval tests: a byte-level tokenizer (256 bytes + "<|endoftext|>"), a small BPE trained
// on a text, and tiny random GPT-2 / LLaMA models whose weights are large enough to give peaked,
// position-dependent predictions (so wrong indexing changes the scores).
#pragma once

#include <cmath>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "anvil/base/rng.h"
#include "anvil/model/transformer.h"
#include "anvil/tokenizer/tokenizer.h"
#include "anvil/tokenizer/trainer.h"

namespace anvil::eval::testing {

inline tok::Tokenizer byte_tokenizer() {
  tok::TokenizerParts parts;
  for (int b = 0; b < 256; ++b) parts.tokens.push_back(std::string(1, static_cast<char>(b)));
  parts.tokens.push_back("<|endoftext|>");
  parts.special_ids.push_back(256);
  auto t = tok::Tokenizer::create(std::move(parts));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return std::move(t.value());
}

inline tok::Tokenizer bpe_tokenizer(const std::string& text, size_t vocab_size) {
  tok::WordCounter words;
  tok::count_words_in_text(text, {}, words);
  tok::TrainerConfig cfg{.vocab_size = vocab_size, .min_frequency = 1, .special_tokens = {"<|endoftext|>"}};
  auto parts = tok::train_bpe(words, cfg);
  EXPECT_TRUE(parts.ok()) << parts.status().to_string();
  auto t = tok::Tokenizer::create(std::move(parts.value()));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return std::move(t.value());
}

inline std::string gpt2_config(int64_t vocab, int64_t max_seq) {
  return "{\"model_type\":\"gpt2\",\"vocab_size\":" + std::to_string(vocab) + ",\"n_positions\":" +
         std::to_string(max_seq) +
         ",\"n_embd\":32,\"n_layer\":2,\"n_head\":4,\"embd_pdrop\":0,\"resid_pdrop\":0,\"attn_pdrop\":0}";
}

inline std::string llama_config(int64_t vocab, int64_t max_seq) {
  return "{\"model_type\":\"llama\",\"vocab_size\":" + std::to_string(vocab) +
         ",\"hidden_size\":32,\"intermediate_size\":48,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
         "\"num_key_value_heads\":2,\"max_position_embeddings\":" + std::to_string(max_seq) + "}";
}

inline model::Transformer tiny_model(const std::string& config_json, uint64_t seed) {
  auto cfg = model::parse_config(config_json, "test config");
  EXPECT_TRUE(cfg.ok()) << cfg.status().to_string();
  auto m = model::Transformer::create(cfg.value());
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  model::Transformer model = std::move(m.value());
  Rng rng(seed);
  for (model::Param& p : model.params()) {
    float* x = p.value.data<float>();
    for (int64_t i = 0; i < p.value.numel(); ++i) {
      const float z = static_cast<float>(rng.normal());
      x[i] = p.kind == model::ParamKind::kNorm ? 1.0f + 0.1f * z : (p.kind == model::ParamKind::kBias ? 0.05f * z : 0.15f * z);
    }
  }
  return model;
}

// A fresh temp directory, removed by the destructor.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() / ("anvil_eval_" + tag + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string str(const std::string& name = "") const { return name.empty() ? path.string() : (path / name).string(); }
};

}  // namespace anvil::eval::testing
