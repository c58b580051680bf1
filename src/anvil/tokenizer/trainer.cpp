// BPE merge loop (see trainer.h). Words are byte-id sequences in one arena; each pair keeps a count
// and the list of words that held it when it was last incremented. A merge rewrites only those words
// and applies +/- count deltas to the neighbouring pairs; the heap is lazy (an entry whose count is
// stale is re-pushed with the current count when popped), as in HF tokenizers bpe/trainer.rs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <queue>
#include <unordered_map>

#include "anvil/tokenizer/trainer.h"

namespace anvil::tok {
namespace {

struct HeapItem {
  int64_t count;
  uint32_t left, right;
  // priority_queue pops the largest: higher count, then the smaller (left, right)
  bool operator<(const HeapItem& o) const {
    if (count != o.count) return count < o.count;
    return pair_key(left, right) > pair_key(o.left, o.right);
  }
};

struct Word {
  uint64_t offset;
  uint32_t len;
  int64_t count;
};

class PairTable {
 public:
  // Index of the pair, created with count 0 if new.
  uint32_t index(uint32_t a, uint32_t b) {
    bool fresh = false;
    uint32_t& v = map_.insert(pair_key(a, b), static_cast<uint32_t>(counts_.size()), &fresh);
    if (fresh) {
      counts_.push_back(0);
      where_.emplace_back();
      pairs_.push_back({a, b});
    }
    return v;
  }
  const uint32_t* find(uint32_t a, uint32_t b) const { return map_.find(pair_key(a, b)); }
  int64_t& count(uint32_t i) { return counts_[i]; }
  std::vector<uint32_t>& where(uint32_t i) { return where_[i]; }
  Merge pair(uint32_t i) const { return pairs_[i]; }
  size_t size() const { return counts_.size(); }
  void add_where(uint32_t i, uint32_t w) {
    auto& v = where_[i];
    if (v.empty() || v.back() != w) v.push_back(w);
  }

 private:
  PairMap map_{1 << 20};
  std::vector<int64_t> counts_;
  std::vector<std::vector<uint32_t>> where_;
  std::vector<Merge> pairs_;
};

}  // namespace

Status validate_trainer_config(const TrainerConfig& cfg) {
  const size_t n_special = cfg.special_tokens.size();
  if (cfg.vocab_size < 256 + n_special)
    return invalid_argument("[tokenizer.train] vocab_size {} < 256 bytes + {} special tokens", cfg.vocab_size,
                            n_special);
  for (size_t i = 0; i < n_special; ++i) {
    if (cfg.special_tokens[i].empty()) return invalid_argument("[tokenizer.train] special token {} is empty", i);
    for (size_t j = 0; j < i; ++j)
      if (cfg.special_tokens[i] == cfg.special_tokens[j])
        return invalid_argument("[tokenizer.train] special token '{}' is listed twice", cfg.special_tokens[i]);
  }
  return ok_status();
}

Result<TokenizerParts> train_bpe(const WordCounter& counts, const TrainerConfig& cfg, TrainStats* stats) {
  ANVIL_RETURN_IF_ERROR(validate_trainer_config(cfg));
  const size_t n_special = cfg.special_tokens.size();
  const auto t0 = std::chrono::steady_clock::now();
  TokenizerParts parts;
  parts.pretokenizer = cfg.pretokenizer;
  for (int b = 0; b < 256; ++b) parts.tokens.emplace_back(1, static_cast<char>(b));

  // words of 2+ bytes, sorted by bytes so the result does not depend on hash order
  std::vector<std::pair<std::string_view, uint64_t>> sorted;
  sorted.reserve(counts.size());
  counts.for_each([&](std::string_view w, uint64_t c) { if (w.size() >= 2) sorted.emplace_back(w, c); });
  std::sort(sorted.begin(), sorted.end());
  std::vector<uint32_t> arena;
  std::vector<Word> words;
  words.reserve(sorted.size());
  for (const auto& [w, c] : sorted) {
    words.push_back(Word{arena.size(), static_cast<uint32_t>(w.size()), static_cast<int64_t>(c)});
    for (char ch : w) arena.push_back(static_cast<uint8_t>(ch));
  }
  sorted = {};

  PairTable pairs;
  for (uint32_t w = 0; w < words.size(); ++w) {
    const uint32_t* s = arena.data() + words[w].offset;
    for (uint32_t i = 0; i + 1 < words[w].len; ++i) {
      uint32_t p = pairs.index(s[i], s[i + 1]);
      pairs.count(p) += words[w].count;
      pairs.add_where(p, w);
    }
  }
  std::priority_queue<HeapItem> heap;
  for (uint32_t p = 0; p < pairs.size(); ++p)
    if (pairs.count(p) > 0) heap.push({pairs.count(p), pairs.pair(p).left, pairs.pair(p).right});

  const size_t target_tokens = cfg.vocab_size - n_special;
  const size_t target_merges = target_tokens - 256;  // for the progress bar
  std::unordered_map<std::string, uint32_t> token_ids;
  for (uint32_t id = 0; id < 256; ++id) token_ids.emplace(parts.tokens[id], id);
  std::vector<uint32_t> touched;
  std::vector<uint8_t> merged;  // pair index -> already in parts.merges
  std::vector<uint32_t> todo;
  auto last_report = t0;
  const auto merge_t0 = std::chrono::steady_clock::now();
  while (parts.tokens.size() < target_tokens && !heap.empty()) {
    HeapItem top = heap.top();
    heap.pop();
    const uint32_t p = *pairs.find(top.left, top.right);
    const int64_t current = pairs.count(p);
    if (top.count != current) {
      if (current > 0) heap.push({current, top.left, top.right});
      continue;
    }
    if (current <= 0 || static_cast<uint64_t>(current) < cfg.min_frequency) break;
    const std::string joined = parts.tokens[top.left] + parts.tokens[top.right];
    if (cfg.max_token_length > 0 && joined.size() > cfg.max_token_length) continue;
    // two merges can build the same bytes ("ab"+"c", "a"+"bc"): the second reuses the id (as HF does)
    auto [known, fresh] = token_ids.emplace(joined, static_cast<uint32_t>(parts.tokens.size()));
    const uint32_t a = top.left, b = top.right, c = known->second;
    if (fresh) parts.tokens.push_back(joined);
    // a reused id can re-form a pair merged before: rewrite the words again, but list the merge once
    if (merged.size() <= p) merged.resize(pairs.size(), 0);
    if (!merged[p]) parts.merges.push_back({a, b});
    merged[p] = 1;

    todo.swap(pairs.where(p));
    pairs.where(p).clear();
    pairs.where(p).shrink_to_fit();
    std::sort(todo.begin(), todo.end());
    todo.erase(std::unique(todo.begin(), todo.end()), todo.end());
    touched.clear();
    auto change = [&](uint32_t x, uint32_t y, int64_t delta, uint32_t w) {
      uint32_t q = pairs.index(x, y);
      pairs.count(q) += delta;
      if (delta > 0) {
        pairs.add_where(q, w);
        touched.push_back(q);
      }
    };
    for (uint32_t w : todo) {
      Word& word = words[w];
      uint32_t* s = arena.data() + word.offset;
      const int64_t n = word.count;
      uint32_t out = 0;
      for (uint32_t i = 0; i < word.len;) {
        if (i + 1 < word.len && s[i] == a && s[i + 1] == b) {
          if (out > 0) { change(s[out - 1], a, -n, w); change(s[out - 1], c, n, w); }
          if (i + 2 < word.len) { change(b, s[i + 2], -n, w); change(c, s[i + 2], n, w); }
          s[out++] = c;
          i += 2;
        } else {
          s[out++] = s[i++];
        }
      }
      word.len = out;
    }
    todo.clear();
    pairs.count(p) = 0;
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (uint32_t q : touched)
      if (q != p && pairs.count(q) > 0) heap.push({pairs.count(q), pairs.pair(q).left, pairs.pair(q).right});

    if (cfg.progress == ProgressOutput::kStderr && (parts.merges.size() & 255) == 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_report > std::chrono::milliseconds(500)) {
        const double s = std::chrono::duration<double>(now - merge_t0).count();
        const int width = 30;
        const int filled = static_cast<int>(width * (parts.tokens.size() - 256) / std::max<size_t>(target_merges, 1));
        std::fprintf(stderr, "\r[tokenizer.train] merges [%.*s%*s] %zu/%zu  %.0f merges/s", filled,
                     "##############################", width - filled, "", parts.tokens.size() - 256, target_merges,
                     parts.merges.size() / std::max(s, 1e-9));
        last_report = now;
      }
    }
  }
  const double merge_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - merge_t0).count();
  if (cfg.progress == ProgressOutput::kStderr)
    std::fprintf(stderr, "\r[tokenizer.train] %zu merges in %.2f s (%.0f merges/s)%30s\n", parts.merges.size(),
                 merge_s, parts.merges.size() / std::max(merge_s, 1e-9), "");
  for (const std::string& sp : cfg.special_tokens) {
    parts.special_ids.push_back(static_cast<uint32_t>(parts.tokens.size()));
    parts.tokens.push_back(sp);
  }
  if (stats) *stats = TrainStats{.n_merges = parts.merges.size(), .merge_seconds = merge_s};
  return parts;
}

}  // namespace anvil::tok
