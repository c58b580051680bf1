// Balancing by a category field ([[balance]]): the planner's rates, its errors, the TOML config with
// line numbers, and whole prep runs on generated synthetic tasks (meta.difficulty / meta.task) checking
// the accounting invariant, achieved vs target shares, repeats, determinism and sharded = one process.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "anvil/base/context.h"
#include "anvil/base/file.h"
#include "anvil/data/prep.h"
#include "anvil/data/prep_config.h"
#include "anvil/data/synth.h"
#include "support/temp_dir.h"

namespace anvil::data {
namespace {

namespace fs = std::filesystem;

// Achieved shares are sums of per-document Bernoulli draws: with ≥ 100 documents per category and the
// counts below, 0.05 is more than 3 standard deviations of the achieved share.
constexpr double kShareTolerance = 0.05;
constexpr double kRateTolerance = 1e-9;

std::string dir(const std::string& name) {
  return test::fresh_temp_dir(name).string();
}

TEST(Balance, UniformPlanDownSamplesAndCapsUpSampling) {
  // 300 / 100 / 20 documents: uniform wants 1/3 each; "c" can give at most 20 × 3 epochs = 60,
  // so the output is 180 documents, 60 per category.
  const BalanceSpec spec{.group = "g", .field = "k", .max_epochs = 3.0, .where = "t"};
  auto plan = plan_balance({{"a", {3000, 300}}, {"b", {1000, 100}}, {"c", {200, 20}}}, spec);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_NEAR(plan->total_bytes, 180, kRateTolerance);
  EXPECT_NEAR(plan->groups["a"].rate, 0.2, kRateTolerance);
  EXPECT_NEAR(plan->groups["b"].rate, 0.6, kRateTolerance);
  EXPECT_NEAR(plan->groups["c"].rate, 3.0, kRateTolerance);
  EXPECT_EQ(plan->groups["a"].input_bytes, 3000u);  // docs are the unit, bytes are still reported
  EXPECT_NE(plan->note.find("'c'"), std::string::npos);
  // By bytes: a has 3000 bytes, b 1000, c 200 → T = 200 × 3 × 3 = 1800, 600 bytes each: b's rate is
  // 0.6 (by documents, b's 10 documents would be capped at 3 epochs).
  BalanceSpec by_bytes = spec;
  by_bytes.unit = BalanceUnit::kBytes;
  plan = plan_balance({{"a", {3000, 300}}, {"b", {1000, 10}}, {"c", {200, 20}}}, by_bytes);
  ASSERT_TRUE(plan.ok());
  EXPECT_NEAR(plan->total_bytes, 1800, kRateTolerance);
  EXPECT_NEAR(plan->groups["b"].rate, 0.6, kRateTolerance);
  EXPECT_NEAR(plan->groups["a"].rate, 0.2, kRateTolerance);
}

TEST(Balance, PlannerErrorsNameTheKeyAndLine) {
  BalanceSpec spec{.group = "g", .field = "subject", .shares = {{"algebra", 0.5}, {"geometry", 0.5}}, .where = "p.toml:7: balance[0]"};
  spec.share_where = {{"algebra", "p.toml:9: balance[0].shares.algebra"}, {"geometry", "p.toml:9: balance[0].shares.geometry"}};
  auto plan = plan_balance({{"algebra", {10, 1}}, {"calculus", {10, 1}}}, spec);  // geometry unknown
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("p.toml:9: balance[0].shares.geometry"), std::string::npos) << plan.status().message();
  EXPECT_NE(plan.status().message().find("found: 'algebra', 'calculus'"), std::string::npos) << plan.status().message();
  plan = plan_balance({{"algebra", {10, 1}}, {"geometry", {10, 1}}, {"(none)", {5, 2}}}, spec);  // (none) without share
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("'(none)'"), std::string::npos) << plan.status().message();
  plan = plan_balance({{"(none)", {50, 5}}}, spec);  // the field is missing in every record
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("missing in all 5 records"), std::string::npos) << plan.status().message();
  spec.shares["geometry"] = 0.4;
  EXPECT_FALSE(validate_balance(spec).ok());  // sums to 0.9
  spec.shares["geometry"] = 0.5 + 0.5 * kShareSumTolerance;
  EXPECT_TRUE(validate_balance(spec).ok());
}

TEST(Balance, ConfigTablesAndTheirErrors) {
  const std::string base = "[prep]\noutput = \"out.jsonl\"\n[[input]]\npath = \"a.jsonl\"\ngroup = \"domain\"\n";
  auto c = parse_prep_config(base + "[[balance]]\ngroup = \"domain\"\nfield = \"subject\"\nunit = \"bytes\"\n"
                                    "max_epochs = 2\n[balance.shares]\nalgebra = 0.25\ngeometry = 0.75\n",
                             "p.toml", "");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  ASSERT_EQ(c->balance.size(), 1u);
  EXPECT_EQ(c->balance[0].scope(), "group:domain");
  EXPECT_EQ(c->balance[0].unit, BalanceUnit::kBytes);
  EXPECT_DOUBLE_EQ(c->balance[0].shares.at("geometry"), 0.75);
  EXPECT_EQ(c->balance[0].where, "p.toml:6: balance[0]");
  EXPECT_EQ(c->balance[0].share_where.at("geometry"), "p.toml:13: balance[0].shares.geometry");

  c = parse_prep_config(base + "[[balance]]\ngroup = \"domain\"\nfield = \"subject\"\n"
                               "shares = { algebra = 0.5, geometry = 0.4 }\n", "p.toml", "");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("p.toml:9: balance[0].shares:"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("sum to 0.9"), std::string::npos) << c.status().message();

  c = parse_prep_config(base + "[[balance]]\nfield = \"subject\"\n", "p.toml", "");  // no scope
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("exactly one of 'group' or 'source'"), std::string::npos);
  c = parse_prep_config(base + "[[balance]]\ngroup = \"domain\"\nfield = \"s\"\npolicy = \"uniform\"\n"
                               "shares = { a = 1.0 }\n", "p.toml", "");
  EXPECT_FALSE(c.ok());
  c = parse_prep_config(base + "[[balance]]\ngroup = \"domain\"\nfield = \"s\"\nmix_by = 1\n", "p.toml", "");
  ASSERT_FALSE(c.ok());  // unknown key
  EXPECT_NE(c.status().message().find("balance[0].mix_by"), std::string::npos) << c.status().message();
}

// n tasks of each difficulty (arithmetic + word + logic), one JSONL file; `extra` lines appended.
std::string write_tasks(const std::string& d, const std::map<int, size_t>& per_difficulty, const std::string& extra = "") {
  std::string s;
  for (const auto& [difficulty, n] : per_difficulty) {
    auto tasks = generate({.kind = TaskKind::kMix, .difficulty = difficulty, .seed = 3}, n);
    EXPECT_TRUE(tasks.ok()) << tasks.status().to_string();
    for (size_t i = 0; i < tasks->size(); ++i) {
      s += task_to_json((*tasks)[i], fmt::format("d{}-{}", difficulty, i), Split::kTrain).dump() + "\n";
    }
  }
  s += extra;
  const std::string path = d + "/tasks.jsonl";
  EXPECT_TRUE(write_file_atomic(path, s).ok());
  return path;
}

PrepConfig balance_config(const std::string& d, const std::string& input, BalanceSpec spec) {
  PrepConfig c;
  c.inputs.push_back({.path = input, .reader = {.source = "tasks"}, .group = "synthetic", .language_filter = false,
                      .quality = false, .near_dedup = false});
  c.output = d + "/out/corpus.jsonl";
  c.work_dir = d + "/work";
  c.report = d + "/out/prep_report.json";
  c.exact_dedup = false, c.near_dedup = false, c.pii = false;
  c.mix_options.shares = {{"synthetic", 1.0}};
  spec.where = "test: balance[0]";
  c.balance.push_back(std::move(spec));
  return c;
}

nlohmann::json read_report(const PrepConfig& c) { return nlohmann::json::parse(*read_file(c.report)); }

uint64_t dropped(const nlohmann::json& stats, const char* reason) {
  return stats["dropped"].contains(reason) ? stats["dropped"][reason]["n"].get<uint64_t>() : 0;
}

TEST(Balance, PrepMeetsExplicitSharesWithRepeatsAndAccountsForEveryRecord) {
  const std::string d = dir("shares");
  const std::string in = write_tasks(d, {{1, 600}, {2, 300}, {3, 100}});
  // Rates: T = min(1000, 100 × 3 / 0.5 = 600) → d1 0.2, d2 0.6, d3 3 (exactly three copies each).
  const PrepConfig cfg = balance_config(
      d, in, {.group = "synthetic", .field = "meta.difficulty", .shares = {{"1", 0.2}, {"2", 0.3}, {"3", 0.5}}, .max_epochs = 3});
  const Context ctx = make_context(1, 1, "warn");
  ASSERT_TRUE(run_prep(cfg, PrepStage::kAll, {}, ctx).ok());
  const nlohmann::json r = read_report(cfg);
  EXPECT_TRUE(r["balanced"].get<bool>());
  const auto& t = r["totals"];
  EXPECT_EQ(t["n_input"].get<uint64_t>(), 1000u);
  EXPECT_EQ(t["n_input"].get<uint64_t>(), t["n_kept"].get<uint64_t>() + dropped(t, "category_downsample") +
                                              dropped(t, "mixing_downsample"));
  const auto& cats = r["balance"]["group:synthetic"]["categories"];
  ASSERT_EQ(cats.size(), 3u);
  uint64_t balance_drops = 0, out_docs = 0;
  for (const auto& [c, v] : cats.items()) {
    EXPECT_NEAR(v["achieved_share"].get<double>(), v["target_share"].get<double>(), kShareTolerance) << c;
    EXPECT_EQ(v["kept"].get<uint64_t>() + v["dropped"]["category_downsample"].get<uint64_t>() +
                  v["dropped"]["mixing_downsample"].get<uint64_t>(),
              v["available_docs"].get<uint64_t>()) << c;
    balance_drops += v["dropped"]["category_downsample"].get<uint64_t>();
    out_docs += v["output_docs"].get<uint64_t>();
  }
  EXPECT_EQ(balance_drops, dropped(t, "category_downsample"));
  EXPECT_EQ(cats["3"]["kept"].get<uint64_t>(), 100u);
  EXPECT_EQ(cats["3"]["repeats"].get<uint64_t>(), 200u);  // rate 3: every record three times
  EXPECT_NEAR(cats["1"]["rate"].get<double>(), 0.2, kRateTolerance);
  // The output holds exactly the reported documents, copies with their own ids.
  std::ifstream out(cfg.output);
  uint64_t n_lines = 0, n_copies = 0;
  for (std::string line; std::getline(out, line);) {
    ++n_lines;
    n_copies += nlohmann::json::parse(line)["id"].get<std::string>().find("#copy") != std::string::npos;
  }
  EXPECT_EQ(n_lines, out_docs);
  EXPECT_EQ(n_lines, r["output"]["docs"].get<uint64_t>());
  EXPECT_EQ(n_copies, n_lines - t["n_kept"].get<uint64_t>());
  const std::string html = *read_file(fs::path(cfg.report).replace_extension(".html").string());
  EXPECT_NE(html.find("Category balance"), std::string::npos);
}

TEST(Balance, UniformOverTaskKindsCountsMissingFieldAsNoneAndShardsAgree) {
  const std::string d = dir("uniform");
  std::string extra;  // records without the field: category "(none)"
  for (int i = 0; i < 150; ++i) extra += nlohmann::json{{"id", fmt::format("plain{}", i)}, {"text", fmt::format("Plain note {}.", i)}}.dump() + "\n";
  const std::string in = write_tasks(d, {{2, 900}}, extra);
  const BalanceSpec spec{.source = "tasks", .field = "meta.task", .max_epochs = 4};
  const PrepConfig one = balance_config(d + "/one", in, spec), sharded = balance_config(d + "/sharded", in, spec);
  const Context ctx = make_context(1, 1, "warn");
  ASSERT_TRUE(run_prep(one, PrepStage::kAll, {}, ctx).ok());
  for (uint32_t i = 0; i < 3; ++i) ASSERT_TRUE(run_prep(sharded, PrepStage::kFilter, {i, 3}, ctx).ok());
  for (uint32_t i = 0; i < 3; ++i) ASSERT_TRUE(run_prep(sharded, PrepStage::kFinalize, {i, 3}, ctx).ok());
  ASSERT_TRUE(run_prep(sharded, PrepStage::kReport, {}, ctx).ok());
  const nlohmann::json r1 = read_report(one), r3 = read_report(sharded);
  EXPECT_TRUE(r1["balanced"].get<bool>());
  EXPECT_TRUE(r3["balanced"].get<bool>());
  const auto& cats = r1["balance"]["source:tasks"]["categories"];
  ASSERT_EQ(cats.size(), 4u);  // arithmetic, logic, word, (none)
  EXPECT_EQ(cats["(none)"]["available_docs"].get<uint64_t>(), 150u);
  for (const auto& [c, v] : cats.items()) {
    EXPECT_NEAR(v["target_share"].get<double>(), 0.25, kRateTolerance) << c;
    EXPECT_NEAR(v["achieved_share"].get<double>(), 0.25, kShareTolerance) << c;
    // Per-document decisions hash the id: the sharded run writes the same documents.
    EXPECT_EQ(v["output_docs"], r3["balance"]["source:tasks"]["categories"][c]["output_docs"]) << c;
  }
  EXPECT_EQ(r1["totals"]["n_kept"], r3["totals"]["n_kept"]);
}

TEST(Balance, DataErrorsAtFinalizeNameTheConfigKey) {
  const std::string d = dir("errors");
  const std::string in = write_tasks(d, {{1, 50}});
  const Context ctx = make_context(1, 1, "warn");
  PrepConfig cfg = balance_config(d, in, {.group = "synthetic", .field = "subject"});  // no record has it
  Status s = run_prep(cfg, PrepStage::kAll, {}, ctx);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("field 'subject' is missing in all 50 records of group:synthetic"), std::string::npos) << s.message();
  cfg = balance_config(d, in, {.group = "synthetic", .field = "meta.difficulty", .shares = {{"1", 0.5}, {"7", 0.5}}});
  cfg.balance[0].share_where["7"] = "test:4: balance[0].shares.7";
  s = run_prep(cfg, PrepStage::kAll, {}, ctx);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("test:4: balance[0].shares.7"), std::string::npos) << s.message();
  cfg = balance_config(d, in, {.group = "web", .field = "meta.task"});  // scope matches no input
  s = run_prep(cfg, PrepStage::kAll, {}, ctx);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("group:web matches no [[input]]"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace anvil::data
