// ARPA models: KnLm → ARPA text → ArpaLm gives the same probabilities (to float precision), a
// hand-written backoff model and the hand-computed bigram of kn_lm_test.cpp scored by hand, and
// malformed files (named cases, every truncated prefix, seeded byte mutations) fail with line numbers
// and never crash.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "anvil/base/rng.h"
#include "anvil/data/arpa_lm.h"
#include "anvil/data/kn_lm.h"
#include "support/temp_dir.h"

namespace anvil::data {
namespace {

// ARPA stores log10 values as float (like lmplz): ~6e-8 relative each, a few of them per query.
constexpr double kLog10Tolerance = 1e-5;
constexpr double kPerplexityRelTolerance = 1e-5;
constexpr double kSumTolerance = 1e-4;
constexpr int kNumMutations = 3000;

std::string random_corpus(uint64_t seed, int n_lines) {
  Rng rng(seed);
  const char* kWords[] = {"the", "cat", "sat", "on", "mat", "dog", "ran", "to", "a", "park", "big", "red", "old"};
  std::string text;
  for (int line = 0; line < n_lines; ++line) {
    const int n = 2 + static_cast<int>(rng.below(9));
    for (int i = 0; i < n; ++i) text += std::string(i ? " " : "") + kWords[rng.below(rng.below(2) ? 5 : 13)];
    text += "\n";
  }
  return text;
}

TEST(ArpaLm, HandComputedBigramRoundTrip) {
  // The model of KnLm.HandComputedBigram ("a b", "a c", "a b"; fallback discounts): p(a) = p(b) = p(c)
  // = 0.2, p(</s>) = 0.3, p(<unk>) = 0.1; p(a|<s>) = 0.6, p(b|a) = 13/30, p(c|a) = 8/30,
  // p(</s>|b) = p(</s>|c) = 0.65. Backoffs γ: <s> 1.5/3, a (0.5 + 1)/3, b 1/2, c 0.5/1 — all 0.5.
  KnLm kn({.order = 2, .force_fallback = true});
  kn.add_text("a b\na c\n\na b");
  ASSERT_TRUE(kn.finish().ok());
  const std::string arpa = kn.arpa_text();
  EXPECT_NE(arpa.find("ngram 1=6\nngram 2=5\n"), std::string::npos) << arpa;
  auto lm = ArpaLm::parse(arpa, "bigram");
  ASSERT_TRUE(lm.ok()) << lm.status().to_string();
  EXPECT_EQ(lm->order(), 2);
  EXPECT_EQ(lm->vocab_size(), 6u);
  const uint32_t a = lm->id("a"), b = lm->id("b"), c = lm->id("c"), unk = lm->unk(), eos = lm->eos();
  EXPECT_NEAR(lm->log10_prob(nullptr, 0, a), std::log10(0.2), kLog10Tolerance);
  EXPECT_NEAR(lm->log10_prob(nullptr, 0, eos), std::log10(0.3), kLog10Tolerance);
  EXPECT_NEAR(lm->log10_prob(nullptr, 0, unk), std::log10(0.1), kLog10Tolerance);
  EXPECT_NEAR(lm->log10_prob(&a, 1, b), std::log10(13.0 / 30.0), kLog10Tolerance);
  EXPECT_NEAR(lm->log10_prob(&a, 1, c), std::log10(8.0 / 30.0), kLog10Tolerance);
  EXPECT_NEAR(lm->log10_prob(&a, 1, a), std::log10(0.5 * 0.2), kLog10Tolerance);  // backoff γ(a) · p(a)
  EXPECT_NEAR(lm->log10_prob(&c, 1, eos), std::log10(0.65), kLog10Tolerance);
  // "a b" → 0.6 · 13/30 · 0.65 over 3 tokens: pp = 1.8087189905544288 (python).
  EXPECT_NEAR(lm->perplexity("A b."), 1.8087189905544288, 1.8087 * kPerplexityRelTolerance);
  // "a z": p(a|<s>) = 0.6, p(<unk>|a) = γ(a)·0.1 = 0.05, p(</s>|<unk>) = p(</s>) = 0.3 (no backoff for
  // <unk>): pp = (0.6 · 0.05 · 0.3)^(−1/3) = 4.807498567691361 (python).
  EXPECT_NEAR(lm->perplexity("a z"), 4.807498567691361, 4.8075 * kPerplexityRelTolerance);
  EXPECT_NEAR(lm->perplexity("a z"), kn.perplexity("a z"), 4.8075 * kPerplexityRelTolerance);
}

TEST(ArpaLm, HandWrittenBackoffModel) {
  const std::string arpa =
      "\\data\\\nngram 1=4\nngram 2=2\n\n"
      "\\1-grams:\n-1.0\t<unk>\t0\n-99\t<s>\t-0.5\n-0.5\t</s>\n-0.3\ta\t-0.2\n\n"
      "\\2-grams:\n-0.1\t<s> a\n-0.4 a </s>\n\n\\end\\\n";
  auto lm = ArpaLm::parse(arpa, "hand");
  ASSERT_TRUE(lm.ok()) << lm.status().to_string();
  // "a a": <s> a = -0.1; a a unlisted → bo(a) + p(a) = -0.2 - 0.3; a </s> = -0.4. Σ = -1.0 over 3.
  const auto [lp, n] = lm->log10_prob("a a");
  EXPECT_NEAR(lp, -1.0, kLog10Tolerance);
  EXPECT_EQ(n, 3u);
  EXPECT_NEAR(lm->perplexity("a a"), 2.154434690031884, 2.1544 * kPerplexityRelTolerance);  // 10^(1/3)
  // "q": <s> q → bo(<s>) + p(<unk>) = -1.5; <unk> </s> → bo(<unk>) 0 + p(</s>) = -0.5.
  EXPECT_NEAR(lm->log10_prob("q").first, -2.0, kLog10Tolerance);
}

TEST(ArpaLm, EqualsKnLmOnRandomCorpus) {
  KnLm kn({.order = 4});
  kn.add_text(random_corpus(5, 600));
  ASSERT_TRUE(kn.finish().ok());
  const auto dir = test::temp_dir("arpa");
  const std::string path = (dir / "m.arpa").string();
  ASSERT_TRUE(kn.write_arpa_file(path).ok());
  auto lm = ArpaLm::load(path);
  ASSERT_TRUE(lm.ok()) << lm.status().to_string();
  ASSERT_EQ(lm->order(), 4);
  for (int n = 2; n <= 4; ++n) EXPECT_EQ(lm->n_grams(n), kn.n_grams(n)) << n;
  EXPECT_EQ(lm->vocab_size(), kn.vocab_size());
  EXPECT_EQ(lm->unk(), KnLm::kUnk);
  EXPECT_EQ(lm->bos(), KnLm::kBos);
  EXPECT_EQ(lm->eos(), KnLm::kEos);
  // Every word after contexts from held-out text (which has unseen n-grams) and one unknown word.
  Rng rng(11);
  const std::string held = random_corpus(99, 40) + "zebra the cat\n";
  std::string simple;
  std::vector<std::string_view> words;
  int n_checked = 0;
  for_each_line(held, [&](std::string_view line) {
    lm_words(line, simple, words);
    std::vector<uint32_t> kn_ctx = {KnLm::kBos}, arpa_ctx = {lm->bos()};
    for (auto w : words) {
      for (uint32_t v = 0; v < kn.vocab_size(); ++v) {
        if (v == KnLm::kBos) continue;
        const uint32_t av = v;  // write_arpa lists the 1-grams in KnLm id order
        const double want = std::log10(kn.prob(kn_ctx, v));
        const size_t keep = std::min<size_t>(arpa_ctx.size(), 3);
        ASSERT_NEAR(lm->log10_prob(arpa_ctx.data() + arpa_ctx.size() - keep, keep, av), want, kLog10Tolerance)
            << "word " << lm->word(av) << " after " << kn_ctx.size() << " words of '" << line << "'";
        ++n_checked;
      }
      kn_ctx.push_back(kn.id(w));
      arpa_ctx.push_back(lm->id(w));
    }
  });
  EXPECT_GT(n_checked, 1000);
  // The loaded distributions still sum to one.
  for (const std::vector<uint32_t>& ctx : {std::vector<uint32_t>{}, {lm->bos()}, {lm->id("the"), lm->id("cat")},
                                           {lm->id("red"), lm->id("park"), lm->id("on")}}) {
    double sum = 0;
    for (uint32_t v = 0; v < lm->vocab_size(); ++v) {
      if (v != lm->bos()) sum += std::pow(10.0, lm->log10_prob(ctx.data(), ctx.size(), v));
    }
    EXPECT_NEAR(sum, 1.0, kSumTolerance) << "context of " << ctx.size();
  }
  for (std::string_view doc : {"the cat sat on the mat", "big red dog ran to a park\nthe old cat", "zebra zebra"}) {
    EXPECT_NEAR(lm->perplexity(doc), kn.perplexity(doc), kn.perplexity(doc) * kPerplexityRelTolerance) << doc;
  }
  std::filesystem::remove_all(dir);
}

struct BadCase {
  const char* what;
  std::string text;
  const char* message;  // a piece of the expected error, with its line number
};

TEST(ArpaLm, MalformedFilesNameTheLine) {
  const std::string head = "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1\t<unk>\n-99\t<s>\t-0.3\n-0.5\t</s>\n\n";
  const std::vector<BadCase> cases = {
      {"empty", "", "'t':0: empty file"},
      {"no data", "hello\n", "'t':1: expected '\\data\\'"},
      {"truncated in 1-grams", head.substr(0, head.find("-0.5")), "'t':7: \\1-grams: has 2 entries, \\data\\ says 3"},
      {"truncated before 2-grams", head, "'t':9: truncated: expected '\\2-grams:'"},
      {"missing end", head + "\\2-grams:\n-0.2\t<s> </s>\n", "'t':11: truncated: expected '\\end\\'"},
      {"complete (control)", head + "\\2-grams:\n-0.2\t<s> </s>\n\n\\end\\\n", ""},
      {"bad count", "\\data\\\nngram 1=x\n", "'t':2: bad count line 'ngram 1=x'"},
      {"count order", "\\data\\\nngram 2=1\n", "'t':2: 'ngram 2=' out of order (expected order 1)"},
      {"huge count", "\\data\\\nngram 1=99999999999\n\\1-grams:\n", "'t':2: 'ngram 1=99999999999' cannot fit"},
      {"non-numeric prob", head + "\\2-grams:\nabc\t<s> </s>\n\\end\\\n", "'t':11: log10 probability 'abc' is not"},
      {"positive prob", head + "\\2-grams:\n0.5\t<s> </s>\n\\end\\\n", "'t':11: log10 probability 0.5 is above 0"},
      {"nan backoff", "\\data\\\nngram 1=2\nngram 2=0\n\\1-grams:\n-1 <s> nan\n-1 </s>\n\\2-grams:\n\\end\\\n",
       "'t':5: log10 backoff 'nan' is not a finite number"},
      {"backoff at the top order", "\\data\\\nngram 1=2\n\\1-grams:\n-1 <s> -1\n-1 </s>\n\\end\\\n",
       "'t':4: a 1-gram line has 3 fields, expected 2"},
      {"unknown section", head + "\\3-grams:\n", "'t':10: unknown or misplaced section '\\3-grams:'"},
      {"extra section", head + "\\2-grams:\n-0.2\t<s> </s>\n\\foo\\\n", "'t':12: unknown section or extra entry '\\foo\\'"},
      {"unknown word", head + "\\2-grams:\n-0.2\t<s> dog\n\\end\\\n", "'t':11: word 'dog' of a 2-gram is not a 1-gram"},
      {"fields", head + "\\2-grams:\n-0.2\t<s> </s> -1\n\\end\\\n", "'t':11: a 2-gram line has 4 fields, expected 3"},
      {"short section", head + "\\2-grams:\n\n\\end\\\n", "'t':11: \\2-grams: has 0 entries, \\data\\ says 1"},
      {"duplicate", "\\data\\\nngram 1=3\n\\1-grams:\n-1 <s>\n-1 </s>\n-1 <s>\n\\end\\\n", "'t':6: 1-gram '<s>' appears twice"},
      {"no eos", "\\data\\\nngram 1=1\n\\1-grams:\n-1 <s>\n\\end\\\n", "has no </s>"},
  };
  for (const auto& c : cases) {
    auto r = ArpaLm::parse(c.text, "t");
    if (std::string(c.message).empty()) {  // the control: a complete file parses
      EXPECT_TRUE(r.ok()) << c.what << ": " << r.status().to_string();
      continue;
    }
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << c.what << ": got '" << r.status().message() << "', want '" << c.message << "'";
  }
}

TEST(ArpaLm, TruncationsAndMutationsNeverCrash) {
  KnLm kn({.order = 3});
  kn.add_text(random_corpus(7, 30));
  ASSERT_TRUE(kn.finish().ok());
  const std::string arpa = kn.arpa_text();
  const size_t end_at = arpa.rfind("\\end\\");
  ASSERT_NE(end_at, std::string::npos);
  for (size_t len = 0; len < arpa.size(); ++len) {
    auto r = ArpaLm::parse(std::string_view(arpa).substr(0, len), "prefix");
    if (len <= end_at + 4) {  // without all of "\end\" the file is incomplete
      ASSERT_FALSE(r.ok()) << "prefix of " << len << " bytes parsed";
      ASSERT_EQ(r.status().message().rfind("[lm.arpa] 'prefix':", 0), 0u) << r.status().message();
    }
  }
  Rng rng(2024);
  const char kBytes[] = {'\n', '\t', ' ', '\\', '-', '.', 'e', '0', '9', '=', 'a', '<', '>', '\0', '\xff'};
  int n_ok = 0;
  for (int m = 0; m < kNumMutations; ++m) {
    std::string t = arpa;
    const int n_edits = 1 + static_cast<int>(rng.below(4));
    for (int e = 0; e < n_edits && !t.empty(); ++e) {
      const size_t at = rng.below(t.size());
      const char b = rng.below(2) ? kBytes[rng.below(sizeof(kBytes))] : static_cast<char>(rng.below(256));
      switch (rng.below(3)) {
        case 0: t[at] = b; break;
        case 1: t.insert(at, 1, b); break;
        default: t.erase(at, 1); break;
      }
    }
    auto r = ArpaLm::parse(t, "mutant");
    if (r.ok()) {
      ++n_ok;
      const double pp = r->perplexity("the cat sat on the mat\nzebra");
      EXPECT_FALSE(std::isnan(pp));
    } else {
      ASSERT_EQ(r.status().message().rfind("[lm.arpa] 'mutant':", 0), 0u) << r.status().message();
    }
  }
  EXPECT_LT(n_ok, kNumMutations);  // most mutations break something the parser notices
}

}  // namespace
}  // namespace anvil::data
