// Tiny random models and a byte-level tokenizer for the generation tests: GPT-2 (learned positions,
// Conv1D weights) and LLaMA (RoPE, GQA, nn.Linear weights), 64 positions, vocab 300 of which the
// tokenizer covers 257 (256 bytes + <|endoftext|> id 256): the other rows are padding the sampler masks.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "anvil/model/transformer.h"
#include "anvil/tokenizer/tokenizer.h"

namespace anvil::infer::test_models {

inline constexpr int64_t kTinyVocab = 300;
inline constexpr int64_t kTinyMaxSeq = 64;
inline constexpr int32_t kTinyEos = 256;

inline tok::Tokenizer byte_tokenizer() {
  tok::TokenizerParts p;
  for (int b = 0; b < 256; ++b) p.tokens.emplace_back(1, static_cast<char>(b));
  p.tokens.emplace_back("<|endoftext|>");
  p.special_ids.push_back(kTinyEos);
  auto t = tok::Tokenizer::create(std::move(p));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return std::move(*t);
}

inline model::Transformer tiny_model(bool llama = false) {
  const char* gpt2 = R"({"model_type":"gpt2","vocab_size":300,"n_positions":64,"n_embd":32,"n_layer":2,"n_head":4,
                         "initializer_range":0.3})";
  const char* llama_cfg = R"({"model_type":"llama","vocab_size":300,"max_position_embeddings":64,"hidden_size":32,
                              "intermediate_size":64,"num_hidden_layers":2,"num_attention_heads":4,
                              "num_key_value_heads":2,"tie_word_embeddings":false,"initializer_range":0.3})";
  auto cfg = model::parse_config(llama ? llama_cfg : gpt2);
  EXPECT_TRUE(cfg.ok()) << cfg.status().to_string();
  auto m = model::Transformer::create(*cfg);
  EXPECT_TRUE(m.ok());
  m->init_weights(77);
  return std::move(*m);
}

}  // namespace anvil::infer::test_models
