// Golden pre-tokenization cases for the GPT-2 and cl100k matchers (expected splits worked out from the
// regexes in pretokenize.h; the interop test checks them against JS regex engines on real text).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "anvil/tokenizer/pretokenize.h"

namespace anvil::tok {
namespace {

std::vector<std::string> split(std::string_view text, Pattern p, DigitSplit d = DigitSplit::kNone) {
  std::vector<std::string> out;
  size_t last = 0;
  pretokenize(PreTokenizerConfig{.pattern = p, .digits = d}, text, [&](size_t b, size_t e) {
    EXPECT_EQ(b, last);
    EXPECT_LT(b, e);
    last = e;
    out.emplace_back(text.substr(b, e - b));
  });
  EXPECT_EQ(last, text.size());
  return out;
}

using V = std::vector<std::string>;

TEST(Pretokenize, Gpt2Basics) {
  EXPECT_EQ(split("Hello world", Pattern::kGpt2), (V{"Hello", " world"}));
  EXPECT_EQ(split("I'm here, you'll see", Pattern::kGpt2), (V{"I", "'m", " here", ",", " you", "'ll", " see"}));
  EXPECT_EQ(split("I'M", Pattern::kGpt2), (V{"I", "'", "M"}));  // contractions are case-sensitive
  EXPECT_EQ(split("  hello", Pattern::kGpt2), (V{" ", " hello"}));
  EXPECT_EQ(split("a\n\nb", Pattern::kGpt2), (V{"a", "\n", "\n", "b"}));
  EXPECT_EQ(split("a  \n", Pattern::kGpt2), (V{"a", "  \n"}));
  EXPECT_EQ(split("x\t\t y", Pattern::kGpt2), (V{"x", "\t\t", " y"}));
  EXPECT_EQ(split("abc123 456!?", Pattern::kGpt2), (V{"abc", "123", " 456", "!?"}));
  EXPECT_EQ(split(" 's", Pattern::kGpt2), (V{" '", "s"}));
  EXPECT_EQ(split("'sfoo", Pattern::kGpt2), (V{"'s", "foo"}));
}

TEST(Pretokenize, Gpt2Unicode) {
  EXPECT_EQ(split("naïve café", Pattern::kGpt2), (V{"naïve", " café"}));
  EXPECT_EQ(split("日本語 テキスト", Pattern::kGpt2), (V{"日本語", " テキスト"}));
  EXPECT_EQ(split("x\u3000y", Pattern::kGpt2), (V{"x", "\u3000", "y"}));     // ideographic space is \s
  EXPECT_EQ(split("½ Ⅻ", Pattern::kGpt2), (V{"½", " Ⅻ"}));                   // No and Nl are \p{N}
  EXPECT_EQ(split("a\xff\xfe b", Pattern::kGpt2), (V{"a", "\xff\xfe", " b"}));  // invalid bytes: "other"
}

TEST(Pretokenize, Cl100k) {
  EXPECT_EQ(split("Hello world", Pattern::kCl100k), (V{"Hello", " world"}));
  EXPECT_EQ(split("I'M", Pattern::kCl100k), (V{"I", "'M"}));  // case-insensitive here
  EXPECT_EQ(split("12345", Pattern::kCl100k), (V{"123", "45"}));
  EXPECT_EQ(split("(hello)", Pattern::kCl100k), (V{"(hello", ")"}));
  EXPECT_EQ(split("a.\n\nb", Pattern::kCl100k), (V{"a", ".\n\n", "b"}));
  EXPECT_EQ(split("x  \n\n  y", Pattern::kCl100k), (V{"x", "  \n\n", " ", " y"}));
  EXPECT_EQ(split(" !!", Pattern::kCl100k), (V{" !!"}));
  EXPECT_EQ(split("\tword", Pattern::kCl100k), (V{"\tword"}));
  EXPECT_EQ(split("\nword", Pattern::kCl100k), (V{"\n", "word"}));
}

TEST(Pretokenize, DigitSplit) {
  EXPECT_EQ(split("ab 2024x", Pattern::kGpt2, DigitSplit::kIndividual), (V{"ab", " ", "2", "0", "2", "4", "x"}));
  EXPECT_EQ(split("v1.2", Pattern::kCl100k, DigitSplit::kIndividual), (V{"v", "1", ".", "2"}));
}

}  // namespace
}  // namespace anvil::tok
