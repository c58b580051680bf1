// Modified Kneser-Ney: a bigram model on three sentences checked against probabilities computed by
// hand (in the comments), normalisation Σ_w p(w|h) = 1 for estimated discounts, and perplexity
// ordering (in-domain text scores lower than shuffled words).
#include <gtest/gtest.h>

#include <cmath>

#include "anvil/base/rng.h"
#include "anvil/data/kn_lm.h"

namespace anvil::data {
namespace {

constexpr double kProbTolerance = 1e-12;
constexpr double kSumTolerance = 1e-9;

TEST(KnLm, HandComputedBigram) {
  // Sentences "a b", "a c", "a b" → <s> a b </s>, <s> a c </s>, <s> a b </s>; discounts forced to
  // KenLM's fallback D1 = 0.5, D2 = 1, D3+ = 1.5.
  // Unigram continuation counts: a ← {<s>} = 1, b ← {a} = 1, c ← {a} = 1, </s> ← {b, c} = 2; Σ = 5.
  // γ(ε) = (0.5·3 + 1·1) / 5 = 0.5; uniform over {<unk>, a, b, c, </s>} = 1/5.
  //   p(a) = (1 − 0.5)/5 + 0.5/5 = 0.2 (also b, c);  p(</s>) = (2 − 1)/5 + 0.1 = 0.3;  p(<unk>) = 0.1.
  // Bigrams (highest order, raw counts) after "a": b = 2, c = 1; Σ = 3; γ(a) = (0.5·1 + 1·1)/3 = 0.5.
  //   p(b|a) = (2 − 1)/3 + 0.5·0.2 = 13/30;  p(c|a) = 0.5/3 + 0.1 = 8/30;  p(</s>|a) = 0.5·0.3 = 0.15.
  KnLm lm({.order = 2, .force_fallback = true});
  lm.add_text("a b\na c\n\na b");
  ASSERT_TRUE(lm.finish().ok());
  const uint32_t a = lm.id("a"), b = lm.id("b"), c = lm.id("c");
  EXPECT_NEAR(lm.prob({}, a), 0.2, kProbTolerance);
  EXPECT_NEAR(lm.prob({}, KnLm::kEos), 0.3, kProbTolerance);
  EXPECT_NEAR(lm.prob({}, KnLm::kUnk), 0.1, kProbTolerance);
  EXPECT_NEAR(lm.prob({a}, b), 13.0 / 30.0, kProbTolerance);
  EXPECT_NEAR(lm.prob({a}, c), 8.0 / 30.0, kProbTolerance);
  EXPECT_NEAR(lm.prob({a}, KnLm::kEos), 0.15, kProbTolerance);
  EXPECT_NEAR(lm.prob({a}, a), 0.1, kProbTolerance);
  // "<s> a b </s>": p(a|<s>) = (3 − 1.5)/3 + γ(<s>)·p(a), γ(<s>) = 1.5/3 → 0.5 + 0.1 = 0.6;
  // p(b|a) = 13/30; p(</s>|b) = (2 − 1)/2 + (1/2)·0.3 = 0.65. pp = (0.6·13/30·0.65)^(−1/3).
  const double want = std::pow(0.6 * 13.0 / 30.0 * 0.65, -1.0 / 3.0);
  EXPECT_NEAR(lm.perplexity("A b."), want, 1e-9);  // simplified like the training text
}

TEST(KnLm, DistributionsSumToOneWithEstimatedDiscounts) {
  Rng rng(3);
  const char* kWords[] = {"the", "cat", "sat", "on", "mat", "dog", "ran", "to", "a", "park", "big", "red"};
  std::string text;
  for (int line = 0; line < 400; ++line) {
    const int n = 3 + static_cast<int>(rng.below(8));
    for (int i = 0; i < n; ++i) text += std::string(i ? " " : "") + kWords[rng.below(rng.below(2) ? 5 : 12)];
    text += "\n";
  }
  KnLm lm({.order = 3});
  lm.add_text(text);
  ASSERT_TRUE(lm.finish().ok());
  for (int n = 1; n <= 3; ++n) {
    const auto d = lm.discounts(n);
    EXPECT_GT(d[0], 0.0);
    EXPECT_LE(d[2], 3.0);
  }
  const std::vector<std::vector<uint32_t>> contexts = {
      {}, {KnLm::kBos}, {lm.id("the")}, {lm.id("the"), lm.id("cat")}, {lm.id("red"), lm.id("park")},
      {KnLm::kUnk, lm.id("cat")}};
  for (const auto& ctx : contexts) {
    double sum = 0;
    for (uint32_t w = 0; w < lm.vocab_size(); ++w) {
      if (w != KnLm::kBos) sum += lm.prob(ctx, w);
    }
    EXPECT_NEAR(sum, 1.0, kSumTolerance) << "context of " << ctx.size();
  }
  EXPECT_LT(lm.perplexity("the cat sat on the mat"), lm.perplexity("mat on red park big to"));
}

TEST(KnLm, EmptyTrainingIsAnError) {
  KnLm lm;
  lm.add_text("\n  \n");
  EXPECT_FALSE(lm.finish().ok());
}

}  // namespace
}  // namespace anvil::data
