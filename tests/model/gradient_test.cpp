// Finite-difference checks of the hand-written backward: for tiny GPT-2 and LLaMA style models (with
// GQA, RoPE, ALiBi, sliding windows, biases, dropout incl. attention dropout, label smoothing and ignored
// targets), every parameter tensor — so every layer's backward: embedding, norms, attention, MLP, LM
// head + CE — gets d(loss)/d(entry) checked by central differences on its largest-gradient and a few
// random entries.
// fp32 forward, so the step and tolerances are sized for fp32 rounding of the loss.
#include <cmath>
#include <numeric>

#include "model_test_util.h"

namespace anvil::model {
namespace {

using testing::make_batch;
using testing::make_model;

constexpr float kStep = 1e-2f;          // central-difference step on a parameter entry
constexpr double kRelTolerance = 3e-2;  // |fd - g| <= kRelTolerance * |g| + kAbsTolerance * max|g|
constexpr double kAbsTolerance = 3e-3;
constexpr int kRandomEntries = 2;

struct FdCase {
  const char* name;
  const char* config;
  int64_t B, T;
  float label_smoothing = 0.0f;
  int ignore_every = 0;
};

void PrintTo(const FdCase& c, std::ostream* os) { *os << c.name; }

class GradientTest : public ::testing::TestWithParam<FdCase> {};

TEST_P(GradientTest, BackwardMatchesFiniteDifferences) {
  const FdCase& fc = GetParam();
  Transformer m = make_model(fc.config, 3);
  ASSERT_TRUE(m.plan(fc.B, fc.T, {.head_rows = 3}).ok());
  const auto b = make_batch(fc.B, fc.T, m.config().vocab_size, 11, fc.ignore_every);
  // Summed token loss (normalizer 1) keeps gradients large relative to fp32 rounding of the loss.
  const StepOptions opt{.mode = Mode::kTrain, .label_smoothing = fc.label_smoothing, .seed = 5, .step = 2,
                        .loss_normalizer = 1};
  int64_t n_valid = 0;
  for (int32_t t : b.targets) n_valid += t != -100;
  auto loss_sum = [&] { return static_cast<double>(m.forward(b.ids.data(), b.targets.data(), opt)) * n_valid; };
  m.zero_grad();
  m.forward_backward(b.ids.data(), b.targets.data(), opt);
  const Tensor grads = m.flat_grads().clone();
  const float* g = grads.data<float>();
  double gmax = 0;
  for (int64_t i = 0; i < grads.numel(); ++i) gmax = std::max(gmax, std::fabs(static_cast<double>(g[i])));
  Rng rng(17);
  int checked = 0;
  for (Param& p : m.params()) {
    const int64_t n = p.value.numel();
    std::vector<int64_t> entries;
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i)
      if (std::fabs(g[p.offset + i]) > std::fabs(g[p.offset + best])) best = i;
    entries.push_back(best);
    for (int k = 0; k < kRandomEntries; ++k) entries.push_back(static_cast<int64_t>(rng.below(static_cast<uint64_t>(n))));
    float* x = p.value.data<float>();
    for (int64_t i : entries) {
      const float saved = x[i];
      x[i] = saved + kStep;
      const double up = loss_sum();
      x[i] = saved - kStep;
      const double down = loss_sum();
      x[i] = saved;
      const double fd = (up - down) / (2.0 * kStep);
      const double an = g[p.offset + i];
      EXPECT_LE(std::fabs(fd - an), kRelTolerance * std::fabs(an) + kAbsTolerance * gmax)
          << fc.name << ": " << p.name << "[" << i << "] analytic " << an << " finite difference " << fd;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

const FdCase kCases[] = {
    {.name = "gpt2_dropout",
     .config = R"({"model_type":"gpt2","vocab_size":19,"n_positions":8,"n_embd":16,"n_layer":2,"n_head":2,
                   "embd_pdrop":0.1,"resid_pdrop":0.2,"attn_pdrop":0})",
     .B = 2, .T = 6},
    {.name = "gpt2_alibi_sliding_smoothing",
     .config = R"({"model_type":"gpt2","vocab_size":17,"n_positions":8,"n_embd":12,"n_layer":2,"n_head":3,
                   "activation_function":"gelu","tie_word_embeddings":false,"position_embedding_type":"alibi",
                   "sliding_window":2,"layer_types":["sliding_attention","full_attention"],
                   "embd_pdrop":0,"resid_pdrop":0,"attn_pdrop":0})",
     .B = 2, .T = 6, .label_smoothing = 0.1f, .ignore_every = 3},
    {.name = "llama_gqa_rope_bias",
     .config = R"({"model_type":"llama","vocab_size":19,"hidden_size":16,"intermediate_size":24,
                   "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
                   "max_position_embeddings":16,"attention_bias":true,"mlp_bias":true,"resid_dropout":0.1})",
     .B = 2, .T = 5},
    {.name = "gpt2_attention_dropout",
     .config = R"({"model_type":"gpt2","vocab_size":19,"n_positions":8,"n_embd":16,"n_layer":2,"n_head":2,
                   "embd_pdrop":0,"resid_pdrop":0.1,"attn_pdrop":0.3})",
     .B = 2, .T = 6},
    {.name = "llama_gqa_sliding_attention_dropout",
     .config = R"({"model_type":"llama","vocab_size":19,"hidden_size":16,"intermediate_size":24,
                   "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
                   "max_position_embeddings":16,"sliding_window":3,
                   "layer_types":["sliding_attention","full_attention"],"attention_dropout":0.5})",
     .B = 2, .T = 7},
};

INSTANTIATE_TEST_SUITE_P(Configs, GradientTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace anvil::model
