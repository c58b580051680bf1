// Shared helpers for tokenizer tests: a deterministic pseudo-text generator (Zipf-like words with
// punctuation, digits, accents, CJK and odd whitespace) and a small tokenizer trained on it.
#pragma once

#include <string>

#include "anvil/base/rng.h"
#include "anvil/tokenizer/trainer.h"

namespace anvil::tok::testing {

inline std::string make_text(uint64_t seed, size_t n_words) {
  static const char* kWords[] = {"the", "of", "and", "to", "in", "is", "that", "it", "was", "for", "on",
                                 "are", "with", "as", "I", "his", "they", "be", "at", "one", "have", "this",
                                 "from", "or", "had", "by", "word", "but", "what", "some", "we", "can",
                                 "out", "other", "were", "all", "there", "when", "up", "use", "your", "how",
                                 "said", "an", "each", "she", "which", "do", "their", "time", "if", "will",
                                 "way", "about", "many", "then", "them", "write", "would", "like", "so",
                                 "these", "her", "long", "make", "thing", "see", "him", "two", "has", "look",
                                 "naïve", "café", "Straße", "日本語", "テキスト", "Привет", "don't", "it's",
                                 "2024", "3.14", "x86_64", "<|endoftext|>", "e\u0301", "🙂", "\t", "  "};
  constexpr size_t kN = sizeof(kWords) / sizeof(kWords[0]);
  Rng rng(seed);
  std::string out;
  for (size_t i = 0; i < n_words; ++i) {
    // rank ~ Zipf: square a uniform to favour the first words
    const double u = rng.uniform_f64();
    out += kWords[static_cast<size_t>(u * u * kN) % kN];
    const uint64_t r = rng.below(100);
    if (r < 70) out += ' ';
    else if (r < 80) out += ", ";
    else if (r < 88) out += ".\n";
    else if (r < 92) out += "\n\n";
    else if (r < 96) out += "!? ";
    else out += "\u3000";
  }
  return out;
}

inline Tokenizer train_small(const std::string& text, size_t vocab_size, Pattern p = Pattern::kGpt2,
                             std::vector<std::string> specials = {"<|endoftext|>", "<think>", "</think>"}) {
  TrainerConfig cfg{.vocab_size = vocab_size, .min_frequency = 2, .special_tokens = std::move(specials),
                    .pretokenizer = {.pattern = p}};
  WordCounter words;
  count_words_in_text(text, cfg.pretokenizer, words);
  auto parts = train_bpe(words, cfg);
  EXPECT_TRUE(parts.ok()) << parts.status().to_string();
  auto t = Tokenizer::create(std::move(parts).value());
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return std::move(t).value();
}

}  // namespace anvil::tok::testing
