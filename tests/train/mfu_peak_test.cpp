// MFU's denominator (docs/train.md): the GEMM probe behind `anvil bench gemm` and [log] measure_peak,
// the config keys peak_gflops / measure_peak, and that a run records the denominator it used in its
// start event and divides by it in every train line (mfu = flops_per_token * tokens_per_s / peak).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "anvil/data/shards.h"
#include "anvil/model/transformer.h"
#include "anvil/train/train_config.h"
#include "anvil/train/trainer.h"
#include "support/temp_dir.h"

namespace anvil::train {
namespace {

namespace fs = std::filesystem;

constexpr double kRoundingRelTol = 1e-9;  // the same doubles combined in a different order

TEST(GemmRate, TimesAtLeastTheAskedCallsAndSeconds) {
  for (Precision p : {Precision::kF32, Precision::kBF16}) {
    const GemmRate r = measure_gemm_rate({.precision = p, .n = 96, .warmup_calls = 1, .min_seconds = 0.02, .min_calls = 4});
    EXPECT_EQ(r.n, 96);
    EXPECT_GE(r.calls, 4);
    EXPECT_GE(r.seconds, 0.02);
    EXPECT_GT(r.gflops_median, 0.0);
    EXPECT_GE(r.gflops_best, r.gflops_median);
    // Every call takes at least the best call's time, so the mean rate cannot beat the best.
    const double mean_gflops = r.calls * 2.0 * 96 * 96 * 96 / r.seconds / 1e9;
    EXPECT_LE(mean_gflops, r.gflops_best * (1 + kRoundingRelTol));
  }
}

const char* kBaseToml = R"(
[run]
dir = "runs/x"
[model]
config = "S"
[data]
train = ["shards"]
[schedule]
steps = 10
)";

TEST(MfuPeakConfig, ReadsPeakGflopsAndMeasurePeak) {
  TrainOptions a;
  ASSERT_TRUE(parse_train_config(kBaseToml, "a.toml", a).ok());
  EXPECT_EQ(a.peak_gflops, 0.0);
  EXPECT_FALSE(a.measure_peak);

  TrainOptions b;
  const Status sb = parse_train_config(std::string(kBaseToml) + "[log]\nmeasure_peak = true\n", "b.toml", b);
  ASSERT_TRUE(sb.ok()) << sb.to_string();
  EXPECT_TRUE(b.measure_peak);

  TrainOptions c;
  ASSERT_TRUE(parse_train_config(std::string(kBaseToml) + "[log]\npeak_gflops = 321.5\n", "c.toml", c).ok());
  EXPECT_EQ(c.peak_gflops, 321.5);
}

TEST(MfuPeakConfig, RejectsBothOrNegativeOrMistyped) {
  TrainOptions o;
  Status s = parse_train_config(std::string(kBaseToml) + "[log]\npeak_gflops = 100\nmeasure_peak = true\n", "d.toml", o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not both"), std::string::npos) << s.message();
  s = parse_train_config(std::string(kBaseToml) + "[log]\npeak_gflops = -5\n", "e.toml", o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("log.peak_gflops"), std::string::npos) << s.message();
  s = parse_train_config(std::string(kBaseToml) + "[log]\nmeasure_peak = \"yes\"\n", "f.toml", o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("log.measure_peak"), std::string::npos) << s.message();
}

struct RunLines {
  nlohmann::json start;
  std::vector<nlohmann::json> train;
};

// Two steps of a tiny GPT-2 with the given MFU options; returns the start event and the train lines.
RunLines run_tiny(const std::string& name, double peak_gflops, bool measure_peak, int threads, double* flops_per_token) {
  const fs::path dir = test::fresh_temp_dir(name);
  {
    data::TokenShardWriter w;
    EXPECT_TRUE(w.open((dir / "train.tok").string(), {.vocab_size = 40}).ok());
    std::vector<uint32_t> toks(2000);
    for (uint32_t i = 0; i < toks.size(); ++i) toks[i] = (i * 7 + 3) % 40;
    EXPECT_TRUE(w.append(toks).ok());
    EXPECT_TRUE(w.finalize().ok());
  }
  TrainOptions o;
  o.run_dir = (dir / "run").string();
  auto cfg = model::parse_config(R"({"model_type":"gpt2","vocab_size":40,"n_embd":32,"n_layer":1,"n_head":2,
    "n_positions":16,"resid_pdrop":0.0,"embd_pdrop":0.0,"attn_pdrop":0.0})");
  EXPECT_TRUE(cfg.ok());
  o.model = *cfg;
  o.train_data = {(dir / "train.tok").string()};
  o.context = 16;
  o.batch_size = 2;
  o.steps = 2;
  o.val_batches = 1;
  o.peak_gflops = peak_gflops;
  o.measure_peak = measure_peak;
  auto t = Trainer::create(o, make_context(threads, 1, "warn"), false);
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  RunLines out;
  if (!t.ok()) return out;
  EXPECT_TRUE(t->run().ok());
  auto m = model::Transformer::create(o.model);
  *flops_per_token = m->train_flops_per_token(o.context);
  std::ifstream in(o.run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["kind"] == "event" && j["event"] == "start") out.start = j;
    if (j["kind"] == "train") out.train.push_back(j);
  }
  return out;
}

void expect_mfu_uses(const RunLines& r, double peak, double flops_per_token) {
  ASSERT_EQ(r.train.size(), 2u);
  for (const auto& t : r.train) {
    const double want = flops_per_token * t["tokens_per_s"].get<double>() / (peak * 1e9);
    EXPECT_NEAR(t["mfu"].get<double>(), want, kRoundingRelTol * want) << t.dump();
  }
}

TEST(MfuPeak, RunRecordsAndUsesItsDenominator) {
  double fpt = 0;
  const RunLines ref = run_tiny("reference", 0, false, 1, &fpt);
  ASSERT_TRUE(ref.start.contains("peak_source")) << ref.start.dump();
  EXPECT_EQ(ref.start["peak_source"], "reference");
  EXPECT_EQ(ref.start["peak_gflops"].get<double>(), kGemmPeakF32PerCoreGflops * 1);
  expect_mfu_uses(ref, kGemmPeakF32PerCoreGflops, fpt);

  const RunLines given = run_tiny("config", 123.0, false, 1, &fpt);
  EXPECT_EQ(given.start["peak_source"], "config");
  EXPECT_EQ(given.start["peak_gflops"].get<double>(), 123.0);
  expect_mfu_uses(given, 123.0, fpt);

  const RunLines measured = run_tiny("measured", 0, true, 1, &fpt);
  EXPECT_EQ(measured.start["peak_source"], "measured");
  const double peak = measured.start["peak_gflops"].get<double>();
  EXPECT_GT(peak, 0.0);
  ASSERT_TRUE(measured.start.contains("peak_probe"));
  EXPECT_EQ(measured.start["peak_probe"]["n"], 1024);
  EXPECT_GE(measured.start["peak_probe"]["calls"].get<int>(), 3);
  EXPECT_LE(measured.start["peak_probe"]["gflops_median"].get<double>(), peak);
  expect_mfu_uses(measured, peak, fpt);
}

TEST(MfuPeak, CreateRejectsBothSources) {
  TrainOptions o;
  o.peak_gflops = 10;
  o.measure_peak = true;
  o.run_dir = (test::temp_root() / "both").string();
  auto t = Trainer::create(o, make_context(1, 1, "warn"), false);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("not both"), std::string::npos) << t.status().message();
}

}  // namespace
}  // namespace anvil::train
