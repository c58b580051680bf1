#include "anvil/train/loader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "anvil/data/shards.h"
#include "anvil/train/metrics.h"
#include "anvil/base/file.h"
#include "support/temp_dir.h"

namespace anvil::train {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  return test::fresh_temp_dir(name);
}

// A shard whose token i is (base + i) % vocab, so every window is identifiable by its first token.
void write_shard(const fs::path& p, uint32_t base, uint32_t n, uint32_t vocab) {
  data::TokenShardWriter w;
  ASSERT_TRUE(w.open(p.string(), {.vocab_size = vocab}).ok());
  std::vector<uint32_t> toks(n);
  for (uint32_t i = 0; i < n; ++i) toks[i] = (base + i) % vocab;
  ASSERT_TRUE(w.append(toks).ok());
  ASSERT_TRUE(w.finalize().ok());
}

TEST(TokenLoader, EpochVisitsEveryWindowOnceAndTargetsAreShifted) {
  const fs::path d = temp_dir("epoch");
  write_shard(d / "a.tok", 0, 101, 1000);    // windows of T+1=11 at stride 10: starts 0..90 -> 10
  write_shard(d / "b.tok", 500, 55, 1000);   // starts 0..40 -> 5
  auto L = TokenLoader::open({d.string()}, 10, 7);
  ASSERT_TRUE(L.ok()) << L.status().to_string();
  EXPECT_EQ(L->n_windows(), 15u);
  std::set<int32_t> firsts;
  std::vector<int32_t> ids(10), tg(10);
  for (int i = 0; i < 15; ++i) {
    L->next_batch(1, ids.data(), tg.data());
    for (int t = 0; t < 10; ++t) {
      EXPECT_EQ(tg[t], ids[t] + 1);
    }
    firsts.insert(ids[0]);
  }
  EXPECT_EQ(firsts.size(), 15u);  // without replacement within the epoch
  EXPECT_EQ(L->position().epoch, 0u);
  L->next_batch(1, ids.data(), tg.data());
  EXPECT_EQ(L->position().epoch, 1u);
}

TEST(TokenLoader, SameSeedSameStreamAndResumeContinuesIt) {
  const fs::path d = temp_dir("resume");
  write_shard(d / "a.tok", 0, 1000, 5000);
  auto A = TokenLoader::open({d.string()}, 16, 3);
  auto B = TokenLoader::open({d.string()}, 16, 3);
  auto C = TokenLoader::open({d.string()}, 16, 4);
  ASSERT_TRUE(A.ok() && B.ok() && C.ok());
  std::vector<int32_t> a(64), b(64), c(64), t(64);
  for (int i = 0; i < 20; ++i) {  // crosses an epoch (62 windows, 4 per batch)
    A->next_batch(4, a.data(), t.data());
    B->next_batch(4, b.data(), t.data());
    EXPECT_EQ(a, b);
  }
  C->next_batch(4, c.data(), t.data());
  const LoaderPosition saved = A->position();
  A->next_batch(4, a.data(), t.data());
  auto R = TokenLoader::open({d.string()}, 16, 3);
  ASSERT_TRUE(R.ok());
  R->set_position(saved);
  R->next_batch(4, b.data(), t.data());
  EXPECT_EQ(a, b);
}

TEST(TokenLoader, ClearErrors) {
  const fs::path d = temp_dir("errors");
  write_shard(d / "tiny.tok", 0, 5, 100);
  auto too_short = TokenLoader::open({d.string()}, 16, 1);
  ASSERT_FALSE(too_short.ok());
  EXPECT_NE(too_short.status().message().find("no window of 17 tokens"), std::string::npos);
  auto missing = TokenLoader::open({(d / "nope").string()}, 4, 1);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);
  write_shard(d / "other.tok", 0, 50, 200);
  auto mixed = TokenLoader::open({d.string()}, 4, 1);
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("vocab"), std::string::npos);
}

TEST(MetricsLog, AppendsAndTruncatesOnResume) {
  const fs::path d = temp_dir("metrics");
  const std::string p = (d / "metrics.jsonl").string();
  {
    MetricsLog m;
    ASSERT_TRUE(m.open(p).ok());
    for (int s = 1; s <= 5; ++s) ASSERT_TRUE(m.write({{"kind", "train"}, {"step", s}, {"loss", 1.0 / s}}).ok());
  }
  {
    MetricsLog m;
    ASSERT_TRUE(m.open(p, 3).ok());  // resumed from step 3: steps 4, 5 will be rewritten
    ASSERT_TRUE(m.write({{"kind", "train"}, {"step", 4}, {"loss", 0.2}}).ok());
  }
  auto text = read_file(p);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(std::count(text->begin(), text->end(), '\n'), 4);
  EXPECT_EQ(text->find("\"step\":5"), std::string::npos);
}

}  // namespace
}  // namespace anvil::train
