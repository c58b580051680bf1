// Perplexity: the sliding-window scores equal an independent per-target computation (each target
// scored from its own context in its own forward), window/stride bookkeeping, bpb and the counts.
#include <cmath>

#include "anvil/base/file.h"
#include "anvil/data/shards.h"
#include "anvil/eval/perplexity.h"
#include "eval_test_util.h"

namespace anvil::eval {
namespace {

using testing::byte_tokenizer;
using testing::gpt2_config;
using testing::tiny_model;

constexpr double kRelTolerance = 1e-5;  // fp32 logits, double sums; different batch shapes

// −ln p(y[t] | y[ctx_begin, t)) for each target of a window layout, one forward per target.
double brute_force_nll(LmScorer& lm, const std::vector<int32_t>& y, int64_t window, int64_t stride) {
  double nll = 0;
  const int64_t n = static_cast<int64_t>(y.size());
  for (int64_t a = 1; a < n; a += stride) {
    const int64_t b = std::min(a + stride, n), s = std::max<int64_t>(0, b - 1 - window);
    for (int64_t t = a; t < b; ++t) {
      std::vector<std::vector<int32_t>> seq{{y.begin() + s, y.begin() + t}};
      std::vector<std::vector<float>> lp;
      EXPECT_TRUE(lm.next_logprobs(seq, lp).ok());
      nll -= lp[0][static_cast<size_t>(y[static_cast<size_t>(t)])];
    }
  }
  return nll;
}

TEST(Perplexity, SlidingWindowsMatchPerTargetComputation) {
  const tok::Tokenizer tk = byte_tokenizer();
  model::Transformer m = tiny_model(gpt2_config(257, 24), 3);
  auto lm = LmScorer::create(m, tk, {.max_batch = 3, .pad_multiple = 8});
  ASSERT_TRUE(lm.ok());
  const std::vector<int32_t> doc = lm->encode("The quick brown fox jumps over the lazy dog, twice.");
  std::vector<int32_t> y = {*lm->eot()};
  y.insert(y.end(), doc.begin(), doc.end());
  const std::vector<std::pair<int64_t, int64_t>> layouts = {{24, 24}, {16, 5}, {12, 2}, {8, 8}};
  for (auto [window, stride] : layouts) {
    auto r = perplexity_of_docs(*lm, std::vector<std::vector<int32_t>>{doc}, true, {.window = window, .stride = stride});
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    const double ref = brute_force_nll(*lm, y, window, stride);
    EXPECT_NEAR(r->nll, ref, kRelTolerance * ref) << "window " << window << " stride " << stride;
    EXPECT_EQ(r->n_tokens, static_cast<int64_t>(doc.size()));
    EXPECT_EQ(r->n_bytes, static_cast<int64_t>(doc.size()));  // byte tokenizer: one byte per token
    EXPECT_NEAR(r->ppl, std::exp(r->nll / r->n_tokens), 1e-9 * r->ppl);
    EXPECT_NEAR(r->bpb, r->nll / (std::log(2.0) * r->n_bytes), 1e-12);
  }
}

TEST(Perplexity, SmallerStrideGivesMoreContextAndDifferentScores) {
  const tok::Tokenizer tk = byte_tokenizer();
  model::Transformer m = tiny_model(gpt2_config(257, 16), 5);
  auto lm = LmScorer::create(m, tk, {});
  ASSERT_TRUE(lm.ok());
  const std::vector<std::vector<int32_t>> docs = {lm->encode("abcdefghijklmnopqrstuvwxyz0123456789")};
  auto disjoint = perplexity_of_docs(*lm, docs, false, {.window = 16});
  auto sliding = perplexity_of_docs(*lm, docs, false, {.window = 16, .stride = 4});
  ASSERT_TRUE(disjoint.ok() && sliding.ok());
  EXPECT_EQ(disjoint->n_tokens, 35);
  EXPECT_EQ(disjoint->n_unscored, 1);
  EXPECT_EQ(sliding->n_tokens, 35);
  EXPECT_GT(std::fabs(disjoint->nll - sliding->nll), 1e-3);
}

TEST(Perplexity, TextFileAndShardAgreeOnTheSameTokens) {
  testing::TempDir dir("ppl");
  const tok::Tokenizer tk = byte_tokenizer();
  model::Transformer m = tiny_model(gpt2_config(257, 32), 7);
  auto lm = LmScorer::create(m, tk, {});
  ASSERT_TRUE(lm.ok());
  const std::string text = "one two  three\nfour\tfive six seven eight nine ten eleven twelve";
  ASSERT_TRUE(write_file_atomic(dir.str("a.txt"), text).ok());
  auto rt = perplexity_of_text(*lm, dir.str("a.txt"), {});
  ASSERT_TRUE(rt.ok()) << rt.status().to_string();
  EXPECT_EQ(rt->n_docs, 1);
  EXPECT_EQ(rt->n_words, 12);
  EXPECT_EQ(rt->n_tokens, static_cast<int64_t>(text.size()));
  EXPECT_EQ(rt->n_bytes, static_cast<int64_t>(text.size()));
  EXPECT_NEAR(rt->word_perplexity, std::exp(rt->nll / 12), 1e-9 * rt->word_perplexity);
  // The same stream as a shard with the EOT first: the shard scores exactly the same targets.
  data::TokenShardWriter w;
  ASSERT_TRUE(w.open(dir.str("a.tok"), {.vocab_size = 257}).ok());
  std::vector<uint32_t> ids = {256};
  for (unsigned char c : text) ids.push_back(c);
  ASSERT_TRUE(w.append(ids).ok());
  ASSERT_TRUE(w.finalize().ok());
  auto rs = perplexity_of_shard(*lm, dir.str("a.tok"), {});
  ASSERT_TRUE(rs.ok()) << rs.status().to_string();
  EXPECT_EQ(rs->n_tokens, rt->n_tokens);
  EXPECT_NEAR(rs->nll, rt->nll, kRelTolerance * rt->nll);
  EXPECT_NEAR(rs->bpb, rt->bpb, kRelTolerance * rt->bpb);
}

TEST(Perplexity, BadOptionsAndFilesAreErrors) {
  const tok::Tokenizer tk = byte_tokenizer();
  model::Transformer m = tiny_model(gpt2_config(257, 16), 1);
  auto lm = LmScorer::create(m, tk, {});
  ASSERT_TRUE(lm.ok());
  const std::vector<std::vector<int32_t>> docs = {{1, 2, 3}};
  EXPECT_FALSE(perplexity_of_docs(*lm, docs, false, {.window = 17}).ok());
  EXPECT_FALSE(perplexity_of_docs(*lm, docs, false, {.window = 8, .stride = 9}).ok());
  auto missing = perplexity_of_shard(*lm, "/nonexistent/x.tok", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/x.tok"), std::string::npos);
}

}  // namespace
}  // namespace anvil::eval
