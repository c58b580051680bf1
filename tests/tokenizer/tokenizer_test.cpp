// Encoder/decoder tests: merge order against a plain reference BPE, long pieces (heap path) against
// short ones, the piece cache, special tokens, batch encoding, exact round trips of random bytes
// (invalid UTF-8 included), and the streaming decoder.
#include <gtest/gtest.h>

#include <map>

#include "anvil/tokenizer/unicode.h"
#include "test_util.h"

namespace anvil::tok {
namespace {

using testing::make_text;
using testing::train_small;

constexpr int kFuzzCases = 400;

// Reference BPE: repeatedly merge the adjacent pair with the lowest merge rank, leftmost on ties.
std::vector<uint32_t> reference_bpe(const Tokenizer& t, std::string_view piece) {
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> rank;
  const auto& merges = t.parts().merges;
  for (uint32_t r = 0; r < merges.size(); ++r) rank.emplace(std::make_pair(merges[r].left, merges[r].right), r);
  std::vector<uint32_t> ids;
  for (char c : piece) ids.push_back(*t.token_id(std::string(1, c)));
  while (ids.size() > 1) {
    uint32_t best = UINT32_MAX;
    size_t bi = 0;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      auto it = rank.find({ids[i], ids[i + 1]});
      if (it != rank.end() && it->second < best) { best = it->second; bi = i; }
    }
    if (best == UINT32_MAX) break;
    ids[bi] = *t.token_id(t.token_bytes(ids[bi]) + t.token_bytes(ids[bi + 1]));
    ids.erase(ids.begin() + static_cast<ptrdiff_t>(bi) + 1);
  }
  return ids;
}

Tokenizer handmade() {
  TokenizerParts p;
  for (int b = 0; b < 256; ++b) p.tokens.emplace_back(1, static_cast<char>(b));
  auto add = [&](const char* l, const char* r) {
    uint32_t a = 0, b = 0;
    for (uint32_t i = 0; i < p.tokens.size(); ++i) {
      if (p.tokens[i] == l) a = i;
      if (p.tokens[i] == r) b = i;
    }
    p.merges.push_back({a, b});
    p.tokens.push_back(std::string(l) + r);
  };
  add("a", "b");   // 256
  add("ab", "c");  // 257
  add("a", "a");   // 258
  add("b", "c");   // 259
  return std::move(Tokenizer::create(std::move(p))).value();
}

TEST(Tokenizer, MergeOrderHandmade) {
  const Tokenizer t = handmade();
  EXPECT_EQ(t.encode("abcab"), (std::vector<uint32_t>{257, 256}));
  EXPECT_EQ(t.encode("aaa"), (std::vector<uint32_t>{258, 'a'}));     // leftmost on equal rank
  EXPECT_EQ(t.encode("abc"), (std::vector<uint32_t>{257}));          // (a,b) outranks (b,c)
  EXPECT_EQ(t.encode("bc"), (std::vector<uint32_t>{259}));
}

TEST(Tokenizer, MissingBytes) {
  TokenizerParts p = handmade().parts();
  p.tokens[0] = "\x01\x01\x01";  // byte 0x00 now has no single-byte token
  auto strict = Tokenizer::create(p);
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.status().message().find("byte 0x00 has no token"), std::string::npos) << strict.status().message();
  p.missing_bytes = MissingBytes::kDrop;
  auto t = Tokenizer::create(p);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  std::vector<uint32_t> piece;
  t->encode_piece(std::string("a\0bc", 4), piece);  // dropped inside a piece, then merged as "abc"
  EXPECT_EQ(piece, std::vector<uint32_t>{257});
  EXPECT_EQ(t->encode(std::string("a\0bc", 4)), (std::vector<uint32_t>{'a', 259}));  // "\0" is its own piece
  EXPECT_EQ(t->encode(std::string("\0", 1)), std::vector<uint32_t>{});
}

TEST(Tokenizer, AgreesWithReferenceShortAndLong) {
  const Tokenizer t = train_small(make_text(1, 20000), 600);
  Rng rng(7);
  const std::string letters = "etaoinshrdlu";
  for (int c = 0; c < kFuzzCases; ++c) {
    const size_t n = 1 + rng.below(c % 4 == 0 ? 400 : 70);  // crosses the 64-byte long-piece switch
    std::string piece;
    for (size_t i = 0; i < n; ++i) piece += letters[rng.below(letters.size())];
    std::vector<uint32_t> got;
    t.encode_piece(piece, got);
    ASSERT_EQ(got, reference_bpe(t, piece)) << "piece '" << piece << "'";
  }
}

TEST(Tokenizer, LongRunStaysFast) {
  const Tokenizer t = train_small(make_text(2, 20000), 600);
  std::string run(1 << 20, 'a');
  for (size_t i = 0; i < run.size(); i += 7) run[i] = 'e';
  const auto ids = t.encode(run);  // a single 1 MiB piece: heap path, O(n log n)
  EXPECT_EQ(*t.decode(ids), run);
}

TEST(Tokenizer, CacheDoesNotChangeResults) {
  const Tokenizer t = train_small(make_text(3, 20000), 800);
  const std::string text = make_text(4, 5000);
  PieceCache cache;
  std::vector<uint32_t> with_cache, again;
  t.encode(text, with_cache, {}, &cache);
  t.encode(text, again, {}, &cache);
  EXPECT_EQ(with_cache, t.encode(text));
  EXPECT_EQ(again, with_cache);
}

TEST(Tokenizer, SpecialTokens) {
  const Tokenizer t = train_small(make_text(5, 20000), 700);
  const uint32_t eot = *t.token_id("<|endoftext|>");
  const uint32_t think = *t.token_id("<think>");
  EXPECT_TRUE(t.is_special(eot));
  const std::string text = "a<think>b</think> c<|endoftext|>";
  const auto allowed = t.encode(text, {.special = SpecialMode::kAllow});
  EXPECT_EQ(std::count(allowed.begin(), allowed.end(), eot), 1);
  EXPECT_EQ(std::count(allowed.begin(), allowed.end(), think), 1);
  const auto as_text = t.encode(text);
  for (uint32_t id : as_text) EXPECT_FALSE(t.is_special(id)) << id;
  EXPECT_EQ(*t.decode(allowed), text);
  EXPECT_EQ(*t.decode(as_text), text);
}

TEST(Tokenizer, BatchEqualsSequential) {
  const Tokenizer t = train_small(make_text(6, 20000), 700);
  std::vector<std::string> docs;
  for (int d = 0; d < 37; ++d) docs.push_back(make_text(100 + d, 50 + 13 * d));
  docs.push_back("");
  std::vector<std::string_view> views(docs.begin(), docs.end());
  const EncodedBatch b = t.encode_batch(views, {}, 2);
  ASSERT_EQ(b.offsets.size(), docs.size() + 1);
  for (size_t d = 0; d < docs.size(); ++d) {
    std::vector<uint32_t> one(b.ids.begin() + b.offsets[d], b.ids.begin() + b.offsets[d + 1]);
    EXPECT_EQ(one, t.encode(docs[d])) << "doc " << d;
  }
}

TEST(Tokenizer, RoundTripsRandomBytes) {
  for (Pattern p : {Pattern::kGpt2, Pattern::kCl100k}) {
    const Tokenizer t = train_small(make_text(8, 20000), 900, p);
    Rng rng(9);
    for (int c = 0; c < kFuzzCases; ++c) {
      std::string s;
      const size_t n = rng.below(300);
      const int mode = c % 3;  // raw bytes / UTF-8-ish text / text with specials spliced in
      for (size_t i = 0; i < n; ++i) {
        if (mode == 0) s += static_cast<char>(rng.below(256));
        else if (rng.below(10) == 0) s += static_cast<char>(0x80 + rng.below(128));
        else s += make_text(rng.next_u64(), 1);
      }
      if (mode == 2) s.insert(rng.below(s.size() + 1), "<|endoftext|>");
      for (SpecialMode m : {SpecialMode::kAsText, SpecialMode::kAllow}) {
        const auto ids = t.encode(s, {.special = m});
        ASSERT_EQ(*t.decode(ids), s) << "case " << c;
      }
    }
  }
}

TEST(Tokenizer, DecodeRejectsUnknownId) {
  const Tokenizer t = train_small(make_text(10, 5000), 400);
  const std::vector<uint32_t> ids = {1, 2, static_cast<uint32_t>(t.vocab_size())};
  auto r = t.decode(ids);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("position 2"), std::string::npos) << r.status().message();
}

bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    i += decode_utf8(p, i, s.size(), cp);
    if (cp == 0xFFFFFFFFu) return false;
  }
  return true;
}

TEST(StreamDecoder, EmitsOnlyCompleteUtf8) {
  const Tokenizer t = train_small(make_text(11, 20000), 500);
  const std::string text = "日本語 テキスト 🙂 Привет naïve";
  const auto ids = t.encode(text);
  StreamDecoder dec(t);
  std::string joined;
  for (uint32_t id : ids) {
    auto piece = dec.push(id);
    ASSERT_TRUE(piece.ok());
    EXPECT_TRUE(valid_utf8(*piece));
    joined += *piece;
  }
  joined += dec.flush();
  EXPECT_EQ(joined, text);
  // one byte at a time of a 4-byte character: nothing until the last byte
  StreamDecoder d2(t);
  const std::string emoji = "🙂";
  for (size_t i = 0; i + 1 < emoji.size(); ++i) EXPECT_EQ(*d2.push(static_cast<uint8_t>(emoji[i])), "");
  EXPECT_EQ(*d2.push(static_cast<uint8_t>(emoji.back())), emoji);
  // a byte that can never be valid is replaced, an unfinished tail becomes U+FFFD at flush
  StreamDecoder d3(t);
  EXPECT_EQ(*d3.push(0xFF), "\xEF\xBF\xBD");
  EXPECT_EQ(*d3.push(0xE6), "");
  EXPECT_EQ(d3.flush(), "\xEF\xBF\xBD");
  EXPECT_FALSE(d3.push(static_cast<uint32_t>(t.vocab_size())).ok());
}

}  // namespace
}  // namespace anvil::tok

namespace anvil::tok {
namespace {

TEST(Tokenizer, SafeSplitKeepsIds) {
  for (Pattern p : {Pattern::kGpt2, Pattern::kCl100k}) {
    const Tokenizer t = testing::train_small(testing::make_text(12, 20000), 700, p);
    std::string text = testing::make_text(13, 30000);
    text += "end  \nword\t\nnext.\nlast \n";
    const auto parts = split_at_safe_points(text, 2000);
    EXPECT_GT(parts.size(), 10u);
    std::vector<uint32_t> joined;
    size_t n_bytes = 0;
    for (std::string_view part : parts) {
      t.encode(part, joined);
      n_bytes += part.size();
    }
    EXPECT_EQ(n_bytes, text.size());
    EXPECT_EQ(joined, t.encode(text));
  }
}

}  // namespace
}  // namespace anvil::tok
