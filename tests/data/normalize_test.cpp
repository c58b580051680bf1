// Normalization: UTF-8 repair per maximal subpart (Unicode §3.9 examples), NFKC (and its fast path
// equal to one utf8proc_map call on mixed Unicode), whitespace and control cleanup, language by script,
// and the chain's drop reasons.
#include <gtest/gtest.h>

#include "anvil/base/rng.h"
#include "anvil/data/normalize.h"

namespace anvil::data {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Normalize, Utf8ValidationAndRepair) {
  EXPECT_EQ(count_invalid_utf8("plain ascii, long enough for the 8-byte path"), 0u);
  EXPECT_EQ(count_invalid_utf8("中文 and café 🙂"), 0u);
  struct Case {
    std::string in, want;
    size_t n_bad;
  };
  const Case cases[] = {
      {"a\x80" "b", "a" + kFffd + "b", 1},                       // lone continuation byte
      {"\xC3", kFffd, 1},                                        // truncated 2-byte sequence at the end
      {"\xE4\xB8" "x", kFffd + "x", 1},                          // truncated 3-byte: one U+FFFD for both bytes
      {"\xC0\xAF", kFffd + kFffd, 2},                            // overlong: C0 is never valid
      {"\xED\xA0\x80", kFffd + kFffd + kFffd, 3},                // a surrogate: ED then two strays
      {"\xF4\x90\x80\x80", kFffd + kFffd + kFffd + kFffd, 4},    // above U+10FFFF
      {"\xF0\x9F\x99" "ok", kFffd + "ok", 1},                    // truncated emoji
      {"\xFF\xFE", kFffd + kFffd, 2},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(count_invalid_utf8(c.in), c.n_bad) << c.want;
    std::string out;
    EXPECT_EQ(repair_utf8(c.in, out), c.n_bad);
    EXPECT_EQ(out, c.want);
    EXPECT_EQ(count_invalid_utf8(out), 0u);
  }
}

TEST(Normalize, Nfkc) {
  std::string s = "ﬁne Ｆｕｌｌ width ① café";  // ligature, fullwidth, circled digit, decomposed é
  ASSERT_TRUE(nfkc_inplace(s));
  EXPECT_EQ(s, "fine Full width 1 café");
  std::string ascii = "nothing to do";
  ASSERT_TRUE(nfkc_inplace(ascii));
  EXPECT_EQ(ascii, "nothing to do");
}

// Code points that test every way NFKC can reach across a boundary: combining marks of different
// classes (reordering), letters that compose with a following mark, compatibility forms, CJK
// compatibility ideographs, Hangul syllables and conjoining jamo (LV + T composes), vowel signs with
// combining class 0 that compose (Kannada, Tamil, Bengali), ligatures, fullwidth and circled forms.
TEST(Normalize, NfkcFastPathEqualsUtf8procOnMixedUnicode) {
  static const char* kPieces[] = {
      "a", "e", "E", " ", "\n", "x", ".", "1",                         // ASCII (first halves of compositions)
      "\u0301", "\u0300", "\u0308", "\u0323", "\u0327", "\u0338",       // combining marks, classes 230/220/202/1
      "\u00E9", "\u00EA", "\u00C5", "\u212B", "\u2126", "\u1E9B",       // precomposed, singletons
      "\uFB01", "\uFF21", "\uFF0C", "\u3000", "\u2460", "\u3231",       // ligature, fullwidth, circled
      "\u00A0", "\u2026", "\u00BD", "\u2122", "\u00B5",                 // compatibility decompositions
      "\u4E2D", "\u6587", "\uF900", "\uFA10", "\U0002F800",             // Han, CJK compatibility ideographs
      "\uAC00", "\uAC01", "\u1100", "\u1161", "\u11A8", "\u3131",       // Hangul syllables, jamo
      "\u0CBF", "\u0CD5", "\u0BC6", "\u0BBE", "\u09C7", "\u09BE",       // class-0 vowel signs that compose
      "\u0915", "\u093C", "\u0F71", "\u0F72", "\u0F73",                 // nukta, Tibetan
      "\u03B1", "\u0345", "\u1F00", "\u0438", "\u0306", "\U0001F642",   // Greek, Cyrillic, emoji
      "\u2028", "\u00AD", "\u200B",
  };
  constexpr int kNumStrings = 4000;
  Rng rng(42);
  for (int k = 0; k < kNumStrings; ++k) {
    std::string s;
    const int len = 1 + static_cast<int>(rng.below(24));
    for (int i = 0; i < len; ++i) s += kPieces[rng.below(sizeof(kPieces) / sizeof(kPieces[0]))];
    if (k % 4 == 0) s = "plain ascii prefix long enough " + s + " and an ascii tail";
    std::string fast = s, slow = s;
    ASSERT_TRUE(nfkc_inplace(fast));
    ASSERT_TRUE(nfkc_inplace_reference(slow));
    ASSERT_EQ(fast, slow) << "input: " << s;
  }
  std::string ascii = "nothing to do here";
  ASSERT_TRUE(nfkc_inplace(ascii));
  EXPECT_EQ(ascii, "nothing to do here");
}

TEST(Normalize, WhitespaceAndControls) {
  struct Case {
    std::string in, want;
  };
  const Case cases[] = {
      {"  hello   world  ", "hello world"},
      {"a\r\nb\rc", "a\nb\nc"},
      {"a\t\tb\x01\x7f" "c", "a bc"},
      {"p1 line\n\n\n\n  p2  \n", "p1 line\n\np2"},
      {"x \n y", "x\ny"},
      {"zero\xE2\x80\x8Bwidth\xEF\xBB\xBF!", "zerowidth!"},
      {"c1\xC2\x85" "ctl", "c1ctl"},
      {" \n\t\n ", ""},
      {"中文\xE2\x80\xA8next", "中文\nnext"},
  };
  for (const Case& c : cases) {
    std::string s = c.in;
    clean_whitespace(s);
    EXPECT_EQ(s, c.want) << c.in;
  }
}

TEST(Normalize, LanguageByScript) {
  EXPECT_EQ(detect_language("这是一个中文句子，用来测试语言检测。"), Lang::kZh);
  // A zh man page line with English option names is still zh.
  EXPECT_EQ(detect_language("使用 --verbose 选项显示详细的输出信息并退出"), Lang::kZh);
  EXPECT_EQ(detect_language("The quick brown fox jumps over the lazy dog and runs to the forest in the morning "
                            "with a friend that is fast."),
            Lang::kEn);
  EXPECT_EQ(detect_language("Der schnelle braune Fuchs springt über den faulen Hund und läuft morgens mit einem "
                            "Freund schnell durch den dunklen Wald nach Hause zurück heute."),
            Lang::kOther);
  // "forêt" is one word, not "for" + "t" (which would count an English stop word).
  EXPECT_EQ(detect_language("Le renard brun saute par-dessus le chien paresseux et court vers la forêt avec un ami "
                            "rapide dans la matinée du lundi prochain encore."),
            Lang::kOther);
  EXPECT_EQ(detect_language("Быстрая коричневая лиса прыгает через ленивую собаку"), Lang::kOther);
  EXPECT_EQ(detect_language("12345 678"), Lang::kOther);
}

TEST(Normalize, ChainDropsWithReasons) {
  std::string bad = "ok \xFF text";
  EXPECT_EQ(normalize_document(bad, {.utf8 = Utf8Policy::kDrop}).drop, DropReason::kBadUtf8);
  std::string fixed = "ok \xFF text";
  const auto r = normalize_document(fixed, {});
  EXPECT_FALSE(r.drop.has_value());
  EXPECT_EQ(r.n_invalid_utf8, 1u);
  EXPECT_EQ(fixed, "ok " + kFffd + " text");
  std::string blank = " \x01\n\t ";
  EXPECT_EQ(normalize_document(blank, {}).drop, DropReason::kEmpty);
  std::string zh = "中文文本。";
  EXPECT_EQ(normalize_document(zh, {.keep_languages = {Lang::kEn}}).drop, DropReason::kLanguage);
  std::string zh2 = "中文文本。";
  const auto kept = normalize_document(zh2, {.keep_languages = {Lang::kEn, Lang::kZh}});
  EXPECT_FALSE(kept.drop.has_value());
  EXPECT_EQ(kept.lang, Lang::kZh);
}

}  // namespace
}  // namespace anvil::data
