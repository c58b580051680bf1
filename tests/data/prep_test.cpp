// The prep pipeline end to end on generated inputs: every record is kept or dropped with a reason
// (input = kept + Σ dropped, per source and in total), each planted problem lands in its reason, and
// the shard-parallel stage sequence gives the same accounting as the one-process run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "anvil/base/context.h"
#include "anvil/base/file.h"
#include "anvil/data/prep.h"
#include "anvil/data/synth.h"
#include "support/temp_dir.h"

namespace anvil::data {
namespace {

namespace fs = std::filesystem;

std::string dir() {
  return test::temp_root().string();
}

// A clean English paragraph of ~60 words, distinct per i (so exact and near dedup leave it alone).
std::string paragraph(int i) {
  static const char* kWords[] = {"river", "garden", "market", "winter", "letter", "window", "forest", "village",
                                 "teacher", "morning", "kitchen", "harbour", "lantern", "meadow", "castle", "bridge"};
  std::string s;
  uint64_t x = static_cast<uint64_t>(i) * 2654435761u + 12345;
  for (int sentence = 0; sentence < 6; ++sentence) {
    s += "The";
    for (int w = 0; w < 9; ++w) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      s += std::string(" ") + kWords[(x >> 33) % 16] + (w == 4 ? " and the" : "");
    }
    s += " with care.\n";
  }
  return s.substr(0, s.size() - 1);
}

PrepConfig make_inputs(const std::string& d) {
  std::string web;
  for (int i = 0; i < 60; ++i) web += nlohmann::json{{"id", "web" + std::to_string(i)}, {"text", paragraph(i)}}.dump() + "\n";
  web += nlohmann::json{{"id", "dup"}, {"text", paragraph(3)}}.dump() + "\n";                         // exact duplicate
  web += nlohmann::json{{"id", "near"}, {"text", paragraph(5) + " Extra words."}}.dump() + "\n";       // near duplicate
  web += nlohmann::json{{"id", "short"}, {"text", "Too short to keep."}}.dump() + "\n";               // gopher
  web += nlohmann::json{{"id", "pii"}, {"text", paragraph(7000) + " Mail bob@example.com now."}}.dump() + "\n";
  web += "{not json\n";                                                                              // bad record
  web += nlohmann::json{{"id", "fr"}, {"text", "Le renard brun saute par-dessus le chien paresseux et court vers la "
                                               "forêt avec un ami rapide dans la matinée du lundi prochain encore."}}
             .dump() + "\n";  // language
  EXPECT_TRUE(write_file_atomic(d + "/web.jsonl", web).ok());
  std::string synth;
  auto tasks = generate({.kind = TaskKind::kMix, .difficulty = 2, .seed = 1}, 40);
  for (size_t i = 0; i < tasks->size(); ++i) synth += task_to_json((*tasks)[i], "s" + std::to_string(i), Split::kTrain).dump() + "\n";
  EXPECT_TRUE(write_file_atomic(d + "/synth.jsonl", synth).ok());

  PrepConfig c;
  c.inputs.push_back({.path = d + "/web.jsonl", .reader = {.source = "web"}, .group = "general"});
  c.inputs.push_back({.path = d + "/synth.jsonl", .reader = {.source = "synth"}, .group = "synthetic",
                      .language_filter = false, .quality = false, .near_dedup = false});
  c.output = d + "/out/corpus.jsonl";
  c.work_dir = d + "/work";
  c.report = d + "/out/prep_report.json";
  c.normalize.keep_languages = {Lang::kEn};
  c.pii_options.action[static_cast<size_t>(PiiType::kEmail)] = PiiAction::kDrop;
  c.mix_options.shares = {{"general", 0.5}, {"synthetic", 0.5}};
  return c;
}

uint64_t dropped(const nlohmann::json& stats, const char* reason) {
  return stats["dropped"].contains(reason) ? stats["dropped"][reason]["n"].get<uint64_t>() : 0;
}

TEST(Prep, EveryRecordIsKeptOrDroppedWithItsReason) {
  const std::string d = dir() + "/one";
  fs::create_directories(d);
  const PrepConfig cfg = make_inputs(d);
  const Context ctx = make_context(1, 1, "warn");
  ASSERT_TRUE(run_prep(cfg, PrepStage::kAll, {}, ctx).ok());
  auto r = nlohmann::json::parse(*read_file(cfg.report));
  EXPECT_TRUE(r["balanced"].get<bool>());
  const auto& t = r["totals"];
  EXPECT_EQ(t["n_input"].get<uint64_t>(), 66u + 40u);
  uint64_t sum = t["n_kept"].get<uint64_t>();
  for (const auto& [k, v] : t["dropped"].items()) sum += v["n"].get<uint64_t>();
  EXPECT_EQ(sum, t["n_input"].get<uint64_t>());
  EXPECT_EQ(dropped(t, "bad_record"), 1u);
  EXPECT_EQ(dropped(t, "exact_duplicate"), 1u);
  EXPECT_EQ(dropped(t, "near_duplicate"), 1u);
  EXPECT_EQ(dropped(t, "gopher_quality"), 1u);
  EXPECT_EQ(dropped(t, "pii"), 1u);
  EXPECT_EQ(dropped(t, "language"), 1u);
  EXPECT_EQ(r["sources"]["synth"]["n_kept"].get<uint64_t>() + dropped(r["sources"]["synth"], "mixing_downsample") +
                dropped(r["sources"]["synth"], "exact_duplicate") + dropped(r["sources"]["synth"], "near_duplicate"),
            40u);
  // The output holds the kept records (with up-sampled copies) and the mixture report says so.
  std::ifstream out(cfg.output);
  uint64_t n_lines = 0;
  for (std::string line; std::getline(out, line);) ++n_lines;
  EXPECT_EQ(n_lines, r["output"]["docs"].get<uint64_t>());
  EXPECT_GE(n_lines, t["n_kept"].get<uint64_t>());
  EXPECT_TRUE(fs::exists(d + "/out/prep_report.html"));
  EXPECT_NEAR(r["mixture"]["groups"]["general"]["target_share"].get<double>(), 0.5, 1e-9);
}

TEST(Prep, ShardedStagesMatchTheOneProcessRun) {
  const std::string d1 = dir() + "/a", d2 = dir() + "/b";
  fs::create_directories(d1), fs::create_directories(d2);
  const Context ctx = make_context(1, 1, "warn");
  const PrepConfig one = make_inputs(d1), many = make_inputs(d2);
  ASSERT_TRUE(run_prep(one, PrepStage::kAll, {}, ctx).ok());
  for (uint32_t i = 0; i < 3; ++i) ASSERT_TRUE(run_prep(many, PrepStage::kFilter, {i, 3}, ctx).ok());
  for (uint32_t j = 0; j < 2; ++j) ASSERT_TRUE(run_prep(many, PrepStage::kBuckets, {j, 2}, ctx).ok());
  ASSERT_TRUE(run_prep(many, PrepStage::kCluster, {}, ctx).ok());
  for (uint32_t i = 0; i < 3; ++i) ASSERT_TRUE(run_prep(many, PrepStage::kFinalize, {i, 3}, ctx).ok());
  ASSERT_TRUE(run_prep(many, PrepStage::kReport, {}, ctx).ok());
  const auto a = nlohmann::json::parse(*read_file(one.report));
  const auto b = nlohmann::json::parse(*read_file(many.report));
  EXPECT_TRUE(b["balanced"].get<bool>());
  EXPECT_EQ(b["n_shards"].get<uint64_t>(), 3u);
  EXPECT_EQ(a["totals"]["n_input"], b["totals"]["n_input"]);
  EXPECT_EQ(a["totals"]["n_kept"], b["totals"]["n_kept"]);
  // An exact duplicate split across shards is caught by near-dedup instead: same total either way.
  EXPECT_EQ(dropped(a["totals"], "exact_duplicate") + dropped(a["totals"], "near_duplicate"),
            dropped(b["totals"], "exact_duplicate") + dropped(b["totals"], "near_duplicate"));
  EXPECT_FALSE(run_prep(many, PrepStage::kAll, {0, 2}, ctx).ok());  // one-process stages refuse --shard
}

}  // namespace
}  // namespace anvil::data
