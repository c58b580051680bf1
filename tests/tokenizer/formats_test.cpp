// Format tests: tokenizer.json write -> read round trips (both merge forms, all pre-tokenizer kinds),
// GPT-2 and tiktoken imports, and malformed files that must fail with a message naming the problem.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "anvil/tokenizer/formats.h"
#include "test_util.h"

namespace anvil::tok {
namespace {

using testing::make_text;
using json = nlohmann::json;

void expect_same(const Tokenizer& a, const Tokenizer& b, const std::string& text) {
  EXPECT_EQ(a.parts().tokens, b.parts().tokens);
  EXPECT_EQ(a.parts().special_ids, b.parts().special_ids);
  ASSERT_EQ(a.n_merges(), b.n_merges());
  EXPECT_EQ(a.encode(text), b.encode(text));
  EXPECT_EQ(a.encode(text, {.special = SpecialMode::kAllow}), b.encode(text, {.special = SpecialMode::kAllow}));
}

TEST(TokenizerJson, RoundTrip) {
  const std::string text = make_text(31, 20000);
  for (Pattern p : {Pattern::kGpt2, Pattern::kCl100k}) {
    for (DigitSplit d : {DigitSplit::kNone, DigitSplit::kIndividual}) {
      TrainerConfig cfg{.vocab_size = 700, .special_tokens = {"<|endoftext|>", "<think>"},
                        .pretokenizer = {.pattern = p, .digits = d}};
      WordCounter w;
      count_words_in_text(text, cfg.pretokenizer, w);
      const Tokenizer t = std::move(Tokenizer::create(std::move(train_bpe(w, cfg)).value())).value();
      for (MergesForm f : {MergesForm::kPairs, MergesForm::kStrings}) {
        const std::string js = to_tokenizer_json(t, f);
        auto back = parse_tokenizer_json(js);
        ASSERT_TRUE(back.ok()) << back.status().to_string();
        EXPECT_EQ(back->parts().pretokenizer.pattern, p);
        EXPECT_EQ(back->parts().pretokenizer.digits, d);
        expect_same(t, *back, text);
      }
    }
  }
}

std::string small_json() {
  const Tokenizer t = testing::train_small(make_text(32, 5000), 300);
  return to_tokenizer_json(t);
}

void expect_error(const std::string& js, const std::string& needle) {
  auto r = parse_tokenizer_json(js, "bad.json");
  ASSERT_FALSE(r.ok()) << "expected an error mentioning '" << needle << "'";
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("bad.json"), std::string::npos) << r.status().message();
}

TEST(TokenizerJson, MalformedFilesNameTheProblem) {
  const json good = json::parse(small_json());
  expect_error("{\"model\": [1, 2", "not valid JSON");
  auto edit = [&](auto f) { json j = good; f(j); return j.dump(); };
  expect_error(edit([](json& j) { j["model"]["type"] = "WordPiece"; }), "model.type is 'WordPiece'");
  expect_error(edit([](json& j) { j["model"].erase("vocab"); }), "model.vocab is missing");
  expect_error(edit([](json& j) { j["model"]["merges"][3] = json::array({"Ġ", "zzz"}); }), "merges[3]: 'zzz' is not in model.vocab");
  expect_error(edit([](json& j) { j["model"]["merges"][0] = "a b c"; }), "merges[0] 'a b c' is not two tokens");
  expect_error(edit([](json& j) { j["model"]["merges"][1] = 5; }), "merges[1] is 5");
  expect_error(edit([](json& j) { j["model"]["vocab"]["x"] = 100000; }), "ids must be dense");
  expect_error(edit([](json& j) { j["model"]["vocab"].erase("a"); }), "must be dense");
  expect_error(edit([](json& j) { j["normalizer"] = {{"type", "NFC"}}; }), "normalizer 'NFC'");
  expect_error(edit([](json& j) { j["model"]["byte_fallback"] = true; }), "byte_fallback");
  expect_error(edit([](json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }), "pre_tokenizer 'Whitespace'");
  expect_error(edit([](json& j) { j["decoder"] = {{"type", "WordPiece"}}; }), "decoder 'WordPiece'");
  expect_error(edit([](json& j) { j["model"]["vocab"]["a"] = "x"; }), "model.vocab['a'] is \"x\"");
  expect_error(edit([](json& j) {  // a vocab key outside the byte-level alphabet (a raw space)
    uint32_t id = j["model"]["vocab"]["Ġ"];
    j["model"]["vocab"].erase("Ġ");
    j["model"]["vocab"][" "] = id;
  }), "outside the byte-level alphabet");
  expect_error(edit([](json& j) { j["added_tokens"][0]["id"] = -1; }), "added_tokens[0]");
}

TEST(Gpt2Import, ReadsEncoderAndMerges) {
  const Tokenizer t = testing::train_small(make_text(33, 20000), 600, Pattern::kGpt2, {"<|endoftext|>"});
  json enc = json::object();
  for (uint32_t id = 0; id < t.vocab_size(); ++id)
    enc[t.is_special(id) ? t.token_bytes(id) : bytes_to_byte_level(t.token_bytes(id))] = id;
  std::string bpe = "#version: 0.2\n";
  for (const Merge& m : t.parts().merges)
    bpe += bytes_to_byte_level(t.token_bytes(m.left)) + " " + bytes_to_byte_level(t.token_bytes(m.right)) + "\n";
  auto back = parse_gpt2(enc.dump(), bpe, {}, "enc.json");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  expect_same(t, *back, make_text(34, 3000));
  auto bad = parse_gpt2(enc.dump(), bpe + "Ġ\n", {}, "enc.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("vocab.bpe line"), std::string::npos) << bad.status().message();
}

std::string base64(const std::string& s) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < s.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(s[i]) << 16;
    if (i + 1 < s.size()) v |= static_cast<uint8_t>(s[i + 1]) << 8;
    if (i + 2 < s.size()) v |= static_cast<uint8_t>(s[i + 2]);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += i + 1 < s.size() ? k[(v >> 6) & 63] : '=';
    out += i + 2 < s.size() ? k[v & 63] : '=';
  }
  return out;
}

TEST(TiktokenImport, RecoversMerges) {
  const Tokenizer t = testing::train_small(make_text(35, 20000), 600, Pattern::kCl100k, {});
  std::string ranks;
  for (uint32_t id = 0; id < t.vocab_size(); ++id) ranks += base64(t.token_bytes(id)) + " " + std::to_string(id) + "\n";
  auto back = parse_tiktoken(ranks, {.pretokenizer = {.pattern = Pattern::kCl100k}, .special_tokens = {"<|endoftext|>=600"}},
                             "x.tiktoken");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->vocab_size(), 601u);
  const std::string text = make_text(36, 5000);
  EXPECT_EQ(back->encode(text), t.encode(text));
  auto gap = parse_tiktoken(ranks + "YWJj 700\n", {}, "x.tiktoken");
  ASSERT_FALSE(gap.ok());
  EXPECT_NE(gap.status().message().find("dense"), std::string::npos) << gap.status().message();
  auto b64 = parse_tiktoken("!!!! 0\n", {}, "x.tiktoken");
  ASSERT_FALSE(b64.ok());
  EXPECT_NE(b64.status().message().find("line 1"), std::string::npos) << b64.status().message();
}

}  // namespace
}  // namespace anvil::tok
