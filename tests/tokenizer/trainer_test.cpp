// Trainer tests: the documented tie-break on a tiny golden case, equality with a brute-force trainer
// that recounts every pair before each merge, determinism, limits (vocab size, min frequency, max
// token length), and streaming word counts (chunking, the memory cap).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "anvil/base/file.h"
#include "test_util.h"

namespace anvil::tok {
namespace {

using testing::make_text;

// Brute force: recount all pairs from scratch before every merge.
std::vector<Merge> brute_force_merges(const WordCounter& counts, size_t n_merges, uint64_t min_frequency) {
  std::vector<std::pair<std::vector<uint32_t>, int64_t>> words;
  counts.for_each([&](std::string_view w, uint64_t c) {
    std::vector<uint32_t> s;
    for (char ch : w) s.push_back(static_cast<uint8_t>(ch));
    words.emplace_back(std::move(s), static_cast<int64_t>(c));
  });
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.emplace_back(1, static_cast<char>(b));
  std::map<std::string, uint32_t> ids;
  for (uint32_t b = 0; b < 256; ++b) ids[tokens[b]] = b;
  std::vector<Merge> merges;
  while (tokens.size() < 256 + n_merges) {
    std::map<std::pair<uint32_t, uint32_t>, int64_t> pc;
    for (const auto& [s, c] : words)
      for (size_t i = 0; i + 1 < s.size(); ++i) pc[{s[i], s[i + 1]}] += c;
    std::pair<uint32_t, uint32_t> best{};
    int64_t best_count = 0;
    for (const auto& [p, c] : pc)  // map order = ascending pair, so '>' keeps the smallest on ties
      if (c > best_count) { best_count = c; best = p; }
    if (best_count == 0 || static_cast<uint64_t>(best_count) < min_frequency) break;
    const std::string joined = tokens[best.first] + tokens[best.second];
    auto [it, fresh] = ids.emplace(joined, static_cast<uint32_t>(tokens.size()));
    if (fresh) tokens.push_back(joined);
    merges.push_back({best.first, best.second});
    for (auto& [s, c] : words) {
      std::vector<uint32_t> out;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == best.first && s[i + 1] == best.second) { out.push_back(it->second); i += 2; }
        else out.push_back(s[i++]);
      }
      s = std::move(out);
    }
  }
  return merges;
}

TEST(Trainer, TieBreakGolden) {
  WordCounter w;
  w.add("ab", 3);
  w.add("bc", 3);
  w.add("cd", 1);
  auto parts = train_bpe(w, {.vocab_size = 300, .min_frequency = 2});
  ASSERT_TRUE(parts.ok());
  ASSERT_EQ(parts->merges.size(), 2u);  // (c,d) occurs once < min_frequency
  EXPECT_EQ(parts->merges[0].left, 'a');  // count 3 ties with (b,c): the smaller pair wins
  EXPECT_EQ(parts->merges[1].left, 'b');
  EXPECT_EQ(parts->tokens[256], "ab");
  EXPECT_EQ(parts->tokens[257], "bc");
}

TEST(Trainer, EqualsBruteForce) {
  for (Pattern p : {Pattern::kGpt2, Pattern::kCl100k}) {
    WordCounter words;
    count_words_in_text(make_text(21, 8000), {.pattern = p}, words);
    TrainerConfig cfg{.vocab_size = 256 + 150, .min_frequency = 2, .pretokenizer = {.pattern = p}};
    auto parts = train_bpe(words, cfg);
    ASSERT_TRUE(parts.ok());
    const auto expect = brute_force_merges(words, 150, 2);
    ASSERT_EQ(parts->merges.size(), expect.size());
    for (size_t r = 0; r < expect.size(); ++r) {
      ASSERT_EQ(parts->merges[r].left, expect[r].left) << "merge " << r;
      ASSERT_EQ(parts->merges[r].right, expect[r].right) << "merge " << r;
    }
  }
}

TEST(Trainer, LimitsAndSpecials) {
  const std::string text = make_text(22, 30000);
  const Tokenizer t = testing::train_small(text, 520);
  ASSERT_EQ(t.vocab_size(), 520u);
  EXPECT_EQ(t.token_bytes(517), "<|endoftext|>");
  EXPECT_TRUE(t.is_special(519));
  EXPECT_LT(t.encode(text).size(), text.size() / 3);

  WordCounter words;
  count_words_in_text(text, {}, words);
  auto parts = train_bpe(words, {.vocab_size = 520, .max_token_length = 3});
  ASSERT_TRUE(parts.ok());
  for (const std::string& tok : parts->tokens) EXPECT_LE(tok.size(), 3u);
  EXPECT_FALSE(train_bpe(words, {.vocab_size = 200}).ok());
  EXPECT_FALSE(train_bpe(words, {.vocab_size = 400, .special_tokens = {"<a>", "<a>"}}).ok());
}

TEST(Trainer, CountsFromFilesTileTheInput) {
  const std::string text = make_text(23, 40000);
  const std::string path = (std::filesystem::temp_directory_path() / "anvil_tok_count_test.txt").string();
  ASSERT_TRUE(write_file_atomic(path, text).ok());
  const std::vector<std::string> inputs = {path, path};
  TrainerConfig cfg{.chunk_bytes = 4096, .n_threads = 2};
  WordCounter words;
  auto stats = count_words(inputs, cfg, words);
  ASSERT_TRUE(stats.ok()) << stats.status().to_string();
  uint64_t bytes = 0;
  words.for_each([&](std::string_view w, uint64_t c) { bytes += w.size() * c; });
  EXPECT_EQ(bytes, 2 * text.size());
  EXPECT_EQ(stats->n_bytes, 2 * text.size());
  EXPECT_EQ(stats->n_prunes, 0u);
  // Deterministic: a second count of the same input trains the same tokens.
  WordCounter again;
  ASSERT_TRUE(count_words(inputs, cfg, again).ok());
  auto a = train_bpe(words, {.vocab_size = 500});
  auto b = train_bpe(again, {.vocab_size = 500});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens, b->tokens);

  WordCounter capped;
  cfg.max_words = 200;
  stats = count_words(inputs, cfg, capped);
  ASSERT_TRUE(stats.ok());
  EXPECT_GT(stats->n_prunes, 0u);
  EXPECT_LE(capped.size(), 200u);
  EXPECT_FALSE(count_words(std::vector<std::string>{path + ".missing"}, cfg, capped).ok());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace anvil::tok
