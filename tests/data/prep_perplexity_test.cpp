// The prep perplexity filter with a saved ARPA model: percentile mode drops exactly the worst share of
// the scored documents (the off-domain ones), per shard, with the threshold reported; the absolute and
// the in-process-trained modes agree with the ARPA model; the nearest-rank percentile by hand.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "anvil/base/context.h"
#include "anvil/base/file.h"
#include "anvil/data/kn_lm.h"
#include "anvil/data/prep.h"
#include "support/temp_dir.h"

namespace anvil::data {
namespace {

namespace fs = std::filesystem;

constexpr int kInDomain = 60, kOffDomain = 20;

std::string dir(const std::string& name) {
  return test::temp_dir(name).string();
}

// ~66 words in 6 sentences that pass the Gopher and C4 rules. Off-domain paragraphs take 30-90% of
// their words (by i) from another vocabulary, so their perplexities are high and all different.
std::string paragraph(int i, bool in_domain) {
  static const char* kIn[] = {"river", "garden", "market", "winter", "letter", "window", "forest", "village",
                              "teacher", "morning", "kitchen", "harbour", "lantern", "meadow", "castle", "bridge"};
  static const char* kOff[] = {"quantum", "ledger", "vortex", "kernel", "tensor", "bitrate", "pixel", "modem",
                               "socket", "cipher", "daemon", "router", "opcode", "buffer", "syntax", "voxel"};
  const uint64_t off_tenths = in_domain ? 0 : 3 + static_cast<uint64_t>(i) % 7;
  std::string s;
  uint64_t x = static_cast<uint64_t>(i) * 2654435761u + 12345;
  for (int sentence = 0; sentence < 6; ++sentence) {
    s += "The";
    for (int w = 0; w < 9; ++w) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      const char** words = (x >> 8) % 10 < off_tenths ? kOff : kIn;
      s += std::string(" ") + words[(x >> 33) % 16] + (w == 4 ? " and the" : "");
    }
    s += " with care.\n";
  }
  return s.substr(0, s.size() - 1);
}

PrepConfig make_config(const std::string& d) {
  std::string web;
  for (int i = 0; i < kInDomain + kOffDomain; ++i) {  // off-domain documents interleaved
    const bool in = i % 4 != 3;
    web += nlohmann::json{{"id", (in ? "in" : "off") + std::to_string(i)}, {"text", paragraph(i, in)}}.dump() + "\n";
  }
  EXPECT_TRUE(write_file_atomic(d + "/web.jsonl", web).ok());
  std::string ref;
  for (int i = 1000; i < 1200; ++i) ref += paragraph(i, true) + "\n";
  EXPECT_TRUE(write_file_atomic(d + "/ref.txt", ref).ok());
  KnLm lm({.order = 3});
  lm.add_text(ref);
  EXPECT_TRUE(lm.finish().ok());
  EXPECT_TRUE(lm.write_arpa_file(d + "/ref.arpa").ok());

  PrepConfig c;
  c.inputs.push_back({.path = d + "/web.jsonl", .reader = {.source = "web"}, .group = "general"});
  c.output = d + "/out/corpus.jsonl";
  c.work_dir = d + "/work";
  c.report = d + "/out/prep_report.json";
  c.mix = false;
  c.gopher_repetition = false;  // random paragraphs can repeat a 4-gram; every document reaches the filter
  c.perplexity = true;
  c.perplexity_model = d + "/ref.arpa";
  return c;
}

uint64_t dropped(const nlohmann::json& stats, const char* reason) {
  return stats["dropped"].contains(reason) ? stats["dropped"][reason]["n"].get<uint64_t>() : 0;
}

std::vector<std::string> output_ids(const std::string& path) {
  std::vector<std::string> ids;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) ids.push_back(nlohmann::json::parse(line)["id"].get<std::string>());
  return ids;
}

TEST(PrepPerplexity, NearestRankPercentile) {
  EXPECT_EQ(percentile_threshold({5, 1, 3, 2, 4}, 0.6), 3.0);  // ceil(0.6·5) = 3rd smallest
  EXPECT_EQ(percentile_threshold({5, 1, 3, 2, 4}, 0.61), 4.0);
  EXPECT_EQ(percentile_threshold({5, 1, 3, 2, 4}, 1.0), 5.0);
  EXPECT_EQ(percentile_threshold({5, 1, 3, 2, 4}, 0.01), 1.0);
  EXPECT_EQ(percentile_threshold({}, 0.5), 0.0);
}

TEST(PrepPerplexity, PercentileDropsTheWorstShareWithAModelFile) {
  const std::string d = dir("pct");
  PrepConfig cfg = make_config(d);
  cfg.keep_percentile = 0.75;  // ceil(0.75 · 80) = 60 kept: exactly the in-domain documents
  const Context ctx = make_context(1, 1, "warn");
  const Status s = run_prep(cfg, PrepStage::kAll, {}, ctx);
  ASSERT_TRUE(s.ok()) << s.to_string();
  const auto r = nlohmann::json::parse(*read_file(cfg.report));
  EXPECT_TRUE(r["balanced"].get<bool>());
  EXPECT_EQ(r["totals"]["n_input"].get<uint64_t>(), static_cast<uint64_t>(kInDomain + kOffDomain));
  EXPECT_EQ(dropped(r["totals"], "perplexity"), static_cast<uint64_t>(kOffDomain));
  EXPECT_EQ(r["rules"]["perplexity_above_percentile"].get<uint64_t>(), static_cast<uint64_t>(kOffDomain));
  ASSERT_EQ(r["perplexity"].size(), 1u);
  const auto& p = r["perplexity"][0];
  EXPECT_EQ(p["mode"], "percentile");
  EXPECT_EQ(p["n_scored"].get<uint64_t>(), static_cast<uint64_t>(kInDomain + kOffDomain));
  EXPECT_EQ(p["n_dropped"].get<uint64_t>(), static_cast<uint64_t>(kOffDomain));
  EXPECT_GT(p["threshold"].get<double>(), 1.0);
  const auto ids = output_ids(cfg.output);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kInDomain));
  for (const auto& id : ids) EXPECT_EQ(id.rfind("in", 0), 0u) << id;
  EXPECT_FALSE(fs::exists(cfg.work_dir + "/pp_pending.0.jsonl"));

  // The absolute threshold at that value keeps the same documents; so does the in-process KN model.
  PrepConfig abs = make_config(dir("abs"));
  abs.max_perplexity = p["threshold"].get<double>();
  ASSERT_TRUE(run_prep(abs, PrepStage::kAll, {}, ctx).ok());
  EXPECT_EQ(output_ids(abs.output), ids);
  const auto ra = nlohmann::json::parse(*read_file(abs.report));
  EXPECT_EQ(ra["perplexity"][0]["mode"], "max");
  PrepConfig trained = make_config(dir("trained"));
  trained.perplexity_model.clear();
  trained.perplexity_reference = {fs::path(trained.work_dir).parent_path().string() + "/ref.txt"};
  trained.perplexity_lm.order = 3;
  trained.keep_percentile = 0.75;
  ASSERT_TRUE(run_prep(trained, PrepStage::kAll, {}, ctx).ok());
  EXPECT_EQ(output_ids(trained.output), ids);
}

TEST(PrepPerplexity, PercentileIsPerShard) {
  const std::string d = dir("shards");
  PrepConfig cfg = make_config(d);
  cfg.keep_percentile = 0.5;
  const Context ctx = make_context(1, 1, "warn");
  for (uint32_t i = 0; i < 2; ++i) ASSERT_TRUE(run_prep(cfg, PrepStage::kFilter, {i, 2}, ctx).ok());
  ASSERT_TRUE(run_prep(cfg, PrepStage::kBuckets, {}, ctx).ok());
  ASSERT_TRUE(run_prep(cfg, PrepStage::kCluster, {}, ctx).ok());
  for (uint32_t i = 0; i < 2; ++i) ASSERT_TRUE(run_prep(cfg, PrepStage::kFinalize, {i, 2}, ctx).ok());
  ASSERT_TRUE(run_prep(cfg, PrepStage::kReport, {}, ctx).ok());
  const auto r = nlohmann::json::parse(*read_file(cfg.report));
  EXPECT_TRUE(r["balanced"].get<bool>());
  ASSERT_EQ(r["perplexity"].size(), 2u);
  uint64_t n_dropped = 0;
  for (const auto& p : r["perplexity"]) {
    EXPECT_EQ(p["n_scored"].get<uint64_t>(), 40u);  // 80 records dealt round-robin
    EXPECT_EQ(p["n_dropped"].get<uint64_t>(), 20u);  // ceil(0.5 · 40) = 20 kept per shard
    n_dropped += p["n_dropped"].get<uint64_t>();
  }
  EXPECT_EQ(dropped(r["totals"], "perplexity"), n_dropped);
}

TEST(PrepPerplexity, BadModelAndPercentileAreErrors) {
  const std::string d = dir("bad");
  PrepConfig cfg = make_config(d);
  const Context ctx = make_context(1, 1, "warn");
  cfg.perplexity_model = d + "/missing.arpa";
  Status s = run_prep(cfg, PrepStage::kAll, {}, ctx);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("missing.arpa"), std::string::npos) << s.to_string();
  ASSERT_TRUE(write_file_atomic(d + "/broken.arpa", "\\data\\\nngram 1=x\n").ok());
  cfg.perplexity_model = d + "/broken.arpa";
  s = run_prep(cfg, PrepStage::kAll, {}, ctx);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("broken.arpa':2: bad count line"), std::string::npos) << s.to_string();
  cfg = make_config(d);
  cfg.keep_percentile = 1.5;
  EXPECT_FALSE(run_prep(cfg, PrepStage::kAll, {}, ctx).ok());
}

}  // namespace
}  // namespace anvil::data
