// The training loop end to end on a tiny model: the loss falls on learnable data, and a run stopped
// at a checkpoint and resumed produces bit-identical per-step losses to an uninterrupted run.
#include "anvil/train/trainer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "anvil/base/rng.h"
#include "anvil/data/shards.h"
#include "anvil/model/transformer.h"
#include "support/temp_dir.h"

#include <cmath>

namespace anvil::train {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  return test::fresh_temp_dir(name);
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

namespace anvil::train {
namespace {

// Method-specs §2.5: K micro-batches, each backpropagating Σ loss / N_global, give the gradient of
// the one big batch — also when the micro-batches hold different numbers of ignored targets.
TEST(Trainer, GradientAccumulationEqualsTheBigBatch) {
  auto cfg = model::parse_config(R"({"model_type":"gpt2","vocab_size":40,"n_embd":32,"n_layer":2,"n_head":4,
    "n_positions":32,"resid_pdrop":0.0,"embd_pdrop":0.0,"attn_pdrop":0.0})");
  ASSERT_TRUE(cfg.ok());
  auto big = model::Transformer::create(*cfg);
  auto small = model::Transformer::create(*cfg);
  ASSERT_TRUE(big.ok() && small.ok());
  big->init_weights(3);
  small->init_weights(3);
  constexpr int64_t B = 4, T = 12, BT = B * T;
  ASSERT_TRUE(big->plan(B, T).ok());
  ASSERT_TRUE(small->plan(B / 2, T).ok());
  Rng rng(11);
  std::vector<int32_t> ids(BT), tg(BT);
  for (int64_t i = 0; i < BT; ++i) {
    ids[i] = static_cast<int32_t>(rng.below(40));
    tg[i] = static_cast<int32_t>(rng.below(40));
  }
  for (int64_t i = 0; i < 9; ++i) tg[i * 2] = -100;  // all in the first half: unequal valid counts
  int64_t n_valid = 0;
  for (int32_t t : tg) n_valid += t != -100;

  big->zero_grad();
  big->forward_backward(ids.data(), tg.data(), {.label_smoothing = 0.1f});
  small->zero_grad();
  for (int64_t k = 0; k < 2; ++k)
    small->forward_backward(ids.data() + k * BT / 2, tg.data() + k * BT / 2,
                            {.label_smoothing = 0.1f, .loss_normalizer = n_valid});
  const float* a = big->flat_grads().data<float>();
  const float* b = small->flat_grads().data<float>();
  double max_abs = 0, max_diff = 0;
  for (int64_t i = 0; i < big->n_params(); ++i) {
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(a[i])));
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(a[i] - b[i])));
  }
  constexpr double kAccumRelTol = 1e-5;  // fp32 summation order differs between the two
  EXPECT_LT(max_diff / max_abs, kAccumRelTol) << "max |grad diff| " << max_diff << " of max |grad| " << max_abs;
}

// Mixed precision: bf16 matmuls with fp32 master weights track the fp32 loss curve over 200 steps.
TEST(Trainer, Bf16LossCurveTracksFp32) {
  const fs::path dir = temp_dir("bf16");
  write_shard(dir / "train.tok", 20000);
  const Context ctx = make_context(2, 1, "warn");
  std::vector<double> curves[2];
  for (int i = 0; i < 2; ++i) {
    TrainOptions o = tiny_options(dir / (i == 0 ? "f32" : "bf16"), dir / "train.tok");
    o.steps = 200;
    o.grad_accum = 1;
    o.checkpoint_every = 0;
    o.schedule.peak_lr = 3e-3;
    o.precision = i == 0 ? Precision::kF32 : Precision::kBF16;
    auto t = Trainer::create(o, ctx, false);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    ASSERT_TRUE(t->run().ok());
    curves[i] = losses(o.run_dir + "/metrics.jsonl");
    ASSERT_EQ(curves[i].size(), 200u);
  }
  // Compare 20-step means (single steps are noisy): within 5% relative, and both fall.
  constexpr double kBf16CurveRelTol = 0.05;
  for (size_t w = 0; w < 10; ++w) {
    double m32 = 0, m16 = 0;
    for (size_t s = w * 20; s < (w + 1) * 20; ++s) m32 += curves[0][s], m16 += curves[1][s];
    EXPECT_NEAR(m16 / m32, 1.0, kBf16CurveRelTol) << "steps " << w * 20 + 1 << "-" << (w + 1) * 20;
  }
  EXPECT_LT(curves[1].back(), 0.5 * curves[1].front());
  EXPECT_NE(curves[0], curves[1]) << "the bf16 run computed exactly the fp32 losses: bf16 matmuls were not used";
}

}  // namespace
}  // namespace anvil::train
