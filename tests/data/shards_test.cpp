// Token shards: round trips at both widths, the width switch at vocab 65536, spilling, atomic
// finalize, and every malformed file we can make (each truncated prefix, bad magic/version/width/count).
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "anvil/base/file.h"
#include "anvil/base/rng.h"
#include "anvil/data/shards.h"
#include "support/temp_dir.h"

namespace anvil::data {
namespace {

namespace fs = std::filesystem;

std::string tmp_path(const std::string& name) {
  return (test::temp_root() / name).string();
}

std::vector<uint32_t> random_tokens(size_t n, uint32_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint32_t> t(n);
  for (auto& x : t) x = static_cast<uint32_t>(rng.below(vocab));
  return t;
}

Status write_shard(const std::string& path, std::span<const uint32_t> tokens, ShardWriterOptions opt,
                   size_t piece = 1000) {
  TokenShardWriter w;
  ANVIL_RETURN_IF_ERROR(w.open(path, opt));
  for (size_t i = 0; i < tokens.size(); i += piece) {
    ANVIL_RETURN_IF_ERROR(w.append(tokens.subspan(i, std::min(piece, tokens.size() - i))));
  }
  return w.finalize();
}

TEST(Shards, RoundTripBothWidths) {
  for (uint32_t vocab : {256u, 65536u, 65537u, 200000u}) {
    const std::string path = tmp_path("rt_" + std::to_string(vocab) + ".bin");
    auto tokens = random_tokens(12345, vocab, vocab);
    tokens[0] = vocab - 1;  // the largest id must survive the width
    ASSERT_TRUE(write_shard(path, tokens, {.vocab_size = vocab}).ok());
    auto shard = TokenShard::open(path);
    ASSERT_TRUE(shard.ok()) << shard.status().to_string();
    EXPECT_EQ(shard->token_bytes(), vocab <= 65536 ? 2u : 4u);
    EXPECT_EQ(fs::file_size(path), kShardHeaderBytes + tokens.size() * shard->token_bytes());
    ASSERT_EQ(shard->size(), tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) ASSERT_EQ((*shard)[i], tokens[i]) << i;
    std::vector<uint32_t> part(100);
    ASSERT_TRUE(shard->read(500, part).ok());
    EXPECT_TRUE(std::equal(part.begin(), part.end(), tokens.begin() + 500));
    EXPECT_FALSE(shard->read(tokens.size() - 50, part).ok());
    EXPECT_TRUE(shard->check_ids().ok());
  }
}

TEST(Shards, SpillKeepsOrderAndCleansUp) {
  const std::string path = tmp_path("spill.bin");
  const auto tokens = random_tokens(100000, 50000, 3);
  ASSERT_TRUE(write_shard(path, tokens, {.vocab_size = 50000, .buffer_tokens = 777}, 333).ok());
  auto shard = TokenShard::open(path);
  ASSERT_TRUE(shard.ok());
  for (size_t i = 0; i < tokens.size(); ++i) ASSERT_EQ((*shard)[i], tokens[i]);
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path())) {
    EXPECT_EQ(e.path().string().find(".spill."), std::string::npos) << e.path();
  }
}

TEST(Shards, EmptyShardIsValid) {
  const std::string path = tmp_path("empty.bin");
  ASSERT_TRUE(write_shard(path, {}, {.vocab_size = 10}).ok());
  auto shard = TokenShard::open(path);
  ASSERT_TRUE(shard.ok());
  EXPECT_EQ(shard->size(), 0u);
}

TEST(Shards, WriterRejectsBadInputAndWritesNothingWithoutFinalize) {
  const std::string path = tmp_path("never.bin");
  fs::remove(path);
  {
    TokenShardWriter w;
    EXPECT_FALSE(w.open(path, {.vocab_size = 0}).ok());
    ASSERT_TRUE(w.open(path, {.vocab_size = 100, .buffer_tokens = 4}).ok());
    const std::vector<uint32_t> bad = {1, 2, 100};
    const Status s = w.append(bad);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("100"), std::string::npos);
    const std::vector<uint32_t> good = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    ASSERT_TRUE(w.append(good).ok());  // spilled, but never finalized
  }
  EXPECT_FALSE(fs::exists(path));
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path())) {
    EXPECT_EQ(e.path().string().find("never.bin."), std::string::npos) << e.path();
  }
}

TEST(Shards, EveryTruncatedPrefixIsRejectedNamingTheFile) {
  const std::string path = tmp_path("small.bin");
  const std::vector<uint32_t> tokens = {5, 0, 65535, 7, 9};
  ASSERT_TRUE(write_shard(path, tokens, {.vocab_size = 65536}).ok());
  auto full = read_file(path);
  ASSERT_TRUE(full.ok());
  ASSERT_EQ(full->size(), kShardHeaderBytes + 10);
  const std::string cut = tmp_path("cut.bin");
  for (size_t n = 0; n < full->size(); ++n) {
    ASSERT_TRUE(write_file_atomic(cut, std::string_view(*full).substr(0, n)).ok());
    auto shard = TokenShard::open(cut);
    ASSERT_FALSE(shard.ok()) << "prefix of " << n << " bytes opened";
    EXPECT_NE(shard.status().message().find("cut.bin"), std::string::npos) << shard.status().message();
  }
  // One byte too many is as wrong as one too few.
  ASSERT_TRUE(write_file_atomic(cut, *full + "x").ok());
  EXPECT_FALSE(TokenShard::open(cut).ok());
}

TEST(Shards, CorruptHeaderFieldsAreNamed) {
  const std::string path = tmp_path("hdr.bin");
  ASSERT_TRUE(write_shard(path, std::vector<uint32_t>{1, 2, 3}, {.vocab_size = 10}).ok());
  const std::string good = *read_file(path);
  struct Case {
    size_t offset;
    uint8_t value;
    const char* expect;
  };
  const Case cases[] = {
      {0, 'X', "bad magic"},   {8, 2, "version 2"},   {12, 3, "token width 3"},
      {16, 4, "4 tokens"},     {28, 1, "reserved"},   {24, 0, "vocab size is 0"},
  };
  const std::string bad_path = tmp_path("hdr_bad.bin");
  for (const Case& c : cases) {
    std::string bad = good;
    bad[c.offset] = static_cast<char>(c.value);
    ASSERT_TRUE(write_file_atomic(bad_path, bad).ok());
    auto shard = TokenShard::open(bad_path);
    ASSERT_FALSE(shard.ok()) << c.expect;
    EXPECT_NE(shard.status().message().find(c.expect), std::string::npos) << shard.status().message();
  }
  // A count so large that count × width overflows must not wrap into "valid".
  std::string huge = good;
  const uint64_t count = (~0ull / 2) + 2;
  std::memcpy(huge.data() + 16, &count, 8);
  ASSERT_TRUE(write_file_atomic(bad_path, huge).ok());
  EXPECT_FALSE(TokenShard::open(bad_path).ok());
  // An id ≥ vocab written by someone else is caught by check_ids().
  std::string big_id = good;
  big_id[kShardHeaderBytes] = 50;
  ASSERT_TRUE(write_file_atomic(bad_path, big_id).ok());
  auto shard = TokenShard::open(bad_path);
  ASSERT_TRUE(shard.ok());
  EXPECT_FALSE(shard->check_ids().ok());
  EXPECT_FALSE(TokenShard::open(tmp_path("does_not_exist.bin")).ok());
}

}  // namespace
}  // namespace anvil::data
