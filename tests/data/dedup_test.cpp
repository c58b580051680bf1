// Dedup: exact (hash set semantics and growth), MinHash simplification and shingles, and the staged
// LSH run on planted near-duplicates at measured Jaccard similarities — detection must follow the
// LSH curve P = 1 − (1 − s^8)^14, and precision / recall at the 0.75 target are reported.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <unordered_set>

#include "anvil/base/file.h"
#include "anvil/base/rng.h"
#include "anvil/data/dedup.h"
#include "support/temp_dir.h"

namespace anvil::data {
namespace {

namespace fs = std::filesystem;

// Allowed gap between the measured candidate rate in a similarity bin and the LSH formula.
constexpr double kCurveTolerance = 0.12;

std::string tmp_path(const std::string& name) {
  return (test::temp_root() / name).string();
}

TEST(ExactDedup, FirstSeenWinsAndGrowthKeepsEverything) {
  ExactDedup d;
  EXPECT_TRUE(d.insert_text("hello"));
  EXPECT_FALSE(d.insert_text("hello"));
  EXPECT_TRUE(d.insert_text("hello "));
  for (int i = 0; i < 100000; ++i) EXPECT_TRUE(d.insert_text("doc " + std::to_string(i)));
  for (int i = 0; i < 100000; i += 7) EXPECT_FALSE(d.insert_text("doc " + std::to_string(i)));
  EXPECT_EQ(d.size(), 100002u);
  EXPECT_LE(d.memory_bytes(), d.size() * 4 * ExactDedup::kBytesPerSlot);  // load factor stays ≥ 1/4
  EXPECT_NE(hash128("a"), hash128("b"));
}

TEST(MinHash, SimplifyAndShingles) {
  EXPECT_EQ(simplify_for_minhash("Hello,   World! It's 2024.\n"), "hello world its 0000");
  EXPECT_EQ(simplify_for_minhash("Café CAFÉ"), "cafe cafe");
  EXPECT_EQ(simplify_for_minhash("中文，测试"), "中 文 测 试");
  MinHasher mh;
  EXPECT_EQ(mh.shingles("a b c d e f g").size(), 3u);  // 7 words → 3 five-grams
  EXPECT_EQ(mh.shingles("a b c").size(), 1u);          // short text: one shingle of everything
  EXPECT_TRUE(mh.shingles("").empty());
  // "a b c d e" as a 5-gram hashes the same whether it starts at word 0 or recurs later.
  const auto s = mh.shingles("a b c d e a b c d e");
  EXPECT_EQ(s.front(), s.back());
  std::vector<uint64_t> sig(mh.n_hashes());
  EXPECT_FALSE(mh.signature("  !!! ", sig));
  EXPECT_TRUE(mh.signature("one two three four five six", sig));
}

double jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  std::set<uint64_t> sa(a.begin(), a.end()), sb(b.begin(), b.end());
  size_t inter = 0;
  for (uint64_t x : sa) inter += sb.count(x);
  return static_cast<double>(inter) / static_cast<double>(sa.size() + sb.size() - inter);
}

TEST(MinHash, PlantedNearDuplicatesFollowTheLshCurve) {
  Rng rng(42);
  std::vector<std::string> vocab;
  for (int i = 0; i < 5000; ++i) {  // letters only: simplification maps every digit to '0'
    std::string w;
    for (int c = 0; c < 6; ++c) w += static_cast<char>('a' + rng.below(26));
    vocab.push_back(w);
  }
  auto random_doc = [&](size_t n_words) {
    std::vector<std::string> w(n_words);
    for (auto& x : w) x = vocab[rng.below(vocab.size())];
    return w;
  };
  auto join = [](const std::vector<std::string>& w) {
    std::string s;
    for (const auto& x : w) s += (s.empty() ? "" : " ") + x;
    return s;
  };
  // 600 originals, each with one variant: k random words replaced, k spread so similarities cover
  // 0.1 … 1.0. Doc ids: original 2i, variant 2i + 1; one signature file per "worker" (i % 2).
  MinHasher mh;
  std::vector<std::string> texts;
  std::vector<double> sim;
  for (int i = 0; i < 600; ++i) {
    auto words = random_doc(200);
    auto variant = words;
    const size_t k = static_cast<size_t>(i % 60) * 0.6 + rng.below(2);
    for (size_t r = 0; r < k; ++r) variant[rng.below(variant.size())] = vocab[rng.below(vocab.size())];
    texts.push_back(join(words));
    texts.push_back(join(variant));
    sim.push_back(jaccard(mh.shingles(simplify_for_minhash(texts[texts.size() - 2])),
                          mh.shingles(simplify_for_minhash(texts.back()))));
  }
  SignatureWriter sw[2];
  const std::vector<std::string> sig_paths = {tmp_path("sig.0"), tmp_path("sig.1")};
  for (int w = 0; w < 2; ++w) ASSERT_TRUE(sw[w].open(sig_paths[w], mh.n_bands()).ok());
  std::vector<uint64_t> sig(mh.n_hashes()), keys(mh.n_bands());
  for (size_t id = 0; id < texts.size(); ++id) {
    ASSERT_TRUE(mh.signature(texts[id], sig));
    mh.band_keys(sig, keys);
    ASSERT_TRUE(sw[(id / 2) % 2].add(id, keys).ok());
  }
  for (auto& w : sw) ASSERT_TRUE(w.finalize().ok());
  // Stage 2 split over 3 workers (bands 0,3,6,… / 1,4,7,… / 2,5,8,…), stage 3 merges.
  std::vector<std::string> pair_paths;
  for (int w = 0; w < 3; ++w) {
    pair_paths.push_back(tmp_path("pairs." + std::to_string(w)));
    ASSERT_TRUE(build_band_pairs(sig_paths, w, 3, pair_paths.back()).ok());
  }
  auto removed = cluster_pairs(pair_paths, tmp_path("remove.bin"));
  ASSERT_TRUE(removed.ok()) << removed.status().to_string();
  auto reread = read_removals(tmp_path("remove.bin"));
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(*reread, *removed);
  const std::unordered_set<uint64_t> gone(removed->begin(), removed->end());
  for (uint64_t id : gone) EXPECT_EQ(id % 2, 1u) << "an original (the smallest id) was removed";

  // Per similarity bin: measured detection rate vs 1 − (1 − s^8)^14 at the bin's mean similarity.
  struct Bin {
    double lo, hi, sum_s = 0, n = 0, n_hit = 0;
  };
  std::vector<Bin> bins = {{0.0, 0.5}, {0.5, 0.65}, {0.65, 0.75}, {0.75, 0.85}, {0.85, 1.01}};
  size_t tp = 0, fp = 0, fn = 0;
  double tp_theory = 0, fp_theory = 0, fn_theory = 0;  // expectations from the LSH formula
  constexpr double kTarget = 0.75;
  for (size_t i = 0; i < sim.size(); ++i) {
    const bool hit = gone.count(2 * i + 1) > 0;
    for (auto& b : bins) {
      if (sim[i] >= b.lo && sim[i] < b.hi) b.sum_s += sim[i], b.n += 1, b.n_hit += hit;
    }
    const bool truth = sim[i] >= kTarget;
    tp += hit && truth, fp += hit && !truth, fn += !hit && truth;
    const double p = 1.0 - std::pow(1.0 - std::pow(sim[i], 8), 14);
    (truth ? tp_theory : fp_theory) += p;
    fn_theory += truth ? 1.0 - p : 0.0;
  }
  for (const auto& b : bins) {
    ASSERT_GT(b.n, 10) << "bin [" << b.lo << ", " << b.hi << ") too thin";
    const double s = b.sum_s / b.n;
    const double want = 1.0 - std::pow(1.0 - std::pow(s, 8), 14);
    const double got = b.n_hit / b.n;
    EXPECT_NEAR(got, want, kCurveTolerance) << "similarity ~" << s << " over " << b.n << " pairs";
    std::printf("  jaccard [%.2f, %.2f): n=%3.0f mean %.3f  detected %.3f  theory %.3f\n", b.lo, b.hi, b.n, s, got,
                want);
  }
  const double precision = static_cast<double>(tp) / static_cast<double>(tp + fp);
  const double recall = static_cast<double>(tp) / static_cast<double>(tp + fn);
  const double precision_theory = tp_theory / (tp_theory + fp_theory);
  const double recall_theory = tp_theory / (tp_theory + fn_theory);
  std::printf("  at Jaccard >= %.2f: precision %.3f (theory %.3f) recall %.3f (theory %.3f); tp %zu fp %zu fn %zu\n",
              kTarget, precision, precision_theory, recall, recall_theory, tp, fp, fn);
  EXPECT_NEAR(precision, precision_theory, kCurveTolerance);
  EXPECT_NEAR(recall, recall_theory, kCurveTolerance);
  EXPECT_GT(recall, 0.9);
}

TEST(MinHash, StageFilesAreValidated) {
  const std::string bogus = tmp_path("bogus.bin");
  ASSERT_TRUE(write_file_atomic(bogus, "not a signature file at all").ok());
  EXPECT_FALSE(build_band_pairs({bogus}, 0, 1, tmp_path("p")).ok());
  EXPECT_FALSE(cluster_pairs({bogus}, tmp_path("r")).ok());
  EXPECT_FALSE(read_removals(bogus).ok());
  EXPECT_FALSE(build_band_pairs({}, 1, 1, tmp_path("p")).ok());
}

}  // namespace
}  // namespace anvil::data
