// anvil's transformer against an independent PyTorch implementation (tools/torch_ref/torch_ref.py):
// for several tiny random configs both load the same config.json + model.safetensors and batch, and
// we compare logits, loss and every parameter's gradient. anvil fp32 vs torch fp32 within
// kF32Tolerance, anvil bf16 (bf16 GEMM inputs, fp32 accumulation) vs torch fp32 within kBF16Tolerance,
// metric max|a-b| / max|b| per tensor. Skipped when /usr/bin/python3 cannot import torch.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "anvil/core/safetensors.h"
#include "model_test_util.h"
#include "support/temp_dir.h"

namespace anvil::model {
namespace {

using testing::Batch;
using testing::make_batch;
using testing::make_model;
using testing::max_rel_error;

constexpr double kF32Tolerance = 1e-4;
constexpr double kBF16Tolerance = 2e-2;
constexpr const char* kPython = "/usr/bin/python3";

bool torch_available() {
  static const bool ok = std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
  return ok;
}

struct RefCase {
  const char* name;
  const char* config;
  int64_t B, T;
  float label_smoothing = 0.0f;
  int ignore_every = 0;
  int64_t head_rows = 0;  // 0 = auto (one chunk here); > 0 exercises the chunked LM head
};

void write_ints(const std::string& path, const std::vector<int32_t>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(int32_t)));
}

struct AnvilOut {
  std::vector<float> logits;
  float loss = 0;
  Tensor grads;
};

AnvilOut run_anvil(Transformer& m, const RefCase& rc, const Batch& b, Precision prec) {
  EXPECT_TRUE(m.plan(rc.B, rc.T, {.head_rows = rc.head_rows}).ok());
  AnvilOut o;
  o.logits.resize(static_cast<size_t>(rc.B * rc.T * m.config().vocab_size));
  m.logits(b.ids.data(), o.logits.data(), prec);
  m.zero_grad();
  const StepOptions opt{.precision = prec, .mode = Mode::kTrain, .label_smoothing = rc.label_smoothing};
  o.loss = m.forward_backward(b.ids.data(), b.targets.data(), opt);
  o.grads = m.flat_grads().clone();
  return o;
}

void compare(const Transformer& m, const AnvilOut& a, const SafetensorsFile& ref, double tol, const char* label) {
  auto logits = ref.get("logits");
  ASSERT_TRUE(logits.ok());
  ASSERT_EQ(logits->numel(), static_cast<int64_t>(a.logits.size()));
  const double e_logits = max_rel_error(a.logits.data(), logits->data<float>(), logits->numel());
  auto loss = ref.get("loss");
  ASSERT_TRUE(loss.ok());
  const double ref_loss = loss->data<float>()[0];
  const double e_loss = std::fabs(a.loss - ref_loss) / std::fabs(ref_loss);
  double e_grad = 0;
  std::string worst;
  for (const Param& p : m.params()) {
    auto g = ref.get("grad." + p.name);
    ASSERT_TRUE(g.ok()) << p.name;
    ASSERT_EQ(g->numel(), p.grad.numel()) << p.name;
    const double e = max_rel_error(a.grads.data<float>() + p.offset, g->data<float>(), g->numel());
    EXPECT_LE(e, tol) << label << " gradient of " << p.name;
    if (e >= e_grad) e_grad = e, worst = p.name;
  }
  EXPECT_LE(e_logits, tol) << label << " logits";
  EXPECT_LE(e_loss, tol) << label << " loss " << a.loss << " vs torch " << ref_loss;
  std::printf("  %-5s max rel error: logits %.2e  loss %.2e  gradients %.2e (worst %s)\n", label, e_logits, e_loss,
              e_grad, worst.c_str());
}

void PrintTo(const RefCase& c, std::ostream* os) { *os << c.name; }

class ReferenceTest : public ::testing::TestWithParam<RefCase> {};

TEST_P(ReferenceTest, LogitsLossAndGradientsMatchTorch) {
  if (!torch_available()) GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  const RefCase& rc = GetParam();
  const auto dir = test::temp_dir(rc.name);
  Transformer m = make_model(rc.config, 42);
  ASSERT_TRUE(m.save(dir.string()).ok());
  const Batch b = make_batch(rc.B, rc.T, m.config().vocab_size, 7, rc.ignore_every);
  write_ints((dir / "ids.bin").string(), b.ids);
  write_ints((dir / "targets.bin").string(), b.targets);
  const std::string out = (dir / "ref.safetensors").string();
  const std::string cmd = std::string(kPython) + " " + ANVIL_SOURCE_DIR + "/tools/torch_ref/torch_ref.py --model " +
                          dir.string() + " --ids " + (dir / "ids.bin").string() + " --targets " +
                          (dir / "targets.bin").string() + " --batch " + std::to_string(rc.B) +
                          " --label-smoothing " + std::to_string(rc.label_smoothing) + " --dropout-seed " +
                          std::to_string(StepOptions{}.seed) + " --dropout-step " + std::to_string(StepOptions{}.step) +
                          " --out " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto ref = SafetensorsFile::open(out);
  ASSERT_TRUE(ref.ok()) << ref.status().to_string();
  // The model as saved is what torch saw; reload it so both sides use identical weights.
  auto loaded = Transformer::load(dir.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  std::printf("[%s]\n", rc.name);
  compare(*loaded, run_anvil(*loaded, rc, b, Precision::kF32), *ref, kF32Tolerance, "fp32");
  compare(*loaded, run_anvil(*loaded, rc, b, Precision::kBF16), *ref, kBF16Tolerance, "bf16");
  std::filesystem::remove_all(dir);
}

const RefCase kCases[] = {
    {.name = "gpt2",
     .config = R"({"model_type":"gpt2","vocab_size":37,"n_positions":16,"n_embd":32,"n_layer":2,"n_head":4,
                   "embd_pdrop":0,"resid_pdrop":0,"attn_pdrop":0})",
     .B = 2, .T = 7},
    {.name = "gpt2_erf_untied_smoothing",
     .config = R"({"model_type":"gpt2","vocab_size":41,"n_positions":12,"n_embd":24,"n_layer":2,"n_head":2,
                   "n_inner":40,"activation_function":"gelu","tie_word_embeddings":false,
                   "embd_pdrop":0,"resid_pdrop":0,"attn_pdrop":0})",
     .B = 2, .T = 9, .label_smoothing = 0.1f, .ignore_every = 4, .head_rows = 5},
    {.name = "gpt2_alibi_6heads",
     .config = R"({"model_type":"gpt2","vocab_size":29,"n_positions":16,"n_embd":48,"n_layer":2,"n_head":6,
                   "position_embedding_type":"alibi","embd_pdrop":0,"resid_pdrop":0,"attn_pdrop":0})",
     .B = 2, .T = 8},
    {.name = "llama_gqa",
     .config = R"({"model_type":"llama","vocab_size":43,"hidden_size":32,"intermediate_size":48,
                   "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
                   "max_position_embeddings":32,"rope_theta":500.0})",
     .B = 2, .T = 8},
    {.name = "llama_sliding_bias_tied_smoothing",
     .config = R"({"model_type":"llama","vocab_size":31,"hidden_size":24,"intermediate_size":40,
                   "num_hidden_layers":3,"num_attention_heads":3,"num_key_value_heads":1,"head_dim":6,
                   "max_position_embeddings":32,"attention_bias":true,"mlp_bias":true,"tie_word_embeddings":true,
                   "sliding_window":3,"layer_types":["sliding_attention","full_attention","sliding_attention"]})",
     .B = 2, .T = 9, .label_smoothing = 0.1f, .ignore_every = 3, .head_rows = 4},
    {.name = "llama_alibi",
     .config = R"({"model_type":"llama","vocab_size":23,"hidden_size":32,"intermediate_size":32,
                   "num_hidden_layers":1,"num_attention_heads":4,"num_key_value_heads":4,
                   "max_position_embeddings":16,"position_embedding_type":"alibi"})",
     .B = 1, .T = 10},
    // Attention dropout in the training pass (torch_ref.py rebuilds the per-layer masks from the hash).
    {.name = "gpt2_attention_dropout",
     .config = R"({"model_type":"gpt2","vocab_size":37,"n_positions":16,"n_embd":32,"n_layer":2,"n_head":4,
                   "embd_pdrop":0,"resid_pdrop":0,"attn_pdrop":0.3})",
     .B = 2, .T = 11},
    {.name = "llama_gqa_sliding_attention_dropout",
     .config = R"({"model_type":"llama","vocab_size":43,"hidden_size":32,"intermediate_size":48,
                   "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
                   "max_position_embeddings":32,"sliding_window":4,"layer_types":["sliding_attention","full_attention"],
                   "attention_dropout":0.2})",
     .B = 2, .T = 9},
};

INSTANTIATE_TEST_SUITE_P(Configs, ReferenceTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace anvil::model
