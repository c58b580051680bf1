// The training loop end to end on a tiny model: the loss falls on learnable data, and a run stopped
// at a checkpoint and resumed produces bit-identical per-step losses to an uninterrupted run.
#include "anvil/train/trainer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "anvil/data/shards.h"

namespace anvil::train {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("anvil_trainer_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A learnable stream: repeating "counting" patterns over a 32-token vocabulary.
void write_shard(const fs::path& p, uint32_t n) {
  data::TokenShardWriter w;
  ASSERT_TRUE(w.open(p.string(), {.vocab_size = 32}).ok());
  std::vector<uint32_t> toks(n);
  for (uint32_t i = 0; i < n; ++i) toks[i] = (i * 7 + (i / 32)) % 32;
  ASSERT_TRUE(w.append(toks).ok());
  ASSERT_TRUE(w.finalize().ok());
}

TrainOptions tiny_options(const fs::path& dir, const fs::path& shards) {
  TrainOptions o;
  o.run_dir = (dir / "run").string();
  auto cfg = model::parse_config(R"({"model_type":"llama","vocab_size":32,"hidden_size":32,"intermediate_size":64,
    "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":64})");
  EXPECT_TRUE(cfg.ok()) << cfg.status().to_string();
  o.model = *cfg;
  o.train_data = {shards.string()};
  o.context = 16;
  o.batch_size = 4;
  o.grad_accum = 2;
  o.steps = 30;
  o.schedule.peak_lr = 1e-2;
  o.schedule.min_lr = 1e-3;
  o.schedule.warmup_steps = 3;
  o.checkpoint_every = 10;
  o.val_batches = 2;
  return o;
}

std::vector<double> losses(const std::string& metrics_path) {
  std::ifstream in(metrics_path);
  std::vector<double> out;
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["kind"] == "train") out.push_back(j["loss"].get<double>());
  }
  return out;
}

TEST(Trainer, LossFallsAndResumeIsBitExact) {
  const fs::path dir = temp_dir("resume");
  write_shard(dir / "train.tok", 20000);
  const Context ctx = make_context(2, 1, "warn");

  TrainOptions full = tiny_options(dir / "a", dir / "train.tok");
  auto ta = Trainer::create(full, ctx, /*resume=*/false);
  ASSERT_TRUE(ta.ok()) << ta.status().to_string();
  auto sa = ta->run();
  ASSERT_TRUE(sa.ok()) << sa.status().to_string();
  const std::vector<double> la = losses(full.run_dir + "/metrics.jsonl");
  ASSERT_EQ(la.size(), 30u);
  EXPECT_LT(la.back(), 0.5 * la.front()) << "the loss did not fall";

  // An interrupted run leaves checkpoint 20 and the metrics up to step 20: rebuild exactly that
  // state from run a in a fresh run dir, then resume it to step 30.
  const fs::path resumed = dir / "c" / "run";
  fs::create_directories(resumed / "checkpoints");
  fs::copy(fs::path(full.run_dir) / "checkpoints" / "step-00000020", resumed / "checkpoints" / "step-00000020",
           fs::copy_options::recursive);
  {
    std::ofstream(resumed / "checkpoints" / "latest.json") << R"({"step": 20, "dir": "step-00000020"})";
    // metrics of the first 20 steps, as the interrupted run would have left them
    std::ifstream in(full.run_dir + "/metrics.jsonl");
    std::ofstream out(resumed / "metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line);
      if (!j.contains("step") || j["step"].get<int64_t>() <= 20) out << line << "\n";
    }
  }
  TrainOptions res = tiny_options(dir / "c", dir / "train.tok");
  auto tc = Trainer::create(res, ctx, /*resume=*/true);
  ASSERT_TRUE(tc.ok()) << tc.status().to_string();
  EXPECT_EQ(tc->step(), 20);
  ASSERT_TRUE(tc->run().ok());
  const std::vector<double> lc = losses(res.run_dir + "/metrics.jsonl");
  ASSERT_EQ(lc.size(), 30u);
  for (size_t i = 0; i < 30; ++i) EXPECT_EQ(la[i], lc[i]) << "step " << i + 1;
}

TEST(Trainer, ResumeWithoutCheckpointIsAClearError) {
  const fs::path dir = temp_dir("nockpt");
  write_shard(dir / "train.tok", 2000);
  TrainOptions o = tiny_options(dir, dir / "train.tok");
  auto t = Trainer::create(o, make_context(1, 1, "warn"), /*resume=*/true);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("has no checkpoint"), std::string::npos) << t.status().message();
}

}  // namespace
}  // namespace anvil::train
