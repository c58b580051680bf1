// A backoff n-gram language model read from an ARPA file (the text format of SRILM and KenLM's lmplz:
// \data\ counts, \N-grams: sections of "log10 p <tab> w1 .. wN [<tab> log10 backoff]", \end\).
// p(w | h) = P(h w) when listed, else backoff(h) · p(w | h minus its oldest word) (log10 sums); a
// missing backoff is 0. Tokens and perplexity are those of KnLm (kn_lm.h: lm_words, <s> … </s>, unknown
// words → <unk>), so a KnLm written with write_arpa() scores the same here to float precision.
// Malformed files are errors naming the file, the line and the field; nothing in a file can crash it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "anvil/base/status.h"

namespace anvil::data {

class ArpaLm {
 public:
  static constexpr int kMaxOrder = 8;
  // lmplz's value when a file has no <unk> (KenLM substitutes it the same way).
  static constexpr float kMissingUnkLog10Prob = -100.0f;

  // Reads a file (plain or zstd-compressed); `parse` reads text already in memory, `name` labels errors.
  static Result<ArpaLm> load(const std::string& path);
  static Result<ArpaLm> parse(std::string_view text, const std::string& name = "<arpa>");

  int order() const { return static_cast<int>(counts_.size()); }
  uint64_t n_grams(int order) const { return counts_[static_cast<size_t>(order - 1)]; }
  size_t vocab_size() const { return words_.size(); }
  const std::string& word(uint32_t id) const { return words_[id]; }
  uint32_t id(std::string_view word) const;  // unk() when unknown
  uint32_t unk() const { return unk_; }
  uint32_t bos() const { return bos_; }
  uint32_t eos() const { return eos_; }
  bool has_unk() const { return has_unk_; }
  size_t memory_bytes() const;

  // log10 p(word | context), context most recent last (longer ones are cut to order - 1 words).
  double log10_prob(const uint32_t* context, size_t n_context, uint32_t word) const;
  // Σ log10 p over the words and </s> of each line, and the number of predicted tokens.
  std::pair<double, uint64_t> log10_prob(std::string_view text) const;
  double perplexity(std::string_view text) const;  // 10^(−Σ log10 p / n); 0 for text without words

 private:
  struct Slot {
    uint64_t key = 0;  // 0 = empty (real keys are remapped away from 0)
    float log10_p = 0, log10_backoff = 0;
  };
  struct Table {  // open addressing, linear probing, load factor <= 1/2
    std::vector<Slot> slots;
    void reserve(uint64_t n);
    Slot* insert(uint64_t key, bool* added);
    const Slot* find(uint64_t key) const;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  class Parser;

  std::vector<uint64_t> counts_;        // n-grams per order, from \data\ (= what the sections hold)
  std::vector<std::string> words_;      // id → word, in the order of the 1-grams section
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> vocab_;
  std::vector<float> uni_log10_p_, uni_log10_backoff_;  // 1-grams, by id
  std::vector<Table> tables_;           // orders 2..N at index n-2, keyed by a hash of the word ids
  uint32_t unk_ = 0, bos_ = 0, eos_ = 0;
  bool has_unk_ = true;
};

}  // namespace anvil::data
