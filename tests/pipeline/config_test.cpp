// The `anvil run` config and the shared tool parsers: strict errors name the key path and line, overrides
// apply before reading, the example configs parse, and step settings/hashes react only to their tables.
#include "anvil/pipeline/config.h"

#include <gtest/gtest.h>

#include "anvil/base/file.h"
#include "anvil/data/prep_config.h"
#include "anvil/pipeline/runner.h"
#include "anvil/pipeline/step_record.h"
#include "anvil/train/train_config.h"
#include "tiny_run.h"

namespace anvil::pipeline {
namespace {

using testing::temp_dir;
using testing::tiny_config;
using testing::write_text;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(PipelineConfig, TinyConfigParses) {
  const auto dir = temp_dir("parse");
  auto c = parse_pipeline_config(tiny_config(dir), "tiny.toml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->synth.size(), 2u);
  EXPECT_EQ(c->synth[1].options.style, data::Style::kDirect);
  ASSERT_EQ(c->inputs.size(), 1u);
  EXPECT_EQ(c->inputs[0].split_on, "%");
  EXPECT_FALSE(c->prep.exact_dedup);
  EXPECT_DOUBLE_EQ(c->prep.mix_options.shares.at("synthetic"), 0.99);
  EXPECT_EQ(c->tokenizer.vocab_size, 300u);
  EXPECT_EQ(c->train.steps, 20);
  EXPECT_EQ(c->train.seed, 7u);
  EXPECT_EQ(c->train.context, 32);
  EXPECT_EQ(c->train.model.vocab_size, testing::kTinyVocab);
  EXPECT_EQ(c->eval.limit, 3);
}

TEST(PipelineConfig, UnknownKeysNameThePathAndLine) {
  const auto dir = temp_dir("unknown");
  const std::string text = tiny_config(dir) + "bogus = 1\n[train.optim2]\nlr = 1\n";
  auto c = parse_pipeline_config(text, "tiny.toml");
  ASSERT_FALSE(c.ok());
  const std::string m = c.status().message();
  EXPECT_TRUE(contains(m, "unknown key 'eval.bogus'")) << m;
  EXPECT_TRUE(contains(m, "unknown key 'train.optim2'")) << m;
  EXPECT_TRUE(contains(m, "(line ")) << m;
}

TEST(PipelineConfig, ErrorsInsideArraysOfTablesNameTheIndex) {
  const auto dir = temp_dir("arrays");
  std::string text = tiny_config(dir);
  text.replace(text.find("n = 100"), 7, "n = 100\ncolour = \"red\"");
  auto c = parse_pipeline_config(text, "tiny.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(contains(c.status().message(), "unknown key 'synth[1].colour'")) << c.status().message();

  text = tiny_config(dir);
  text.replace(text.find("difficulty = 1\nn = 300"), 14, "difficulty = 9");
  c = parse_pipeline_config(text, "tiny.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(contains(c.status().message(), "synth[0].difficulty' = 9")) << c.status().message();
}

TEST(PipelineConfig, TypeErrorsAndValueErrors) {
  const auto dir = temp_dir("types");
  std::string text = tiny_config(dir);
  text.replace(text.find("steps = 20"), 10, "steps = \"many\"");
  auto c = parse_pipeline_config(text, "tiny.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(contains(c.status().message(), "'train.schedule.steps' (line")) << c.status().message();
  EXPECT_TRUE(contains(c.status().message(), "must be an integer, got string")) << c.status().message();

  text = tiny_config(dir);
  text.replace(text.find("vocab_size = 300"), 16, "vocab_size = 100");
  c = parse_pipeline_config(text, "tiny.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(contains(c.status().message(), "tokenizer.vocab_size' = 100")) << c.status().message();

  text = tiny_config(dir);
  text.replace(text.find("[train.data]\n"), 13, "[train.data]\ntrain = [\"x\"]\n");
  c = parse_pipeline_config(text, "tiny.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(contains(c.status().message(), "unknown key 'train.data.train'")) << c.status().message();

  c = parse_pipeline_config("[run]\ndir = \"x\"\n[eval]\nstyles = [\"cot\"]\n[train.model]\nconfig = \"S\"\n"
                            "[train.schedule]\nsteps = 1\n", "empty.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(contains(c.status().message(), "no data")) << c.status().message();
}

TEST(PipelineConfig, OverridesApplyBeforeReading) {
  const auto dir = temp_dir("overrides");
  std::vector<Override> o;
  for (const char* s : {"train.schedule.steps=5", "synth[0].n=50", "eval.styles=[\"cot\"]", "tokenize.eos=<|endoftext|>"}) {
    auto ov = parse_override(s);
    ASSERT_TRUE(ov.ok());
    o.push_back(*ov);
  }
  auto c = parse_pipeline_config(tiny_config(dir), "tiny.toml", o);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->train.steps, 5);
  EXPECT_EQ(c->synth[0].n, 50u);
  EXPECT_EQ(c->eval.styles, std::vector<std::string>{"cot"});
  EXPECT_EQ(c->tokenize.eos, "<|endoftext|>");

  EXPECT_FALSE(parse_override("no-equals-sign").ok());
  auto bad = parse_pipeline_config(tiny_config(dir), "tiny.toml", {Override{.path = "synth[5].n", .value = "1"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.status().message(), "synth[5].n")) << bad.status().message();
  bad = parse_pipeline_config(tiny_config(dir), "tiny.toml", {Override{.path = "train.schedule.stepz", .value = "1"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.status().message(), "unknown key 'train.schedule.stepz'")) << bad.status().message();
}

TEST(PipelineConfig, StepSettingsCoverOnlyTheirTables) {
  const auto dir = temp_dir("settings");
  auto a = parse_pipeline_config(tiny_config(dir), "tiny.toml");
  auto b = parse_pipeline_config(tiny_config(dir), "tiny.toml", {Override{.path = "eval.limit", .value = "9"}});
  ASSERT_TRUE(a.ok() && b.ok());
  for (const char* step : {"synth", "prep", "tokenizer", "tokenize", "train"}) EXPECT_EQ(a->settings[step], b->settings[step]) << step;
  EXPECT_NE(a->settings["eval"], b->settings["eval"]);
}

// [[balance]] goes to prep's own parser and into prep's settings only (so only prep and later rerun).
TEST(PipelineConfig, BalanceTablesReachPrep) {
  const auto dir = temp_dir("balance");
  auto plain = parse_pipeline_config(tiny_config(dir), "tiny.toml");
  auto c = parse_pipeline_config(
      tiny_config(dir) + "\n[[balance]]\ngroup = \"synthetic\"\nfield = \"task\"\npolicy = \"uniform\"\n", "tiny.toml");
  ASSERT_TRUE(plain.ok() && c.ok()) << c.status().to_string();
  ASSERT_EQ(c->prep.balance.size(), 1u);
  EXPECT_EQ(c->prep.balance[0].group, "synthetic");
  EXPECT_EQ(c->prep.balance[0].field, "task");
  EXPECT_NE(c->settings["prep"], plain->settings["prep"]);
  EXPECT_EQ(c->settings["synth"], plain->settings["synth"]);
  EXPECT_FALSE(plain->settings["prep"].contains("balance"));  // configs without it keep their old hashes

  auto bad = parse_pipeline_config(tiny_config(dir) + "\n[[balance]]\ngroup = \"synthetic\"\n", "tiny.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.status().message(), "field")) << bad.status().message();
}

// [serve] is read strictly, off by default, and is no step's setting: serving changes no hash.
TEST(PipelineConfig, ServeTableIsCheckedAndHashesNothing) {
  const auto dir = temp_dir("serve");
  auto plain = parse_pipeline_config(tiny_config(dir), "tiny.toml");
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  EXPECT_FALSE(plain->serve.enabled);
  EXPECT_EQ(plain->serve.port, 8080);
  const std::string with_serve =
      tiny_config(dir) + "\n[serve]\nenabled = true\nport = 0\ngrpc_port = 0\nmax_running = 4\nmodel_name = \"m\"\n";
  auto c = parse_pipeline_config(with_serve, "tiny.toml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_TRUE(c->serve.enabled);
  EXPECT_EQ(c->serve.port, 0);
  EXPECT_EQ(c->serve.grpc_port, 0);
  EXPECT_EQ(c->serve.max_running, 4);
  EXPECT_EQ(c->serve.model_name, "m");
  EXPECT_EQ(c->settings, plain->settings);

  for (const auto& [line, want] : std::vector<std::pair<std::string, std::string>>{
           {"port = 70000", "'serve.port' = 70000"},
           {"grpc_port = -2", "'serve.grpc_port' = -2"},
           {"max_running = 0", "'serve.max_running' = 0"},
           {"prot = 1", "unknown key 'serve.prot'"},
           {"port = \"80\"", "'serve.port'"}}) {
    auto bad = parse_pipeline_config(tiny_config(dir) + "\n[serve]\n" + line + "\n", "tiny.toml");
    ASSERT_FALSE(bad.ok()) << line;
    EXPECT_TRUE(contains(bad.status().message(), want)) << bad.status().message();
  }
}

// Runs in the repository root (the examples' relative paths are relative to it), then restores the cwd.
struct InSourceDir {
  InSourceDir() : saved(std::filesystem::current_path()) { std::filesystem::current_path(ANVIL_SOURCE_DIR); }
  ~InSourceDir() { std::filesystem::current_path(saved); }
  std::filesystem::path saved;
};

TEST(PipelineConfig, ExampleConfigsParseAndPlan) {
  const InSourceDir cwd;
  for (const char* name : {"examples/quickstart.toml", "examples/domain_model.toml"}) {
    const std::string path = std::string(ANVIL_SOURCE_DIR) + "/" + name;
    auto c = load_pipeline_config(path);
    ASSERT_TRUE(c.ok()) << name << ": " << c.status().to_string();
    EXPECT_FALSE(c->synth.empty()) << name;
    EXPECT_FALSE(c->inputs.empty()) << name;
  }
  // The domain model's files are placeholders: its plan runs every step and names the missing inputs.
  auto domain = load_pipeline_config(std::string(ANVIL_SOURCE_DIR) + "/examples/domain_model.toml");
  ASSERT_TRUE(domain.ok());
  EXPECT_EQ(domain->train.grad_accum, 4);
  EXPECT_FLOAT_EQ(domain->train.label_smoothing, 0.1f);
  EXPECT_FLOAT_EQ(domain->train.model.resid_dropout, 0.1f);
  EXPECT_DOUBLE_EQ(domain->train.schedule.warmup_fraction, 0.1);
  domain->run_dir = temp_dir("domain_plan").string();
  auto domain_plan = plan_run(*domain, RunOptions{});
  ASSERT_TRUE(domain_plan.ok()) << domain_plan.status().to_string();
  EXPECT_EQ((*domain_plan)[1].missing_inputs.size(), 3u);
  EXPECT_NE((*domain_plan)[1].why.find("does not exist"), std::string::npos) << (*domain_plan)[1].why;
  EXPECT_FALSE(run_pipeline(*domain, RunOptions{}, make_context(0, 1, "warn")).ok());
  // The quickstart's plan (a dry run): every step runs in a fresh run dir.
  const auto dir = temp_dir("example_plan");
  auto c = load_pipeline_config(std::string(ANVIL_SOURCE_DIR) + "/examples/quickstart.toml",
                                {Override{.path = "run.dir", .value = "\"" + (dir / "run").string() + "\""}});
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto plan = plan_run(*c, RunOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  ASSERT_EQ(plan->size(), static_cast<size_t>(kNumSteps));
  for (const StepPlan& p : *plan) {
    EXPECT_EQ(p.action, Action::kRun) << step_name(p.kind);
    if (p.missing_inputs.empty()) {
      EXPECT_EQ(p.why, "no previous run");
    }
  }
}

TEST(PrepConfigParser, PrepTomlErrorsAndDefaults) {
  const auto dir = temp_dir("prep");
  const std::string base = "[prep]\noutput = \"out/corpus.jsonl\"\n[[input]]\npath = \"a.txt\"\nformat = \"text\"\n";
  auto c = data::parse_prep_config(base + "[dedup]\nbands = 3\n", "prep.toml", dir.string());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->inputs.at(0).path, (dir / "a.txt").string());
  EXPECT_EQ(c->work_dir, (dir / "out/corpus.jsonl").string() + ".work");
  EXPECT_EQ(c->report, (dir / "out/prep_report.json").string());
  EXPECT_EQ(c->minhash.n_bands, 3);

  auto bad = data::parse_prep_config(base + "[dedup]\nband = 3\n", "prep.toml", dir.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.status().message(), "unknown key 'dedup.band'")) << bad.status().message();
  bad = data::parse_prep_config(base + "format2 = 1\n", "prep.toml", dir.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.status().message(), "unknown key 'input[0].format2'")) << bad.status().message();
  bad = data::parse_prep_config(base + "[quality.gopher]\nmin_doc_words = -1\n", "prep.toml", dir.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.status().message(), "quality.gopher.min_doc_words' = -1")) << bad.status().message();
  bad = data::parse_prep_config("[[input]]\npath = \"a\"\n", "prep.toml", dir.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.status().message(), "prep.output is required")) << bad.status().message();
  // The annotated example parses.
  auto ex = data::load_prep_config(std::string(ANVIL_SOURCE_DIR) + "/examples/prep.toml");
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  EXPECT_EQ(ex->inputs.size(), 3u);
  EXPECT_EQ(ex->pii_options.action[static_cast<size_t>(data::PiiType::kCreditCard)], data::PiiAction::kDrop);
}

TEST(TrainConfigParser, RunFileErrorsAndExample) {
  train::TrainOptions o;
  Status s = train::parse_train_config(
      "[run]\ndir = \"r\"\n[model]\nconfig = \"S\"\n[data]\ntrain = [\"x\"]\n[schedule]\nsteps = 10\nwarmup = 2\n"
      "[optim]\nname = \"lion\"\n",
      "run.toml", o);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(o.optimizer, train::OptimizerKind::kLion);
  EXPECT_EQ(o.schedule.warmup_steps, 2);
  EXPECT_EQ(o.steps, 10);
  train::TrainOptions o2;
  s = train::parse_train_config("[model]\nconfig = \"S\"\n[data]\ntrain = [\"x\"]\n[schedule]\nsteps = 10\n", "run.toml", o2);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.message(), "'run.dir' is required")) << s.message();
  train::TrainOptions o3;
  s = train::parse_train_config("[run]\ndir = \"r\"\n[model]\nconfig = \"S\"\n[schedule]\nsteps = 10\n[optim]\nbetas = [1]\n",
                                "run.toml", o3);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.message(), "missing required key 'data.train'")) << s.message();
  train::TrainOptions o4;
  s = train::parse_train_config(*read_file(std::string(ANVIL_SOURCE_DIR) + "/examples/train.toml"), "train.toml", o4);
  EXPECT_TRUE(s.ok()) << s.to_string();
}

TEST(StepHashes, FilesDirectoriesAndInputs) {
  const auto dir = temp_dir("hash");
  write_text(dir / "a.txt", "alpha");
  write_text(dir / "b.txt", "beta");
  auto h1 = hash_path((dir / "a.txt").string());
  ASSERT_TRUE(h1.ok());
  EXPECT_EQ(*h1, hash_bytes("alpha"));
  auto d1 = hash_path(dir.string());
  write_text(dir / "b.txt", "betA");
  auto d2 = hash_path(dir.string());
  ASSERT_TRUE(d1.ok() && d2.ok());
  EXPECT_NE(*d1, *d2);
  EXPECT_EQ(hash_path((dir / "missing").string()).status().code(), StatusCode::kNotFound);
  const std::map<std::string, std::string> in = {{"settings", "01"}, {"step:synth", "02"}};
  auto changed = in;
  changed["step:synth"] = "03";
  EXPECT_EQ(combine_inputs(in), combine_inputs(in));
  EXPECT_NE(combine_inputs(in), combine_inputs(changed));
  EXPECT_EQ(combine_inputs(in).size(), 16u);
}

}  // namespace
}  // namespace anvil::pipeline
