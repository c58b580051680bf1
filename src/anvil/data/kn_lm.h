// An interpolated modified Kneser-Ney n-gram language model (Chen & Goodman 1998, as KenLM's lmplz
// estimates it) for CCNet-style perplexity filtering (method-specs §8.3). Words are those of
// simplify_for_minhash() (lower-case, digits → 0, punctuation removed); each line is a sentence
// padded with <s> … </s>. Highest order uses raw counts, lower orders continuation counts (raw for
// n-grams starting with <s>); discounts D1, D2, D3+ per order from count-of-counts, or KenLM's
// fallback (0.5, 1, 1.5) when those are out of range. Unigrams interpolate with uniform over the
// vocabulary + <unk>. Perplexity: pp = 10^(−Σ log10 p / Σ (n_words + 1)) over lines, like cc_net.
// write_arpa() stores the model as a backoff ARPA file (prob = the interpolated p, backoff = γ of the
// context), which arpa_lm.h reads back with the same probabilities (to float precision).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "anvil/base/status.h"

namespace anvil::data {

// The words of one line as the model sees them: simplify_for_minhash(line) into `simple`, split on
// spaces into `words` (views into `simple`). Shared by KnLm and ArpaLm so both score the same tokens.
void lm_words(std::string_view line, std::string& simple, std::vector<std::string_view>& words);

// Calls f(line) for each '\n'-separated line of text (the last one may lack its '\n').
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    f(text.substr(start, end - start));
    start = end + 1;
  }
}

struct KnOptions {
  int order = 5;
  std::array<double, 3> discount_fallback = {0.5, 1.0, 1.5};
  bool force_fallback = false;  // always use discount_fallback (tests, tiny corpora)
};

class KnLm {
 public:
  static constexpr uint32_t kUnk = 0, kBos = 1, kEos = 2;
  static constexpr int kMaxOrder = 8;

  explicit KnLm(const KnOptions& opt = {});
  // Counts the n-grams of `text` (many lines; blank lines are skipped); then finish() once.
  void add_text(std::string_view text);
  Status finish();

  // p(word | context) with context the preceding words (most recent last; longer ones are cut).
  double prob(const std::vector<uint32_t>& context, uint32_t word) const;
  uint32_t id(std::string_view word) const;  // kUnk when unknown
  // Σ log10 p over the words and </s> of each line, and the number of predicted tokens.
  std::pair<double, uint64_t> log10_prob(std::string_view text) const;
  double perplexity(std::string_view text) const;  // 10^(−Σ log10 p / n)
  std::array<double, 3> discounts(int order) const { return discounts_[static_cast<size_t>(order - 1)]; }
  size_t vocab_size() const { return words_.size(); }  // including <unk>, <s>, </s>
  int order() const { return order_; }
  uint64_t n_lines() const { return n_lines_; }
  uint64_t n_grams(int order) const { return grams_[static_cast<size_t>(order - 1)].size(); }

  // The model in ARPA format (\data\ counts, \N-grams: sections, \end\), streamed to `sink` in
  // pieces of about 1 MiB; n-grams sorted by word ids within each order. <s> gets log10 p = -99 like
  // KenLM's lmplz; <unk> gets the probability the model gives unseen words.
  Status write_arpa(const std::function<Status(std::string_view)>& sink) const;
  Status write_arpa_file(const std::string& path) const;  // atomically
  std::string arpa_text() const;

 private:
  struct Gram {
    uint64_t context = 0, suffix = 0;  // hashes of ids[0..n-1) and ids[1..n)
    uint32_t raw = 0, adjusted = 0;
    float prob = 0;  // interpolated p(last word | the others), set by finish() (what ARPA lists)
    bool starts_bos = false;
  };
  struct Context {
    uint64_t sum = 0, n1 = 0, n2 = 0, n3p = 0;
  };
  double interpolate(const uint32_t* hist, size_t n_hist, uint32_t word) const;
  double gamma(size_t order, const Context& c) const;  // interpolation weight of a context of `order`-grams

  KnOptions opt_;
  int order_ = 0;
  std::unordered_map<std::string, uint32_t> vocab_;
  std::vector<std::string> words_;
  std::vector<std::unordered_map<uint64_t, Gram>> grams_;        // per order (index n-1)
  std::vector<std::vector<uint32_t>> gram_ids_;                  // per order: n ids per gram, first-seen order
  std::vector<std::unordered_map<uint64_t, Context>> contexts_;  // per order, keyed by context hash
  std::vector<std::array<double, 3>> discounts_;
  uint64_t n_predictable_ = 0;                                   // |vocab| without <s>
  uint64_t n_lines_ = 0;
  bool finished_ = false;
};

}  // namespace anvil::data
