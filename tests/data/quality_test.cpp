// Quality heuristics: a clean English document passes every rule; hand-made documents trip each
// Gopher quality, Gopher repetition and C4 rule just past its published threshold and not before.
#include <gtest/gtest.h>

#include "anvil/data/quality.h"

namespace anvil::data {
namespace {

std::string repeat_words(const std::string& w, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += (i ? " " : "") + w;
  return s;
}

// ~120 distinct-ish words in normal sentences, six lines, each ending with a period.
const std::string kGood =
    "The river runs through the old town and past the mill that was built with stone.\n"
    "Farmers bring their grain to the market every week to trade with merchants from the coast.\n"
    "Children play near the bridge while their parents have long talks about the weather.\n"
    "In winter the water freezes and people walk across it to visit friends on the other side.\n"
    "Travellers often stop at the inn to rest their horses and share stories of distant lands.\n"
    "Most of the houses have red roofs, small gardens and wooden doors painted in bright colours.";

TEST(Quality, CleanDocumentPassesEverything) {
  EXPECT_EQ(gopher_quality(kGood), std::nullopt);
  EXPECT_EQ(gopher_repetition(kGood), std::nullopt);
  std::string t = kGood;
  EXPECT_EQ(c4_filter(t), std::nullopt);
  EXPECT_EQ(t, kGood);
}

TEST(Quality, GopherQualityRules) {
  EXPECT_EQ(gopher_quality("the cat and the dog."), "gopher_short_doc");
  EXPECT_EQ(gopher_quality(repeat_words("of the an it", 20)), "gopher_below_avg_threshold");
  EXPECT_EQ(gopher_quality(repeat_words("extraordinarily incomprehensibilities the and", 20)),
            "gopher_above_avg_threshold");
  // 60 words with 7 '#' → 0.117 > 0.1; with 6 → 0.1, not above.
  const std::string base = repeat_words("the house and garden", 15);
  EXPECT_EQ(gopher_quality(base + " #######"), "gopher_too_many_hashes");
  EXPECT_EQ(gopher_quality(base + " ######"), std::nullopt);
  EXPECT_EQ(gopher_quality(base + " ... ... ... ... ... ... ..."), "gopher_too_many_ellipsis");
  std::string bullets;
  for (int i = 0; i < 10; ++i) bullets += "- the item and thing number\n";
  EXPECT_EQ(gopher_quality(bullets), "gopher_too_many_bullets");
  std::string trailing;
  for (int i = 0; i < 10; ++i) trailing += i < 4 ? "the story and the house goes on…\n" : "the story and the house.\n";
  EXPECT_EQ(gopher_quality(trailing), "gopher_too_many_end_ellipsis");
  EXPECT_EQ(gopher_quality(base + " " + repeat_words("123 456", 10)), "gopher_below_alpha_threshold");
  EXPECT_EQ(gopher_quality(repeat_words("house garden river", 20)), "gopher_enough_stop_words");
  EXPECT_EQ(gopher_quality(repeat_words("house garden river the", 15)), "gopher_enough_stop_words");  // 1 distinct
}

TEST(Quality, GopherRepetitionRules) {
  const std::string para = "A paragraph that says something about a topic.";
  EXPECT_EQ(gopher_repetition(para + "\n\n" + para + "\n\nAnother one here."), "dup_para_frac");
  EXPECT_EQ(gopher_repetition("one line\ntwo line\none line\nthree line\none line\nfive line\none line\nsix line"),
            "dup_line_frac");
  // The top 2-gram "ab cd" (5 bytes) × 9 = 45 of 180 bytes = 0.25 > 0.2.
  std::string s = repeat_words("ab cd", 9);
  std::string filler;
  for (int i = 0; filler.size() + s.size() < 180; ++i) filler += " w" + std::string(1, static_cast<char>('a' + i % 26)) + std::to_string(i);
  EXPECT_EQ(gopher_repetition(s + filler), "top_2_gram");
  EXPECT_EQ(gopher_repetition(kGood), std::nullopt);
  // A repeated 10-word sentence trips the duplicated n-gram rules.
  const std::string sent = "alpha bravo charlie delta echo foxtrot golf hotel india juliet";
  std::string rep;
  for (int i = 0; i < 6; ++i) rep += sent + " w" + std::to_string(i) + "x ";
  const auto r = gopher_repetition(rep);
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->find("gram"), std::string::npos) << *r;
}

TEST(Quality, C4LineAndDocumentRules) {
  std::string t =
      "Good first sentence with words.\n"
      "no terminal punctuation here\n"
      "Too short.\n"
      "Please enable JavaScript to view this.\n"
      "Read our privacy policy for details.\n"
      "A line with a citation[12] stays.\n"
      "Another proper sentence is here!\n"
      "This one trails off...\n"
      "Third good sentence, also fine.\n"
      "Fourth good sentence is okay? Yes it is.";
  EXPECT_EQ(c4_filter(t), std::nullopt);
  EXPECT_EQ(t,
            "Good first sentence with words.\nA line with a citation stays.\nAnother proper sentence is here!\n"
            "Third good sentence, also fine.\nFourth good sentence is okay? Yes it is.");
  std::string few = "Only one good sentence here.\nAnd a second one here.";
  EXPECT_EQ(c4_filter(few), "c4_too_few_sentences");
  std::string lorem = kGood + "\nLorem ipsum dolor sit amet.";
  EXPECT_EQ(c4_filter(lorem), "c4_lorem_ipsum");
  std::string code = kGood + "\nint main() { return 0; }.";
  EXPECT_EQ(c4_filter(code), "c4_curly_bracket");
}

}  // namespace
}  // namespace anvil::data
